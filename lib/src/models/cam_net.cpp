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

RecamNetImpl::RecamNetImpl(ModelSpec spec, std::int64_t k) : CamNetImpl(spec, k) {
  std::int64_t channels = spec.stage_channels()[4];
  // ReCAM's Class_Predictor: nn.Conv2d(C, K, 1, bias=False) with PyTorch's default initialisation.
  predictor = register_module("predictor",
                              torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, k, 1).bias(false)));
}

torch::Tensor RecamNetImpl::recam_maps(torch::Tensor x) {
  return torch::conv2d(features(x), predictor->weight * classifier->weight);
}

namespace {

// The kind, backbone and class names of a weight file, checked.
struct ModelHeader {
  std::string kind;
  ModelSpec spec;
  std::vector<std::string> class_names;
};

// `hint` says what to do instead when the file holds another kind of model
// (`recam_hint` when it holds a ReCAM model).
ModelHeader read_model_header(const fs::path& file, const std::string& want, const std::string& hint,
                              const std::string& recam_hint = "") {
  auto meta = read_weight_metadata(file);
  auto kind = meta.find(kMetaModel);
  ModelHeader h;
  h.kind = kind == meta.end() ? "" : kind->second;
  if (h.kind != want) {
    std::string what = want == kModelRecam ? "ReCAM model" : "CAM classifier";
    std::string advice = h.kind == kModelRecam && !recam_hint.empty() ? recam_hint : hint;
    throw InputError(file, "not a " + what + " (wsss.model = '" + h.kind + "'; " + advice + ")");
  }
  h.spec = read_backbone_spec(file);
  h.class_names = read_class_names(meta, file);
  if (h.class_names.empty()) throw InputError(file, "no class names in the metadata");
  return h;
}

// Builds the network of `h` and loads the file's tensors into it.
template <class Loaded>
Loaded build_and_load(const fs::path& file, const ModelHeader& h, bool allow_missing, LoadReport* report = nullptr) {
  Loaded loaded;
  loaded.class_names = h.class_names;
  loaded.net = decltype(loaded.net)(h.spec, std::int64_t(h.class_names.size()));
  LoadOptions options;
  options.expected_spec = &h.spec;
  options.allow_missing = allow_missing;
  LoadReport r = load_weights(*loaded.net, file, options);
  if (report) *report = r;
  return loaded;
}

}  // namespace

LoadedCamNet load_cam_net(const fs::path& file) {
  ModelHeader h = read_model_header(file, kModelCamClassifier, "train one with wsss-classify train",
                                    "a ReCAM model: use wsss-cam --recam");
  auto loaded = build_and_load<LoadedCamNet>(file, h, false);
  loaded.net->eval();
  return loaded;
}

LoadedRecamNet load_recam_net(const fs::path& file) {
  ModelHeader h = read_model_header(file, kModelRecam, "train one with wsss-classify recam");
  auto loaded = build_and_load<LoadedRecamNet>(file, h, false);
  loaded.net->eval();
  return loaded;
}

LoadedRecamNet recam_from_classifier(const fs::path& file) {
  ModelHeader h = read_model_header(file, kModelCamClassifier, "ReCAM starts from a model of wsss-classify train");
  LoadReport report;
  auto loaded = build_and_load<LoadedRecamNet>(file, h, true, &report);  // the predictor is new
  for (const std::string& name : report.missing)
    if (name != "predictor.weight")
      throw InputError(file, "tensor '" + name + "' of the CAM classifier is missing from the file");
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
