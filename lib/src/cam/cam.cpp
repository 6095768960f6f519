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

CamResult make_cam(const std::vector<torch::Tensor>& inputs, int height, int width,
                   const std::vector<int64_t>& class_index, const CamFunction& network, const CamOptions& options,
                   const torch::Device& device) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> strided = {(height - 1) / 4 + 1, (width - 1) / 4 + 1};
  std::vector<int64_t> strided_up = {(height + 15) / 16 * 16, (width + 15) / 16 * 16};
  if (class_index.empty()) {  // nothing to map; interpolation refuses 0-channel tensors
    CamResult none;
    none.high_res = torch::zeros({0, height, width});
    if (options.lowres) none.low_res = torch::zeros({0, strided[0], strided[1]});
    return none;
  }
  torch::Tensor index = torch::tensor(class_index, torch::kLong).to(device);
  torch::Tensor high, low;
  for (const torch::Tensor& batch : inputs) {
    torch::Tensor raw = network(batch.to(device));  // [B, K, h', w']
    // Select the classes first: the rest of the computation is per channel.
    torch::Tensor cam = torch::relu(raw.index_select(1, index));
    torch::Tensor merged = cam[0];
    if (options.flip && cam.size(0) > 1) merged = merged + cam[1].flip({2});
    merged = merged.unsqueeze(0);
    auto up = F::interpolate(merged, F::InterpolateFuncOptions().size(strided_up).mode(torch::kBilinear)
                                         .align_corners(false));
    high = high.defined() ? high + up : up;
    if (options.lowres) {
      auto s = F::interpolate(merged, F::InterpolateFuncOptions().size(strided).mode(torch::kBilinear)
                                          .align_corners(false));
      low = low.defined() ? low + s : s;
    }
  }
  CamResult result;
  auto normalise = [](torch::Tensor t) {
    auto max = std::get<0>(t.flatten(1).max(1)).view({-1, 1, 1});
    return t / (max + 1e-5);
  };
  high = high[0].slice(1, 0, height).slice(2, 0, width);
  result.high_res = normalise(high).to(torch::kCPU).contiguous();
  if (options.lowres) result.low_res = normalise(low[0]).to(torch::kCPU).contiguous();
  return result;
}

}  // namespace wsss::cam
