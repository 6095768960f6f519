#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <numeric>
#include <opencv2/imgcodecs.hpp>
#include <random>

#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/prefetch.hpp"
#include "wsss/core/progress.hpp"
#include "wsss/data/transforms.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/meta.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/io/png.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/checkpoint.hpp"
#include "wsss/models/schedule.hpp"
#include "wsss/models/weights.hpp"
#include "wsss/models/threads.hpp"
#include "wsss/refine/irn_net.hpp"

namespace wsss::refine {

namespace F = torch::nn::functional;

// ---------------------------------------------------------------------------
// The network.

namespace {

constexpr std::int64_t kEdgeChannels = 32;  // per stage, as IRN
constexpr std::int64_t kEdgeGroups = 4;
constexpr std::uint8_t kUnsure = 255;

}  // namespace

IrnEdgeNetImpl::IrnEdgeNetImpl(models::ModelSpec spec) {
  spec.validate();
  backbone = register_module("backbone", models::ResNet(spec));
  backbone->set_frozen_batchnorm(true);
  for (auto& p : backbone->parameters()) p.set_requires_grad(false);
  const auto channels = spec.stage_channels();
  // Output strides of stem, layer1..layer4 (the max-pool halves, layer1 keeps).
  std::array<std::int64_t, 5> stride{};
  stride[0] = std::int64_t(spec.strides[0]) * 2;
  stride[1] = stride[0];
  for (int i = 2; i < 5; ++i) stride[i] = stride[i - 1] * spec.strides[i - 1];
  for (int i = 0; i < 5; ++i) {
    upsample_factor_[i] = stride[i] / stride[1];
    fc_edge[i] = register_module(
        "fc_edge" + std::to_string(i + 1),
        torch::nn::Sequential(
            torch::nn::Conv2d(torch::nn::Conv2dOptions(channels[i], kEdgeChannels, 1).bias(false)),
            torch::nn::GroupNorm(torch::nn::GroupNormOptions(kEdgeGroups, kEdgeChannels))));
  }
  fc_edge6 = register_module("fc_edge6",
                             torch::nn::Conv2d(torch::nn::Conv2dOptions(5 * kEdgeChannels, 1, 1).bias(true)));
  backbone->eval();
}

void IrnEdgeNetImpl::train(bool on) {
  torch::nn::Module::train(on);
  backbone->eval();
}

std::vector<torch::Tensor> IrnEdgeNetImpl::edge_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& p : named_parameters())
    if (p.key().rfind("backbone.", 0) != 0) out.push_back(p.value());
  return out;
}

torch::Tensor IrnEdgeNetImpl::forward(torch::Tensor x) { return fc_edge6->forward(features(x)); }

torch::Tensor IrnEdgeNetImpl::features(torch::Tensor x) {
  // IRN detaches every stage: running the backbone without autograd is the same
  // and keeps no activations for a backward pass.
  std::array<torch::Tensor, 5> stages;
  {
    torch::NoGradGuard no_grad;
    torch::Tensor h = x;
    for (int i = 0; i < 5; ++i) stages[i] = h = backbone->forward_stage(i, h);
  }
  const std::int64_t gh = stages[1].size(2), gw = stages[1].size(3);
  std::vector<torch::Tensor> edges;
  for (int i = 0; i < 5; ++i) {
    torch::Tensor e = fc_edge[i]->forward(stages[i]);
    const std::int64_t f = upsample_factor_[i];
    if (f > 1)  // IRN: nn.Upsample(scale_factor=f), then crop to layer1's grid
      e = F::interpolate(e, F::InterpolateFuncOptions()
                                .size(std::vector<std::int64_t>{e.size(2) * f, e.size(3) * f})
                                .mode(torch::kBilinear)
                                .align_corners(false));
    e = torch::relu(e);
    if (e.size(2) < gh || e.size(3) < gw)
      throw Error("IRN edge network: stage " + std::to_string(i + 1) + " output is smaller than the stride-4 grid");
    edges.push_back(e.slice(2, 0, gh).slice(3, 0, gw));
  }
  return torch::cat(edges, 1);
}

