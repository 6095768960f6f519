// CLIP-ES per image in C++ (bench/clip_es.sh times it against the same
// computation in PyTorch, bench/clip_es_torch.py, on the same model and image).
//
//   wsss_bench_clip maps MODEL IMAGE REPEAT THREADS CLASSES
//
// MODEL: a CLIP file (TorchScript or safetensors); IMAGE: an RGB image;
// CLASSES: comma-separated class ids (1..20). The text side is 20 random class
// and 25 random background embeddings (the per-image cost does not depend on
// their values; text is encoded once per run). Prints one line per run and the
// median, in milliseconds, for the whole per-image computation: preprocessing,
// the towers, GradCAM per class, the attention affinity and the maps at image size.
#include <algorithm>
#include <sstream>
#include <vector>

#include "bench_util.hpp"
#include "wsss/cam/clip_es.hpp"
#include "wsss/io/image.hpp"
#include "wsss/models/threads.hpp"

using namespace wsss;

namespace {

int maps(int argc, char** argv) {
  if (argc != 7) throw UsageError("maps MODEL IMAGE REPEAT THREADS CLASSES");
  const fs::path model_file = argv[2], image_file = argv[3];
  const int repeat = std::stoi(argv[4]), threads = std::stoi(argv[5]);
  std::vector<int> classes;
  std::stringstream ss(argv[6]);
  for (std::string tok; std::getline(ss, tok, ',');) classes.push_back(std::stoi(tok));
  models::set_torch_threads(threads);
  auto t_load = std::chrono::steady_clock::now();
  models::ClipModel model = models::ClipModel::load(model_file);
  std::printf("model: %s (loaded in %.2fs)\n", model.config().describe().c_str(), bench::seconds_since(t_load));
  torch::manual_seed(0);
  const std::int64_t E = model.config().embed_dim;
  cam::ClipEsText text;
  text.foreground = torch::randn({20, E});
  text.foreground /= text.foreground.norm(2, 1, true);
  text.background = torch::randn({25, E});
  text.background /= text.background.norm(2, 1, true);
  cv::Mat rgb = read_image_rgb(image_file);
  cam::ClipEsOptions options;
  std::vector<double> ms, cpu_ms;
  for (int r = 0; r <= repeat; ++r) {  // run 0 warms up
    auto t0 = std::chrono::steady_clock::now();
    double c0 = bench::cpu_seconds();
    cam::ClipEsMaps out = cam::clip_es_maps(model, text, rgb, classes, options, image_file.string());
    double t = 1000 * bench::seconds_since(t0), c = 1000 * (bench::cpu_seconds() - c0);
    std::printf("c++ run %d: %.1f ms wall, %.1f ms cpu%s (refined %lldx%lldx%lld)\n", r, t, c,
                r == 0 ? " (warm-up)" : "", (long long)out.refined.size(0), (long long)out.refined.size(1),
                (long long)out.refined.size(2));
    if (r > 0) {
      ms.push_back(t);
      cpu_ms.push_back(c);
    }
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu_ms.begin(), cpu_ms.end());
  std::printf("c++ median %.1f ms wall, %.1f ms cpu over %d runs (wall min %.1f, max %.1f), %d thread(s), "
              "peak RSS %.0f MB\n",
              ms[ms.size() / 2], cpu_ms[cpu_ms.size() / 2], repeat, ms.front(), ms.back(), threads,
              bench::peak_rss_mb());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return bench::run_commands(argc, argv, "wsss_bench_clip", {{"maps", maps}}); }
