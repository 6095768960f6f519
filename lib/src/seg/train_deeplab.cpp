#include "wsss/seg/train.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <mutex>
#include <opencv2/imgproc.hpp>
#include <random>

#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/progress.hpp"
#include "wsss/data/transforms.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/png.hpp"
#include "wsss/metrics/confusion.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/weights.hpp"
#include "wsss/seg/predict.hpp"

namespace wsss::seg {

// ---------------------------------------------------------------------------
// Options

void SegTrainOptions::validate() const {
  auto bad = [](const std::string& what) { return UsageError(what); };
  validate_common(iters, "--iters");
  if (iter_size < 1) throw bad("--iter-size must be at least 1");
  if (scales.empty()) throw bad("--scales: no scale given");
  for (double s : scales)
    if (!(s > 0)) throw bad("--scales: scales must be positive");
  for (double s : msc_scales)
    if (!(s > 0)) throw bad("--msc-scales: scales must be positive");
  if (aspp_rates.empty()) throw bad("--aspp-rates: no rate given");
  for (int r : aspp_rates)
    if (r < 1) throw bad("--aspp-rates: rates must be positive");
  if (lr_decay_every < 1) throw bad("--lr-decay-every must be at least 1");
  if (loss != "ce" && loss != "balanced") throw bad("--loss " + loss + ": expected ce or balanced");
  if (val_every < 0) throw bad("--val-every must not be negative");
  if (field.empty()) throw bad("--field must not be empty");
}

nlohmann::json SegTrainOptions::to_json() const {
  return {{"arch", arch}, {"base_width", width}, {"init", init}, {"aspp_rates", aspp_rates},
          {"msc", msc}, {"msc_scales", msc_scales}, {"field", field}, {"scales", scales}, {"crop", crop},
          {"flip", flip}, {"iters", iters}, {"batch", batch}, {"iter_size", iter_size}, {"lr", lr},
          {"momentum", momentum}, {"weight_decay", weight_decay}, {"poly_power", poly_power},
          {"lr_decay_every", lr_decay_every}, {"aspp_weight_lr_mult", aspp_weight_lr_mult},
          {"aspp_bias_lr_mult", aspp_bias_lr_mult}, {"loss", loss}, {"seed", seed}};
}

namespace {

// ---------------------------------------------------------------------------
// Data: deeplab-pytorch's _augmentation on one image and its mask.

// Source index of each output index under PIL's NEAREST (see resize_labels_nearest).
std::vector<int> nearest_index(int in, int out) {
  std::vector<int> idx(static_cast<std::size_t>(out));
  for (int i = 0; i < out; ++i) idx[std::size_t(i)] = std::min(in - 1, int((double(i) + 0.5) * in / out));
  return idx;
}

Mask read_labels(const Record& r, const std::string& field, const fs::path& manifest, const Vocabulary& vocab,
                 int width, int height) {
  fs::path file = record_path(r, field, manifest);
  Mask mask = read_mask(file);
  if (mask.width != width || mask.height != height)
    throw InputError(file, "mask is " + std::to_string(mask.width) + "x" + std::to_string(mask.height) +
                               " but its image is " + std::to_string(width) + "x" + std::to_string(height));
  for (std::uint8_t v : mask.data)
    if (int(v) >= vocab.size() && int(v) != vocab.ignore)
      throw InputError(file, "label " + std::to_string(int(v)) + " is neither a class id (0.." +
                                 std::to_string(vocab.size() - 1) + ") nor the ignore id " + std::to_string(vocab.ignore));
  return mask;
}

}  // namespace

void augment_sample(const cv::Mat& rgb, const Mask& mask, const SegTrainOptions& o, int ignore, std::mt19937_64& rng,
                    float* image, std::int64_t* labels) {
  // The size truncates as Python's int() does in deeplab-pytorch.
  double s = o.scales[std::uniform_int_distribution<std::size_t>(0, o.scales.size() - 1)(rng)];
  const int h = std::max(1, int(rgb.rows * s)), w = std::max(1, int(rgb.cols * s));
  cv::Mat f;
  rgb.convertTo(f, CV_32FC3);
  if (h != rgb.rows || w != rgb.cols) cv::resize(f, f, cv::Size(w, h), 0, 0, cv::INTER_LINEAR);
  std::vector<int> ry = nearest_index(mask.height, h), rx = nearest_index(mask.width, w);
  const int crop = o.crop;
  const int y0 = std::uniform_int_distribution<int>(0, std::max(h, crop) - crop)(rng);
  const int x0 = std::uniform_int_distribution<int>(0, std::max(w, crop) - crop)(rng);
  const bool flip = o.flip && (rng() >> 63) != 0;
  Normalization norm;
  float scale[3], shift[3];
  for (int c = 0; c < 3; ++c) {
    scale[c] = 1.0f / (255.0f * norm.std[c]);
    shift[c] = -norm.mean[c] / norm.std[c];
  }
  const std::size_t plane = std::size_t(crop) * crop;
  for (int cy = 0; cy < crop; ++cy) {
    const int sy = y0 + cy;
    const float* row = sy < h ? f.ptr<float>(sy) : nullptr;
    for (int cx = 0; cx < crop; ++cx) {
      const int sx = x0 + (flip ? crop - 1 - cx : cx);
      const std::size_t o_idx = std::size_t(cy) * crop + cx;
      if (row && sx < w) {
        for (int c = 0; c < 3; ++c) image[c * plane + o_idx] = row[3 * sx + c] * scale[c] + shift[c];
        labels[o_idx] = mask.at(ry[std::size_t(sy)], rx[std::size_t(sx)]);
      } else {
        for (int c = 0; c < 3; ++c) image[c * plane + o_idx] = 0.0f;
        labels[o_idx] = ignore;
      }
    }
  }
}

namespace {

// The record of the n-th sample drawn: epochs of shuffled order one after the
// other, each order depending only on (seed, epoch), so that any iteration's
// data is a function of (seed, iteration) and a resumed run sees the same data.
class SampleOrder {
 public:
  SampleOrder(std::size_t count, std::uint64_t seed) : count_(count), seed_(seed) {}
  std::size_t record(std::uint64_t n) {
    std::uint64_t epoch = n / count_;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find_if(cache_.begin(), cache_.end(), [&](const auto& e) { return e.first == epoch; });
    if (it == cache_.end()) {
      cache_.emplace_back(epoch, epoch_order(count_, seed_, epoch));
      if (cache_.size() > 3) cache_.pop_front();
      it = std::prev(cache_.end());
    }
    return it->second[std::size_t(n % count_)];
  }

