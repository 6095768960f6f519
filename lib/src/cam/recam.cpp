#include "wsss/cam/recam.hpp"

#include "wsss/cam/classifier.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/models/weights.hpp"

namespace wsss::cam {

namespace F = torch::nn::functional;

void RecamTrainOptions::validate() const {
  validate_common(epochs, "--epochs");
  if (init.empty()) throw UsageError("--init: ReCAM starts from a trained CAM classifier (wsss-classify train's model)");
  if (resize_min < 1 || resize_max < resize_min) throw UsageError("--resize-long must be LO:HI with 1 <= LO <= HI");
  if (frozen_stages < 0 || frozen_stages > 5) throw UsageError("--frozen-stages must be within 0..5");
  if (!(backbone_lr_mult >= 0)) throw UsageError("--backbone-lr-mult must not be negative");
  if (!(loss_weight >= 0)) throw UsageError("--loss-weight must not be negative");
}

nlohmann::json RecamTrainOptions::to_json() const {
  return {{"init", init}, {"arch", arch}, {"base_width", width}, {"frozen_stages", frozen_stages},
          {"freeze_bn", freeze_bn}, {"resize_long", {resize_min, resize_max}}, {"crop", crop},
          {"epochs", epochs}, {"batch", batch}, {"lr", lr}, {"backbone_lr_mult", backbone_lr_mult},
          {"loss_weight", loss_weight}, {"weight_decay", weight_decay}, {"momentum", momentum},
          {"poly_power", poly_power}, {"seed", seed}};
}

torch::Tensor normalised_cams(const torch::Tensor& feat, const torch::Tensor& classifier_weight) {
  torch::Tensor cams = torch::relu(torch::conv2d(feat, classifier_weight));
  // F.adaptive_max_pool2d(cams, (1, 1)), as the reference (its gradient goes to one maximum).
  torch::Tensor max = std::get<0>(torch::adaptive_max_pool2d(cams, {1, 1}));
  return cams / (max + 1e-5);
}

torch::Tensor class_features(const torch::Tensor& feat, const torch::Tensor& cams) {
  const std::int64_t n = feat.size(2) * feat.size(3);
  // [B, K, N] x [B, N, C] -> [B, K, C]
  return torch::bmm(cams.flatten(2), feat.flatten(2).transpose(1, 2)) / double(n);
}

torch::Tensor class_features_broadcast(const torch::Tensor& feat, const torch::Tensor& cams) {
  torch::Tensor product = cams.unsqueeze(2) * feat.unsqueeze(1);  // [B, K, C, h, w]
  return product.flatten(3).mean(-1);
}

torch::Tensor recam_cross_entropy(const torch::Tensor& f, const torch::Tensor& predictor_weight,
                                  const torch::Tensor& targets, torch::Tensor* accuracy) {
  const std::int64_t batch = f.size(0), k = f.size(1);
  // logits[b, c, :] = the predictor applied to f_c of image b.
  torch::Tensor logits = torch::matmul(f, predictor_weight.view({k, -1}).t());  // [B, K, K]
  torch::Tensor nll = -torch::diagonal(torch::log_softmax(logits, -1), 0, 1, 2);  // [B, K]: -log p(c | f_c)
  torch::Tensor mask = (targets > 0).to(f.dtype());
  torch::Tensor count = mask.sum(1);
  torch::Tensor per_image = (nll * mask).sum(1) / count.clamp_min(1);  // an image without classes adds 0
  if (accuracy) {
    torch::NoGradGuard no_grad;
    torch::Tensor right = (logits.argmax(-1) == torch::arange(k, targets.options().dtype(torch::kLong))).to(f.dtype());
    *accuracy = (right * mask).sum() / count.sum().clamp_min(1);
  }
  return per_image.sum() / double(batch);
}

RecamLoss recam_loss(models::RecamNetImpl& net, const torch::Tensor& images, const torch::Tensor& targets,
                     double loss_weight) {
  torch::Tensor feat = net.features(images);
  torch::Tensor logits = net.classifier->forward(feat.mean({2, 3}, /*keepdim=*/true)).flatten(1);
  RecamLoss loss;
  loss.bce = F::multilabel_soft_margin_loss(logits, targets);
  torch::Tensor f = class_features(feat, normalised_cams(feat, net.classifier->weight));
  loss.ce = recam_cross_entropy(f, net.predictor->weight, targets, &loss.accuracy);
  loss.total = loss.bce + loss_weight * loss.ce;
  return loss;
}

namespace {

class RecamTrainTask : public train::TrainTask {
 public:
  RecamTrainTask(const Manifest& data, const Vocabulary& vocab, const RecamTrainOptions& o)
      : data_(data), vocab_(vocab), o_(o), k_(vocab.num_foreground()),
        sampler_(data.records.size(), o.batch, o.seed) {
    labels_ = training_labels(data, vocab);
    torch::manual_seed(o.seed);  // the predictor's initial weights
    device_ = models::resolve_device(o.device);
    models::LoadedRecamNet loaded = models::recam_from_classifier(o.init);
    check_model_classes(loaded.class_names, o.init, vocab);
    net_ = loaded.net;
    spec_ = net_->backbone->spec();
    if (!o_.arch.empty() && o_.arch != spec_.arch)
      throw InputError(o.init, "the classifier is " + spec_.arch + " but --arch is " + o_.arch);
    if (o_.width != 0 && o_.width != spec_.base_width)
      throw InputError(o.init, "the classifier has width " + std::to_string(spec_.base_width) + " but --width is " +
                                   std::to_string(o_.width));
    o_.arch = spec_.arch;
    o_.width = spec_.base_width;
    log::info("ReCAM from ", o.init, ": ", spec_.describe(), ", ", k_, " classes");
    net_->frozen_stages = o.frozen_stages;
    net_->backbone->set_frozen_batchnorm(o.freeze_bn);
    // conv1 and bn1 never train (ReCAM's Net.train()).
    for (auto& p : net_->named_parameters())
      if (p.key().rfind("backbone.conv1.", 0) == 0 || p.key().rfind("backbone.bn1.", 0) == 0)
        p.value().set_requires_grad(false);
    net_->to(device_);
    std::vector<torch::Tensor> backbone, classifier, predictor;
    for (auto& p : net_->named_parameters()) {
      if (!p.value().requires_grad()) continue;
      const std::string& name = p.key();
      (name.rfind("predictor.", 0) == 0 ? predictor : name.rfind("classifier.", 0) == 0 ? classifier : backbone)
          .push_back(p.value());
    }
    using torch::optim::SGDOptions;
    auto group_options = [&](double lr) {
      return std::make_unique<SGDOptions>(SGDOptions(lr).momentum(o.momentum).weight_decay(o.weight_decay));
    };
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(backbone, group_options(o.lr * o.backbone_lr_mult));
    groups.emplace_back(classifier, group_options(o.lr * o.backbone_lr_mult));
    groups.emplace_back(predictor, group_options(o.lr));
    optimizer_ = std::make_unique<torch::optim::SGD>(groups, SGDOptions(o.lr));
  }

