// AMN's training step against the CAM classifier's on the same input (issue
// #13): both networks as their trainers build them (the classifier: IRN's
// recipe, stem..layer2 detached, frozen BatchNorm, SGD with the 10x classifier
// group; AMN: output stride 16, label conditioning, dropout, ASPP, Adam with two
// rates, the label-smoothed balanced loss), on fixed random tensors of the same
// shape, without reading or augmenting anything. Prints measured numbers only.
//   wsss_bench_amn CROP BATCH STEPS THREADS [ARCH [WIDTH [CLASSES]]]
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>

#include "bench_util.hpp"
#include "wsss/cam/amn.hpp"
#include "wsss/models/amn_net.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/threads.hpp"

using namespace wsss;
using namespace wsss::bench;
using Clock = std::chrono::steady_clock;

namespace {

struct Timing {
  double warmup = 0, per_step = 0, cpu_per_step = 0, loss = 0;
};

Timing time_steps(int steps, const std::function<double()>& step) {
  Timing t;
  auto t0 = Clock::now();
  t.loss = step();
  t.warmup = seconds_since(t0);
  const double c0 = cpu_seconds();
  auto t1 = Clock::now();
  for (int i = 0; i < steps; ++i) t.loss = step();
  t.per_step = seconds_since(t1) / steps;
  t.cpu_per_step = (cpu_seconds() - c0) / steps;
  return t;
}

int run_bench(int argc, char** argv) {
  if (argc < 5) throw UsageError("CROP BATCH STEPS THREADS [ARCH [WIDTH [CLASSES]]]");
  const int crop = std::stoi(argv[1]), batch = std::stoi(argv[2]), steps = std::stoi(argv[3]);
  const int threads = std::stoi(argv[4]);
  const std::string arch = argc > 5 ? argv[5] : "resnet50";
  const int width = argc > 6 ? std::stoi(argv[6]) : 64;
  const int k = argc > 7 ? std::stoi(argv[7]) : 20;
  if (crop < 16 || batch < 1 || steps < 1 || threads < 1 || k < 1) throw UsageError("bad CROP, BATCH, STEPS, THREADS or CLASSES");
  models::set_torch_threads(threads);
  const models::ModelSpec spec = models::ModelSpec::irn(arch, width);
  torch::manual_seed(0);
  torch::Tensor images = torch::randn({batch, 3, crop, crop});
  torch::Tensor vectors = (torch::rand({batch, k}) < 0.2).to(torch::kFloat32);
  vectors.select(1, 0).fill_(1);
  // IR labels: background, classes and ~20% unsure.
  torch::Tensor ir = torch::randint(0, k + 1, {batch, crop, crop}, torch::kLong);
  ir.masked_fill_(torch::rand({batch, crop, crop}) < 0.5, 0);
  ir.masked_fill_(torch::rand({batch, crop, crop}) < 0.2, 255);

  // The CAM classifier's step (cam/classifier.cpp's defaults).
  models::CamNet cls(spec, k);
  cls->frozen_stages = 3;
  cls->backbone->set_frozen_batchnorm(true);
  std::vector<torch::Tensor> backbone, head;
  for (auto& p : cls->named_parameters()) {
    if (p.key().rfind("backbone.conv1.", 0) == 0 || p.key().rfind("backbone.bn1.", 0) == 0) p.value().set_requires_grad(false);
    if (!p.value().requires_grad()) continue;
    (p.key().rfind("classifier.", 0) == 0 ? head : backbone).push_back(p.value());
  }
  // IRN's groups (the classifier at 10x), at 1/100 of IRN's rate 0.1: on random
  // weights and inputs 0.1 sends the loss to NaN within three steps, and the time
  // of a step does not depend on the rate.
  using torch::optim::SGDOptions;
  std::vector<torch::optim::OptimizerParamGroup> sgd_groups;
  sgd_groups.emplace_back(backbone, std::make_unique<SGDOptions>(SGDOptions(1e-3).momentum(1e-4).weight_decay(1e-4)));
  sgd_groups.emplace_back(head, std::make_unique<SGDOptions>(SGDOptions(1e-2).momentum(1e-4).weight_decay(1e-4)));
  torch::optim::SGD sgd(sgd_groups, SGDOptions(0.1));
  cls->train();
  Timing c = time_steps(steps, [&] {
    sgd.zero_grad();
    torch::Tensor loss = torch::nn::functional::multilabel_soft_margin_loss(cls->forward(images), vectors);
    loss.backward();
    sgd.step();
    return loss.item<double>();
  });

  // AMN's step (cam/amn.cpp's defaults).
  models::AmnNet amn(spec, k);
  using torch::optim::AdamOptions;
  std::vector<torch::optim::OptimizerParamGroup> adam_groups;
  adam_groups.emplace_back(amn->backbone_parameters(), std::make_unique<AdamOptions>(AdamOptions(5e-6).weight_decay(1e-4)));
  adam_groups.emplace_back(amn->head_parameters(), std::make_unique<AdamOptions>(AdamOptions(1e-4).weight_decay(1e-4)));
  torch::optim::Adam adam(adam_groups, AdamOptions(1e-4));
  amn->train();
  Timing a = time_steps(steps, [&] {
    adam.zero_grad();
    torch::Tensor loss = cam::amn_loss(*amn, images, vectors, ir, 0.4);
    loss.backward();
    adam.step();
    return loss.item<double>();
  });
  std::printf("%s width %d, %d classes, crop %d, batch %d, %d threads, %d timed steps each\n", arch.c_str(), width, k,
              crop, batch, threads, steps);
  std::printf("  CAM classifier step: %.3f s (cpu %.3f s; warm-up %.2f s), loss %.4g\n", c.per_step, c.cpu_per_step,
              c.warmup, c.loss);
  std::printf("  AMN step:            %.3f s (cpu %.3f s; warm-up %.2f s), loss %.4g\n", a.per_step, a.cpu_per_step,
              a.warmup, a.loss);
  std::printf("  AMN / CAM step time: %.2f x; peak RSS %.0f MB\n", a.per_step / c.per_step, peak_rss_mb());
  return std::isfinite(a.loss) && std::isfinite(c.loss) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  tune_runtime_environment(argv);
  try {
    return run_bench(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "wsss_bench_amn: usage: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wsss_bench_amn: error: %s\n", e.what());
    return 1;
  }
}
