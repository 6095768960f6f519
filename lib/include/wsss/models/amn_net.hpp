#pragma once
// AMN's label-conditioned segmentation network (gaviotas/AMN net/resnet50_amn.py,
// CVPR'22): a ResNet at output stride 16 with frozen BatchNorm statistics, its
// layer-4 feature multiplied channel-wise by Linear(K -> C_feat)(image label
// vector), Dropout(0.1), and a DeepLab-v2 ASPP to K+1 logits (rates 6/12/18/24,
// summed). Its softmax, conditioned on the image's labels, becomes the CAM
// (cam/amn.hpp). docs/amn.md.
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "wsss/models/aspp.hpp"
#include "wsss/models/resnet.hpp"

namespace wsss::models {

namespace fs = std::filesystem;

// wsss.model value of an AMN weight file.
inline constexpr const char* kModelAmn = "amn";

class AmnNetImpl : public torch::nn::Module {
 public:
  // num_foreground = K (the label vector's length); the ASPP maps to K + 1.
  AmnNetImpl(ModelSpec spec, std::int64_t num_foreground, std::vector<int> aspp_rates = {6, 12, 18, 24},
             double dropout = 0.1);

  // Logits [B, K+1, h, w] on the backbone's grid of images x [B, 3, H, W] whose
  // multi-hot label vectors are `labels` [B, K] (float). Dropout acts in training
  // mode (the global generator); in eval mode only when `dropout_generator` is
  // given, which draws its masks (on the CPU) instead: the reference's inference
  // runs with dropout on (docs/amn.md), and --reference-dropout reproduces that
  // reproducibly per image.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& labels,
                        c10::optional<at::Generator> dropout_generator = c10::nullopt);

  // The parameters AMN's Adam trains, in two groups: the backbone's (every one
  // but conv1 and bn1, BatchNorm's affine parameters included, as AMN's
  // FixedBatchNorm leaves them trainable) and the new layers' (label encoder and
  // ASPP).
  std::vector<torch::Tensor> backbone_parameters() const;
  std::vector<torch::Tensor> head_parameters() const;

  const std::vector<int>& aspp_rates() const { return rates_; }
  std::int64_t num_foreground() const { return num_foreground_; }
  double dropout() const { return dropout_; }

  ResNet backbone{nullptr};
  torch::nn::Linear label_enc{nullptr};
  Aspp aspp{nullptr};

 private:
  std::vector<int> rates_;
  std::int64_t num_foreground_;
  double dropout_;
};
TORCH_MODULE(AmnNet);

struct LoadedAmn {
  AmnNet net{nullptr};
  std::vector<std::string> class_names;  // foreground names, ids 1..K
};

// Loads a model saved by `wsss-amn train`: checks the kind, builds the
// architecture from the metadata (backbone spec, class names, ASPP rates) and
// loads every tensor, in eval mode. InputError naming the file otherwise.
LoadedAmn load_amn_net(const fs::path& file);

}  // namespace wsss::models
