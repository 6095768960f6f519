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
// a resume state (which carries decayed rates) is loaded into it. Works for any
// optimiser (SGD, Adam) through the options' common learning-rate accessors.
class LrScaler {
 public:
  explicit LrScaler(torch::optim::Optimizer& optimizer) : optimizer_(optimizer) {
    for (auto& g : optimizer.param_groups()) base_.push_back(g.options().get_lr());
  }
  void scale(double factor) {
    for (std::size_t g = 0; g < base_.size(); ++g) optimizer_.param_groups()[g].options().set_lr(base_[g] * factor);
  }
  double base(std::size_t group) const { return base_[group]; }

 private:
  torch::optim::Optimizer& optimizer_;
  std::vector<double> base_;
};

}  // namespace wsss::models
