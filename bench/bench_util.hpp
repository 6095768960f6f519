#pragma once
// What every benchmark program measures with, and the command dispatch of the
// network-only benchmarks (wsss_bench_cam, wsss_bench_seg).
#include <time.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <string>

#include "wsss/core/error.hpp"
#include "wsss/core/parallel.hpp"

namespace wsss::bench {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU time of the whole process (all threads) so far, in seconds.
inline double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// Peak resident memory of this process so far (VmHWM), in MB.
inline double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return -1;
}

using Command = std::function<int(int argc, char** argv)>;

// main of a benchmark with subcommands: argv[1] picks one of `commands`;
// a UsageError exits 2, any other error 1, each with one line on stderr.
inline int run_commands(int argc, char** argv, const char* program, const std::map<std::string, Command>& commands) {
  tune_runtime_environment(argv);
  try {
    auto it = commands.find(argc > 1 ? argv[1] : "");
    if (it != commands.end()) return it->second(argc, argv);
    std::string names;
    for (const auto& [name, command] : commands) names += (names.empty() ? "" : " ... | ") + name;
    std::fprintf(stderr, "usage: %s %s ... (see bench/%s.cpp)\n", program, names.c_str(), program + 5);
    return 2;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "%s: usage: %s\n", program, e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 1;
  }
}

}  // namespace wsss::bench
