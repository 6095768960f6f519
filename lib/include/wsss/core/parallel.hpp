#pragma once
// A minimal fork-join helper: items are claimed dynamically by `threads` workers.
// Results must be stored by index so that output never depends on scheduling.
#include <cstddef>
#include <functional>

namespace wsss {

// Calls fn(i, worker) for every i in [0, n). Exceptions escaping fn are rethrown
// (the first one) after all workers stop.
void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t, int)>& fn);

int hardware_threads();

}  // namespace wsss
