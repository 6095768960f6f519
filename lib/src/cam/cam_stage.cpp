#include "wsss/cam/cam_stage.hpp"

#include <torch/torch.h>

#include <cmath>
#include <mutex>
#include <opencv2/imgproc.hpp>

#include "wsss/cam/cam.hpp"
#include "wsss/cam/classifier.hpp"
#include "wsss/cam/lpcam.hpp"
#include "wsss/core/error.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/threads.hpp"
#include "wsss/viz/picture.hpp"

// ---------------------------------------------------------------------------
// The per-image CAM stage.

namespace wsss::cam {

namespace {

// The image, then one panel per class: the CAM as a heat map blended over the
// image (viz::heat_overlay, half opacity), titled with the class name.
cv::Mat cam_preview(const cv::Mat& rgb, const torch::Tensor& cams, const std::vector<int>& classes,
                    const Vocabulary& vocab) {
  std::vector<viz::Panel> panels = {{"image", rgb}};
  for (std::size_t c = 0; c < classes.size(); ++c) {
    torch::Tensor map = cams[std::int64_t(c)].contiguous();
    panels.push_back({vocab.classes[std::size_t(classes[c])],
                      viz::heat_overlay(rgb, map.data_ptr<float>(), rgb.cols, rgb.rows, 0.5)});
  }
  return viz::panel_row(panels);
}

// One image's maps from its per-scale input batches (scale_batch) and the
// 0-based class indices: make_cam with a network, or LPCAM.
using MapsFunction = std::function<CamResult(const std::vector<torch::Tensor>& inputs, int height, int width,
                                             const std::vector<std::int64_t>& index)>;

class CamProcessor : public ItemProcessor {
 public:
  CamProcessor(const Vocabulary& vocab, const fs::path& manifest, const fs::path& out_dir,
               const CamStageOptions& options, const torch::Device& device, MapsFunction maps)
      : maps_(std::move(maps)), device_(device), vocab_(vocab), manifest_(manifest), out_dir_(out_dir),
        options_(options) {}

  std::vector<fs::path> outputs(const Record& r) const override {
    std::vector<fs::path> files = {item_file(out_dir_, "cam", record_id(r), ".npy")};
    if (options_.lowres) files.push_back(item_file(out_dir_, "cam_lowres", record_id(r), ".npy"));
    if (options_.preview) files.push_back(item_file(out_dir_, "preview", record_id(r), ".jpg"));
    return files;
  }
  std::vector<std::string> fields() const override {
    std::vector<std::string> f = {"cam", "cam_classes"};
    if (options_.lowres) f.push_back("cam_lowres");
    if (options_.preview) f.push_back("preview");
    return f;
  }

  Record process(const Record& r, std::uint64_t) override {
    models::use_single_threaded_torch();
    std::vector<int> classes = image_classes(r);
    cv::Mat rgb = read_image_rgb(record_path(r, "image", manifest_));
    // Decoding and resizing overlap the other workers' forward passes.
    std::vector<torch::Tensor> inputs;
    if (!classes.empty())
      for (double s : options_.scales) inputs.push_back(scale_batch(rgb, s, options_.flip));
    std::vector<std::int64_t> index;
    for (int c : classes) index.push_back(c - 1);
    CamResult cams;
    // An image with no class to map needs no network pass (and a 0-channel map
    // cannot be interpolated).
    if (!classes.empty()) {
      auto lock = gate_.enter();
      cams = maps_(inputs, rgb.rows, rgb.cols, index);
    }
    NpyDType dtype = options_.float16 ? NpyDType::Float16 : NpyDType::Float32;
    auto files = outputs(r);
    auto write = [&](const torch::Tensor& t, const fs::path& file) {
      std::vector<std::int64_t> shape = {std::int64_t(classes.size()), t.size(1), t.size(2)};
      write_npy(file, t.data_ptr<float>(), shape, dtype);
    };
    if (classes.empty()) {
      // No foreground class: an empty [0, H, W] map keeps the format uniform.
      std::vector<float> none;
      write_npy(files[0], none.data(), {0, rgb.rows, rgb.cols}, dtype);
      if (options_.lowres) write_npy(files[1], none.data(), {0, (rgb.rows - 1) / 4 + 1, (rgb.cols - 1) / 4 + 1}, dtype);
    } else {
      write(cams.high_res, files[0]);
      if (options_.lowres) write(cams.low_res, files[1]);
    }
    Record out;
    out["cam"] = files[0].string();
    out["cam_classes"] = classes;
    if (options_.lowres) out["cam_lowres"] = files[1].string();
    if (options_.preview) {
      write_image_rgb(files.back(), cam_preview(rgb, cams.high_res, classes, vocab_));
      out["preview"] = files.back().string();
    }
    return out;
  }

