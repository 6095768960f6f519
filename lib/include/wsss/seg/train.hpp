#pragma once
// Training DeepLab-v2 on label masks (wsss-train-seg train) through the shared
// trainer (train/trainer.hpp). The defaults are the WSSS protocol
// (deeplab-pytorch configs/voc12.yaml as ReCAM, LPCAM, AMN and CLIP-ES run it);
// docs/segmentation.md explains each.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <random>
#include <string>
#include <vector>

#include "wsss/io/vocab.hpp"
#include "wsss/io/manifest.hpp"
#include "wsss/io/png.hpp"
#include "wsss/seg/deeplab.hpp"
#include "wsss/train/trainer.hpp"

namespace wsss::seg {

namespace fs = std::filesystem;

struct SegTrainOptions : train::TrainOptions {
  std::vector<int> aspp_rates = {6, 12, 18, 24};
  bool msc = false;                                 // multi-scale inputs, loss on all four outputs
  std::vector<double> msc_scales = {0.5, 0.75};
  // Data
  std::string field = "pseudo";                     // the manifest's mask field ("mask" = ground truth)
  std::vector<double> scales = {0.5, 0.75, 1.0, 1.25, 1.5};
  bool flip = true;
  // Schedule and optimiser
  int iters = 20000;
  int iter_size = 2;                                // gradient accumulation
  int lr_decay_every = 10;                          // deeplab-pytorch's LR_DECAY
  double aspp_weight_lr_mult = 10.0;
  double aspp_bias_lr_mult = 20.0;                  // and no weight decay
  std::string loss = "ce";                          // ce | balanced
  // Run (not compared on --resume: they do not change the weights)
  int val_every = 0;                                // 0 = only after the last iteration
  std::string val_field = "mask";

  SegTrainOptions() {
    arch = "resnet101";
    width = 64;
    crop = 321;
    batch = 5;
    lr = 2.5e-4;
    momentum = 0.9;
    weight_decay = 5e-4;
    poly_power = 0.9;
    save_every = 1000;
  }
  void validate() const;  // UsageError on a bad value
  // The options that determine the weights (stored in the model, compared on --resume).
  nlohmann::json to_json() const;
};

// One training sample as deeplab-pytorch's _augmentation makes it: a scale from
// options.scales (size int(H*s) x int(W*s); image bilinear, mask PIL-nearest),
// padding bottom/right to options.crop (image 0 after normalisation, mask
// `ignore`), a random crop, a random horizontal flip (options.flip). Writes
// 3 x crop x crop normalised floats to `image` and crop x crop ids to `labels`.
void augment_sample(const cv::Mat& rgb, const Mask& mask, const SegTrainOptions& options, int ignore,
                    std::mt19937_64& rng, float* image, std::int64_t* labels);

// SGD over parameter_groups(net) in that order: backbone conv weights at lr with
// weight_decay, ASPP weights at lr x aspp_weight_lr_mult with weight_decay, ASPP
// biases at lr x aspp_bias_lr_mult without weight decay; all with momentum.
std::unique_ptr<torch::optim::SGD> make_optimizer(DeepLabV2Impl& net, const SegTrainOptions& options);

// The iteration schedule: iters steps of iter_size batches, the poly rate
// updated every lr_decay_every steps, the final loss over the last 20.
train::Schedule deeplab_schedule(const SegTrainOptions& options);

// Trains on `train` (records need "image" and options.field) and writes into
// out_dir: checkpoint.safetensors + checkpoint.state (every save_every
// iterations and at the end, atomically), and at the end model.safetensors,
// classes.json, meta.json (model.safetensors last). The result's validations
// hold {"iteration", "miou", "per_class"} records, one per validation.
train::TrainResult train_deeplab(const Manifest& train, const Vocabulary& vocab, const fs::path& out_dir,
                              const SegTrainOptions& options, const Manifest* validation);

}  // namespace wsss::seg
