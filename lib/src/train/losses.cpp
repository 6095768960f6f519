#include "wsss/train/losses.hpp"

#include <algorithm>
#include <vector>

#include "wsss/core/error.hpp"

namespace wsss::train {

namespace F = torch::nn::functional;

namespace {

void check_shapes(const torch::Tensor& logits, const torch::Tensor& labels) {
  if (logits.dim() != 4 || labels.dim() != 3 || logits.size(0) != labels.size(0) ||
      logits.size(2) != labels.size(1) || logits.size(3) != labels.size(2))
    throw Error("segmentation loss: logits and labels differ in shape");
}

// Per-pixel CE [B,h,w] with ignored pixels mapped to class 0 (their value is masked out by the callers).
torch::Tensor pixel_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& valid) {
  check_shapes(logits, labels);
  torch::Tensor target = torch::where(valid, labels, torch::zeros_like(labels));
  return F::cross_entropy(logits, target, F::CrossEntropyFuncOptions().reduction(torch::kNone));
}

// The same with AMN's label-smoothed targets: 1 - e on the label, e / (C - 1) elsewhere.
torch::Tensor pixel_soft_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels,
                                       const torch::Tensor& valid, double e) {
  check_shapes(logits, labels);
  const std::int64_t channels = logits.size(1);
  if (channels < 2) throw Error("segmentation loss: label smoothing needs at least 2 channels");
  torch::Tensor target = torch::where(valid, labels, torch::zeros_like(labels));
  torch::Tensor soft = torch::full_like(logits, e / double(channels - 1));
  soft.scatter_(1, target.unsqueeze(1), 1.0 - e);
  return -(F::log_softmax(logits, F::LogSoftmaxFuncOptions(1)) * soft).sum(1);
}

// The mean of `values` over `mask`, the mask counted over the global batch.
torch::Tensor masked_mean(const torch::Tensor& values, const torch::Tensor& mask, const GlobalBatch& batch) {
  torch::Tensor m = mask.to(values.dtype());
  return batch.share((values * m).sum(), batch.sum(m.sum()).clamp_min(1.0));
}

}  // namespace

torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels, std::int64_t ignore,
                            const GlobalBatch& batch) {
  torch::Tensor valid = labels != ignore;
  return masked_mean(pixel_cross_entropy(logits, labels, valid), valid, batch);
}

torch::Tensor balanced_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels, std::int64_t ignore,
                                     const GlobalBatch& batch, double smoothing) {
  torch::Tensor valid = labels != ignore;
  torch::Tensor ce = smoothing > 0 ? pixel_soft_cross_entropy(logits, labels, valid, smoothing)
                                   : pixel_cross_entropy(logits, labels, valid);
  torch::Tensor bg = labels == 0, fg = valid & (labels != 0);
  // Whether the global batch has background and foreground pixels.
  bool has_bg = bg.any().item<bool>(), has_fg = fg.any().item<bool>();
  if (batch.ranks() > 1) {
    torch::Tensor any = batch.sum(torch::stack({bg.any(), fg.any()}).to(torch::kFloat32));
    has_bg = any[0].item<float>() > 0;
    has_fg = any[1].item<float>() > 0;
  }
  if (has_bg && has_fg) return (masked_mean(ce, bg, batch) + masked_mean(ce, fg, batch)) / 2;
  return masked_mean(ce, has_bg ? bg : fg, batch);
}

torch::Tensor resize_labels_nearest(const torch::Tensor& labels, std::int64_t height, std::int64_t width) {
  auto index = [](std::int64_t in, std::int64_t out) {
    std::vector<std::int64_t> idx(static_cast<std::size_t>(out));
    for (std::int64_t i = 0; i < out; ++i)
      idx[std::size_t(i)] = std::min(in - 1, std::int64_t((double(i) + 0.5) * double(in) / double(out)));
    return torch::tensor(idx, torch::kLong).to(torch::Device(torch::kCPU));
  };
  torch::Tensor rows = index(labels.size(1), height).to(labels.device());
  torch::Tensor cols = index(labels.size(2), width).to(labels.device());
  return labels.index_select(1, rows).index_select(2, cols);
}

}  // namespace wsss::train