 private:
  std::size_t count_;
  std::uint64_t seed_;
  std::mutex mu_;
  std::deque<std::pair<std::uint64_t, std::vector<std::size_t>>> cache_;
};

std::mt19937_64 sample_rng(std::uint64_t seed, std::uint64_t n) {
  std::seed_seq seq{std::uint32_t(seed), std::uint32_t(seed >> 32), std::uint32_t(n), std::uint32_t(n >> 32),
                    0x5e9u};
  return std::mt19937_64(seq);
}

std::map<std::string, std::string> model_metadata(const DeepLabV2Impl& net, const Vocabulary& vocab,
                                                  const SegTrainOptions& o) {
  auto meta = models::make_metadata(net.backbone->spec(), vocab.classes, o.to_json());
  meta[models::kMetaModel] = kModelDeepLabV2;
  meta[kMetaHead] = nlohmann::json{{"aspp_rates", net.aspp_rates()}}.dump();
  return meta;
}

// Single-scale mIoU of the network on the validation manifest's `field` masks.
nlohmann::json evaluate(DeepLabV2Impl& net, const Manifest& val, const Vocabulary& vocab, const std::string& field,
                        const torch::Device& device, int iteration) {
  torch::NoGradGuard no_grad;
  net.eval();
  SegPredictOptions single;
  single.scales = {1.0};
  Confusion confusion(vocab.size());
  Progress progress("validation", val.records.size());
  for (const Record& r : val.records) {
    fs::path image_file = record_path(r, "image", val.path);
    cv::Mat rgb = read_image_rgb(image_file);
    if (!r.contains(field))
      throw InputError(val.path, "item " + quote_id(record_id(r)) + ": no \"" + field + "\" mask to validate against");
    fs::path gt_file = record_path(r, field, val.path);
    Mask gt = read_mask(gt_file);
    torch::Tensor logits = predict_logits(net, rgb, single, device);
    std::vector<std::uint8_t> labels = predict_labels(logits, rgb, single);
    Mask pred(rgb.cols, rgb.rows);
    pred.data = std::move(labels);
    accumulate_masks(confusion, gt, pred, PredIgnore::Wrong, vocab.ignore, gt_file, image_file);
    progress.add();
  }
  progress.finish();
  Scores s = compute_scores(confusion);
  nlohmann::json per_class = nlohmann::json::array();
  for (int c = 0; c < vocab.size(); ++c)
    per_class.push_back({{"id", c}, {"class", vocab.classes[std::size_t(c)]},
                         {"iou", s.classes[std::size_t(c)].valid ? nlohmann::json(s.classes[std::size_t(c)].iou)
                                                                  : nlohmann::json()}});
  return {{"iteration", iteration}, {"miou", std::isnan(s.miou) ? nlohmann::json() : nlohmann::json(s.miou)},
          {"valid_classes", s.valid}, {"per_class", per_class}};
}

// deeplab-pytorch's main.py on one model: iterations of iter_size micro-batches
// of `batch` samples drawn from an endless shuffled stream, cross-entropy (or
// the balanced one) on the logits at each input scale, SGD with 10x/20x rates on
// the ASPP.
class DeepLabTrainTask : public train::TrainTask {
 public:
  DeepLabTrainTask(const Manifest& data, const Vocabulary& vocab, const SegTrainOptions& o, const Manifest* validation)
      : data_(data), vocab_(vocab), o_(o), validation_(validation), order_(data.records.size(), o.seed),
        spec_(models::ModelSpec::deeplab(o.arch, o.width)) {
    if (vocab.size() > 255)
      throw Error("the vocabulary has " + std::to_string(vocab.size()) + " classes; masks hold at most 255");
    // Every record needs its mask: better to refuse now than at iteration 10,000.
    for (const Record& r : data.records)
      if (!r.contains(o.field))
        throw InputError(data.path, "item " + quote_id(record_id(r)) + ": no \"" + o.field + "\" mask (--field " + o.field +
                                        (o.field == "mask" ? "" : "; --field mask trains on ground truth") + ")");
    if (validation)
      for (const Record& r : validation->records)
        if (!r.contains(o.val_field))
          throw InputError(validation->path, "item " + quote_id(record_id(r)) + ": no \"" + o.val_field +
                                                 "\" mask to validate against (--val-field " + o.val_field + ")");
    torch::manual_seed(o.seed);
    device_ = models::resolve_device(o.device);
    net_ = DeepLabV2(spec_, vocab.size(), o.aspp_rates);
    if (!o.init.empty()) {
      models::LoadOptions load;
      load.prefix = "backbone.";
      load.expected_spec = &spec_;
      models::load_weights(*net_->backbone, o.init, load);
    }
    net_->to(device_);
    optimizer_ = make_optimizer(*net_, o);
  }

