#pragma once
// AMN (Lee, Kim & Shim, CVPR'22; gaviotas/AMN): a label-conditioned
// segmentation network (models/amn_net.hpp) trained on IRN's IR labels, whose
// softmax becomes the CAM. Training is a TrainTask on the shared trainer
// (train/trainer.hpp); inference is a per-image stage. The defaults are the
// reference's (train_amn.py, make_amn_cam.py); docs/amn.md explains each and
// where we differ.
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "wsss/io/manifest.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/models/amn_net.hpp"
#include "wsss/stage/stage.hpp"
#include "wsss/train/trainer.hpp"

namespace wsss::cam {

namespace fs = std::filesystem;

struct AmnTrainOptions : train::TrainOptions {
  // arch empty / width 0: the --init file's spec (a CAM classifier), else resnet50 x 64.
  // lr (TrainOptions) is the new layers' rate; backbone_lr the backbone's.
  double backbone_lr = 5e-6;
  double smoothing = 0.4;                   // label smoothing e of the soft targets
  double scale_min = 0.5, scale_max = 1.5;  // random rescale
  std::vector<int> aspp_rates = {6, 12, 18, 24};
  int epochs = 5;
  std::string ir_field = "ir_label";

  AmnTrainOptions() {
    arch = "";
    width = 0;
    crop = 512;
    batch = 16;
    lr = 1e-4;
    weight_decay = 1e-4;
    momentum = 0;     // unused (Adam)
    poly_power = 0;   // AMN keeps Adam's rates constant; > 0 decays them as the other trainers do
  }
  void validate() const;  // UsageError on a bad value
  nlohmann::json to_json() const;
};

// Trains on `train` (records need "image", "labels" and the IR label field;
// every IR label is checked before training: present, the image's size, ids
// among 0, 255 and the image's labels) and writes checkpoint.safetensors +
// checkpoint.state every --save-every epochs, and at the end classes.json,
// meta.json and model.safetensors (last).
train::TrainResult train_amn(const Manifest& train, const Vocabulary& vocab, const fs::path& out_dir,
                             const AmnTrainOptions& options);

// AMN's loss on one batch: the logits of images [B,3,H,W] with label vectors
// [B,K], the IR labels [B,H,W] (int64, 255 unsure) PIL-nearest resized to the
// logit grid, and the balanced cross-entropy with label-smoothed targets
// (train::balanced_cross_entropy with `smoothing`; pixels counted over the
// global batch in a data-parallel run).
torch::Tensor amn_loss(models::AmnNetImpl& net, const torch::Tensor& images, const torch::Tensor& label_vectors,
                       const torch::Tensor& ir_labels, double smoothing, const train::GlobalBatch& batch = {});

// make_amn_cam for one image. `inputs` are the per-scale batches (cam::scale_batch:
// the image and, with flip, its mirror), `labels` the image's class ids
// (ascending), `ir_label` its IR label (H x W CV_8UC1). Per scale the logits of
// the image and of its mirror (flipped back) are averaged; the scales' logits,
// resized bilinearly (align_corners false) to H x W (and to the stride-4 grid
// ((H-1)/4+1) x ((W-1)/4+1)), are averaged; then softmax over the K+1
// channels, the channels [background, labels...] kept, and where the IR label
// (PIL-nearest resized to the grid) is not 0, each channel min-max normalised
// over the image: (x - min) / (max - min + 1e-5); where it is 0 the softmax
// stays. The network runs in eval mode, with dropout only through
// `dropout_generator` (the reference's behaviour, see AmnNetImpl::forward).
struct AmnCam {
  torch::Tensor high_res;  // [k+1, H, W] float32, CPU
  torch::Tensor low_res;   // [k+1, (H-1)/4+1, (W-1)/4+1], undefined unless lowres
};
AmnCam amn_cam(models::AmnNetImpl& net, const std::vector<torch::Tensor>& inputs, const std::vector<int>& labels,
               const cv::Mat& ir_label, bool flip, bool lowres, const torch::Device& device,
               c10::optional<at::Generator> dropout_generator = c10::nullopt);

struct AmnStageOptions {
  std::vector<double> scales = {1.0, 0.5, 1.5, 2.0};
  bool flip = true;
  bool lowres = true;
  bool float16 = false;
  std::string ir_field = "ir_label";
  bool reference_dropout = false;  // dropout on at inference, as the reference (seeded per image)
  std::string device = "cpu";
};

// The per-image stage: writes OUT/cam/<id>.npy (and cam_lowres/<id>.npy) with
// the background channel first, and adds "cam", "cam_classes" ([0, labels...])
// and "cam_lowres". Records need "image", "labels" and the IR label field.
std::unique_ptr<ItemProcessor> make_amn_processor(const fs::path& model, const Vocabulary& vocab,
                                                  const fs::path& manifest, const fs::path& out_dir,
                                                  const AmnStageOptions& options);

}  // namespace wsss::cam
