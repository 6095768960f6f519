#include "wsss/core/progress.hpp"

#include <cstdio>

namespace wsss {

namespace {

std::mutex& handler_mutex() {
  static std::mutex mu;
  return mu;
}

ProgressHandler& installed_handler() {
  static ProgressHandler handler;
  return handler;
}

}  // namespace

void set_progress_handler(ProgressHandler handler) {
  std::lock_guard<std::mutex> lock(handler_mutex());
  installed_handler() = std::move(handler);
}

std::string format_duration(double s) {
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, (int(s) % 3600) / 60);
  }
  return buf;
}

std::string ProgressUpdate::text() const {
  const double r = rate();
  char buf[256];
  std::string eta;
  if (total > 0 && r > 0 && done < total) eta = " ETA " + format_duration(double(total - done) / r);
  if (total > 0) {
    std::snprintf(buf, sizeof buf, "%s [%zu/%zu] %.2f %s/s", what.c_str(), done, total, r, unit.c_str());
  } else {
    std::snprintf(buf, sizeof buf, "%s [%zu] %.2f %s/s", what.c_str(), done, r, unit.c_str());
  }
  return std::string(buf) + eta + (note.empty() ? "" : "  " + note);
}

Progress::Progress(std::string what, std::size_t total, std::string unit)
    : what_(std::move(what)), unit_(std::move(unit)), total_(total), start_(std::chrono::steady_clock::now()),
      last_report_(start_) {
  std::lock_guard<std::mutex> lock(handler_mutex());
  handler_ = installed_handler();
}

Progress::~Progress() { finish(); }

void Progress::add(std::size_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  done_ += n;
  if (!handler_.show) return;
  auto now = std::chrono::steady_clock::now();
  if (std::chrono::duration<double>(now - last_report_).count() >= handler_.interval_seconds) {
    last_report_ = now;
    report(false);
  }
}

void Progress::set_note(std::string note) {
  std::lock_guard<std::mutex> lock(mu_);
  note_ = std::move(note);
}

void Progress::finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  finished_ = true;
  // A final update only when something was shown: a short loop stays silent.
  if (handler_.show && reported_) report(true);
}

void Progress::report(bool final_update) {
  ProgressUpdate u;
  u.what = what_;
  u.unit = unit_;
  u.note = note_;
  u.done = done_;
  u.total = total_;
  u.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  u.final = final_update;
  reported_ = true;
  done_at_last_report_ = done_;
  handler_.show(u);
}

}  // namespace wsss