 private:
  std::vector<int> image_classes(const Record& r) const {
    switch (options_.classes) {
      case CamClassSource::Labels:
        if (!r.contains("labels"))
          throw InputError(manifest_, "item '" + record_id(r) +
                                          "': no \"labels\" (use --cam-classes pred or all for unlabelled images)");
        return record_labels(r, vocab_.num_foreground(), manifest_);
      case CamClassSource::Predicted: {
        if (!r.contains("pred_labels"))
          throw InputError(manifest_, "item " + quote_id(record_id(r)) + ": no \"pred_labels\" (run wsss-classify predict first)");
        Record tmp = Record::object();
        tmp["id"] = r["id"];
        tmp["labels"] = r["pred_labels"];
        return record_labels(tmp, vocab_.num_foreground(), manifest_);
      }
      case CamClassSource::All: {
        std::vector<int> all(std::size_t(vocab_.num_foreground()));
        for (int c = 1; c <= vocab_.num_foreground(); ++c) all[std::size_t(c - 1)] = c;
        return all;
      }
    }
    return {};
  }

  MapsFunction maps_;
  torch::Device device_;
  Vocabulary vocab_;
  fs::path manifest_, out_dir_;
  CamStageOptions options_;
  models::DeviceGate gate_{device_};
};

}  // namespace

CamClassSource parse_cam_class_source(const std::string& text) {
  if (text == "labels") return CamClassSource::Labels;
  if (text == "pred") return CamClassSource::Predicted;
  if (text == "all") return CamClassSource::All;
  throw UsageError("--cam-classes " + text + ": expected labels, pred or all");
}

std::unique_ptr<ItemProcessor> make_cam_processor(const fs::path& model, const Vocabulary& vocab,
                                                  const fs::path& manifest, const fs::path& out_dir,
                                                  const CamStageOptions& options) {
  // One single-threaded network per worker (the model loads on this thread):
  // outputs identical for any -j (docs/determinism.md).
  models::use_single_threaded_torch();
  if (options.recam && !options.prototypes.empty())
    throw UsageError("--recam and --lpcam exclude each other (ReCAM needs its own model, LPCAM the CAM classifier)");
  const torch::Device device = models::resolve_device(options.device);
  CamOptions cam_options;
  cam_options.scales = options.scales;
  cam_options.flip = options.flip;
  cam_options.lowres = options.lowres;
  // IRN's make_cam over a network's raw class maps (the CAM's or ReCAM's).
  auto make_cam_maps = [&](CamFunction network) -> MapsFunction {
    return [network, cam_options, device](const std::vector<torch::Tensor>& inputs, int h, int w,
                                          const std::vector<std::int64_t>& index) {
      return make_cam(inputs, h, w, index, network, cam_options, device);
    };
  };
  MapsFunction maps;
  if (options.recam) {
    models::LoadedRecamNet loaded = models::load_recam_net(model);
    check_model_classes(loaded.class_names, model, vocab);
    loaded.net->to(device);
    auto net = loaded.net.ptr();
    maps = make_cam_maps([net](const torch::Tensor& x) { return net->recam_maps(x); });
  } else if (!options.prototypes.empty()) {
    models::LoadedCamNet loaded = load_for_vocabulary(model, vocab);
    const Prototypes prototypes = read_prototypes(options.prototypes);
    check_prototypes_match(prototypes, options.prototypes, model, loaded.class_names,
                           loaded.net->classifier->weight.size(1));
    loaded.net->to(device);
    auto net = loaded.net.ptr();
    auto lpcam = std::make_shared<LpcamMaps>(prototypes, device);
    const bool lowres = options.lowres;
    maps = [net, lpcam, device, lowres](const std::vector<torch::Tensor>& inputs, int h, int w,
                                        const std::vector<std::int64_t>& index) {
      torch::NoGradGuard no_grad;
      std::vector<torch::Tensor> features;
      for (const torch::Tensor& batch : inputs) features.push_back(flip_sum(net->features(batch.to(device))));
      return lpcam->compute(features, h, w, index, lowres);
    };
  } else {
    models::LoadedCamNet loaded = load_for_vocabulary(model, vocab);
    loaded.net->to(device);
    auto net = loaded.net.ptr();
    maps = make_cam_maps([net](const torch::Tensor& x) { return net->class_maps(x); });
  }
  return std::make_unique<CamProcessor>(vocab, manifest, out_dir, options, device, std::move(maps));
}

}  // namespace wsss::cam
