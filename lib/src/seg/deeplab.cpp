#include "wsss/seg/deeplab.hpp"

#include <sstream>

#include "wsss/core/error.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/weights.hpp"

namespace wsss::seg {

namespace F = torch::nn::functional;

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

DeepLabV2Impl::DeepLabV2Impl(models::ModelSpec spec, std::int64_t num_classes, std::vector<int> aspp_rates)
    : rates_(std::move(aspp_rates)), num_classes_(num_classes) {
  spec.validate();
  if (num_classes < 2) throw UsageError("DeepLab-v2 needs at least 2 classes (background and one more)");
  backbone = register_module("backbone", models::ResNet(spec));
  backbone->set_frozen_batchnorm(true);
  aspp = register_module("aspp", Aspp(spec.stage_channels()[4], num_classes, rates_));
}

torch::Tensor DeepLabV2Impl::forward(const torch::Tensor& x) { return aspp->forward(backbone->forward(x)); }

std::vector<torch::Tensor> DeepLabV2Impl::forward_msc(const torch::Tensor& x, const std::vector<double>& scales) {
  std::vector<torch::Tensor> out = {forward(x)};
  std::vector<std::int64_t> size = {out[0].size(2), out[0].size(3)};
  for (double s : scales) {
    // scale_factor (not a size) as deeplab-pytorch passes it: the output size is
    // floor(H * s) and the sampling grid uses 1/s exactly.
    torch::Tensor scaled = F::interpolate(x, F::InterpolateFuncOptions()
                                                 .scale_factor(std::vector<double>{s, s}).recompute_scale_factor(false)
                                                 .mode(torch::kBilinear)
                                                 .align_corners(false));
    out.push_back(forward(scaled));
  }
  std::vector<torch::Tensor> same_size = {out[0]};
  for (std::size_t i = 1; i < out.size(); ++i)
    same_size.push_back(F::interpolate(out[i], F::InterpolateFuncOptions().size(size).mode(torch::kBilinear)
                                                   .align_corners(false)));
  out.push_back(std::get<0>(torch::stack(same_size).max(0)));
  return out;
}

ParameterGroups parameter_groups(DeepLabV2Impl& net) {
  ParameterGroups groups;
  for (const auto& m : net.backbone->modules(/*include_self=*/false))
    if (auto conv = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(m))
      if (conv->weight.requires_grad()) groups.backbone_weights.push_back(conv->weight);
  for (const auto& conv : net.aspp->branches) {
    groups.aspp_weights.push_back(conv->weight);
    groups.aspp_biases.push_back(conv->bias);
  }
  return groups;
}

namespace {

// Per-pixel CE [B,h,w] with ignored pixels mapped to class 0 (their value is masked out by the callers).
torch::Tensor pixel_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& valid) {
  if (logits.dim() != 4 || labels.dim() != 3 || logits.size(0) != labels.size(0) ||
      logits.size(2) != labels.size(1) || logits.size(3) != labels.size(2))
    throw Error("segmentation loss: logits and labels differ in shape");
  torch::Tensor target = torch::where(valid, labels, torch::zeros_like(labels));
  return F::cross_entropy(logits, target, F::CrossEntropyFuncOptions().reduction(torch::kNone));
}

// The mean of `values` over `mask`, the mask counted over the global batch.
torch::Tensor masked_mean(const torch::Tensor& values, const torch::Tensor& mask, const train::GlobalBatch& batch) {
  torch::Tensor m = mask.to(values.dtype());
  return batch.share((values * m).sum(), batch.sum(m.sum()).clamp_min(1.0));
}

}  // namespace

torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels, std::int64_t ignore,
                            const train::GlobalBatch& batch) {
  torch::Tensor valid = labels != ignore;
  return masked_mean(pixel_cross_entropy(logits, labels, valid), valid, batch);
}

torch::Tensor balanced_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels, std::int64_t ignore,
                                     const train::GlobalBatch& batch) {
  torch::Tensor valid = labels != ignore;
  torch::Tensor ce = pixel_cross_entropy(logits, labels, valid);
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

LoadedDeepLab load_deeplab(const fs::path& file) {
  auto meta = models::read_weight_metadata(file);
  auto kind = meta.find(models::kMetaModel);
  if (kind == meta.end() || kind->second != kModelDeepLabV2)
    throw InputError(file, std::string("not a DeepLab-v2 segmentation model (wsss.model = '") +
                               (kind == meta.end() ? "" : kind->second) + "'; train one with wsss-train-seg train)");
  models::ModelSpec spec = models::read_backbone_spec(file);
  LoadedDeepLab loaded;
  loaded.class_names = models::read_class_names(meta, file);
  if (loaded.class_names.size() < 2) throw InputError(file, "no class names (background and at least one class) in the metadata");
  std::vector<int> rates;
  auto head = meta.find(kMetaHead);
  if (head == meta.end()) throw InputError(file, std::string("no '") + kMetaHead + "' metadata");
  try {
    rates = nlohmann::json::parse(head->second).at("aspp_rates").get<std::vector<int>>();
  } catch (const std::exception& e) {
    throw InputError(file, std::string("bad '") + kMetaHead + "' metadata: " + e.what());
  }
  loaded.net = DeepLabV2(spec, std::int64_t(loaded.class_names.size()), rates);
  models::LoadOptions options;
  options.expected_spec = &spec;
  models::load_weights(*loaded.net, file, options);
  loaded.net->eval();
  return loaded;
}

}  // namespace wsss::seg
