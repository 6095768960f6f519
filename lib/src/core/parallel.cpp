#include "wsss/core/parallel.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace wsss {

void tune_runtime_environment(char** argv) {
  bool changed = false;
  auto set_default = [&](const char* name, const char* value) {
    if (std::getenv(name) == nullptr && ::setenv(name, value, 0) == 0) changed = true;
  };
  set_default("OMP_WAIT_POLICY", "PASSIVE");
  set_default("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296");
  if (changed) ::execv("/proc/self/exe", argv);  // returns only on failure: then run as we are
}

int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t, int)>& fn) {
  if (threads < 1) threads = 1;
  if (static_cast<std::size_t>(threads) > n) threads = static_cast<int>(n == 0 ? 1 : n);
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto worker = [&](int w) {
    for (;;) {
      if (stop) return;
      std::size_t i = next.fetch_add(1);
      if (i >= n) return;
      try {
        fn(i, w);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!first_error) first_error = std::current_exception();
        stop = true;
        return;
      }
    }
  };
  if (threads == 1) {
    worker(0);
  } else {
    std::vector<std::thread> pool;
    for (int w = 0; w < threads; ++w) pool.emplace_back(worker, w);
    for (auto& t : pool) t.join();
  }
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace wsss
