#include "wsss/cam/classifier.hpp"

#include "classification_task.hpp"
#include "wsss/cam/cam.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <random>

#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/progress.hpp"
#include "wsss/data/transforms.hpp"
#include "wsss/metrics/classification.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/image.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/weights.hpp"
#include "wsss/models/threads.hpp"

namespace wsss::cam {

namespace {

torch::Tensor to_tensor(const ChwImage& image) {
  return torch::from_blob(const_cast<float*>(image.data.data()), {3, image.height, image.width}, torch::kFloat32)
      .clone();
}

std::vector<int> required_labels(const Record& r, const Vocabulary& vocab, const fs::path& manifest) {
  if (!r.contains("labels"))
    throw InputError(manifest, "item " + quote_id(record_id(r)) + ": no \"labels\" (image-level labels are required)");
  return record_labels(r, vocab.num_foreground(), manifest);
}

}  // namespace

void check_model_classes(const std::vector<std::string>& class_names, const fs::path& model, const Vocabulary& vocab) {
  std::vector<std::string> names(vocab.classes.begin() + 1, vocab.classes.end());
  if (class_names.size() != names.size())
    throw InputError(model, "model has " + std::to_string(class_names.size()) + " classes but the data's vocabulary '" +
                                vocab.name + "' has " + std::to_string(names.size()));
  if (class_names != names)
    throw InputError(model, "model's class names differ from the data's vocabulary '" + vocab.name + "'");
}

models::LoadedCamNet load_for_vocabulary(const fs::path& model, const Vocabulary& vocab) {
  models::LoadedCamNet loaded = models::load_cam_net(model);
  check_model_classes(loaded.class_names, model, vocab);
  return loaded;
}

ClassificationTask::ClassificationTask(const Manifest& data, const Vocabulary& vocab, int epochs, int batch,
                                       const ClassifierAugmentation& augmentation, std::string kind,
                                       const std::string& device)
    : data_(data), vocab_(vocab), k_(vocab.num_foreground()), epochs_(epochs),
      sampler_(data.records.size(), batch, augmentation.seed), augmentation_(augmentation), kind_(std::move(kind)),
      device_(models::resolve_device(device)) {
  for (const Record& r : data.records) labels_.push_back(required_labels(r, vocab, data.path));
}

train::Schedule ClassificationTask::schedule() const {
  train::Schedule s;
  s.unit = train::Unit::Epoch;
  s.total = epochs_;
  s.steps_per_unit = sampler_.steps_per_epoch();
  return s;
}

std::map<std::string, std::string> ClassificationTask::model_metadata() const {
  auto metadata = models::make_metadata(spec_, {vocab_.classes.begin() + 1, vocab_.classes.end()}, options_json());
  metadata[models::kMetaModel] = kind_;
  return metadata;
}

// The order and augmentation of a batch depend only on (seed, epoch, id).
// A data-parallel rank loads its part of the batch (train/trainer.hpp).
train::Batch ClassificationTask::load(std::size_t index) { return load_part(index, 0, 1); }
train::Batch ClassificationTask::load_part(std::size_t index, int part, int parts) {
  const ClassifierAugmentation& a = augmentation_;
  std::vector<torch::Tensor> images, targets;
  for (const train::EpochSampler::Item& item : sampler_.batch(index, part, parts)) {
    const Record& r = data_.records[item.record];
    std::mt19937_64 rng = augmentation_rng(a.seed, item.epoch, record_id(r));
    cv::Mat img = random_resize_long(read_image_rgb(record_path(r, "image", data_.path)), a.resize_min,
                                     a.resize_max, rng);
    ChwImage chw = normalize(img);
    if (rng() & 1) chw = flip_horizontal(chw);
    images.push_back(to_tensor(random_crop(chw, a.crop, 0.0f, rng)));
    targets.push_back(label_vector(labels_[item.record], k_));
  }
  return {torch::stack(images), torch::stack(targets)};
}

void ClassificationTask::freeze_stem(torch::nn::Module& net) {
  for (auto& p : net.named_parameters())
    if (p.key().rfind("backbone.conv1.", 0) == 0 || p.key().rfind("backbone.bn1.", 0) == 0)
      p.value().set_requires_grad(false);
}

std::vector<std::vector<torch::Tensor>> ClassificationTask::parameter_groups(torch::nn::Module& net,
                                                                             const std::vector<std::string>& prefixes) {
  std::vector<std::vector<torch::Tensor>> groups(prefixes.size() + 1);
  for (auto& p : net.named_parameters()) {
    if (!p.value().requires_grad()) continue;
    std::size_t g = 0;
    while (g < prefixes.size() && p.key().rfind(prefixes[g], 0) != 0) ++g;
    groups[g].push_back(p.value());
  }
  return groups;
}

std::unique_ptr<torch::optim::SGD> ClassificationTask::make_sgd(
    const std::vector<std::pair<std::vector<torch::Tensor>, double>>& groups, double momentum, double weight_decay) {
  using torch::optim::SGDOptions;
  std::vector<torch::optim::OptimizerParamGroup> param_groups;
  for (const auto& [params, lr] : groups)
    param_groups.emplace_back(params, std::make_unique<SGDOptions>(
                                          SGDOptions(lr).momentum(momentum).weight_decay(weight_decay)));
  return std::make_unique<torch::optim::SGD>(param_groups, SGDOptions(groups.front().second));
}

namespace {

torch::Tensor image_batch(const fs::path& image) {
  ChwImage chw = normalize(read_image_rgb(image));
  return to_tensor(chw).unsqueeze(0);
}

}  // namespace

void ClassifierTrainOptions::validate() const {
  validate_common(epochs, "--epochs");
  if (resize_min < 1 || resize_max < resize_min) throw UsageError("--resize-long must be LO:HI with 1 <= LO <= HI");
  if (frozen_stages < 0 || frozen_stages > 5) throw UsageError("--frozen-stages must be within 0..5");
}

nlohmann::json ClassifierTrainOptions::to_json() const {
  return {{"arch", arch}, {"base_width", width}, {"init", init}, {"frozen_stages", frozen_stages},
          {"freeze_bn", freeze_bn}, {"resize_long", {resize_min, resize_max}}, {"crop", crop},
          {"epochs", epochs}, {"batch", batch}, {"lr", lr}, {"classifier_lr_mult", classifier_lr_mult},
          {"weight_decay", weight_decay}, {"momentum", momentum}, {"poly_power", poly_power}, {"seed", seed}};
}

namespace {

// IRN's train_cam.py: a ResNet with a 1x1 classifier on the GAP feature,
// multi-label soft-margin loss, SGD with a 10x rate on the classifier.
class ClassifierTrainTask : public ClassificationTask {
 public:
  ClassifierTrainTask(const Manifest& data, const Vocabulary& vocab, const ClassifierTrainOptions& o,
                      const Manifest* validation)
      : ClassificationTask(data, vocab, o.epochs, o.batch, {o.resize_min, o.resize_max, o.crop, o.seed},
                           models::kModelCamClassifier, o.device),
        o_(o), validation_(validation) {
    spec_ = models::ModelSpec::irn(o.arch, o.width);
    torch::manual_seed(o.seed);
    net_ = models::CamNet(spec_, k_);
    net_->frozen_stages = o.frozen_stages;
    net_->backbone->set_frozen_batchnorm(o.freeze_bn);
    if (!o.init.empty() && !o.resume) {
      models::LoadOptions load;
      load.prefix = "backbone.";
      load.expected_spec = &spec_;
      models::load_weights(*net_->backbone, o.init, load);
    }
    freeze_stem(*net_);
    net_->to(device_);
    auto groups = parameter_groups(*net_, {"classifier."});
    optimizer_ = make_sgd({{groups[1], o.lr}, {groups[0], o.lr * o.classifier_lr_mult}}, o.momentum, o.weight_decay);
  }

