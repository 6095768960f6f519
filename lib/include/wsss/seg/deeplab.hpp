#pragma once
// DeepLab-v2 as the WSSS papers train it (kazuto1011/deeplab-pytorch,
// DeepLabV2_ResNet101_MSC): a dilated ResNet (output stride 8, frozen
// BatchNorm), an ASPP head of four 3x3 convolutions with rates 6/12/18/24 whose
// outputs are summed, and optional multi-scale inputs (MSC). docs/segmentation.md
// explains each choice and where it differs from the reference.
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "wsss/models/aspp.hpp"
#include "wsss/models/resnet.hpp"
#include "wsss/train/losses.hpp"

namespace wsss::seg {

namespace fs = std::filesystem;

// wsss.model value of a DeepLab-v2 weight file.
inline constexpr const char* kModelDeepLabV2 = "deeplabv2";
// The ASPP head (models/aspp.hpp, shared with AMN); the head's settings are
// stored under kMetaHead as {"aspp_rates": [...]}.
using models::Aspp;
using models::AsppImpl;
using models::kMetaHead;

class DeepLabV2Impl : public torch::nn::Module {
 public:
  // num_classes counts the background (K + 1 outputs). The ASPP weights are
  // drawn from N(0, 0.01) and the biases start at 0 (deeplab-pytorch's _ASPP).
  // The backbone's BatchNorm is frozen.
  DeepLabV2Impl(models::ModelSpec spec, std::int64_t num_classes, std::vector<int> aspp_rates = {6, 12, 18, 24});

  // Logits on the backbone's stride-8 grid: [B, K+1, h, w].
  torch::Tensor forward(const torch::Tensor& x);

  // deeplab-pytorch's MSC in training mode: the logits of x, then of x resized
  // bilinearly by each of `scales` (scale_factor, align_corners false), then
  // their elementwise max after resizing every one to the first's size:
  // [logit_1.0, logit_s1, ..., max].
  std::vector<torch::Tensor> forward_msc(const torch::Tensor& x, const std::vector<double>& scales);

  const std::vector<int>& aspp_rates() const { return rates_; }
  std::int64_t num_classes() const { return num_classes_; }

  models::ResNet backbone{nullptr};
  Aspp aspp{nullptr};

 private:
  std::vector<int> rates_;
  std::int64_t num_classes_;
};
TORCH_MODULE(DeepLabV2);

// The optimiser's parameter groups (deeplab-pytorch's get_params): backbone
// convolution weights (1x lr), ASPP weights (10x), ASPP biases (20x, no weight
// decay). Frozen BatchNorm parameters are in none of them.
struct ParameterGroups {
  std::vector<torch::Tensor> backbone_weights, aspp_weights, aspp_biases;
};
ParameterGroups parameter_groups(DeepLabV2Impl& net);

// The losses and the label resizing (train/losses.hpp, shared with AMN).
using train::balanced_cross_entropy;
using train::cross_entropy;
using train::resize_labels_nearest;

struct LoadedDeepLab {
  DeepLabV2 net{nullptr};
  std::vector<std::string> class_names;  // all K+1 names, background first
};

// Loads a model saved by `wsss-train-seg train`: checks the kind, builds the
// architecture from the metadata and loads every tensor. InputError naming the
// file otherwise.
LoadedDeepLab load_deeplab(const fs::path& file);


}  // namespace wsss::seg
