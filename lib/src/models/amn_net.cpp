#include "wsss/models/amn_net.hpp"

#include <nlohmann/json.hpp>

#include "wsss/core/error.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/weights.hpp"

namespace wsss::models {

namespace F = torch::nn::functional;

AmnNetImpl::AmnNetImpl(ModelSpec spec, std::int64_t num_foreground, std::vector<int> aspp_rates, double dropout)
    : rates_(std::move(aspp_rates)), num_foreground_(num_foreground), dropout_(dropout) {
  spec.validate();
  if (num_foreground < 1) throw UsageError("AMN needs at least one foreground class");
  if (!(dropout >= 0 && dropout < 1)) throw UsageError("AMN's dropout must be within [0, 1)");
  backbone = register_module("backbone", ResNet(spec));
  backbone->set_frozen_batchnorm(true);
  const std::int64_t channels = spec.stage_channels()[4];
  label_enc = register_module("label_enc", torch::nn::Linear(num_foreground, channels));
  aspp = register_module("aspp", Aspp(channels, num_foreground + 1, rates_));
  // AMN: conv1 and bn1 never train; every other backbone parameter does, the
  // BatchNorm affine parameters included (FixedBatchNorm only fixes the statistics).
  for (auto& p : backbone->named_parameters()) {
    const bool stem = p.key().rfind("conv1.", 0) == 0 || p.key().rfind("bn1.", 0) == 0;
    p.value().set_requires_grad(!stem);
  }
}

torch::Tensor AmnNetImpl::forward(const torch::Tensor& x, const torch::Tensor& labels,
                                  c10::optional<at::Generator> dropout_generator) {
  if (labels.dim() != 2 || labels.size(0) != x.size(0) || labels.size(1) != num_foreground_)
    throw Error("AMN: the label vectors must be [B, " + std::to_string(num_foreground_) + "]");
  torch::Tensor f = backbone->forward(x);
  f = f * label_enc->forward(labels).unsqueeze(-1).unsqueeze(-1);
  if (is_training()) {
    f = F::dropout(f, F::DropoutFuncOptions().p(dropout_).training(true));
  } else if (dropout_generator.has_value() && dropout_ > 0) {
    // torch's dropout: a Bernoulli(1 - p) mask scaled by 1 / (1 - p).
    torch::Tensor keep = torch::empty(f.sizes(), torch::kFloat32).bernoulli_(1.0 - dropout_, dropout_generator);
    f = f * keep.div_(1.0 - dropout_).to(f.device());
  }
  return aspp->forward(f);
}

std::vector<torch::Tensor> AmnNetImpl::backbone_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& p : backbone->parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

std::vector<torch::Tensor> AmnNetImpl::head_parameters() const {
  std::vector<torch::Tensor> out = label_enc->parameters();
  for (const auto& p : aspp->parameters()) out.push_back(p);
  return out;
}

LoadedAmn load_amn_net(const fs::path& file) {
  auto meta = read_weight_metadata(file);
  auto kind = meta.find(kMetaModel);
  if (kind == meta.end() || kind->second != kModelAmn)
    throw InputError(file, std::string("not an AMN model (wsss.model = '") + (kind == meta.end() ? "" : kind->second) +
                               "'; train one with wsss-amn train)");
  ModelSpec spec = read_backbone_spec(file);
  LoadedAmn loaded;
  loaded.class_names = read_class_names(meta, file);
  if (loaded.class_names.empty()) throw InputError(file, "no class names in the metadata");
  std::vector<int> rates;
  double dropout = 0.1;
  auto head = meta.find(kMetaHead);
  if (head == meta.end()) throw InputError(file, std::string("no '") + kMetaHead + "' metadata");
  try {
    const auto j = nlohmann::json::parse(head->second);
    rates = j.at("aspp_rates").get<std::vector<int>>();
    dropout = j.at("dropout").get<double>();
  } catch (const std::exception& e) {
    throw InputError(file, std::string("bad '") + kMetaHead + "' metadata: " + e.what());
  }
  loaded.net = AmnNet(spec, std::int64_t(loaded.class_names.size()), rates, dropout);
  LoadOptions options;
  options.expected_spec = &spec;
  load_weights(*loaded.net, file, options);
  loaded.net->eval();
  return loaded;
}

}  // namespace wsss::models
