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

// LibTorch's OpenMP workers spin between parallel regions (libgomp's default
// wait policy). On a shared or oversubscribed machine (a cluster node, make -j,
// ctest -j) a spinning worker burns whole time slices waiting for a descheduled
// one: segmentation training at -j2 ran 9x slower than at -j1 while a build ran
// beside it (22.4 s vs 2.5 s), 4.2 s with the passive policy. libgomp reads the
// policy once, when it is loaded, so this sets OMP_WAIT_POLICY=PASSIVE and
// re-executes the program once (call it first thing in main); a user's own
// OMP_WAIT_POLICY is respected. Every wsss binary and benchmark calls it.
void prefer_passive_openmp_waits(char** argv);

}  // namespace wsss
