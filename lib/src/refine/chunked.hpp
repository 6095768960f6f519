#pragma once
// Private helper of the refine module: runs fn(begin, end) over fixed-size chunks of
// [0, n) on `threads` workers. Every chunk writes disjoint outputs, so results do not
// depend on the thread count; chunking only amortises the per-item call overhead.
#include <algorithm>
#include <cstddef>

#include "wsss/core/parallel.hpp"

namespace wsss::refine::detail {

template <class Fn>
void for_chunks(std::size_t n, int threads, std::size_t grain, Fn&& fn) {
  if (n == 0) return;
  if (grain == 0) grain = 1;
  const std::size_t chunks = (n + grain - 1) / grain;
  if (threads <= 1 || chunks <= 1) {
    fn(std::size_t{0}, n);
    return;
  }
  parallel_for(chunks, threads, [&](std::size_t c, int) {
    fn(c * grain, std::min(n, (c + 1) * grain));
  });
}

}  // namespace wsss::refine::detail
