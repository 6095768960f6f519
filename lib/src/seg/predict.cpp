#include "wsss/seg/predict.hpp"

#include <torch/torch.h>

#include <cmath>

#include "wsss/core/error.hpp"
#include "wsss/data/transforms.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/png.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/threads.hpp"
#include "wsss/refine/crf_stage.hpp"
#include "wsss/refine/densecrf.hpp"
#include "wsss/scores/score_map.hpp"

namespace wsss::seg {

namespace F = torch::nn::functional;

namespace {

torch::Tensor image_tensor(const cv::Mat& rgb) {
  ChwImage chw = normalize(rgb);
  return torch::from_blob(chw.data.data(), {1, 3, chw.height, chw.width}, torch::kFloat32).clone();
}

}  // namespace

// ---------------------------------------------------------------------------
// Prediction

torch::Tensor predict_logits(DeepLabV2Impl& net, const cv::Mat& rgb, const SegPredictOptions& o,
                             const torch::Device& device) {
  torch::NoGradGuard no_grad;
  const std::vector<std::int64_t> image_size = {rgb.rows, rgb.cols};
  auto bilinear = [](const torch::Tensor& t, const std::vector<std::int64_t>& size) {
    return F::interpolate(t, F::InterpolateFuncOptions().size(size).mode(torch::kBilinear).align_corners(false));
  };
  auto fused_pass = [&](const torch::Tensor& x) {
    std::vector<torch::Tensor> logits;
    std::vector<std::int64_t> grid;
    for (double s : o.scales) {
      torch::Tensor input = x;
      if (s != 1.0) {
        if (std::int64_t(std::floor(double(rgb.rows) * s)) < 1 || std::int64_t(std::floor(double(rgb.cols) * s)) < 1)
          throw Error("image of " + std::to_string(rgb.cols) + "x" + std::to_string(rgb.rows) +
                      " is too small for scale " + std::to_string(s));
        input = F::interpolate(x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{s, s}).recompute_scale_factor(false)
                                      .mode(torch::kBilinear).align_corners(false));
      }
      torch::Tensor l = net.forward(input);
      if (grid.empty()) grid = {l.size(2), l.size(3)};
      else l = bilinear(l, grid);
      logits.push_back(l);
    }
    torch::Tensor stacked = torch::stack(logits);
    torch::Tensor fused = o.fuse == "mean" ? stacked.mean(0) : std::get<0>(stacked.max(0));
    return bilinear(fused, image_size);
  };
  torch::Tensor x = image_tensor(rgb).to(device);
  torch::Tensor logits = fused_pass(x);
  if (o.flip) logits = (logits + fused_pass(x.flip({3})).flip({3})) / 2;
  return logits[0].to(torch::kCPU).contiguous();
}

std::vector<std::uint8_t> predict_labels(const torch::Tensor& logits, const cv::Mat& rgb, const SegPredictOptions& o) {
  const int channels = int(logits.size(0));
  const std::size_t n = std::size_t(logits.size(1)) * std::size_t(logits.size(2));
  torch::Tensor prob = torch::softmax(logits, 0).contiguous();
  if (!o.crf) return argmax(prob.data_ptr<float>(), channels, n);
  ChannelScores scores;
  scores.prob.assign(prob.data_ptr<float>(), prob.data_ptr<float>() + prob.numel());
  for (int c = 0; c < channels; ++c) scores.ids.push_back(c);
  scores.width = int(logits.size(2));
  scores.height = int(logits.size(1));
  std::vector<float> q = refine::crf_marginals(rgb, scores, "deeplab", 1);
  return argmax(q.data(), channels, n);
}

LoadedDeepLab load_for_vocabulary(const fs::path& model, const Vocabulary& vocab) {
  LoadedDeepLab loaded = load_deeplab(model);
  if (loaded.class_names.size() != vocab.classes.size())
    throw InputError(model, "model has " + std::to_string(loaded.class_names.size()) +
                                " classes (background included) but the data's vocabulary '" + vocab.name + "' has " +
                                std::to_string(vocab.classes.size()));
  if (loaded.class_names != vocab.classes)
    throw InputError(model, "model's class names differ from the data's vocabulary '" + vocab.name + "'");
  return loaded;
}

namespace {

class SegPredictProcessor : public ItemProcessor {
 public:
  SegPredictProcessor(const fs::path& model, const Vocabulary& vocab, const fs::path& manifest, const fs::path& out_dir,
                      const SegPredictOptions& options)
      : loaded_(load_for_vocabulary(model, vocab)), device_(models::resolve_device(options.device)), vocab_(vocab),
        manifest_(manifest), out_dir_(out_dir), options_(options) {
    if (options.scales.empty()) throw UsageError("--scales: no scale given");
    if (options.fuse != "max" && options.fuse != "mean") throw UsageError("--fuse " + options.fuse + ": expected max or mean");
    loaded_.net->to(device_);
  }
  std::vector<fs::path> outputs(const Record& r) const override {
    return {item_file(out_dir_, options_.voc_server ? kVocServerDir : "pred", record_id(r), ".png")};
  }
  std::vector<std::string> fields() const override { return {"pred"}; }
  Record process(const Record& r, std::uint64_t) override {
    models::use_single_threaded_torch();
    cv::Mat rgb = read_image_rgb(record_path(r, "image", manifest_));
    torch::Tensor logits;
    {
      auto lock = gate_.enter();
      logits = predict_logits(*loaded_.net, rgb, options_, device_);
    }
    Mask pred(rgb.cols, rgb.rows);
    pred.data = predict_labels(logits, rgb, options_);
    fs::path file = outputs(r)[0];
    write_mask(file, pred, vocab_.palette);
    Record out;
    out["pred"] = file.string();
    return out;
  }

 private:
  LoadedDeepLab loaded_;
  torch::Device device_;
  Vocabulary vocab_;
  fs::path manifest_, out_dir_;
  SegPredictOptions options_;
  models::DeviceGate gate_{device_};
};

}  // namespace

std::unique_ptr<ItemProcessor> make_seg_predict_processor(const fs::path& model, const Vocabulary& vocab,
                                                          const fs::path& manifest, const fs::path& out_dir,
                                                          const SegPredictOptions& options) {
  // One single-threaded network per worker (the model loads on this thread):
  // outputs identical for any -j (docs/determinism.md).
  models::use_single_threaded_torch();
  return std::make_unique<SegPredictProcessor>(model, vocab, manifest, out_dir, options);
}

}  // namespace wsss::seg
