#include "wsss/cam/cam_stage.hpp"

#include <torch/torch.h>

#include <cmath>
#include <mutex>
#include <opencv2/imgproc.hpp>

#include "wsss/cam/cam.hpp"
#include "wsss/cam/classifier.hpp"
#include "wsss/core/error.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/threads.hpp"

// ---------------------------------------------------------------------------
// The per-image CAM stage.

namespace wsss::cam {

namespace {

// The image, then one panel per class: the CAM as a JET heat map blended over
// the image, with the class name written on it.
cv::Mat cam_preview(const cv::Mat& rgb, const torch::Tensor& cams, const std::vector<int>& classes,
                    const Vocabulary& vocab) {
  std::vector<cv::Mat> panels = {rgb};
  for (std::size_t c = 0; c < classes.size(); ++c) {
    torch::Tensor u8 = (cams[std::int64_t(c)].clamp(0, 1) * 255).round().to(torch::kUInt8).contiguous();
    cv::Mat gray(rgb.rows, rgb.cols, CV_8UC1, u8.data_ptr<std::uint8_t>()), heat, blended;
    cv::applyColorMap(gray, heat, cv::COLORMAP_JET);
    cv::cvtColor(heat, heat, cv::COLOR_BGR2RGB);
    cv::addWeighted(rgb, 0.5, heat, 0.5, 0, blended);
    cv::putText(blended, vocab.classes[std::size_t(classes[c])], {4, 14}, cv::FONT_HERSHEY_SIMPLEX, 0.45,
                cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
    panels.push_back(blended);
  }
  cv::Mat out;
  cv::hconcat(panels, out);
  return out;
}

class CamProcessor : public ItemProcessor {
 public:
  CamProcessor(const fs::path& model, const Vocabulary& vocab, const fs::path& manifest, const fs::path& out_dir,
               const CamStageOptions& options)
      : loaded_(load_for_vocabulary(model, vocab)), device_(models::resolve_device(options.device)),
        vocab_(vocab), manifest_(manifest), out_dir_(out_dir), options_(options) {
    loaded_.net->to(device_);
    cam_options_.scales = options.scales;
    cam_options_.flip = options.flip;
    cam_options_.lowres = options.lowres;
  }

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
      cams = make_cam(inputs, rgb.rows, rgb.cols, index, [&](const torch::Tensor& x) {
        return loaded_.net->class_maps(x);
      }, cam_options_, device_);
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

  models::LoadedCamNet loaded_;
  torch::Device device_;
  Vocabulary vocab_;
  fs::path manifest_, out_dir_;
  CamStageOptions options_;
  CamOptions cam_options_;
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
  return std::make_unique<CamProcessor>(model, vocab, manifest, out_dir, options);
}

}  // namespace wsss::cam
