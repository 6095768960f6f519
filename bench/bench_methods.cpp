// ReCAM's class features two ways (bench/methods.sh): the batched matrix
// product wsss uses and the reference's B x K x C x h x w broadcast, forward and
// backward through the whole ReCAM cross-entropy on random tensors.
//   wsss_bench_methods loss bmm|broadcast B K C H W REPEAT THREADS
// Prints the median seconds of one forward + backward and the size of the
// largest intermediate; run it under /usr/bin/time for the peak RSS.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "wsss/cam/recam.hpp"
#include "wsss/core/error.hpp"
#include "wsss/models/threads.hpp"

using namespace wsss;

namespace {

int loss(int argc, char** argv) {
  if (argc < 10) throw UsageError("loss bmm|broadcast B K C H W REPEAT THREADS");
  const std::string mode = argv[2];
  if (mode != "bmm" && mode != "broadcast") throw UsageError("mode must be bmm or broadcast");
  const std::int64_t b = std::stoll(argv[3]), k = std::stoll(argv[4]), c = std::stoll(argv[5]),
                     h = std::stoll(argv[6]), w = std::stoll(argv[7]);
  const int repeat = std::stoi(argv[8]);
  models::set_torch_threads(std::stoi(argv[9]));
  torch::manual_seed(0);
  torch::Tensor feat = torch::relu(torch::randn({b, c, h, w})).set_requires_grad(true);
  torch::Tensor w_cls = (torch::randn({k, c, 1, 1}) * 0.02).set_requires_grad(true);
  torch::Tensor w_rec = (torch::randn({k, c, 1, 1}) * 0.02).set_requires_grad(true);
  torch::Tensor targets = (torch::rand({b, k}) < 0.15).to(torch::kFloat32);
  std::vector<double> seconds;
  double value = 0;
  for (int r = 0; r < repeat; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    torch::Tensor cams = cam::normalised_cams(feat, w_cls);
    torch::Tensor f = mode == "bmm" ? cam::class_features(feat, cams) : cam::class_features_broadcast(feat, cams);
    torch::Tensor l = cam::recam_cross_entropy(f, w_rec, targets);
    l.backward();
    value = l.item<double>();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    feat.mutable_grad().reset();
    w_cls.mutable_grad().reset();
    w_rec.mutable_grad().reset();
  }
  std::sort(seconds.begin(), seconds.end());
  const double largest = mode == "bmm" ? double(b * k * std::max(c, h * w)) : double(b * k * c * h * w);
  std::printf("%-9s B=%lld K=%lld C=%lld %lldx%lld: %.4fs per forward+backward (median of %d), largest "
              "intermediate %.1f MB, loss %.6f\n",
              mode.c_str(), (long long)b, (long long)k, (long long)c, (long long)h, (long long)w,
              seconds[seconds.size() / 2], repeat, largest * 4 / 1e6, value);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return bench::run_commands(argc, argv, "wsss_bench_methods", {{"loss", loss}}); }