IrnEdgeNet load_irn_edge_net(const fs::path& file) {
  auto meta = models::read_weight_metadata(file);
  auto kind = meta.find(models::kMetaModel);
  if (kind == meta.end() || kind->second != kModelIrnEdge)
    throw InputError(file, std::string("not an IRN edge network (wsss.model is ") +
                               (kind == meta.end() ? "absent" : "'" + kind->second + "'") +
                               "; train one with wsss-refine irn-train)");
  models::ModelSpec spec = models::read_backbone_spec(file);
  IrnEdgeNet net(spec);
  models::LoadOptions load;
  load.expected_spec = &spec;
  models::load_weights(*net, file, load);
  net->eval();
  return net;
}

torch::Tensor irn_edge_map(IrnEdgeNet& net, const torch::Tensor& image_and_flip, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  const std::int64_t batch = image_and_flip.size(0);
  const std::int64_t height = image_and_flip.size(2), width = image_and_flip.size(3);
  const std::int64_t gh = (height - 1) / 4 + 1, gw = (width - 1) / 4 + 1;
  torch::Tensor features = net->features(image_and_flip.to(device)).to(torch::kCPU).contiguous();
  const std::int64_t channels = features.size(1), fh = features.size(2), fw = features.size(3);
  if (fh < gh || fw < gw)
    throw Error("IRN edge network: output grid " + std::to_string(fh) + "x" + std::to_string(fw) +
                " is smaller than the stride-4 grid of the image");
  // fc_edge6 and the sigmoid as plain loops in a fixed order: ATen's 1x1
  // convolution with a single output channel gives last-bit differences between
  // intra-op thread counts, and the stage must be byte-identical for any -j.
  torch::Tensor weight = net->fc_edge6->weight.detach().to(torch::kCPU).contiguous();
  torch::Tensor bias = net->fc_edge6->bias.detach().to(torch::kCPU);
  const float* w = weight.data_ptr<float>();
  const float b = bias.item<float>();
  const float* f = features.data_ptr<float>();
  const std::size_t plane = std::size_t(fh) * fw;
  std::vector<float> logits(std::size_t(batch) * plane, b);
  for (std::int64_t n = 0; n < batch; ++n)
    for (std::int64_t c = 0; c < channels; ++c) {
      const float* src = f + (std::size_t(n) * channels + c) * plane;
      float* dst = logits.data() + std::size_t(n) * plane;
      for (std::size_t p = 0; p < plane; ++p) dst[p] += w[c] * src[p];
    }
  torch::Tensor edge = torch::empty({gh, gw}, torch::kFloat32);
  float* out = edge.data_ptr<float>();
  for (std::int64_t y = 0; y < gh; ++y)
    for (std::int64_t x = 0; x < gw; ++x) {
      float v = logits[std::size_t(y) * fw + x];
      // IRN: edge[0]/2 + edge[1].flip(-1)/2 over the full output width.
      if (batch > 1) v = v / 2 + logits[plane + std::size_t(y) * fw + (fw - 1 - x)] / 2;
      out[y * gw + x] = 1.0f / (1.0f + std::exp(-v));
    }
  return edge;
}

// ---------------------------------------------------------------------------
// Affinity labels, path-max affinity and the loss.

std::vector<std::uint8_t> reduce_labels_nearest(const std::uint8_t* labels, int height, int width, int out_h,
                                                int out_w) {
  std::vector<std::uint8_t> out(std::size_t(out_h) * out_w);
  for (int y = 0; y < out_h; ++y) {
    const int sy = std::min(height - 1, int(std::floor((y + 0.5) * height / out_h)));
    for (int x = 0; x < out_w; ++x) {
      const int sx = std::min(width - 1, int(std::floor((x + 0.5) * width / out_w)));
      out[std::size_t(y) * out_w + x] = labels[std::size_t(sy) * width + sx];
    }
  }
  return out;
}

namespace {

// Padding that keeps every offset of the directions (and their paths, which lie in
// the same bounding boxes) inside the padded grid.
struct Margins {
  std::int64_t top = 0, bottom = 0, left = 0, right = 0;
};

Margins margins_of(const std::vector<GridOffset>& directions) {
  Margins m;
  for (const GridOffset& d : directions) {
    m.top = std::max<std::int64_t>(m.top, -d.dy);
    m.bottom = std::max<std::int64_t>(m.bottom, d.dy);
    m.left = std::max<std::int64_t>(m.left, -d.dx);
    m.right = std::max<std::int64_t>(m.right, d.dx);
  }
  return m;
}

torch::Tensor pad(const torch::Tensor& t, const Margins& m, double value) {
  return torch::constant_pad_nd(t, {m.left, m.right, m.top, m.bottom}, value);
}

// The [B, h, w] window of a padded [B, h+.., w+..] tensor shifted by `o`.
torch::Tensor shifted(const torch::Tensor& padded, const Margins& m, GridOffset o, std::int64_t h, std::int64_t w) {
  return padded.slice(1, m.top + o.dy, m.top + o.dy + h).slice(2, m.left + o.dx, m.left + o.dx + w);
}

}  // namespace

