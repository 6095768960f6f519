// AMN's training (train_amn.py) as a TrainTask of the shared trainer.
#include "wsss/cam/amn.hpp"

#include <torch/torch.h>

#include <random>

#include "wsss/cam/cam.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/progress.hpp"
#include "wsss/data/ir_label.hpp"
#include "wsss/data/transforms.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/png.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/weights.hpp"
#include "wsss/train/losses.hpp"

namespace wsss::cam {

torch::Tensor amn_loss(models::AmnNetImpl& net, const torch::Tensor& images, const torch::Tensor& label_vectors,
                       const torch::Tensor& ir_labels, double smoothing, const train::GlobalBatch& batch) {
  torch::Tensor logits = net.forward(images, label_vectors);
  // train_amn.py's resize_labels: PIL NEAREST to the logit grid.
  torch::Tensor labels = train::resize_labels_nearest(ir_labels, logits.size(2), logits.size(3));
  return train::balanced_cross_entropy(logits, labels, 255, batch, smoothing);
}

void AmnTrainOptions::validate() const {
  if (init.empty()) throw UsageError("--init is required (backbone weights: ImageNet or a CAM classifier)");
  validate_common(epochs, "--epochs");
  if (!(backbone_lr >= 0)) throw UsageError("--backbone-lr must not be negative");
  if (!(smoothing >= 0 && smoothing < 1)) throw UsageError("--smoothing must be within [0, 1)");
  if (!(scale_min > 0) || !(scale_max >= scale_min)) throw UsageError("--scale-range must be LO:HI with 0 < LO <= HI");
  if (aspp_rates.empty()) throw UsageError("--aspp-rates: no rate given");
  for (int r : aspp_rates)
    if (r < 1) throw UsageError("--aspp-rates: rates must be positive");
  if (ir_field.empty()) throw UsageError("--ir-field must not be empty");
}

nlohmann::json AmnTrainOptions::to_json() const {
  return {{"init", init}, {"arch", arch}, {"base_width", width}, {"ir_field", ir_field},
          {"scale_range", {scale_min, scale_max}}, {"crop", crop}, {"aspp_rates", aspp_rates},
          {"epochs", epochs}, {"batch", batch}, {"lr", lr}, {"backbone_lr", backbone_lr},
          {"weight_decay", weight_decay}, {"poly_power", poly_power}, {"smoothing", smoothing}, {"seed", seed}};
}

namespace {

constexpr double kDropout = 0.1;  // AMN's nn.Dropout(0.1) before the ASPP

std::vector<int> required_labels(const Record& r, const Vocabulary& vocab, const fs::path& manifest) {
  if (!r.contains("labels"))
    throw InputError(manifest, "item " + quote_id(record_id(r)) + ": no \"labels\" (image-level labels are required)");
  return record_labels(r, vocab.num_foreground(), manifest);
}

class AmnTrainTask : public train::TrainTask {
 public:
  AmnTrainTask(const Manifest& data, const Vocabulary& vocab, const AmnTrainOptions& o)
      : data_(data), vocab_(vocab), o_(o), k_(vocab.num_foreground()), sampler_(data.records.size(), o.batch, o.seed) {
    const models::ModelSpec b = models::init_backbone(o.init, o.arch, o.width);
    spec_ = models::ModelSpec::irn(b.arch, b.base_width);
    check_inputs();
    torch::manual_seed(o.seed);
    device_ = models::resolve_device(o.device);
    net_ = models::AmnNet(spec_, k_, o.aspp_rates, kDropout);
    models::LoadOptions load;
    load.prefix = "backbone.";
    load.expected_spec = &spec_;
    models::load_weights(*net_->backbone, o.init, load);
    net_->to(device_);
    using torch::optim::AdamOptions;
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(net_->backbone_parameters(),
                        std::make_unique<AdamOptions>(AdamOptions(o.backbone_lr).weight_decay(o.weight_decay)));
    groups.emplace_back(net_->head_parameters(),
                        std::make_unique<AdamOptions>(AdamOptions(o.lr).weight_decay(o.weight_decay)));
    optimizer_ = std::make_unique<torch::optim::Adam>(groups, AdamOptions(o.lr));
  }

