#pragma once
// Training and applying the multi-label CAM classifier (wsss-classify). The
// defaults are IRN's recipe (train_cam.py); docs/classify.md explains each.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "wsss/stage/stage.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/io/manifest.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/train/trainer.hpp"

namespace wsss::cam {

namespace fs = std::filesystem;

struct ClassifierTrainOptions : train::TrainOptions {
  int frozen_stages = 3;       // IRN detaches after layer2: stem, layer1, layer2 get no gradient
  bool freeze_bn = true;       // BatchNorm uses its running statistics (IRN's FixedBatchNorm)
  int resize_min = 320, resize_max = 640;  // random long side
  int epochs = 5;
  double classifier_lr_mult = 10.0;
  float threshold = 0.5f;      // for F1 on the validation set

  ClassifierTrainOptions() {
    crop = 512;
    batch = 16;
    lr = 0.1;
    weight_decay = 1e-4;
    // IRN's PolyOptimizer passes the weight decay into SGD's momentum slot, so its
    // effective momentum is 1e-4. We keep that value by default to reproduce IRN.
    momentum = 1e-4;
    poly_power = 0.9;
  }
  void validate() const;  // UsageError on a bad value
  nlohmann::json to_json() const;
};

// Trains on `train` (records need "image" and "labels") and writes into out_dir:
// checkpoint.safetensors + checkpoint.state (every epoch, atomically), and at the
// end model.safetensors, classes.json, meta.json (model.safetensors last).
// With options.resume, the checkpoint's training options must equal `options`.
// With a validation manifest, the result's validations hold per-class AP, mAP and
// F1 after the last epoch.
train::TrainResult train_classifier(const Manifest& train, const Vocabulary& vocab, const fs::path& out_dir,
                                    const ClassifierTrainOptions& options, const Manifest* validation);

// Adds "scores" (sigmoid probabilities for ids 1..K) and "pred_labels" (ids whose
// score >= threshold) to each record; with set_labels, also "labels" where the
// record has none. Writes no files besides the manifest.
std::unique_ptr<ItemProcessor> make_predict_processor(const fs::path& model, const Vocabulary& vocab,
                                                      const fs::path& manifest, float threshold, bool set_labels, const std::string& device);


// InputError naming `model` when its foreground class names are not the vocabulary's.
void check_model_classes(const std::vector<std::string>& class_names, const fs::path& model, const Vocabulary& vocab);

// Loads a CAM classifier and checks that its class names are the vocabulary's.
models::LoadedCamNet load_for_vocabulary(const fs::path& model, const Vocabulary& vocab);

}  // namespace wsss::cam