  train::Schedule schedule() const override { return deeplab_schedule(o_); }
  torch::nn::Module& network() override { return *net_; }
  const models::ModelSpec& backbone_spec() const override { return spec_; }
  torch::optim::Optimizer& optimizer() override { return *optimizer_; }
  nlohmann::json options_json() const override { return o_.to_json(); }
  std::map<std::string, std::string> model_metadata() const override { return seg::model_metadata(*net_, vocab_, o_); }
  std::string divergence_hint() const override {
    return o_.init.empty() ? "a random backbone under frozen BatchNorm is unstable: give --init ImageNet weights"
                           : "lower --lr";
  }

  // Micro-batch `index`: samples index*batch .. of the stream, each augmented
  // with a generator seeded by (seed, sample number).
  train::Batch load(std::size_t index) override { return load_part(index, 0, 1); }
  train::Batch load_part(std::size_t index, int part, int parts) override {
    const int begin = o_.batch * part / parts, end = o_.batch * (part + 1) / parts;
    torch::Tensor images = torch::empty({end - begin, 3, o_.crop, o_.crop}, torch::kFloat32);
    torch::Tensor labels = torch::empty({end - begin, o_.crop, o_.crop}, torch::kLong);
    for (int b = begin; b < end; ++b) {
      const std::uint64_t n = std::uint64_t(index) * std::uint64_t(o_.batch) + std::uint64_t(b);
      const Record& r = data_.records[order_.record(n)];
      cv::Mat rgb = read_image_rgb(record_path(r, "image", data_.path));
      Mask mask = read_labels(r, o_.field, data_.path, vocab_, rgb.cols, rgb.rows);
      std::mt19937_64 rng = sample_rng(o_.seed, n);
      augment_sample(rgb, mask, o_, vocab_.ignore, rng, images[b - begin].data_ptr<float>(),
                     labels[b - begin].data_ptr<std::int64_t>());
    }
    return {images, labels};
  }

