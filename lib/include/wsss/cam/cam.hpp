#pragma once
// Class activation maps exactly as IRN's make_cam computes them:
//   for each scale s: the image resized by s (bicubic) and its horizontal flip go
//   through the network; CAM = ReLU(conv(features, W)); the flipped map is
//   flipped back and summed onto the first;
//   every scale is resized bilinearly (align_corners = false) to the stride-16
//   grid rounded up and summed (not averaged), then cropped to the image; the
//   stride-4 maps are made the same way at ((H-1)/4+1, (W-1)/4+1);
//   only the requested classes are kept, each divided by its own max + 1e-5.
#include <torch/torch.h>

#include <functional>
#include <opencv2/core.hpp>
#include <vector>

#include "wsss/data/transforms.hpp"

namespace wsss::cam {

struct CamOptions {
  std::vector<double> scales = {1.0, 0.5, 1.5, 2.0};
  bool flip = true;
  bool lowres = true;  // also compute the stride-4 maps (IRN's random walk needs them)
};

// Maps a normalised image batch [B,3,h,w] to raw class maps [B,K,h',w'] before
// the ReLU (conv(features, W)). All K classes of the model.
using CamFunction = std::function<torch::Tensor(const torch::Tensor&)>;

struct CamResult {
  torch::Tensor high_res;  // [k, H, W] float32, CPU
  torch::Tensor low_res;   // [k, (H-1)/4+1, (W-1)/4+1] float32, CPU (undefined unless lowres)
};

// The multi-hot label vector [K] (float32) of class ids 1..K: the classifier's
// targets, AMN's conditioning.
torch::Tensor label_vector(const std::vector<int>& labels, std::int64_t num_foreground);

// The network inputs for one scale: [2,3,h,w] (image and flip) or [1,3,h,w].
torch::Tensor scale_batch(const cv::Mat& rgb, double scale, bool flip, const Normalization& norm = {});

// IRN's multi-scale resizing, shared by make_cam and LPCAM: every scale's map
// [1, k, h', w'] is resized bilinearly (align_corners = false) to the stride-16
// grid rounded up, (ceil(H/16)*16, ceil(W/16)*16), and (with lowres) to the
// stride-4 grid ((H-1)/4+1, (W-1)/4+1), and summed over the scales.
class ScaleSum {
 public:
  ScaleSum(int height, int width, bool lowres);
  void add(const torch::Tensor& map);
  int count() const { return count_; }
  torch::Tensor high_res() const;  // [k, H, W]: the sum cropped to the image
  torch::Tensor low_res() const;   // [k, (H-1)/4+1, (W-1)/4+1] (undefined unless lowres)

 private:
  int height_, width_, count_ = 0;
  bool lowres_;
  torch::Tensor high_, low_;
};

// `class_index` holds 0-based channel indices (class id - 1) in ascending order.
// `inputs` are the per-scale batches (see scale_batch), in `options.scales` order.
CamResult make_cam(const std::vector<torch::Tensor>& inputs, int height, int width,
                   const std::vector<int64_t>& class_index, const CamFunction& network, const CamOptions& options,
                   const torch::Device& device);

}  // namespace wsss::cam
