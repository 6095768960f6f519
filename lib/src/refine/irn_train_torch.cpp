#include <torch/torch.h>

#include <cmath>
#include <opencv2/imgproc.hpp>
#include <random>

#include "wsss/core/error.hpp"
#include "wsss/data/ir_label.hpp"
#include "wsss/data/transforms.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/png.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/weights.hpp"
#include "wsss/refine/irn_net.hpp"
#include "wsss/refine/irn_train.hpp"

namespace wsss::refine {

namespace {

// The backbone spec: the init file's architecture when it has one (a CAM
// classifier), else the options' (torchvision files carry none), IRN's strides.
models::ModelSpec irn_backbone_spec(const IrnTrainOptions& o) {
  const models::ModelSpec b = models::init_backbone(o.init, o.arch, o.width);
  return models::ModelSpec::irn(b.arch, b.base_width);
}

// IRN's VOC12AffinityDataset sample: the segmentation crop (random_labelled_crop)
// with its labels sampled to the stride-4 grid.
std::pair<torch::Tensor, torch::Tensor> augment(const cv::Mat& rgb, const cv::Mat& label, const IrnTrainOptions& o,
                                                std::mt19937_64& rng) {
  LabelledCrop crop = random_labelled_crop(rgb, label, o.scale_min, o.scale_max, o.crop, rng);
  const int grid = (o.crop - 1) / 4 + 1;
  std::vector<std::uint8_t> reduced = reduce_labels_nearest(crop.labels.data(), o.crop, o.crop, grid, grid);
  torch::Tensor image = torch::from_blob(crop.image.data.data(), {3, o.crop, o.crop}, torch::kFloat32).clone();
  torch::Tensor labels = torch::from_blob(reduced.data(), {grid, grid}, torch::kUInt8).clone();
  return {image, labels};
}

// The edge layers of IRN's network, trained on affinity labels from IR labels.
class IrnTrainTask : public train::TrainTask {
 public:
  IrnTrainTask(const Manifest& data, const Vocabulary& vocab, const IrnTrainOptions& o)
      : data_(data), o_(o), spec_(irn_backbone_spec(o)), num_foreground_(vocab.num_foreground()),
        sampler_(data.records.size(), o.batch, o.seed), directions_(random_walk_directions(o.radius)) {
    for (const Record& r : data.records) {
      record_path(r, "image", data.path);  // fail before training, naming the item
      record_path(r, "ir_label", data.path);
    }
    torch::manual_seed(o.seed);
    device_ = models::resolve_device(o.device);
    net_ = IrnEdgeNet(spec_);
    // A torchvision file loads without the prefix, a CAM classifier with it.
    models::LoadOptions load;
    load.prefix = "backbone.";
    load.expected_spec = &spec_;
    models::load_weights(*net_->backbone, o.init, load);
    net_->to(device_);
    using torch::optim::SGDOptions;
    optimizer_ = std::make_unique<torch::optim::SGD>(
        net_->edge_parameters(), SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay));
  }

  train::Schedule schedule() const override { return train::epoch_schedule(o_.epochs, sampler_); }
  torch::nn::Module& network() override { return *net_; }
  const models::ModelSpec& backbone_spec() const override { return spec_; }
  torch::optim::Optimizer& optimizer() override { return *optimizer_; }
  nlohmann::json options_json() const override { return o_.to_json(); }
  std::map<std::string, std::string> model_metadata() const override {
    auto metadata = models::make_metadata(spec_, {}, o_.to_json());
    metadata[models::kMetaModel] = kModelIrnEdge;
    return metadata;
  }

  // IRN's VOC12AffinityDataset batch: images and stride-4 IR labels.
  train::Batch load(std::size_t index) override { return load_part(index, 0, 1); }
  train::Batch load_part(std::size_t index, int part, int parts) override {
    std::vector<torch::Tensor> images, labels;
    for (const train::EpochSampler::Item& item : sampler_.batch(index, part, parts)) {
      const Record& r = data_.records[item.record];
      std::mt19937_64 rng = augmentation_rng(o_.seed, item.epoch, record_id(r));
      cv::Mat rgb = read_image_rgb(record_path(r, "image", data_.path));
      cv::Mat label = read_ir_label(r, "ir_label", data_.path, num_foreground_, rgb.size());
      auto [image, reduced] = augment(rgb, label, o_, rng);
      images.push_back(image);
      labels.push_back(reduced);
    }
    return {torch::stack(images), torch::stack(labels)};
  }

  train::StepLoss loss(const train::Batch& batch) override {
    torch::Tensor logits = net_->forward(batch[0].to(device_));
    torch::Tensor labels = batch[1].to(device_);
    if (logits.size(2) != labels.size(1) || logits.size(3) != labels.size(2))
      throw Error("IRN edge network: output grid " + std::to_string(logits.size(2)) + "x" +
                  std::to_string(logits.size(3)) + " differs from the label grid " + std::to_string(labels.size(1)) +
                  "x" + std::to_string(labels.size(2)));
    torch::Tensor affinity = path_max_affinity(torch::sigmoid(logits.select(1, 0)), directions_);
    AffinityLoss l = affinity_loss(affinity, affinity_labels(labels, directions_), global_batch());
    return {l.total, {{"bg", l.bg_pos}, {"fg", l.fg_pos}, {"neg", l.neg}}};
  }

 private:
  const Manifest& data_;
  IrnTrainOptions o_;
  models::ModelSpec spec_;
  int num_foreground_;
  train::EpochSampler sampler_;
  std::vector<GridOffset> directions_;
  torch::Device device_{torch::kCPU};
  IrnEdgeNet net_{nullptr};
  std::unique_ptr<torch::optim::SGD> optimizer_;
};

}  // namespace

void IrnTrainOptions::validate() const {
  if (init.empty()) throw UsageError("--init is required (backbone weights: ImageNet or a CAM classifier)");
  validate_common(epochs, "--epochs");
  if (!(scale_min > 0) || !(scale_max >= scale_min))
    throw UsageError("--scale-range must be LO:HI with 0 < LO <= HI");
  if (radius < 2 || radius > 32) throw UsageError("--radius must be within 2..32");
}

nlohmann::json IrnTrainOptions::to_json() const {
  return {{"init", init}, {"arch", arch}, {"base_width", width}, {"scale_range", {scale_min, scale_max}},
          {"crop", crop}, {"radius", radius}, {"epochs", epochs}, {"batch", batch}, {"lr", lr},
          {"weight_decay", weight_decay}, {"momentum", momentum}, {"poly_power", poly_power}, {"seed", seed}};
}

train::TrainResult train_irn(const Manifest& train, const Vocabulary& vocab, const fs::path& out_dir,
                             const IrnTrainOptions& o) {
  o.validate();
  train::begin_training(o, out_dir);
  IrnTrainTask task(train, vocab, o);
  return train::run_training(task, o, out_dir, vocab, train.content_hash);
}

}  // namespace wsss::refine
