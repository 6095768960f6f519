#pragma once
// ResNet-18/34/50/101 backbones with torchvision's exact module layout and
// parameter/buffer names (conv1, bn1, layer1..layer4, "<i>.conv1", "downsample.0"
// ...), so that torchvision ImageNet weights load by name. Bottleneck blocks put
// the stride on the 3x3 conv (torchvision's "v1.5"), like torchvision and IRN.
//
// The spec makes the stride/dilation pattern configurable:
//   IRN CAM / IRN:   strides (2,2,2,1), dilations (1,1,1,1)  -> output stride 16
//   DeepLab-v2:      strides (2,2,1,1), dilations (1,1,2,4)  -> output stride 8
// and the width reducible (base_width 16 or 32) for tests and demos.
#include <torch/torch.h>

#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace wsss::models {

// How the first block of a dilated stage is dilated.
enum class DilationPolicy {
  // Every block of the stage uses the stage's dilation (DeepLab-v2).
  AllBlocks,
  // The 3x3 conv that would carry the stage's stride (first block) keeps the
  // previous stage's dilation, all later ones use the stage's: torchvision's
  // replace_stride_with_dilation (which only supports Bottleneck; BasicBlock gets
  // the same rule). Removing a stride this way keeps the strided network's values
  // on the coarser grid.
  Torchvision,
};

struct ModelSpec {
  std::string arch = "resnet50";  // resnet18 | resnet34 | resnet50 | resnet101
  int base_width = 64;            // channels of conv1 and layer1's 3x3 convs (torchvision: 64)
  // strides[0] is conv1's stride, strides[1..3] those of layer2..layer4 (IRN's
  // convention). The max-pool always has stride 2 and layer1 stride 1.
  std::array<int, 4> strides{2, 2, 2, 2};
  // Dilations of layer1..layer4.
  std::array<int, 4> dilations{1, 1, 1, 1};
  DilationPolicy dilation_policy = DilationPolicy::AllBlocks;

  static ModelSpec irn(const std::string& arch = "resnet50", int base_width = 64);      // OS 16
  static ModelSpec deeplab(const std::string& arch = "resnet101", int base_width = 64);  // OS 8

  int output_stride() const;
  bool bottleneck() const;                  // resnet50/101
  std::array<int, 4> blocks() const;        // blocks per stage
  int expansion() const { return bottleneck() ? 4 : 1; }
  // Channels of the five forward_stages() outputs (stem, layer1..layer4).
  std::array<std::int64_t, 5> stage_channels() const;
  // Throws UsageError describing the first invalid field.
  void validate() const;
  // Two specs whose weights are interchangeable (strides/dilations do not change any tensor).
  bool same_weights_as(const ModelSpec& other) const { return arch == other.arch && base_width == other.base_width; }
  std::string describe() const;  // "resnet50 (width 64, strides 2,2,2,1, dilations 1,1,1,1, OS 16)"

  nlohmann::json to_json() const;
  // Throws UsageError naming `source` on an unknown or invalid field.
  static ModelSpec from_json(const nlohmann::json& j, const std::string& source);
  bool operator==(const ModelSpec& o) const;
};

// One residual block: BasicBlock (conv1,bn1,conv2,bn2) or Bottleneck
// (conv1,bn1,conv2,bn2,conv3,bn3), plus "downsample" (0: 1x1 conv, 1: BN) when
// the shape changes.
class ResBlockImpl : public torch::nn::Module {
 public:
  // stride_conv_dilation applies to the 3x3 conv carrying the stride (Bottleneck
  // conv2, BasicBlock conv1), dilation to the other 3x3 conv of a BasicBlock.
  ResBlockImpl(bool bottleneck, std::int64_t in_channels, std::int64_t planes, int stride, int stride_conv_dilation,
               int dilation);
  torch::Tensor forward(torch::Tensor x);

 private:
  bool bottleneck_;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(ResBlock);

class ResNetImpl : public torch::nn::Module {
 public:
  static constexpr int kNumStages = 5;  // stem (conv1,bn1,relu,maxpool), layer1..layer4

  explicit ResNetImpl(ModelSpec spec);

  const ModelSpec& spec() const { return spec_; }

  // Stage i in [0, 5): 0 is the stem (output stride 2*strides[0]), 1..4 are
  // layer1..layer4. Lets callers detach or freeze between stages (IRN detaches after layer2).
  torch::Tensor forward_stage(int stage, torch::Tensor x);
  // All five stage outputs, in order; the last one is the final feature map.
  std::vector<torch::Tensor> forward_stages(torch::Tensor x);
  // The final feature map (layer4).
  torch::Tensor forward(torch::Tensor x);

  // Frozen BatchNorm (IRN, DeepLab): BN always normalises with its running
  // statistics, never updates them, and its affine parameters get no gradient.
  // Persists across train()/eval().
  void set_frozen_batchnorm(bool frozen);
  bool frozen_batchnorm() const { return frozen_bn_; }
  void train(bool on = true) override;

  // The BatchNorm modules, in registration order (for optimiser parameter groups).
  std::vector<torch::nn::BatchNorm2d> batchnorms() const;

 private:
  torch::nn::Sequential make_layer(std::int64_t& in_channels, std::int64_t planes, int blocks, int stride,
                                   int dilation, int previous_dilation);

  ModelSpec spec_;
  bool frozen_bn_ = false;
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::MaxPool2d maxpool{nullptr};
  std::array<torch::nn::Sequential, 4> layers{nullptr, nullptr, nullptr, nullptr};
};
TORCH_MODULE(ResNet);

}  // namespace wsss::models
