// AMN's inference (make_amn_cam.py) as a per-image stage.
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>
#include <opencv2/imgproc.hpp>

#include "wsss/cam/amn.hpp"
#include "wsss/cam/cam.hpp"
#include "wsss/cam/classifier.hpp"
#include "wsss/core/error.hpp"
#include "wsss/data/ir_label.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/threads.hpp"
#include "wsss/models/weights.hpp"
#include "wsss/train/losses.hpp"

namespace wsss::cam {

namespace F = torch::nn::functional;

namespace {

torch::Tensor resize_bilinear(const torch::Tensor& x, std::int64_t h, std::int64_t w) {
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<std::int64_t>{h, w})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

// Where `ir` [h, w] is not 0, each channel of `prob` [k, h, w] min-max normalised over the map.
torch::Tensor normalise_where_not_background(const torch::Tensor& prob, const torch::Tensor& ir) {
  const std::int64_t k = prob.size(0);
  torch::Tensor flat = prob.reshape({k, -1});
  torch::Tensor min = std::get<0>(flat.min(1)).view({k, 1, 1});
  torch::Tensor max = std::get<0>(flat.max(1)).view({k, 1, 1});
  torch::Tensor norm = (prob - min) / (max - min + 1e-5);
  return torch::where((ir != 0).unsqueeze(0), norm, prob);
}

}  // namespace

AmnCam amn_cam(models::AmnNetImpl& net, const std::vector<torch::Tensor>& inputs, const std::vector<int>& labels,
               const cv::Mat& ir_label, bool flip, bool lowres, const torch::Device& device,
               c10::optional<at::Generator> dropout_generator) {
  torch::NoGradGuard no_grad;
  const std::int64_t height = ir_label.rows, width = ir_label.cols;
  const std::int64_t gh = (height - 1) / 4 + 1, gw = (width - 1) / 4 + 1;
  if (inputs.empty()) throw Error("AMN: no input scale");
  torch::Tensor vector = label_vector(labels, net.num_foreground()).unsqueeze(0).to(device);
  torch::Tensor high, low;
  for (const torch::Tensor& batch : inputs) {
    torch::Tensor logits = net.forward(batch.to(device), vector.expand({batch.size(0), -1}), dropout_generator);
    // CAM.forward: (logit[0] + logit[1].flip(-1)) / 2.
    torch::Tensor merged = flip && logits.size(0) > 1 ? (logits[0] + logits[1].flip({2})) / 2 : logits[0];
    merged = merged.unsqueeze(0);
    torch::Tensor up = resize_bilinear(merged, height, width);
    high = high.defined() ? high + up : up;
    if (lowres) {
      torch::Tensor s = resize_bilinear(merged, gh, gw);
      low = low.defined() ? low + s : s;
    }
  }
  const double n = double(inputs.size());
  std::vector<std::int64_t> keys = {0};
  for (int c : labels) keys.push_back(c);
  torch::Tensor index = torch::tensor(keys, torch::kLong).to(device);
  // The IR label as a [1, H, W] tensor for the PIL-nearest resize to the grid.
  cv::Mat ir = ir_label.isContinuous() ? ir_label : ir_label.clone();
  torch::Tensor ir_full =
      torch::from_blob(const_cast<std::uint8_t*>(ir.ptr<std::uint8_t>()), {1, height, width}, torch::kUInt8)
          .to(torch::kLong);
  AmnCam out;
  torch::Tensor prob = torch::softmax(high[0] / n, 0).index_select(0, index).to(torch::kCPU);
  out.high_res = normalise_where_not_background(prob, ir_full[0]).contiguous();
  if (lowres) {
    torch::Tensor p = torch::softmax(low[0] / n, 0).index_select(0, index).to(torch::kCPU);
    torch::Tensor ir_grid = train::resize_labels_nearest(ir_full, gh, gw)[0];
    out.low_res = normalise_where_not_background(p, ir_grid).contiguous();
  }
  return out;
}

namespace {

class AmnProcessor : public ItemProcessor {
 public:
  AmnProcessor(const fs::path& model, const Vocabulary& vocab, const fs::path& manifest, const fs::path& out_dir,
               const AmnStageOptions& options)
      : loaded_(models::load_amn_net(model)), device_(models::resolve_device(options.device)),
        k_(vocab.num_foreground()), manifest_(manifest), out_dir_(out_dir), options_(options) {
    check_model_classes(loaded_.class_names, model, vocab);
    if (options.scales.empty()) throw UsageError("--scales: no scale given");
    loaded_.net->to(device_);
  }

  std::vector<fs::path> outputs(const Record& r) const override {
    std::vector<fs::path> files = {item_file(out_dir_, "cam", record_id(r), ".npy")};
    if (options_.lowres) files.push_back(item_file(out_dir_, "cam_lowres", record_id(r), ".npy"));
    return files;
  }
  std::vector<std::string> fields() const override {
    if (options_.lowres) return {"cam", "cam_classes", "cam_lowres"};
    return {"cam", "cam_classes"};
  }

  Record process(const Record& r, std::uint64_t seed) override {
    models::use_single_threaded_torch();
    if (!r.contains("labels"))
      throw InputError(manifest_, "item " + quote_id(record_id(r)) + ": no \"labels\" (AMN is conditioned on them)");
    const std::vector<int> labels = record_labels(r, k_, manifest_);
    cv::Mat rgb = read_image_rgb(record_path(r, "image", manifest_));
    cv::Mat ir = read_ir_label(r, options_.ir_field, manifest_, k_, rgb.size(), &labels);
    std::vector<torch::Tensor> inputs;
    for (double s : options_.scales) inputs.push_back(scale_batch(rgb, s, options_.flip));
    c10::optional<at::Generator> dropout;
    if (options_.reference_dropout) dropout = at::make_generator<at::CPUGeneratorImpl>(seed);
    AmnCam cam;
    {
      auto lock = gate_.enter();
      cam = amn_cam(*loaded_.net, inputs, labels, ir, options_.flip, options_.lowres, device_, dropout);
    }
    const NpyDType dtype = options_.float16 ? NpyDType::Float16 : NpyDType::Float32;
    const auto files = outputs(r);
    write_npy(files[0], cam.high_res.data_ptr<float>(), cam.high_res.sizes().vec(), dtype);
    if (options_.lowres) write_npy(files[1], cam.low_res.data_ptr<float>(), cam.low_res.sizes().vec(), dtype);
    Record out;
    out["cam"] = files[0].string();
    std::vector<int> classes = {0};
    classes.insert(classes.end(), labels.begin(), labels.end());
    out["cam_classes"] = classes;
    if (options_.lowres) out["cam_lowres"] = files[1].string();
    return out;
  }

 private:
  models::LoadedAmn loaded_;
  torch::Device device_;
  int k_;
  fs::path manifest_, out_dir_;
  AmnStageOptions options_;
  models::DeviceGate gate_{device_};
};

}  // namespace

std::unique_ptr<ItemProcessor> make_amn_processor(const fs::path& model, const Vocabulary& vocab,
                                                  const fs::path& manifest, const fs::path& out_dir,
                                                  const AmnStageOptions& options) {
  // One single-threaded network per worker (the model loads on this thread):
  // outputs identical for any -j (docs/determinism.md).
  models::use_single_threaded_torch();
  return std::make_unique<AmnProcessor>(model, vocab, manifest, out_dir, options);
}

}  // namespace wsss::cam
