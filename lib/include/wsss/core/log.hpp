#pragma once
// One logger for the whole toolkit: line-buffered stderr, each line prefixed with
// the program name because logs of many cluster jobs get interleaved.
#include <sstream>
#include <string>
#include <utility>

namespace wsss::log {

enum class Level { Error = 0, Warn = 1, Info = 2, Debug = 3 };

void set_program(std::string name);
const std::string& program();
void set_level(Level level);
Level level();
inline bool enabled(Level l) { return static_cast<int>(l) <= static_cast<int>(level()); }

// Writes "<program>: <prefix><message>\n" atomically with respect to other threads.
void write(Level level, const std::string& message);

template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
template <class... Args> void error(Args&&... a) { write(Level::Error, concat(std::forward<Args>(a)...)); }
template <class... Args> void warn(Args&&... a) {
  if (enabled(Level::Warn)) write(Level::Warn, concat(std::forward<Args>(a)...));
}
template <class... Args> void info(Args&&... a) {
  if (enabled(Level::Info)) write(Level::Info, concat(std::forward<Args>(a)...));
}
template <class... Args> void debug(Args&&... a) {
  if (enabled(Level::Debug)) write(Level::Debug, concat(std::forward<Args>(a)...));
}

}  // namespace wsss::log
