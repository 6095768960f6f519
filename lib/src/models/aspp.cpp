#include "wsss/models/aspp.hpp"

#include <string>

#include "wsss/core/error.hpp"

namespace wsss::models {

AsppImpl::AsppImpl(std::int64_t in_channels, std::int64_t num_classes, const std::vector<int>& rates) {
  if (rates.empty()) throw UsageError("the ASPP head needs at least one rate");
  for (std::size_t i = 0; i < rates.size(); ++i) {
    if (rates[i] < 1) throw UsageError("ASPP rates must be positive");
    auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, num_classes, 3)
                                      .padding(rates[i]).dilation(rates[i]).bias(true));
    branches.push_back(register_module("c" + std::to_string(i), conv));
    // deeplab-pytorch's _ASPP: weight ~ N(0, 0.01), bias = 0.
    torch::NoGradGuard no_grad;
    torch::nn::init::normal_(conv->weight, 0.0, 0.01);
    torch::nn::init::zeros_(conv->bias);
  }
}

torch::Tensor AsppImpl::forward(const torch::Tensor& x) {
  torch::Tensor sum = branches[0]->forward(x);
  for (std::size_t i = 1; i < branches.size(); ++i) sum = sum + branches[i]->forward(x);
  return sum;
}

}  // namespace wsss::models
