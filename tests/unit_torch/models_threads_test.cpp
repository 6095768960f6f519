// The thread settings behind the determinism promise (docs/determinism.md).
// Tagged [determinism]: the `portability` ctest runs these again under other
// BLAS kernels and thread settings (OPENBLAS_CORETYPE, OPENBLAS_NUM_THREADS,
// ATEN_CPU_CAPABILITY).
#include <catch2/catch.hpp>

#include <thread>

#include "wsss/core/parallel.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/threads.hpp"

using namespace wsss;
using namespace wsss::models;

TEST_CASE("set_torch_threads sets LibTorch's and OpenBLAS's thread counts together", "[threads][determinism]") {
  set_torch_threads(3);
  CHECK(torch::get_num_threads() == 3);
  // -1: the process's BLAS is not OpenBLAS (the reference BLAS has no threads).
  if (blas_threads() != -1) CHECK(blas_threads() == 3);
  set_torch_threads(1);
  CHECK(torch::get_num_threads() == 1);
  if (blas_threads() != -1) CHECK(blas_threads() == 1);
  set_torch_threads(0);
  CHECK(torch::get_num_threads() == hardware_threads());
}

TEST_CASE("a per-image forward does not depend on the number of workers or on OpenBLAS's threads",
          "[threads][determinism]") {
  torch::manual_seed(5);
  ModelSpec spec = ModelSpec::irn("resnet50", 4);  // bottlenecks: 1x1 convolutions, which go to the BLAS
  CamNet net(spec, 3);
  net->eval();
  const torch::Tensor image = torch::randn({1, 3, 57, 71});
  auto cams_with_workers = [&](int workers) {
    std::vector<torch::Tensor> out(5);
    parallel_for(out.size(), workers, [&](std::size_t i, int) {
      use_single_threaded_torch();
      if (blas_threads() != -1) CHECK(blas_threads() == 1);
      torch::NoGradGuard no_grad;
      out[i] = net->class_maps(image);
    });
    return out;
  };
  const auto two = cams_with_workers(2);
  // OpenBLAS's pool is process-wide: a main thread that asked for 3 threads
  // does not change what the single-threaded workers compute.
  set_torch_threads(3);
  const auto three = cams_with_workers(3);
  set_torch_threads(0);
  REQUIRE(two[0].sizes() == torch::IntArrayRef({1, 3, 4, 5}));
  for (std::size_t i = 0; i < two.size(); ++i) {
    REQUIRE(torch::equal(two[i], two[0]));
    REQUIRE(torch::equal(three[i], two[0]));
  }
}
