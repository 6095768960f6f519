#pragma once
// Background loading that overlaps compute: `workers` threads produce items
// 0..n-1 ahead of the consumer, which receives them strictly in index order, so
// results never depend on thread timing. At most `depth` items wait in memory,
// which keeps peak memory independent of the data set size.
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace wsss {

template <class T>
class Prefetcher {
 public:
  Prefetcher(std::size_t n, int workers, std::size_t depth, std::function<T(std::size_t)> make)
      : n_(n), depth_(depth < 1 ? 1 : depth), make_(std::move(make)) {
    if (workers < 1) workers = 1;
    for (int w = 0; w < workers; ++w) threads_.emplace_back([this] { run(); });
  }
  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // The next item in index order, or nullopt after the last. Rethrows a producer's exception.
  std::optional<T> next() {
    std::unique_lock<std::mutex> lock(mu_);
    if (consumed_ >= n_) return std::nullopt;
    cv_.wait(lock, [&] { return ready_.count(consumed_) > 0 || errors_.count(consumed_) > 0; });
    auto err = errors_.find(consumed_);
    if (err != errors_.end()) {
      std::exception_ptr e = err->second;
      errors_.erase(err);
      ++consumed_;
      cv_.notify_all();
      std::rethrow_exception(e);
    }
    auto it = ready_.find(consumed_);
    T value = std::move(it->second);
    ready_.erase(it);
    ++consumed_;
    cv_.notify_all();
    return value;
  }

 private:
  void run() {
    for (;;) {
      std::size_t index;
      {
        std::unique_lock<std::mutex> lock(mu_);
        // Claim work only within the window [consumed, consumed + depth).
        cv_.wait(lock, [&] { return stop_ || next_claim_ >= n_ || next_claim_ < consumed_ + depth_; });
        if (stop_ || next_claim_ >= n_) return;
        index = next_claim_++;
      }
      try {
        T value = make_(index);
        std::lock_guard<std::mutex> lock(mu_);
        ready_.emplace(index, std::move(value));
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu_);
        errors_.emplace(index, std::current_exception());
      }
      cv_.notify_all();
    }
  }

  std::size_t n_, depth_;
  std::function<T(std::size_t)> make_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::size_t, T> ready_;
  std::map<std::size_t, std::exception_ptr> errors_;
  std::size_t next_claim_ = 0, consumed_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace wsss
