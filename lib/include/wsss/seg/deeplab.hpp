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

#include "wsss/models/resnet.hpp"
#include "wsss/train/distributed.hpp"

namespace wsss::seg {

namespace fs = std::filesystem;

// wsss.model value of a DeepLab-v2 weight file.
inline constexpr const char* kModelDeepLabV2 = "deeplabv2";
// Metadata key holding the head's settings as JSON: {"aspp_rates": [...]}.
inline constexpr const char* kMetaHead = "wsss.head";

// Atrous spatial pyramid pooling of DeepLab-v2: one 3x3 convolution (with bias)
// per rate, padding = dilation = rate, all mapping the features to the class
// logits; the branch outputs are summed. Modules are named c0..c3 as in
// deeplab-pytorch's _ASPP, so tensor names are aspp.c0.weight, aspp.c0.bias ...
class AsppImpl : public torch::nn::Module {
 public:
  AsppImpl(std::int64_t in_channels, std::int64_t num_classes, const std::vector<int>& rates);
  torch::Tensor forward(const torch::Tensor& x);
  std::vector<torch::nn::Conv2d> branches;
};
TORCH_MODULE(Aspp);

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

// Mean cross-entropy over the pixels whose label is not `ignore`
// (torch's CrossEntropyLoss(ignore_index)); 0 (with a gradient path) when every
// pixel is ignored. logits [B,C,h,w], labels [B,h,w] int64. In a data-parallel
// run the pixels are counted over the whole global batch (train/distributed.hpp).
torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels, std::int64_t ignore = 255,
                            const train::GlobalBatch& batch = {});

// Balanced cross-entropy (DSRG's balanced seed loss as AMN writes it):
// (mean CE over background pixels + mean CE over foreground pixels) / 2, the
// pixels of the whole batch pooled, `ignore` skipped. When one of the two sets
// is empty the other's mean is the loss; 0 when both are.
torch::Tensor balanced_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels,
                                     std::int64_t ignore = 255, const train::GlobalBatch& batch = {});

// PIL's NEAREST resize of label maps [B,H,W] (int64) to [B,h,w]: the source
// pixel of output index i is floor((i + 0.5) * in / out). OpenCV's and torch's
// "nearest" use floor(i * in / out), which shifts labels by up to half a pixel.
torch::Tensor resize_labels_nearest(const torch::Tensor& labels, std::int64_t height, std::int64_t width);

struct LoadedDeepLab {
  DeepLabV2 net{nullptr};
  std::vector<std::string> class_names;  // all K+1 names, background first
};

// Loads a model saved by `wsss-train-seg train`: checks the kind, builds the
// architecture from the metadata and loads every tensor. InputError naming the
// file otherwise.
LoadedDeepLab load_deeplab(const fs::path& file);


}  // namespace wsss::seg
