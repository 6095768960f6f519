#include <torch/torch.h>

#include <cstdlib>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <numeric>
#include <opencv2/imgcodecs.hpp>
#include <random>

#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/prefetch.hpp"
#include "wsss/core/progress.hpp"
#include "wsss/data/transforms.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/meta.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/io/png.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/checkpoint.hpp"
#include "wsss/models/schedule.hpp"
#include "wsss/models/weights.hpp"
#include "wsss/models/threads.hpp"
#include "wsss/refine/irn_net.hpp"
#include "wsss/refine/irn_stage.hpp"
#include "wsss/scores/score_map.hpp"

namespace wsss::refine {

// ---------------------------------------------------------------------------
// The per-image random walk stage.

namespace {

class IrnProcessor : public ItemProcessor {
 public:
  IrnProcessor(const fs::path& model, const Vocabulary& vocab, const fs::path& manifest, const fs::path& out_dir,
               const IrnStageOptions& options)
      : net_(load_irn_edge_net(model)), device_(models::resolve_device(options.device)),
        num_foreground_(vocab.num_foreground()), manifest_(manifest), out_dir_(out_dir), options_(options) {
    random_walk_directions(options.walk.radius);  // UsageError now rather than per item
    net_->to(device_);
  }

  std::vector<fs::path> outputs(const Record& r) const override {
    std::vector<fs::path> files = {item_file(out_dir_, "refined", record_id(r), ".npy")};
    if (options_.edges) files.push_back(item_file(out_dir_, "edge", record_id(r), ".png"));
    return files;
  }
  std::vector<std::string> fields() const override {
    if (options_.edges) return {"refined", "refined_classes", "edge"};
    return {"refined", "refined_classes"};
  }

