// The network-only half of the CAM benchmark (bench/cam.sh): the forward passes
// wsss-cam makes for N images of one size, on fixed random inputs of exactly
// the shapes make_cam feeds the network, without decoding, resizing or writing.
// Prints measured numbers only.
//   wsss_bench_cam save-model CLASSES_JSON OUT.safetensors [ARCH [WIDTH]]
//       a randomly initialised CAM classifier (timing only) for the vocabulary
//   wsss_bench_cam forward MODEL WxH COUNT THREADS [workers|intra-op] [SCALES]
//       workers:  THREADS workers, each running single-threaded forward passes
//                 on whole images (what wsss-cam does on the CPU)
//       intra-op: one image at a time on THREADS LibTorch threads
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "wsss/cam/cam.hpp"
#include "wsss/core/error.hpp"
#include "wsss/data/transforms.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/resnet.hpp"
#include "wsss/models/weights.hpp"
#include "wsss/models/threads.hpp"

using namespace wsss;
using namespace wsss::bench;

namespace {

int save_model(int argc, char** argv) {
  if (argc < 4) throw UsageError("save-model CLASSES_JSON OUT.safetensors [ARCH [WIDTH]]");
  Vocabulary vocab = Vocabulary::load(argv[2]);
  std::string arch = argc > 4 ? argv[4] : "resnet50";
  int width = argc > 5 ? std::stoi(argv[5]) : 64;
  torch::manual_seed(0);
  models::ModelSpec spec = models::ModelSpec::irn(arch, width);
  std::vector<std::string> names(vocab.classes.begin() + 1, vocab.classes.end());
  models::CamNet net(spec, std::int64_t(names.size()));
  auto metadata = models::make_metadata(spec, names, nlohmann::json{{"note", "random weights for benchmarks"}});
  metadata[models::kMetaModel] = models::kModelCamClassifier;
  models::save_weights(*net, argv[3], metadata);
  std::printf("saved a random %s (width %d) CAM classifier for %zu classes to %s\n", arch.c_str(), width,
              names.size(), argv[3]);
  return 0;
}

int forward(int argc, char** argv) {
  if (argc < 6) throw UsageError("forward MODEL WxH COUNT THREADS [workers|intra-op] [SCALES]");
  int width = 0, height = 0;
  if (std::sscanf(argv[3], "%dx%d", &width, &height) != 2) throw UsageError("size must be WxH");
  const int count = std::stoi(argv[4]);
  const int threads = std::stoi(argv[5]);
  const std::string mode = argc > 6 ? argv[6] : "workers";
  std::vector<double> scales = {1.0, 0.5, 1.5, 2.0};
  if (argc > 7) {
    scales.clear();
    std::stringstream ss(argv[7]);
    for (std::string tok; std::getline(ss, tok, ',');) scales.push_back(std::stod(tok));
  }
  models::set_torch_threads(mode == "intra-op" ? threads : 1);
  models::LoadedCamNet loaded = models::load_cam_net(argv[2]);

  // The batches scale_batch makes (image and its flip) for each scale.
  std::vector<torch::Tensor> inputs;
  for (double s : scales) {
    cv::Size size = scaled_size(cv::Size(width, height), s);
    inputs.push_back(torch::randn({2, 3, size.height, size.width}));
  }
  auto one_image = [&] {
    torch::NoGradGuard no_grad;
    for (const auto& x : inputs) (void)loaded.net->class_maps(x);
  };

  auto t0 = std::chrono::steady_clock::now();
  if (mode == "intra-op") {
    for (int i = 0; i < count; ++i) one_image();
  } else if (mode == "workers") {
    std::atomic<int> next{0};
    std::vector<std::thread> pool;
    for (int w = 0; w < threads; ++w)
      pool.emplace_back([&] {
        models::use_single_threaded_torch();
        while (next.fetch_add(1) < count) one_image();
      });
    for (auto& t : pool) t.join();
  } else {
    throw UsageError("mode must be workers or intra-op");
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("forward %s: %d images of %dx%d, %zu scales x2 (flip), %d threads: %.2fs, %.3f images/s, peak RSS %.0f MB\n",
              mode.c_str(), count, width, height, scales.size(), threads, seconds, count / seconds, peak_rss_mb());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_commands(argc, argv, "wsss_bench_cam", {{"save-model", save_model}, {"forward", forward}});
}
