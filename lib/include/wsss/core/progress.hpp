#pragma once
// Progress of a long loop (images, iterations) with rate and ETA. The library
// only reports; where reports go is the program's choice: the CLI installs a
// stderr renderer (redrawn in place on a terminal, one line every few seconds
// in a log file), a program that embeds the library installs its own handler
// or none, and then nothing is shown.
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>

namespace wsss {

struct ProgressUpdate {
  std::string what, unit, note;  // "epoch 2/5", "it", "loss 0.213"
  std::size_t done = 0, total = 0;  // total 0 means unknown
  double elapsed_seconds = 0;
  bool final = false;             // the loop ended (after at least one earlier update)
  double rate() const { return elapsed_seconds > 0 ? double(done) / elapsed_seconds : 0; }
  // "what [done/total] rate unit/s ETA 1m05s  note"
  std::string text() const;
};

struct ProgressHandler {
  std::function<void(const ProgressUpdate&)> show;
  double interval_seconds = 10;  // at most one update per interval, plus the final one
};

// Process-wide: applies to Progress objects created afterwards. An empty
// handler (the default) shows nothing.
void set_progress_handler(ProgressHandler handler);

class Progress {
 public:
  // `unit` names what is counted ("img", "it"); total 0 means unknown.
  Progress(std::string what, std::size_t total, std::string unit = "img");
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void add(std::size_t n = 1);
  // Extra text shown after the counters, e.g. "loss 0.213".
  void set_note(std::string note);
  void finish();

 private:
  void report(bool final_update);

  ProgressHandler handler_;
  std::mutex mu_;
  std::string what_, unit_, note_;
  std::size_t total_, done_ = 0, done_at_last_report_ = 0;
  std::chrono::steady_clock::time_point start_, last_report_;
  bool finished_ = false, reported_ = false;
};

// "1h02m", "3m05s", "12.3s"
std::string format_duration(double seconds);

}  // namespace wsss
