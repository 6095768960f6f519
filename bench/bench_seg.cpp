// The network-only half of the segmentation benchmark (bench/seg.sh): what
// wsss-train-seg computes, on fixed random tensors of the same shapes, without
// reading, augmenting or writing anything. Prints measured numbers only.
//   wsss_bench_seg train CLASSES_JSON CROP BATCH ITER_SIZE ITERS THREADS [ARCH [WIDTH [LR]]]
//       builds the same DeepLabV2 and SGD as `wsss-train-seg train` and runs 1
//       warm-up + ITERS iterations of (ITER_SIZE x forward + loss + backward,
//       SGD step) on THREADS LibTorch threads
//   wsss_bench_seg predict MODEL WxH COUNT THREADS [SCALES]
//       the forward passes `wsss-train-seg predict -j THREADS` makes for COUNT
//       images of WxH at SCALES (default 1.0,0.5,0.75): THREADS workers, each
//       running single-threaded forward passes on whole images
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/models/resnet.hpp"
#include "wsss/models/threads.hpp"
#include "wsss/core/parse.hpp"
#include "wsss/seg/deeplab.hpp"
#include "wsss/seg/predict.hpp"
#include "wsss/seg/train.hpp"

using namespace wsss;
using namespace wsss::bench;
using Clock = std::chrono::steady_clock;

namespace {

int train_command(int argc, char** argv) {
  if (argc < 8) throw UsageError("train CLASSES_JSON CROP BATCH ITER_SIZE ITERS THREADS [ARCH [WIDTH [LR]]]");
  Vocabulary vocab = Vocabulary::load(argv[2]);
  seg::SegTrainOptions o;  // the protocol defaults, as wsss-train-seg starts from
  o.crop = std::stoi(argv[3]);
  o.batch = std::stoi(argv[4]);
  o.iter_size = std::stoi(argv[5]);
  const int iters = std::stoi(argv[6]);
  const int threads = std::stoi(argv[7]);
  if (argc > 8) o.arch = argv[8];
  if (argc > 9) o.width = std::stoi(argv[9]);
  if (argc > 10) o.lr = std::stod(argv[10]);
  o.iters = iters + 1;
  o.validate();
  models::set_torch_threads(threads);
  torch::manual_seed(0);
  seg::DeepLabV2 net(models::ModelSpec::deeplab(o.arch, o.width), vocab.size(), o.aspp_rates);
  auto optimizer = seg::make_optimizer(*net, o);
  std::vector<double> base_lr;
  for (auto& g : optimizer->param_groups()) base_lr.push_back(static_cast<torch::optim::SGDOptions&>(g.options()).lr());
  // Random inputs of the shapes the loader makes: normalised images and labels
  // over all classes with about 10% ignored, as padding and pseudo masks give.
  torch::Tensor images = torch::randn({o.batch, 3, o.crop, o.crop});
  torch::Tensor labels = torch::randint(0, vocab.size(), {o.batch, o.crop, o.crop}, torch::kLong);
  labels.masked_fill_(torch::rand({o.batch, o.crop, o.crop}) < 0.1, vocab.ignore);

  net->train();
  auto iteration = [&](int it) {
    const double factor = train::lr_factor(std::size_t(it), seg::deeplab_schedule(o), o.poly_power);
    for (std::size_t g = 0; g < optimizer->param_groups().size(); ++g)
      static_cast<torch::optim::SGDOptions&>(optimizer->param_groups()[g].options()).lr(base_lr[g] * factor);
    optimizer->zero_grad();
    double value = 0;
    for (int a = 0; a < o.iter_size; ++a) {
      torch::Tensor logits = net->forward(images);
      torch::Tensor y = seg::resize_labels_nearest(labels, logits.size(2), logits.size(3));
      torch::Tensor loss = seg::cross_entropy(logits, y, vocab.ignore) / double(o.iter_size);
      loss.backward();
      value += loss.item<double>();
    }
    optimizer->step();
    return value;
  };
  auto t0 = Clock::now();
  double loss = iteration(0);
  const double warmup = seconds_since(t0);
  auto t1 = Clock::now();
  const double c1 = cpu_seconds();
  for (int it = 1; it <= iters; ++it) loss = iteration(it);
  const double timed = seconds_since(t1), timed_cpu = cpu_seconds() - c1;
  std::printf("train %s width %d, %d classes, crop %d, batch %d x iter-size %d, %d threads: "
              "warm-up %.2fs, %d iterations %.2fs (cpu %.2fs), %.4f it/s, %.2f s/it, last loss %.4g, peak RSS %.0f MB\n",
              o.arch.c_str(), o.width, vocab.size(), o.crop, o.batch, o.iter_size, threads, warmup, iters, timed,
              timed_cpu, iters / timed, timed / iters, loss, peak_rss_mb());
  return std::isfinite(loss) ? 0 : 1;
}

int predict_command(int argc, char** argv) {
  if (argc < 6) throw UsageError("predict MODEL WxH COUNT THREADS [SCALES]");
  int width = 0, height = 0;
  if (std::sscanf(argv[3], "%dx%d", &width, &height) != 2) throw UsageError("size must be WxH");
  const int count = std::stoi(argv[4]);
  const int threads = std::stoi(argv[5]);
  std::vector<double> scales = parse_scales(argc > 6 ? argv[6] : "1.0,0.5,0.75", "SCALES");
  models::set_torch_threads(1);
  seg::LoadedDeepLab loaded = seg::load_deeplab(argv[2]);
  // The input sizes of predict_logits: interpolate with scale_factor gives floor(H * s).
  std::vector<torch::Tensor> inputs;
  for (double s : scales)
    inputs.push_back(torch::randn({1, 3, std::int64_t(std::floor(height * s)), std::int64_t(std::floor(width * s))}));
  auto one_image = [&] {
    torch::NoGradGuard no_grad;
    for (const auto& x : inputs) (void)loaded.net->forward(x);
  };
  auto t0 = Clock::now();
  std::atomic<int> next{0};
  std::vector<std::thread> pool;
  for (int w = 0; w < threads; ++w)
    pool.emplace_back([&] {
      models::use_single_threaded_torch();
      while (next.fetch_add(1) < count) one_image();
    });
  for (auto& t : pool) t.join();
  const double s = seconds_since(t0);
  std::printf("forward: %d images of %dx%d, %zu scales, %d workers: %.2fs, %.3f images/s, peak RSS %.0f MB\n", count,
              width, height, scales.size(), threads, s, count / s, peak_rss_mb());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_commands(argc, argv, "wsss_bench_seg", {{"train", train_command}, {"predict", predict_command}});
}
