#pragma once
// Training IRN's edge network (step/train_irn.py) on IR labels, through the
// shared trainer (train/trainer.hpp). docs/refinement.md ("IRN: irn-train").
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "wsss/io/vocab.hpp"
#include "wsss/io/manifest.hpp"
#include "wsss/train/trainer.hpp"

namespace wsss::refine {

namespace fs = std::filesystem;

struct IrnTrainOptions : train::TrainOptions {
  // arch empty / width 0: the init file's spec (a CAM classifier), else resnet50 x 64.
  double scale_min = 0.5, scale_max = 1.5;  // random rescale
  int radius = 10;          // affinity pairs: IRN's 152 directions
  int epochs = 3;

  IrnTrainOptions() {
    arch = "";
    width = 0;
    crop = 512;
    batch = 32;
    lr = 0.1;
    weight_decay = 1e-4;
    momentum = 1e-4;  // IRN's PolyOptimizer puts the weight decay in SGD's momentum slot
    poly_power = 0.9;
  }
  void validate() const;  // UsageError on a bad value
  nlohmann::json to_json() const;
};

// Trains the edge layers on `train` (records need "image" and "ir_label") and
// writes checkpoint.safetensors + checkpoint.state every epoch, and at the end
// classes.json, meta.json and model.safetensors (last).
train::TrainResult train_irn(const Manifest& train, const Vocabulary& vocab, const fs::path& out_dir,
                             const IrnTrainOptions& options);

}  // namespace wsss::refine
