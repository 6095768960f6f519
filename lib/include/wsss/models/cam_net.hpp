#pragma once
// The CAM classifier of IRN (net/resnet50_cam.py): a ResNet backbone, global
// average pooling and a 1x1 convolution without bias as the classifier, so that
// the class activation map is the same convolution applied before the pooling.
#include <torch/torch.h>

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "wsss/models/resnet.hpp"

namespace wsss::models {

namespace fs = std::filesystem;

// Metadata key saying which kind of model a weight file holds.
inline constexpr const char* kMetaModel = "wsss.model";
inline constexpr const char* kModelCamClassifier = "cam-classifier";
inline constexpr const char* kModelRecam = "recam-classifier";

class CamNetImpl : public torch::nn::Module {
 public:
  CamNetImpl(ModelSpec spec, std::int64_t num_classes);

  // Outputs of the first `frozen_stages` stages (stem = 1, layer1 = 2, layer2 = 3)
  // are detached, so nothing before them trains (IRN detaches after layer2: 3).
  int frozen_stages = 0;

  torch::Tensor features(torch::Tensor x);
  torch::Tensor forward(torch::Tensor x);     // logits [B, K] (GAP, then the classifier)
  torch::Tensor class_maps(torch::Tensor x);  // conv(features, W): [B, K, h, w], before the ReLU

  ResNet backbone{nullptr};
  torch::nn::Conv2d classifier{nullptr};
  std::int64_t num_classes;
};
TORCH_MODULE(CamNet);

// ReCAM's network (zhaozhengChen/ReCAM, net/resnet50_cam.py): the CAM
// classifier plus the bias-free 1x1 Class_Predictor ("predictor.weight",
// [K, C, 1, 1]) trained on the class features f_c. ReCAM's CAM uses the
// element-wise product of the two weight matrices.
class RecamNetImpl : public CamNetImpl {
 public:
  RecamNetImpl(ModelSpec spec, std::int64_t num_classes);
  torch::Tensor recam_maps(torch::Tensor x);  // conv(features, W_rec * W_cls): [B, K, h, w], before the ReLU

  torch::nn::Conv2d predictor{nullptr};
};
TORCH_MODULE(RecamNet);

struct LoadedCamNet {
  CamNet net{nullptr};
  std::vector<std::string> class_names;  // foreground names, ids 1..K
};

struct LoadedRecamNet {
  RecamNet net{nullptr};
  std::vector<std::string> class_names;
};

// Loads a CAM classifier saved by `wsss-classify train`: checks the model kind,
// builds the architecture from the file's metadata and loads every tensor.
LoadedCamNet load_cam_net(const fs::path& file);

// Loads a ReCAM model saved by `wsss-classify recam` (wsss.model =
// recam-classifier), in eval mode.
LoadedRecamNet load_recam_net(const fs::path& file);
// A ReCAM network whose backbone and classifier come from a CAM classifier
// (wsss.model = cam-classifier) and whose predictor is freshly initialised
// (PyTorch's Conv2d default, from the current torch seed), as ReCAM's training
// starts.
LoadedRecamNet recam_from_classifier(const fs::path& file);

// "cpu", "cuda", "cuda:K" or "auto" (cuda when available). "cuda" without CUDA is a UsageError.
torch::Device resolve_device(const std::string& name);

// How a stage's workers share one model: on a GPU one forward at a time (the
// other workers decode and prepare meanwhile); on the CPU no lock, every worker
// running its own single-threaded forward (use_single_threaded_torch), which
// keeps the outputs byte-identical for any -j.
class DeviceGate {
 public:
  explicit DeviceGate(const torch::Device& device) : serialise_(!device.is_cpu()) {}
  // Hold the returned lock for the duration of the forward pass.
  std::unique_lock<std::mutex> enter() {
    return serialise_ ? std::unique_lock<std::mutex>(mu_) : std::unique_lock<std::mutex>();
  }

 private:
  bool serialise_;
  std::mutex mu_;
};

}  // namespace wsss::models
