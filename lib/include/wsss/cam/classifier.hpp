#pragma once
// Training and applying the multi-label CAM classifier (wsss-classify). The
// defaults are IRN's recipe (train_cam.py); docs/classify.md explains each.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "wsss/core/stage.hpp"
#include "wsss/data/vocab.hpp"
#include "wsss/io/manifest.hpp"
#include "wsss/models/cam_net.hpp"

namespace wsss::cam {

namespace fs = std::filesystem;

struct ClassifierTrainOptions {
  // Model
  std::string arch = "resnet50";
  int base_width = 64;
  std::string init;            // ImageNet backbone weights (safetensors, torchvision names); empty = random
  int frozen_stages = 3;       // IRN detaches after layer2: stem, layer1, layer2 get no gradient
  bool freeze_bn = true;       // BatchNorm uses its running statistics (IRN's FixedBatchNorm)
  // Data
  int resize_min = 320, resize_max = 640;  // random long side
  int crop = 512;
  // Schedule and optimiser
  int epochs = 5;
  // Stop after this many epochs of the `epochs` schedule (0 = run them all),
  // keeping the checkpoint for --resume: a job that must fit a time limit. The
  // poly schedule spans all `epochs`, so stopping and resuming gives the same
  // model as one uninterrupted run, which a shorter --epochs would not.
  int stop_after = 0;
  int batch = 16;
  double lr = 0.1;
  double classifier_lr_mult = 10.0;
  double weight_decay = 1e-4;
  // IRN's PolyOptimizer passes the weight decay into SGD's momentum slot, so its
  // effective momentum is 1e-4. We keep that value by default to reproduce IRN.
  double momentum = 1e-4;
  double poly_power = 0.9;
  // Run
  std::uint64_t seed = 0;
  int loader_threads = 2;
  std::string device = "cpu";
  float threshold = 0.5f;      // for F1 on the validation set
  bool resume = false;
  bool overwrite = false;

  void validate() const;  // UsageError on a bad value
  nlohmann::json to_json() const;
};

struct TrainSummary {
  int epochs_run = 0;
  bool stopped = false;  // --stop-after ended the run before the last epoch (no model yet)
  double final_loss = 0;
  double seconds = 0;
  nlohmann::json validation;  // per-class AP, mAP, F1 (null without a validation manifest)
};

// Trains on `train` (records need "image" and "labels") and writes into out_dir:
// checkpoint.safetensors + checkpoint.state (every epoch, atomically), and at the
// end model.safetensors, classes.json, meta.json (model.safetensors last).
// With options.resume, the checkpoint's training options must equal `options`.
TrainSummary train_classifier(const Manifest& train, const Vocabulary& vocab, const fs::path& out_dir,
                              const ClassifierTrainOptions& options, const Manifest* validation);

// Adds "scores" (sigmoid probabilities for ids 1..K) and "pred_labels" (ids whose
// score >= threshold) to each record; with set_labels, also "labels" where the
// record has none. Writes no files besides the manifest.
std::unique_ptr<ItemProcessor> make_predict_processor(const fs::path& model, const Vocabulary& vocab,
                                                      const fs::path& manifest, float threshold, bool set_labels, const std::string& device);


// Loads a CAM classifier and checks that its class names are the vocabulary's.
models::LoadedCamNet load_for_vocabulary(const fs::path& model, const Vocabulary& vocab);

// Where the CAM classes of an image come from.
enum class CamClassSource { Labels, Predicted, All };

struct CamStageOptions {
  std::vector<double> scales = {1.0, 0.5, 1.5, 2.0};
  bool flip = true;
  bool lowres = true;
  bool float16 = false;
  bool preview = false;  // also OUT/preview/<id>.jpg: each class's CAM over the image
  CamClassSource classes = CamClassSource::Labels;
  std::string device = "cpu";
};

// IRN's make_cam per image: writes OUT/cam/<id>.npy (and cam_lowres/<id>.npy)
// and adds "cam", "cam_classes" (and "cam_lowres").
std::unique_ptr<ItemProcessor> make_cam_processor(const fs::path& model, const Vocabulary& vocab,
                                                  const fs::path& manifest, const fs::path& out_dir, const CamStageOptions& options);

}  // namespace wsss::cam