AffinityLabels affinity_labels(const torch::Tensor& labels, const std::vector<GridOffset>& directions) {
  if (labels.dim() != 3) throw Error("affinity_labels: labels must be [B, h, w]");
  const std::int64_t h = labels.size(1), w = labels.size(2);
  const Margins m = margins_of(directions);
  torch::Tensor source = labels.to(torch::kInt32);
  torch::Tensor padded = pad(source, m, kUnsure);  // targets outside are unsure: no pair
  const torch::Tensor source_valid = source < kUnsure;
  std::vector<torch::Tensor> bg, fg, neg;
  for (const GridOffset& d : directions) {
    torch::Tensor target = shifted(padded, m, d, h, w);
    torch::Tensor valid = source_valid & (target < kUnsure);
    torch::Tensor equal = source == target;
    bg.push_back(valid & equal & (source == 0));
    fg.push_back(valid & equal & (source > 0));
    neg.push_back(valid & ~equal);
  }
  return {torch::stack(bg, 1), torch::stack(fg, 1), torch::stack(neg, 1)};
}

torch::Tensor path_max_affinity(const torch::Tensor& boundary, const std::vector<GridOffset>& directions) {
  if (boundary.dim() != 3) throw Error("path_max_affinity: boundary must be [B, h, w]");
  const std::int64_t batch = boundary.size(0), h = boundary.size(1), w = boundary.size(2);
  const Margins m = margins_of(directions);
  torch::Tensor padded = pad(boundary, m, 1.0);
  const std::int64_t padded_w = w + m.left + m.right;
  torch::Tensor flat = padded.reshape({batch, -1});
  const auto long_options = torch::TensorOptions().dtype(torch::kLong).device(boundary.device());
  // Flat index of (y, x) in the padded grid, before the shift.
  const torch::Tensor base = (torch::arange(h, long_options) * padded_w).view({h, 1}) +
                             torch::arange(w, long_options).view({1, w});
  std::vector<torch::Tensor> affinities;
  affinities.reserve(directions.size());
  for (const GridOffset& d : directions) {
    // Find where the maximum lies without autograd, then gather it with autograd:
    // the backward keeps one index per pair instead of every path value.
    torch::Tensor index;
    {
      torch::NoGradGuard no_grad;
      torch::Tensor best;
      for (const GridOffset& o : random_walk_path(d)) {
        torch::Tensor value = shifted(padded, m, o, h, w);
        torch::Tensor at = (base + ((m.top + o.dy) * padded_w + m.left + o.dx)).expand({batch, h, w});
        if (!best.defined()) {
          best = value.clone();
          index = at.clone();
        } else {
          torch::Tensor greater = value > best;
          best = torch::where(greater, value, best);
          index = torch::where(greater, at, index);
        }
      }
    }
    affinities.push_back(1 - flat.gather(1, index.reshape({batch, -1})).view({batch, h, w}));
  }
  return torch::stack(affinities, 1);
}

AffinityLoss affinity_loss(const torch::Tensor& affinity, const AffinityLabels& labels,
                           const train::GlobalBatch& batch) {
  torch::Tensor pos = -torch::log(affinity + 1e-5);
  torch::Tensor neg = -torch::log(1 + 1e-5 - affinity);
  auto masked_mean = [&batch](const torch::Tensor& loss, const torch::Tensor& mask) {
    torch::Tensor m = mask.to(loss.dtype());
    return batch.share((loss * m).sum(), batch.sum(m.sum()) + 1e-5);
  };
  AffinityLoss out;
  out.bg_pos = masked_mean(pos, labels.bg_pos);
  out.fg_pos = masked_mean(pos, labels.fg_pos);
  out.neg = masked_mean(neg, labels.neg);
  out.total = (out.bg_pos / 2 + out.fg_pos / 2 + out.neg) / 2;
  return out;
}

}  // namespace wsss::refine
