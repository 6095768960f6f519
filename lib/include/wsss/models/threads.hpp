#pragma once
// How LibTorch and the BLAS under it use threads, and therefore which results
// are reproducible (docs/determinism.md).
//
// Two thread counts change the last bits of LibTorch's float results on CPU:
// - LibTorch's intra-op threads: with one thread a 1x1 convolution on a small
//   batch goes to the BLAS (ATen's "slow" path), with more it goes to oneDNN,
//   whose kernels sum in another order; reductions split their sums by thread.
// - OpenBLAS's own pool, sized to the machine's cores (or OPENBLAS_NUM_THREADS)
//   unless told otherwise: its GEMM partitions the work by thread count, and
//   with some kernels (OPENBLAS_CORETYPE=Haswell, for one) the partition changes
//   the sums. So a machine's core count alone could change a result.
// Both are therefore set together, explicitly, by the two functions below.
namespace wsss::models {

// For trainers and other whole-process computations: LibTorch's intra-op
// threads and OpenBLAS's threads both become `threads` (<= 0: all hardware
// threads), and denormals are flushed to zero. Results are reproducible for a
// fixed `threads` on one machine, whatever OPENBLAS_NUM_THREADS says.
void set_torch_threads(int threads);

// For the per-image stages: LibTorch on the calling thread becomes
// single-threaded (the setting is per thread: call it in each worker) and
// OpenBLAS single-threaded (process-wide), with denormals flushed to zero on
// the calling thread. A stage then runs one single-threaded network per worker,
// and its outputs are byte-identical for any -j, any sharding and any
// OPENBLAS_NUM_THREADS or OMP_NUM_THREADS on one machine.
void use_single_threaded_torch();

// OpenBLAS's thread count when the process's BLAS is OpenBLAS, else -1 (a
// reference BLAS is single-threaded). For tests and diagnostics.
int blas_threads();

}  // namespace wsss::models
