#include "wsss/cam/cam.hpp"

#include <cmath>
#include <mutex>

#include "wsss/core/error.hpp"

#include <opencv2/imgproc.hpp>

namespace wsss::cam {

namespace F = torch::nn::functional;

torch::Tensor label_vector(const std::vector<int>& labels, std::int64_t num_foreground) {
  torch::Tensor t = torch::zeros({num_foreground});
  for (int c : labels) t[c - 1] = 1.0f;
  return t;
}

torch::Tensor scale_batch(const cv::Mat& rgb, double scale, bool flip, const Normalization& norm) {
  cv::Mat scaled = scale == 1.0 ? rgb : resize_image(rgb, scaled_size(rgb.size(), scale));
  ChwImage chw = normalize(scaled, norm);
  torch::Tensor x = torch::from_blob(chw.data.data(), {1, 3, chw.height, chw.width}, torch::kFloat32).clone();
  if (flip) x = torch::cat({x, x.flip({3})}, 0);
  return x;
}

ScaleSum::ScaleSum(int height, int width, bool lowres) : height_(height), width_(width), lowres_(lowres) {}

void ScaleSum::add(const torch::Tensor& map) {
  const std::vector<int64_t> strided = {(height_ - 1) / 4 + 1, (width_ - 1) / 4 + 1};
  const std::vector<int64_t> strided_up = {(height_ + 15) / 16 * 16, (width_ + 15) / 16 * 16};
  auto up = F::interpolate(map, F::InterpolateFuncOptions().size(strided_up).mode(torch::kBilinear)
                                    .align_corners(false));
  high_ = high_.defined() ? high_ + up : up;
  if (lowres_) {
    auto s = F::interpolate(map, F::InterpolateFuncOptions().size(strided).mode(torch::kBilinear)
                                     .align_corners(false));
    low_ = low_.defined() ? low_ + s : s;
  }
  ++count_;
}

torch::Tensor ScaleSum::high_res() const { return high_[0].slice(1, 0, height_).slice(2, 0, width_); }

torch::Tensor ScaleSum::low_res() const { return lowres_ ? low_[0] : torch::Tensor(); }

CamResult make_cam(const std::vector<torch::Tensor>& inputs, int height, int width,
                   const std::vector<int64_t>& class_index, const CamFunction& network, const CamOptions& options,
                   const torch::Device& device) {
  torch::NoGradGuard no_grad;
  if (class_index.empty()) {  // nothing to map; interpolation refuses 0-channel tensors
    CamResult none;
    none.high_res = torch::zeros({0, height, width});
    if (options.lowres) none.low_res = torch::zeros({0, (height - 1) / 4 + 1, (width - 1) / 4 + 1});
    return none;
  }
  torch::Tensor index = torch::tensor(class_index, torch::kLong).to(device);
  ScaleSum sum(height, width, options.lowres);
  for (const torch::Tensor& batch : inputs) {
    torch::Tensor raw = network(batch.to(device));  // [B, K, h', w']
    // Select the classes first: the rest of the computation is per channel.
    torch::Tensor cam = torch::relu(raw.index_select(1, index));
    torch::Tensor merged = cam[0];
    if (options.flip && cam.size(0) > 1) merged = merged + cam[1].flip({2});
    sum.add(merged.unsqueeze(0));
  }
  CamResult result;
  auto normalise = [](torch::Tensor t) {
    auto max = std::get<0>(t.flatten(1).max(1)).view({-1, 1, 1});
    return t / (max + 1e-5);
  };
  result.high_res = normalise(sum.high_res()).to(torch::kCPU).contiguous();
  if (options.lowres) result.low_res = normalise(sum.low_res()).to(torch::kCPU).contiguous();
  return result;
}

}  // namespace wsss::cam