  Record process(const Record& r, std::uint64_t) override {
    // One single-threaded network per worker: byte-identical results for any -j.
    models::use_single_threaded_torch();
    const std::string& id = record_id(r);
    std::vector<int> classes = cam_classes(r);
    cv::Mat rgb = read_image_rgb(record_path(r, "image", manifest_));
    const int height = rgb.rows, width = rgb.cols;
    const int gh = (height - 1) / 4 + 1, gw = (width - 1) / 4 + 1;
    const fs::path cam_file = record_path(r, "cam_lowres", manifest_);
    ScoreMap cams = read_npy(cam_file);
    if (cams.shape.size() != 3)
      throw InputError(cam_file, "item " + quote_id(id) + ": score map must be [k, H, W], got " +
                                     std::to_string(cams.shape.size()) + " dimensions");
    if (cams.channels() != std::int64_t(classes.size()))
      throw InputError(cam_file, "item " + quote_id(id) + ": " + std::to_string(cams.channels()) + " channels but " +
                                     std::to_string(classes.size()) + " cam_classes");
    if (cams.height() != gh || cams.width() != gw)
      throw InputError(cam_file, "item " + quote_id(id) + ": score map is " + std::to_string(cams.height()) + "x" +
                                     std::to_string(cams.width()) + " but the " + std::to_string(height) + "x" +
                                     std::to_string(width) + " image's stride-4 grid is " + std::to_string(gh) +
                                     "x" + std::to_string(gw) + " (cam_lowres from wsss-cam is needed)");
    drop_background_channel(cams, classes);
    if (options_.cam_power != 1.0)
      for (float& v : cams.data) v = std::pow(v, float(options_.cam_power));
    const std::int64_t k = std::int64_t(classes.size());
    std::vector<float> edge;
    if (k > 0 || options_.edges) {
      // Decoding and normalising happen outside the lock, overlapping another item's forward.
      ChwImage chw = normalize(rgb);
      torch::Tensor x = torch::from_blob(chw.data.data(), {1, 3, height, width}, torch::kFloat32);
      torch::Tensor pair = torch::cat({x, x.flip({3})}, 0);
      torch::Tensor e;
      {
        std::lock_guard<std::mutex> lock(mu_);
        e = irn_edge_map(net_, pair, device_);
      }
      edge.assign(e.data_ptr<float>(), e.data_ptr<float>() + e.numel());
    }
    const auto files = outputs(r);
    std::vector<float> refined(std::size_t(k) * height * width);
    if (k > 0) {
      std::vector<float> rw = random_walk_propagate(edge.data(), gh, gw, cams.data.data(), int(k), options_.walk,
                                                    options_.walk_threads);
      std::vector<float> up = upsample_bilinear(rw.data(), int(k), gh, gw, 4);
      const std::size_t uw = std::size_t(gw) * 4, un = std::size_t(gh) * 4 * uw;
      float mx = 0.f;
      for (std::int64_t c = 0; c < k; ++c)
        for (int y = 0; y < height; ++y)
          for (int x = 0; x < width; ++x) {
            const float v = up[std::size_t(c) * un + std::size_t(y) * uw + x];
            refined[(std::size_t(c) * height + y) * width + x] = v;
            mx = std::max(mx, v);
          }
      // IRN divides by the global maximum; an all-zero walk (no CAM anywhere) stays 0.
      if (mx > 0)
        for (float& v : refined) v /= mx;
    }
    write_npy(files[0], refined.data(), {k, height, width});
    Record out;
    out["refined"] = files[0].string();
    out["refined_classes"] = classes;
    if (options_.edges) {
      std::vector<float> up = upsample_bilinear(edge.data(), 1, gh, gw, 4);
      cv::Mat picture(height, width, CV_8UC1);
      for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
          picture.at<std::uint8_t>(y, x) = static_cast<std::uint8_t>(
              std::lround(std::clamp(up[std::size_t(y) * gw * 4 + x], 0.f, 1.f) * 255.f));
      std::vector<std::uint8_t> bytes;
      if (!cv::imencode(".png", picture, bytes)) throw Error(files[1].string() + ": PNG encoding failed");
      write_file_atomic(files[1], std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
      out["edge"] = files[1].string();
    }
    return out;
  }

 private:
  std::vector<int> cam_classes(const Record& r) const {
    const std::string& id = record_id(r);
    auto it = r.find("cam_classes");
    if (it == r.end()) throw InputError(manifest_, "item " + quote_id(id) + ": no \"cam_classes\" (run wsss-cam first)");
    if (!it->is_array()) throw InputError(manifest_, "item " + quote_id(id) + ": \"cam_classes\" must be an array of class ids");
    std::vector<int> classes;
    for (const auto& v : *it) {
      const bool background = classes.empty() && v.is_number_integer() && v.get<int>() == 0;  // AMN's channel
      if (!background && (!v.is_number_integer() || v.get<int>() < 1 || v.get<int>() > num_foreground_))
        throw InputError(manifest_, "item " + quote_id(id) + ": cam_classes entry " + v.dump() +
                                        " is not a class id of the vocabulary (1.." + std::to_string(num_foreground_) +
                                        ")");
      if (!classes.empty() && v.get<int>() <= classes.back() && !background)
        throw InputError(manifest_, "item " + quote_id(id) + ": cam_classes must be ascending without repeats");
      classes.push_back(v.get<int>());
    }
    return classes;
  }

  IrnEdgeNet net_;
  torch::Device device_;
  int num_foreground_;
  fs::path manifest_, out_dir_;
  IrnStageOptions options_;
  std::mutex mu_;
};

}  // namespace

void plan_irn_threads(int threads, StageOptions& stage, IrnStageOptions& options) {
#ifdef __GLIBC__
  // The forward pass's large buffers, once freed, stay in glibc's per-thread
  // arenas after its dynamic mmap threshold has grown past them; a fixed 1 MiB
  // threshold returns them. 640x640 with ResNet-50 at -j2: ~1.05 GB -> 0.54 GB
  // peak RSS for more system time (docs/refinement.md). A threshold set in the
  // environment (MALLOC_MMAP_THRESHOLD_) is left alone.
  if (!std::getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
  stage.threads = std::min(2, std::max(1, threads));
  options.walk_threads = std::max(1, threads / stage.threads);
}

std::unique_ptr<ItemProcessor> make_irn_processor(const fs::path& model, const Vocabulary& vocab,
                                                  const fs::path& manifest, const fs::path& out_dir,
                                                  const IrnStageOptions& options) {
  models::use_single_threaded_torch();  // the model loads here; workers run single-threaded too
  return std::make_unique<IrnProcessor>(model, vocab, manifest, out_dir, options);
}

}  // namespace wsss::refine