  train::Schedule schedule() const override {
    train::Schedule s;
    s.unit = train::Unit::Epoch;
    s.total = o_.epochs;
    s.steps_per_unit = sampler_.steps_per_epoch();
    return s;
  }
  torch::nn::Module& network() override { return *net_; }
  const models::ModelSpec& backbone_spec() const override { return spec_; }
  torch::optim::Optimizer& optimizer() override { return *optimizer_; }
  nlohmann::json options_json() const override { return o_.to_json(); }
  std::vector<std::string> resume_ignored() const override { return {"init"}; }
  std::map<std::string, std::string> model_metadata() const override {
    auto metadata = models::make_metadata(spec_, {vocab_.classes.begin() + 1, vocab_.classes.end()}, o_.to_json());
    metadata[models::kMetaModel] = models::kModelRecam;
    return metadata;
  }
  train::Batch load(std::size_t index) override {
    return classification_batch(data_, labels_, k_, sampler_, index, {o_.resize_min, o_.resize_max, o_.crop, o_.seed});
  }
  train::StepLoss loss(const train::Batch& batch) override {
    RecamLoss l = recam_loss(*net_, batch[0].to(device_), batch[1].to(device_), o_.loss_weight);
    return {l.total, {{"bce", l.bce}, {"ce", l.ce}, {"acc", l.accuracy}}};
  }
  std::string divergence_hint() const override { return "lower --lr or --loss-weight"; }

 private:
  const Manifest& data_;
  const Vocabulary& vocab_;
  RecamTrainOptions o_;
  int k_;
  train::EpochSampler sampler_;
  std::vector<std::vector<int>> labels_;
  torch::Device device_{torch::kCPU};
  models::ModelSpec spec_;
  models::RecamNet net_{nullptr};
  std::unique_ptr<torch::optim::SGD> optimizer_;
};

}  // namespace

train::TrainResult train_recam(const Manifest& train, const Vocabulary& vocab, const fs::path& out_dir,
                               const RecamTrainOptions& o) {
  o.validate();
  train::begin_training(o, out_dir);
  RecamTrainTask task(train, vocab, o);
  return train::run_training(task, o, out_dir, vocab, train.content_hash);
}

}  // namespace wsss::cam
