#include "wsss/models/cam_net.hpp"

#include "wsss/core/error.hpp"
#include "wsss/models/weights.hpp"

namespace wsss::models {

CamNetImpl::CamNetImpl(ModelSpec spec, std::int64_t k) : num_classes(k) {
  backbone = register_module("backbone", ResNet(spec));
  std::int64_t channels = spec.stage_channels()[4];
  classifier = register_module("classifier",
                               torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, k, 1).bias(false)));
  // IRN initialises the classifier with xavier_uniform.
  torch::nn::init::xavier_uniform_(classifier->weight);
}

torch::Tensor CamNetImpl::features(torch::Tensor x) {
  for (int stage = 0; stage < ResNetImpl::kNumStages; ++stage) {
    x = backbone->forward_stage(stage, x);
    if (stage < frozen_stages) x = x.detach();
  }
  return x;
}

torch::Tensor CamNetImpl::forward(torch::Tensor x) {
  torch::Tensor f = features(x);
  f = f.mean({2, 3}, /*keepdim=*/true);
  return classifier->forward(f).flatten(1);
}

torch::Tensor CamNetImpl::class_maps(torch::Tensor x) {
  return torch::conv2d(features(x), classifier->weight);
}

LoadedCamNet load_cam_net(const fs::path& file) {
  auto meta = read_weight_metadata(file);
  auto kind = meta.find(kMetaModel);
  if (kind == meta.end() || kind->second != kModelCamClassifier)
    throw InputError(file, std::string("not a CAM classifier (wsss.model = '") +
                               (kind == meta.end() ? "" : kind->second) + "'; train one with wsss-classify train)");
  ModelSpec spec = read_backbone_spec(file);
  LoadedCamNet loaded;
  loaded.class_names = read_class_names(meta, file);
  if (loaded.class_names.empty()) throw InputError(file, "no class names in the metadata");
  loaded.net = CamNet(spec, std::int64_t(loaded.class_names.size()));
  LoadOptions options;
  options.expected_spec = &spec;
  load_weights(*loaded.net, file, options);
  loaded.net->eval();
  return loaded;
}

torch::Device resolve_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  if (name.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available())
      throw UsageError("--device " + name + ": CUDA is not available in this LibTorch build or machine");
    try {
      return torch::Device(name);
    } catch (const std::exception&) {
      throw UsageError("--device " + name + ": expected cuda or cuda:K");
    }
  }
  throw UsageError("--device " + name + ": expected cpu, cuda, cuda:K or auto");
}

}  // namespace wsss::models
