#include "wsss/cam/classifier.hpp"

#include "wsss/cam/cam.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <numeric>
#include <random>

#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/prefetch.hpp"
#include "wsss/core/progress.hpp"
#include "wsss/core/run_context.hpp"
#include "wsss/data/transforms.hpp"
#include "wsss/eval/classification.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/meta.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/checkpoint.hpp"
#include "wsss/models/schedule.hpp"
#include "wsss/models/weights.hpp"
#include "wsss/models/threads.hpp"

namespace wsss::cam {

namespace {

struct Batch {
  torch::Tensor images, targets;
};

torch::Tensor to_tensor(const ChwImage& image) {
  return torch::from_blob(const_cast<float*>(image.data.data()), {3, image.height, image.width}, torch::kFloat32)
      .clone();
}

torch::Tensor multi_hot(const std::vector<int>& labels, int k) {
  torch::Tensor t = torch::zeros({k});
  for (int c : labels) t[c - 1] = 1.0f;
  return t;
}

std::vector<int> required_labels(const Record& r, const Vocabulary& vocab, const fs::path& manifest) {
  if (!r.contains("labels"))
    throw InputError(manifest, "item '" + record_id(r) + "': no \"labels\" (image-level labels are required)");
  return record_labels(r, vocab.num_foreground(), manifest);
}

}  // namespace

models::LoadedCamNet load_for_vocabulary(const fs::path& model, const Vocabulary& vocab) {
  models::LoadedCamNet loaded = models::load_cam_net(model);
  std::vector<std::string> names(vocab.classes.begin() + 1, vocab.classes.end());
  if (loaded.class_names.size() != names.size())
    throw InputError(model, "model has " + std::to_string(loaded.class_names.size()) + " classes but the data's vocabulary '" +
                                vocab.name + "' has " + std::to_string(names.size()));
  if (loaded.class_names != names)
    throw InputError(model, "model's class names differ from the data's vocabulary '" + vocab.name + "'");
  return loaded;
}

namespace {

torch::Tensor image_batch(const fs::path& image) {
  ChwImage chw = normalize(read_image_rgb(image));
  return to_tensor(chw).unsqueeze(0);
}

}  // namespace

void ClassifierTrainOptions::validate() const {
  auto bad = [](const std::string& what) { return UsageError(what); };
  if (epochs < 1) throw bad("--epochs must be at least 1");
  if (batch < 1) throw bad("--batch must be at least 1");
  if (crop < 16) throw bad("--crop must be at least 16");
  if (resize_min < 1 || resize_max < resize_min) throw bad("--resize-long must be LO:HI with 1 <= LO <= HI");
  if (lr <= 0) throw bad("--lr must be positive");
  if (frozen_stages < 0 || frozen_stages > 5) throw bad("--frozen-stages must be within 0..5");
  if (momentum < 0 || momentum >= 1) throw bad("--momentum must be within [0, 1)");
  if (stop_after < 0 || stop_after > epochs) throw bad("--stop-after must be within 0..--epochs");
}

nlohmann::json ClassifierTrainOptions::to_json() const {
  return {{"arch", arch}, {"base_width", base_width}, {"init", init}, {"frozen_stages", frozen_stages},
          {"freeze_bn", freeze_bn}, {"resize_long", {resize_min, resize_max}}, {"crop", crop},
          {"epochs", epochs}, {"batch", batch}, {"lr", lr}, {"classifier_lr_mult", classifier_lr_mult},
          {"weight_decay", weight_decay}, {"momentum", momentum}, {"poly_power", poly_power}, {"seed", seed}};
}

TrainSummary train_classifier(const Manifest& train, const Vocabulary& vocab, const fs::path& out_dir,
                              const ClassifierTrainOptions& o, const Manifest* validation) {
  o.validate();
  auto start_time = std::chrono::steady_clock::now();
  const int k = vocab.num_foreground();
  fs::path model_file = out_dir / "model.safetensors";
  fs::path ckpt_file = out_dir / "checkpoint.safetensors";
  fs::path state_file = out_dir / "checkpoint.state";
  if (!o.overwrite && fs::exists(model_file)) throw OutputExistsError(model_file);
  if (!o.overwrite && !o.resume && fs::exists(ckpt_file))
    throw Error(ckpt_file.string() + ": a checkpoint exists (use --resume to continue or --overwrite to restart)");
  if (o.resume && !(fs::exists(ckpt_file) && fs::exists(state_file)))
    throw Error(out_dir.string() + ": --resume but no checkpoint.safetensors/checkpoint.state there");

  std::vector<std::vector<int>> labels;
  for (const Record& r : train.records) labels.push_back(required_labels(r, vocab, train.path));
  const std::size_t steps_per_epoch = train.records.size() / std::size_t(o.batch);  // drop_last, as IRN
  if (steps_per_epoch == 0)
    throw UsageError("--batch " + std::to_string(o.batch) + " is larger than the " +
                     std::to_string(train.records.size()) + " training images");

  torch::manual_seed(o.seed);
  torch::Device device = models::resolve_device(o.device);
  models::ModelSpec spec = models::ModelSpec::irn(o.arch, o.base_width);
  models::CamNet net(spec, k);
  net->frozen_stages = o.frozen_stages;
  net->backbone->set_frozen_batchnorm(o.freeze_bn);
  if (!o.init.empty() && !o.resume) {
    models::LoadOptions load;
    load.prefix = "backbone.";
    load.expected_spec = &spec;
    models::load_weights(*net->backbone, o.init, load);
  }
  // IRN freezes conv1 and bn1 whatever else trains.
  for (auto& p : net->named_parameters())
    if (p.key().rfind("backbone.conv1.", 0) == 0 || p.key().rfind("backbone.bn1.", 0) == 0)
      p.value().set_requires_grad(false);
  net->to(device);

  std::vector<torch::Tensor> backbone_params, classifier_params;
  for (auto& p : net->named_parameters()) {
    if (!p.value().requires_grad()) continue;
    (p.key().rfind("classifier.", 0) == 0 ? classifier_params : backbone_params).push_back(p.value());
  }
  using torch::optim::SGDOptions;
  auto group_options = [&](double lr) {
    return std::make_unique<SGDOptions>(SGDOptions(lr).momentum(o.momentum).weight_decay(o.weight_decay));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(backbone_params, group_options(o.lr));
  groups.emplace_back(classifier_params, group_options(o.lr * o.classifier_lr_mult));
  torch::optim::SGD optimizer(groups, SGDOptions(o.lr));
  models::LrScaler lr_schedule(optimizer);

  int start_epoch = 0;
  if (o.resume) {
    start_epoch = int(models::resume_training(*net, spec, optimizer, ckpt_file, state_file, o.to_json(), o.epochs,
                                              /*ignored=*/{"init"}));
    log::info("resuming after epoch ", start_epoch, " of ", o.epochs);
  }
  const std::size_t max_step = steps_per_epoch * std::size_t(o.epochs);
  TrainSummary summary;
  net->train();
  const int last_epoch = o.stop_after > 0 ? o.stop_after : o.epochs;
  for (int epoch = start_epoch; epoch < last_epoch; ++epoch) {
    // The order and augmentation of an epoch depend only on (seed, epoch, id), so
    // a resumed run sees exactly the batches of an uninterrupted one.
    const std::vector<std::size_t> order = epoch_order(train.records.size(), o.seed, std::uint64_t(epoch));
    Prefetcher<Batch> loader(steps_per_epoch, o.loader_threads, 2 * std::size_t(o.loader_threads),
                             [&](std::size_t b) {
      std::vector<torch::Tensor> images, targets;
      for (int i = 0; i < o.batch; ++i) {
        std::size_t idx = order[b * std::size_t(o.batch) + std::size_t(i)];
        const Record& r = train.records[idx];
        std::mt19937_64 rng = augmentation_rng(o.seed, std::uint64_t(epoch), record_id(r));
        cv::Mat img = random_resize_long(read_image_rgb(record_path(r, "image", train.path)), o.resize_min,
                                         o.resize_max, rng);
        ChwImage chw = normalize(img);
        if (rng() & 1) chw = flip_horizontal(chw);
        images.push_back(to_tensor(random_crop(chw, o.crop, 0.0f, rng)));
        targets.push_back(multi_hot(labels[idx], k));
      }
      return Batch{torch::stack(images), torch::stack(targets)};
    });
    Progress progress("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs), steps_per_epoch, "it");
    double loss_sum = 0;
    for (std::size_t step = 0; step < steps_per_epoch; ++step) {
      Batch batch = *loader.next();
      std::size_t global_step = std::size_t(epoch) * steps_per_epoch + step;
      const double factor = models::poly_factor(double(global_step), double(max_step), o.poly_power);
      lr_schedule.scale(factor);
      torch::Tensor logits = net->forward(batch.images.to(device));
      torch::Tensor loss = torch::nn::functional::multilabel_soft_margin_loss(logits, batch.targets.to(device));
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      double value = loss.item<double>();
      if (!std::isfinite(value)) throw Error("training diverged (loss " + std::to_string(value) + " at step " +
                                             std::to_string(global_step) + "); lower --lr");
      loss_sum += value;
      char note[64];
      std::snprintf(note, sizeof note, "loss %.4f lr %.3g", value, lr_schedule.base(0) * factor);
      progress.set_note(note);
      progress.add();
    }
    progress.finish();
    summary.final_loss = loss_sum / double(steps_per_epoch);
    summary.epochs_run++;
    log::info("epoch ", epoch + 1, "/", o.epochs, ": mean loss ", summary.final_loss);
    auto metadata = models::make_metadata(spec, {vocab.classes.begin() + 1, vocab.classes.end()}, o.to_json());
    metadata[models::kMetaModel] = models::kModelCamClassifier;
    models::save_weights(*net, ckpt_file, metadata);
    models::save_resume_state(optimizer, epoch + 1, state_file);
  }
  if (std::max(start_epoch, last_epoch) < o.epochs) {
    log::info("stopped after epoch ", std::max(start_epoch, last_epoch), " of ", o.epochs,
              " (--stop-after); continue with --resume");
    summary.stopped = true;
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
    return summary;
  }

  net->eval();
  if (validation) {
    torch::NoGradGuard no_grad;
    std::vector<std::vector<float>> scores;
    std::vector<std::vector<bool>> truth;
    Progress progress("validation", validation->records.size());
    for (const Record& r : validation->records) {
      std::vector<int> l = required_labels(r, vocab, validation->path);
      torch::Tensor p = torch::sigmoid(net->forward(image_batch(record_path(r, "image", validation->path)).to(device)))
                            .to(torch::kCPU)[0];
      scores.emplace_back(p.data_ptr<float>(), p.data_ptr<float>() + k);
      std::vector<bool> t(std::size_t(k), false);
      for (int c : l) t[std::size_t(c - 1)] = true;
      truth.push_back(t);
      progress.add();
    }
    progress.finish();
    ClassificationMetrics m = classification_metrics(scores, truth, o.threshold);
    nlohmann::json per_class = nlohmann::json::array();
    for (int c = 0; c < k; ++c)
      per_class.push_back({{"id", c + 1}, {"class", vocab.classes[c + 1]},
                           {"ap", std::isnan(m.ap[c]) ? nlohmann::json() : nlohmann::json(m.ap[c])},
                           {"f1", std::isnan(m.f1[c]) ? nlohmann::json() : nlohmann::json(m.f1[c])}});
    summary.validation = {{"mAP", m.mean_ap}, {"micro_f1", m.micro_f1}, {"macro_f1", m.macro_f1},
                          {"threshold", o.threshold}, {"per_class", per_class}};
  }
  vocab.save(out_dir / kVocabularyFile);
  nlohmann::ordered_json extra;
  extra["final_loss"] = summary.final_loss;
  if (validation) extra["validation"] = summary.validation;
  write_meta(out_dir / "meta.json", train.content_hash, extra);
  auto metadata = models::make_metadata(spec, {vocab.classes.begin() + 1, vocab.classes.end()}, o.to_json());
  metadata[models::kMetaModel] = models::kModelCamClassifier;
  models::save_weights(*net, model_file, metadata);  // last: "model exists" means "training done"
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  return summary;
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
  return std::make_unique<PredictProcessor>(model, vocab, manifest, threshold, set_labels, device);
}

}  // namespace wsss::cam
