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

// Sets two process-wide run-time settings that libgomp and glibc read only when
// the program starts, and re-executes the program once if it changed any (call
// it first thing in main). A user's own values are respected. Every wsss
// binary and benchmark calls it.
// - OMP_WAIT_POLICY=PASSIVE: LibTorch's OpenMP workers otherwise spin between
//   parallel regions; on a shared or oversubscribed machine (a cluster node,
//   make -j, ctest -j) a spinning worker burns whole time slices waiting for a
//   descheduled one: segmentation training at -j2 ran 9x slower than at -j1
//   while a build ran beside it (22.4 s vs 2.5 s), 4.2 s with the passive policy.
// - GLIBC_TUNABLES mmap and trim thresholds of 4 GiB: glibc otherwise maps every
//   block over 32 MB (a ResNet's activations at crop 321) fresh from the kernel
//   and unmaps it on free, so each training iteration faults its gigabytes back
//   in. Measured (DeepLab ResNet-50 width 32, crop 321, batch 5, -j2): minor
//   faults 2.14 M -> 0.52 M, system time 4.8 s -> 1.1 s, 6.2 -> 4.6 s per
//   iteration; peak RSS 1.84 -> 2.06 GB.
void tune_runtime_environment(char** argv);

}  // namespace wsss