  train::StepLoss loss(const train::Batch& batch) override {
    torch::Tensor x = batch[0].to(device_), y = batch[1].to(device_);
    std::vector<torch::Tensor> outputs =
        o_.msc ? net_->forward_msc(x, o_.msc_scales) : std::vector<torch::Tensor>{net_->forward(x)};
    torch::Tensor total = one_loss(outputs[0], y);
    for (std::size_t k = 1; k < outputs.size(); ++k) total = total + one_loss(outputs[k], y);
    return {total, {}};
  }

  bool validates_at(int done, bool last) const override {
    return validation_ != nullptr && ((o_.val_every > 0 && done % o_.val_every == 0) || last);
  }
  nlohmann::json validate(int done) override {
    nlohmann::json v = evaluate(*net_, *validation_, vocab_, o_.val_field, device_, done);
    char miou[32] = "n/a";
    if (!v["miou"].is_null()) std::snprintf(miou, sizeof miou, "%.2f", v["miou"].get<double>() * 100);
    log::info("iteration ", done, ": validation mIoU ", miou);
    return v;
  }

 private:
  torch::Tensor one_loss(const torch::Tensor& logits, const torch::Tensor& labels) const {
    torch::Tensor l = resize_labels_nearest(labels, logits.size(2), logits.size(3));
    return o_.loss == "balanced" ? balanced_cross_entropy(logits, l, vocab_.ignore, global_batch())
                                 : cross_entropy(logits, l, vocab_.ignore, global_batch());
  }

  const Manifest& data_;
  const Vocabulary& vocab_;
  SegTrainOptions o_;
  const Manifest* validation_;
  SampleOrder order_;
  models::ModelSpec spec_;
  torch::Device device_{torch::kCPU};
  DeepLabV2 net_{nullptr};
  std::unique_ptr<torch::optim::SGD> optimizer_;
};

}  // namespace

// ---------------------------------------------------------------------------
// Training

std::unique_ptr<torch::optim::SGD> make_optimizer(DeepLabV2Impl& net, const SegTrainOptions& o) {
  ParameterGroups params = parameter_groups(net);
  using torch::optim::SGDOptions;
  auto group = [&](double lr, double wd) {
    return std::make_unique<SGDOptions>(SGDOptions(lr).momentum(o.momentum).weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(params.backbone_weights, group(o.lr, o.weight_decay));
  groups.emplace_back(params.aspp_weights, group(o.lr * o.aspp_weight_lr_mult, o.weight_decay));
  groups.emplace_back(params.aspp_biases, group(o.lr * o.aspp_bias_lr_mult, 0.0));
  return std::make_unique<torch::optim::SGD>(groups, SGDOptions(o.lr));
}

train::Schedule deeplab_schedule(const SegTrainOptions& o) {
  train::Schedule s;
  s.unit = train::Unit::Iteration;
  s.total = o.iters;
  s.steps_per_unit = 1;
  s.micro_per_step = o.iter_size;
  // deeplab-pytorch's PolynomialLR changes the rate only when its step count is
  // a multiple of LR_DECAY, and main.py steps it after each iteration.
  s.lr_decay_every = o.lr_decay_every;
  s.loss_window = 20;
  return s;
}

train::TrainResult train_deeplab(const Manifest& train, const Vocabulary& vocab, const fs::path& out_dir,
                                 const SegTrainOptions& o, const Manifest* validation) {
  o.validate();
  train::begin_training(o, out_dir);
  DeepLabTrainTask task(train, vocab, o, validation);
  return train::run_training(task, o, out_dir, vocab, train.content_hash,
                             [&](const train::TrainResult& r, nlohmann::ordered_json& extra) {
                               extra["iterations"] = o.iters;
                               extra["iterations_per_second"] = r.steps_per_second;
                               extra["data_wait_seconds"] = r.data_wait_seconds;
                               extra["loading_seconds"] = r.loading_seconds;
                               extra["checkpoint_seconds"] = r.checkpoint_seconds;
                               if (validation) extra["validation"] = r.validations;
                             });
}

}  // namespace wsss::seg
