#pragma once
// Progress reporting on stderr with rate and ETA. On a terminal the line is
// redrawn in place; otherwise a full line is printed every few seconds so that
// cluster logs stay readable.
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>

namespace wsss {

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
  void draw(bool final_line);
  std::mutex mu_;
  std::string what_, unit_, note_;
  std::size_t total_, done_ = 0, done_at_last_draw_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool tty_, finished_ = false, drawn_ = false;
};

// "1h02m", "3m05s", "12.3s"
std::string format_duration(double seconds);

}  // namespace wsss
