#pragma once
// The segmentation losses of the trainers (DeepLab-v2, AMN) and the label
// resizing they share.
#include <torch/torch.h>

#include <cstdint>

#include "wsss/train/distributed.hpp"

namespace wsss::train {

// Mean cross-entropy over the pixels whose label is not `ignore`
// (torch's CrossEntropyLoss(ignore_index)); 0 (with a gradient path) when every
// pixel is ignored. logits [B,C,h,w], labels [B,h,w] int64. In a data-parallel
// run the pixels are counted over the whole global batch (train/distributed.hpp).
torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels, std::int64_t ignore = 255,
                            const GlobalBatch& batch = {});

// Balanced cross-entropy (DSRG's balanced seed loss as AMN writes it):
// (mean CE over background pixels + mean CE over foreground pixels) / 2, the
// pixels of the whole batch pooled, `ignore` skipped. When one of the two sets
// is empty the other's mean is the loss; 0 when both are. The pixels are
// counted over the global batch, as cross_entropy's.
//
// With smoothing e > 0 the targets are AMN's label-smoothed soft targets: 1 - e
// on the pixel's label and e / (C - 1) on each other channel (C = logits'
// channels), and a pixel's loss is -sum_c target_c log softmax_c (AMN's
// train_amn.py; its ignored pixels get the target of class 0 but count in
// neither mean).
torch::Tensor balanced_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels,
                                     std::int64_t ignore = 255, const GlobalBatch& batch = {},
                                     double smoothing = 0.0);

// PIL's NEAREST resize of label maps [B,H,W] (int64) to [B,h,w]: the source
// pixel of output index i is floor((i + 0.5) * in / out). OpenCV's and torch's
// "nearest" use floor(i * in / out), which shifts labels by up to half a pixel.
torch::Tensor resize_labels_nearest(const torch::Tensor& labels, std::int64_t height, std::int64_t width);

}  // namespace wsss::train
