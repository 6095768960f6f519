#include "wsss/core/log.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>

#include "wsss/core/error.hpp"

namespace wsss::log {
namespace {
std::string g_program = "wsss";
std::atomic<int> g_level{static_cast<int>(Level::Info)};
std::mutex g_mutex;
}  // namespace

void set_program(std::string name) { g_program = std::move(name); }
const std::string& program() { return g_program; }
void set_level(Level l) { g_level = static_cast<int>(l); }
Level level() { return static_cast<Level>(g_level.load()); }

void write(Level l, const std::string& message) {
  const char* prefix = l == Level::Error ? "error: " : l == Level::Warn ? "warning: " : "";
  // One line, of bounded length, whatever the message holds (an id of a
  // megabyte, a newline inside a file name).
  std::string line = g_program + ": " + prefix + clip_message(message) + "\n";
  std::lock_guard<std::mutex> lock(g_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace wsss::log
