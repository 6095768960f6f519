#include "wsss/cam/cam.hpp"

#include <cmath>
#include <mutex>

#include "wsss/cam/classifier.hpp"
#include "wsss/core/error.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/threads.hpp"

#include <opencv2/imgproc.hpp>

namespace wsss::cam {

namespace F = torch::nn::functional;

torch::Tensor scale_batch(const cv::Mat& rgb, double scale, bool flip, const Normalization& norm) {
  cv::Mat scaled = scale == 1.0 ? rgb : resize_image(rgb, scaled_size(rgb.size(), scale));
  ChwImage chw = normalize(scaled, norm);
  torch::Tensor x = torch::from_blob(chw.data.data(), {1, 3, chw.height, chw.width}, torch::kFloat32).clone();
  if (flip) x = torch::cat({x, x.flip({3})}, 0);
  return x;
}

CamResult make_cam(const std::vector<torch::Tensor>& inputs, int height, int width,
                   const std::vector<int64_t>& class_index, const CamFunction& network, const CamOptions& options,
                   const torch::Device& device) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> strided = {(height - 1) / 4 + 1, (width - 1) / 4 + 1};
  std::vector<int64_t> strided_up = {(height + 15) / 16 * 16, (width + 15) / 16 * 16};
  if (class_index.empty()) {  // nothing to map; interpolation refuses 0-channel tensors
    CamResult none;
    none.high_res = torch::zeros({0, height, width});
    if (options.lowres) none.low_res = torch::zeros({0, strided[0], strided[1]});
    return none;
  }
  torch::Tensor index = torch::tensor(class_index, torch::kLong).to(device);
  torch::Tensor high, low;
  for (const torch::Tensor& batch : inputs) {
    torch::Tensor raw = network(batch.to(device));  // [B, K, h', w']
    // Select the classes first: the rest of the computation is per channel.
    torch::Tensor cam = torch::relu(raw.index_select(1, index));
    torch::Tensor merged = cam[0];
    if (options.flip && cam.size(0) > 1) merged = merged + cam[1].flip({2});
    merged = merged.unsqueeze(0);
    auto up = F::interpolate(merged, F::InterpolateFuncOptions().size(strided_up).mode(torch::kBilinear)
                                         .align_corners(false));
    high = high.defined() ? high + up : up;
    if (options.lowres) {
      auto s = F::interpolate(merged, F::InterpolateFuncOptions().size(strided).mode(torch::kBilinear)
                                          .align_corners(false));
      low = low.defined() ? low + s : s;
    }
  }
  CamResult result;
  auto normalise = [](torch::Tensor t) {
    auto max = std::get<0>(t.flatten(1).max(1)).view({-1, 1, 1});
    return t / (max + 1e-5);
  };
  high = high[0].slice(1, 0, height).slice(2, 0, width);
  result.high_res = normalise(high).to(torch::kCPU).contiguous();
  if (options.lowres) result.low_res = normalise(low[0]).to(torch::kCPU).contiguous();
  return result;
}

}  // namespace wsss::cam

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
          throw InputError(manifest_, "item '" + record_id(r) + "': no \"pred_labels\" (run wsss-classify predict first)");
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

std::unique_ptr<ItemProcessor> make_cam_processor(const fs::path& model, const Vocabulary& vocab,
                                                  const fs::path& manifest, const fs::path& out_dir,
                                                  const CamStageOptions& options) {
  return std::make_unique<CamProcessor>(model, vocab, manifest, out_dir, options);
}

}  // namespace wsss::cam
