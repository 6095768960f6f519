#include "wsss/seg/deeplab.hpp"

#include <sstream>

#include "wsss/core/error.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/weights.hpp"

namespace wsss::seg {

namespace F = torch::nn::functional;

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
