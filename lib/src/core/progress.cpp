#include "wsss/core/progress.hpp"

#include <unistd.h>

#include <cstdio>

#include "wsss/core/log.hpp"

namespace wsss {

namespace {
constexpr double kTerminalRedrawSeconds = 0.2;
constexpr double kLogLineSeconds = 10.0;  // non-terminal: one line every 10 s
}  // namespace

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

Progress::Progress(std::string what, std::size_t total, std::string unit)
    : what_(std::move(what)), unit_(std::move(unit)), total_(total),
      start_(std::chrono::steady_clock::now()), last_draw_(start_),
      tty_(isatty(fileno(stderr)) != 0) {}

Progress::~Progress() { finish(); }

void Progress::add(std::size_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  done_ += n;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since >= (tty_ ? kTerminalRedrawSeconds : kLogLineSeconds)) {
    last_draw_ = now;
    draw(false);
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
  // A final line only when something was shown, and not a repeat of the last one.
  if (drawn_ && (done_ != done_at_last_draw_ || tty_)) draw(true);
}

void Progress::draw(bool final_line) {
  if (!log::enabled(log::Level::Info)) return;
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = elapsed > 0 ? done_ / elapsed : 0;
  char buf[256];
  std::string eta;
  if (total_ > 0 && rate > 0 && done_ < total_) eta = " ETA " + format_duration((total_ - done_) / rate);
  if (total_ > 0) {
    std::snprintf(buf, sizeof buf, "%s [%zu/%zu] %.2f %s/s", what_.c_str(), done_, total_, rate, unit_.c_str());
  } else {
    std::snprintf(buf, sizeof buf, "%s [%zu] %.2f %s/s", what_.c_str(), done_, rate, unit_.c_str());
  }
  std::string line = std::string(buf) + eta + (note_.empty() ? "" : "  " + note_);
  drawn_ = true;
  done_at_last_draw_ = done_;
  if (tty_) {
    std::string out = "\r" + log::program() + ": " + line + "\033[K" + (final_line ? "\n" : "");
    std::fwrite(out.data(), 1, out.size(), stderr);
    std::fflush(stderr);
  } else {
    log::write(log::Level::Info, line);
  }
}

}  // namespace wsss
