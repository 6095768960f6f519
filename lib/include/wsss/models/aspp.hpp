#pragma once
// Atrous spatial pyramid pooling as DeepLab-v2 and AMN use it.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace wsss::models {

// Metadata key holding a head's settings as JSON, e.g. {"aspp_rates": [...]}.
inline constexpr const char* kMetaHead = "wsss.head";

// DeepLab-v2's ASPP (deeplab-pytorch's _ASPP, AMN's copy of it): one 3x3
// convolution (with bias) per rate, padding = dilation = rate, all mapping the
// features to the class logits; the branch outputs are summed. Weights start
// from N(0, 0.01), biases at 0. Modules are named c0..c3, so tensor names are
// <prefix>.c0.weight, <prefix>.c0.bias ...
class AsppImpl : public torch::nn::Module {
 public:
  AsppImpl(std::int64_t in_channels, std::int64_t num_classes, const std::vector<int>& rates);
  torch::Tensor forward(const torch::Tensor& x);
  std::vector<torch::nn::Conv2d> branches;
};
TORCH_MODULE(Aspp);

}  // namespace wsss::models