  torch::nn::Module& network() override { return *net_; }
  torch::optim::Optimizer& optimizer() override { return *optimizer_; }
  nlohmann::json options_json() const override { return o_.to_json(); }

  train::StepLoss loss(const train::Batch& batch) override {
    torch::Tensor logits = net_->forward(batch[0].to(device_));
    return {torch::nn::functional::multilabel_soft_margin_loss(logits, batch[1].to(device_)), {}};
  }

  // Per-class AP, mAP and F1 on the validation manifest after the last epoch.
  bool validates_at(int, bool last) const override { return last && validation_ != nullptr; }
  nlohmann::json validate(int) override {
    torch::NoGradGuard no_grad;
    std::vector<std::vector<float>> scores;
    std::vector<std::vector<bool>> truth;
    Progress progress("validation", validation_->records.size());
    for (const Record& r : validation_->records) {
      std::vector<int> l = required_labels(r, vocab_, validation_->path);
      torch::Tensor p =
          torch::sigmoid(net_->forward(image_batch(record_path(r, "image", validation_->path)).to(device_)))
              .to(torch::kCPU)[0];
      scores.emplace_back(p.data_ptr<float>(), p.data_ptr<float>() + k_);
      std::vector<bool> t(std::size_t(k_), false);
      for (int c : l) t[std::size_t(c - 1)] = true;
      truth.push_back(t);
      progress.add();
    }
    progress.finish();
    ClassificationMetrics m = classification_metrics(scores, truth, o_.threshold);
    nlohmann::json per_class = nlohmann::json::array();
    for (int c = 0; c < k_; ++c)
      per_class.push_back({{"id", c + 1}, {"class", vocab_.classes[c + 1]},
                           {"ap", std::isnan(m.ap[c]) ? nlohmann::json() : nlohmann::json(m.ap[c])},
                           {"f1", std::isnan(m.f1[c]) ? nlohmann::json() : nlohmann::json(m.f1[c])}});
    return {{"mAP", m.mean_ap}, {"micro_f1", m.micro_f1}, {"macro_f1", m.macro_f1},
            {"threshold", o_.threshold}, {"per_class", per_class}};
  }

