#pragma once
// Training DeepLab-v2 on label masks and predicting with it (wsss-train-seg).
// The defaults are the WSSS protocol (deeplab-pytorch configs/voc12.yaml as
// ReCAM, LPCAM, AMN and CLIP-ES run it); docs/segmentation.md explains each.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <random>
#include <string>
#include <vector>

#include "wsss/core/stage.hpp"
#include "wsss/data/vocab.hpp"
#include "wsss/io/manifest.hpp"
#include "wsss/io/png.hpp"
#include "wsss/seg/deeplab.hpp"

namespace wsss::seg {

namespace fs = std::filesystem;

struct SegTrainOptions {
  // Model
  std::string arch = "resnet101";
  int base_width = 64;
  std::string init;                                 // ImageNet backbone (safetensors, torchvision names); empty = random
  std::vector<int> aspp_rates = {6, 12, 18, 24};
  bool msc = false;                                 // multi-scale inputs, loss on all four outputs
  std::vector<double> msc_scales = {0.5, 0.75};
  // Data
  std::string field = "pseudo";                     // the manifest's mask field ("mask" = ground truth)
  std::vector<double> scales = {0.5, 0.75, 1.0, 1.25, 1.5};
  int crop = 321;
  bool flip = true;
  // Schedule and optimiser
  int iters = 20000;
  // Stop after this many iterations of the `iters` schedule (0 = run them all),
  // keeping the checkpoint for --resume; the schedule still spans `iters`.
  int stop_after = 0;
  int batch = 5;
  int iter_size = 2;                                // gradient accumulation
  double lr = 2.5e-4;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  double poly_power = 0.9;
  int lr_decay_every = 10;                          // deeplab-pytorch's LR_DECAY
  double aspp_weight_lr_mult = 10.0;
  double aspp_bias_lr_mult = 20.0;                  // and no weight decay
  std::string loss = "ce";                          // ce | balanced
  // Run (not compared on --resume: they do not change the weights)
  int save_every = 1000;
  int val_every = 0;                                // 0 = only after the last iteration
  std::string val_field = "mask";
  std::uint64_t seed = 0;
  int loader_threads = 2;
  std::string device = "cpu";
  bool resume = false;
  bool overwrite = false;

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

// The poly factor of iteration t (0-based), as deeplab-pytorch's PolynomialLR
// stepped every lr_decay_every iterations: (1 - (t - t mod every) / iters)^power.
double poly_lr_factor(int iteration, const SegTrainOptions& options);

struct SegTrainSummary {
  int iterations_run = 0;   // in this invocation
  bool stopped = false;     // --stop-after ended the run early (no model yet)
  double final_loss = 0;    // mean loss of the last (up to 20) iterations
  double seconds = 0;
  double iterations_per_second = 0;
  // Where the loop's time went besides the network, so that the cost of
  // loading and checkpointing can be checked (bench/seg.sh): seconds the loop
  // waited for a batch the loader threads had not finished, the loader
  // threads' own time (decoding and augmenting, overlapped with compute), and
  // seconds spent writing checkpoints.
  double data_wait_seconds = 0;
  double loading_seconds = 0;
  double checkpoint_seconds = 0;
  nlohmann::json validation;  // [{"iteration", "miou", "per_class"}...], null without --val
};

// Trains on `train` (records need "image" and options.field) and writes into
// out_dir: checkpoint.safetensors + checkpoint.state (every save_every
// iterations and at the end, atomically), and at the end model.safetensors,
// classes.json, meta.json (model.safetensors last).
SegTrainSummary train_deeplab(const Manifest& train, const Vocabulary& vocab, const fs::path& out_dir,
                              const SegTrainOptions& options, const Manifest* validation);

struct SegPredictOptions {
  std::vector<double> scales = {1.0, 0.5, 0.75};  // the first sets the grid the scales are fused on
  std::string fuse = "max";                         // max | mean
  bool flip = false;
  bool crf = false;                                 // deeplab CRF preset on the softmax
  std::string device = "cpu";
};

// Logits [K+1, H, W] of one RGB image: for each scale the image tensor resized
// bilinearly (scale_factor, as deeplab-pytorch's MSC), logits resized to the
// first scale's logit grid and fused (max or mean), then resized bilinearly to
// H x W; with flip, the mean of that and the flipped image's, flipped back.
torch::Tensor predict_logits(DeepLabV2Impl& net, const cv::Mat& rgb, const SegPredictOptions& options,
                             const torch::Device& device);

// Class ids [H*W] from the logits: argmax of the softmax, or of the dense CRF
// marginals (deeplab preset) over all K+1 classes when options.crf.
std::vector<std::uint8_t> predict_labels(const torch::Tensor& logits, const cv::Mat& rgb, const SegPredictOptions& options);

// Loads a DeepLab-v2 model and checks that its classes are the vocabulary's.
LoadedDeepLab load_for_vocabulary(const fs::path& model, const Vocabulary& vocab);

// wsss-train-seg predict: writes OUT/pred/<id>.png (palette) and adds "pred".
std::unique_ptr<ItemProcessor> make_seg_predict_processor(const fs::path& model, const Vocabulary& vocab,
                                                          const fs::path& manifest, const fs::path& out_dir,
                                                          const SegPredictOptions& options);

}  // namespace wsss::seg