  train::Schedule schedule() const override { return train::epoch_schedule(o_.epochs, sampler_); }
  torch::nn::Module& network() override { return *net_; }
  const models::ModelSpec& backbone_spec() const override { return spec_; }
  torch::optim::Optimizer& optimizer() override { return *optimizer_; }
  nlohmann::json options_json() const override { return o_.to_json(); }
  std::map<std::string, std::string> model_metadata() const override {
    auto metadata = models::make_metadata(spec_, {vocab_.classes.begin() + 1, vocab_.classes.end()}, o_.to_json());
    metadata[models::kMetaModel] = models::kModelAmn;
    metadata[models::kMetaHead] = nlohmann::json{{"aspp_rates", o_.aspp_rates}, {"dropout", kDropout}}.dump();
    return metadata;
  }
  std::string divergence_hint() const override { return "lower --lr and --backbone-lr"; }

  // VOC12SegmentationDataset as train_amn.py uses it: images, label vectors, IR
  // labels at the crop's size; and the batch's index per image (seeds its
  // dropout; one per image so that a data-parallel rank's slice carries it).
  train::Batch load(std::size_t index) override {
    std::vector<torch::Tensor> images, vectors, labels;
    for (const train::EpochSampler::Item& item : sampler_.batch(index)) {
      const Record& r = data_.records[item.record];
      std::mt19937_64 rng = augmentation_rng(o_.seed, item.epoch, record_id(r));
      cv::Mat rgb = read_image_rgb(record_path(r, "image", data_.path));
      cv::Mat ir = read_ir_label(r, o_.ir_field, data_.path, k_, rgb.size(), &labels_[item.record]);
      LabelledCrop crop = random_labelled_crop(rgb, ir, o_.scale_min, o_.scale_max, o_.crop, rng);
      images.push_back(torch::from_blob(crop.image.data.data(), {3, o_.crop, o_.crop}, torch::kFloat32).clone());
      labels.push_back(torch::from_blob(crop.labels.data(), {o_.crop, o_.crop}, torch::kUInt8).to(torch::kLong));
      vectors.push_back(label_vector(labels_[item.record], k_));
    }
    return {torch::stack(images), torch::stack(vectors), torch::stack(labels),
            torch::full({std::int64_t(images.size())}, std::int64_t(index), torch::kLong)};
  }

  train::StepLoss loss(const train::Batch& batch) override {
    // Dropout draws from the global generator: seeding it from (seed, batch)
    // makes a step's masks those of an uninterrupted run after --resume.
    torch::manual_seed(item_seed(o_.seed, "amn-batch-" + std::to_string(batch[3][0].item<std::int64_t>())));
    return {amn_loss(*net_, batch[0].to(device_), batch[1].to(device_), batch[2].to(device_), o_.smoothing,
                     global_batch()),
            {}};
  }

 private:
  // Every record's labels and IR label, before anything trains: a bad one is
  // one error naming the file or the item, and nothing is written.
  void check_inputs() {
    Progress progress("checking IR labels", data_.records.size());
    for (const Record& r : data_.records) {
      labels_.push_back(required_labels(r, vocab_, data_.path));
      const auto [w, h] = image_size(record_path(r, "image", data_.path));
      read_ir_label(r, o_.ir_field, data_.path, k_, cv::Size(w, h), &labels_.back());
      progress.add();
    }
    progress.finish();
  }

  const Manifest& data_;
  const Vocabulary& vocab_;
  AmnTrainOptions o_;
  int k_;
  models::ModelSpec spec_;
  train::EpochSampler sampler_;
  std::vector<std::vector<int>> labels_;
  torch::Device device_{torch::kCPU};
  models::AmnNet net_{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_;
};

}  // namespace

train::TrainResult train_amn(const Manifest& train, const Vocabulary& vocab, const fs::path& out_dir,
                             const AmnTrainOptions& o) {
  o.validate();
  train::begin_training(o, out_dir);
  AmnTrainTask task(train, vocab, o);
  return train::run_training(task, o, out_dir, vocab, train.content_hash);
}

}  // namespace wsss::cam
