#include "wsss/cam/recam.hpp"

#include "classification_task.hpp"

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

class RecamTrainTask : public ClassificationTask {
 public:
  RecamTrainTask(const Manifest& data, const Vocabulary& vocab, const RecamTrainOptions& o)
      : ClassificationTask(data, vocab, o.epochs, o.batch, {o.resize_min, o.resize_max, o.crop, o.seed},
                           models::kModelRecam, o.device),
        o_(o) {
    torch::manual_seed(o.seed);  // the predictor's initial weights
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
    freeze_stem(*net_);
    net_->to(device_);
    // train_recam.py: backbone and classifier at 0.1 x the predictor's rate.
    auto groups = parameter_groups(*net_, {"classifier.", "predictor."});
    optimizer_ = make_sgd({{groups[2], o.lr * o.backbone_lr_mult}, {groups[0], o.lr * o.backbone_lr_mult},
                           {groups[1], o.lr}},
                          o.momentum, o.weight_decay);
  }

  torch::nn::Module& network() override { return *net_; }
  torch::optim::Optimizer& optimizer() override { return *optimizer_; }
  nlohmann::json options_json() const override { return o_.to_json(); }
  train::StepLoss loss(const train::Batch& batch) override {
    RecamLoss l = recam_loss(*net_, batch[0].to(device_), batch[1].to(device_), o_.loss_weight);
    return {l.total, {{"bce", l.bce}, {"ce", l.ce}, {"acc", l.accuracy}}};
  }
  std::string divergence_hint() const override { return "lower --lr or --loss-weight"; }

 private:
  RecamTrainOptions o_;
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
