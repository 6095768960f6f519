#pragma once
// The poly learning-rate schedule every trainer uses (IRN, ReCAM and
// deeplab-pytorch): each parameter group's rate is its initial rate times
// (1 - step / max_step)^power.
#include <torch/torch.h>

#include <cmath>
#include <vector>

namespace wsss::models {

inline double poly_factor(double step, double max_step, double power) {
  return std::pow(1.0 - step / max_step, power);
}

// Remembers each parameter group's initial learning rate and sets every group
// to its initial rate x factor. Construct it right after the optimizer, before
// a resume state (which carries decayed rates) is loaded into it.
class LrScaler {
 public:
  explicit LrScaler(torch::optim::SGD& optimizer) : optimizer_(optimizer) {
    for (auto& g : optimizer.param_groups()) base_.push_back(options(g).lr());
  }
  void scale(double factor) {
    for (std::size_t g = 0; g < base_.size(); ++g) options(optimizer_.param_groups()[g]).lr(base_[g] * factor);
  }
  double base(std::size_t group) const { return base_[group]; }

 private:
  static torch::optim::SGDOptions& options(torch::optim::OptimizerParamGroup& g) {
    return static_cast<torch::optim::SGDOptions&>(g.options());
  }
  torch::optim::SGD& optimizer_;
  std::vector<double> base_;
};

}  // namespace wsss::models
