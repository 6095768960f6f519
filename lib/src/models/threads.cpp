#include "wsss/models/threads.hpp"

#include <dlfcn.h>
#include <torch/torch.h>

#include <mutex>

#include "wsss/core/parallel.hpp"

namespace wsss::models {

namespace {

// LibTorch reaches the BLAS through libblas.so.3, which Debian's alternatives
// point at OpenBLAS (libopenblas0-pthread) or the reference BLAS. OpenBLAS's
// thread control is looked up at run time so that either works.
struct OpenBlas {
  using SetThreads = void (*)(int);
  using GetThreads = int (*)();
  SetThreads set = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  GetThreads get = reinterpret_cast<GetThreads>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
};

const OpenBlas& openblas() {
  static const OpenBlas blas;
  return blas;
}

std::mutex& settings_mutex() {
  static std::mutex mu;  // at::set_num_threads also resizes shared pools
  return mu;
}

void set_blas_threads(int threads) {
  const OpenBlas& blas = openblas();
  if (blas.set && (!blas.get || blas.get() != threads)) blas.set(threads);
}

}  // namespace

void set_torch_threads(int threads) {
  if (threads <= 0) threads = hardware_threads();
  std::lock_guard<std::mutex> lock(settings_mutex());
  torch::set_num_threads(threads);
  set_blas_threads(threads);
  // Trained weights and activations can drift into denormal floats, which are
  // 10-100x slower on x86; flushing them to zero changes results by < 1e-38.
  at::globalContext().setFlushDenormal(true);
}

void use_single_threaded_torch() {
  thread_local bool done = false;
  if (done) return;
  std::lock_guard<std::mutex> lock(settings_mutex());
  at::set_num_threads(1);
  set_blas_threads(1);
  at::globalContext().setFlushDenormal(true);
  done = true;
}

int blas_threads() {
  const OpenBlas& blas = openblas();
  return blas.get ? blas.get() : -1;
}

}  // namespace wsss::models