 private:
  ClassifierTrainOptions o_;
  const Manifest* validation_;
  models::CamNet net_{nullptr};
  std::unique_ptr<torch::optim::SGD> optimizer_;
};

}  // namespace

train::TrainResult train_classifier(const Manifest& train, const Vocabulary& vocab, const fs::path& out_dir,
                                    const ClassifierTrainOptions& o, const Manifest* validation) {
  o.validate();
  train::begin_training(o, out_dir);
  ClassifierTrainTask task(train, vocab, o, validation);
  return train::run_training(task, o, out_dir, vocab, train.content_hash,
                             [&](const train::TrainResult& result, nlohmann::ordered_json& extra) {
                               if (validation) extra["validation"] = result.validations.back();
                             });
}

namespace {

class PredictProcessor : public ItemProcessor {
 public:
  PredictProcessor(const fs::path& model, const Vocabulary& vocab, const fs::path& manifest, float threshold,
                   bool set_labels, const std::string& device)
      : loaded_(load_for_vocabulary(model, vocab)), device_(models::resolve_device(device)),
        threshold_(threshold), set_labels_(set_labels), manifest_(manifest) {
    loaded_.net->to(device_);
  }
  std::vector<fs::path> outputs(const Record&) const override { return {}; }
  std::vector<std::string> fields() const override { return {"scores", "pred_labels"}; }
  Record process(const Record& r, std::uint64_t) override {
    models::use_single_threaded_torch();
    torch::Tensor x = image_batch(record_path(r, "image", manifest_));
    torch::Tensor p;
    {
      auto lock = gate_.enter();
      torch::NoGradGuard no_grad;
      p = torch::sigmoid(loaded_.net->forward(x.to(device_))).to(torch::kCPU)[0];
    }
    Record out;
    out["scores"] = nlohmann::ordered_json::array();
    out["pred_labels"] = nlohmann::ordered_json::array();
    for (std::int64_t c = 0; c < p.size(0); ++c) {
      float s = p[c].item<float>();
      out["scores"].push_back(std::round(s * 1e6) / 1e6);  // 6 decimals: stable text, ample precision
      if (s >= threshold_) out["pred_labels"].push_back(c + 1);
    }
    if (set_labels_ && !r.contains("labels")) out["labels"] = out["pred_labels"];
    return out;
  }

 private:
  models::LoadedCamNet loaded_;
  torch::Device device_;
  float threshold_;
  bool set_labels_;
  fs::path manifest_;
  models::DeviceGate gate_{device_};
};

}  // namespace

std::unique_ptr<ItemProcessor> make_predict_processor(const fs::path& model, const Vocabulary& vocab,
                                                      const fs::path& manifest, float threshold, bool set_labels,
                                                      const std::string& device) {
  // One single-threaded network per worker (the model loads on this thread):
  // outputs identical for any -j (docs/determinism.md).
  models::use_single_threaded_torch();
  return std::make_unique<PredictProcessor>(model, vocab, manifest, threshold, set_labels, device);
}

}  // namespace wsss::cam
