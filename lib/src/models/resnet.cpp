#include "wsss/models/resnet.hpp"

#include "wsss/core/error.hpp"

namespace wsss::models {

namespace nn = torch::nn;

// ---------------------------------------------------------------- ModelSpec

ModelSpec ModelSpec::irn(const std::string& arch, int base_width) {
  ModelSpec s;
  s.arch = arch;
  s.base_width = base_width;
  s.strides = {2, 2, 2, 1};
  s.dilations = {1, 1, 1, 1};
  return s;
}

ModelSpec ModelSpec::deeplab(const std::string& arch, int base_width) {
  ModelSpec s;
  s.arch = arch;
  s.base_width = base_width;
  s.strides = {2, 2, 1, 1};
  s.dilations = {1, 1, 2, 4};
  s.dilation_policy = DilationPolicy::AllBlocks;
  return s;
}

int ModelSpec::output_stride() const { return strides[0] * 2 * strides[1] * strides[2] * strides[3]; }

bool ModelSpec::bottleneck() const { return arch == "resnet50" || arch == "resnet101"; }

std::array<int, 4> ModelSpec::blocks() const {
  if (arch == "resnet18") return {2, 2, 2, 2};
  if (arch == "resnet34" || arch == "resnet50") return {3, 4, 6, 3};
  if (arch == "resnet101") return {3, 4, 23, 3};
  throw UsageError("unknown backbone architecture '" + arch + "' (expected resnet18, resnet34, resnet50 or resnet101)");
}

std::array<std::int64_t, 5> ModelSpec::stage_channels() const {
  const std::int64_t w = base_width, e = expansion();
  return {w, w * e, 2 * w * e, 4 * w * e, 8 * w * e};
}

void ModelSpec::validate() const {
  blocks();  // throws on an unknown arch
  if (base_width < 1 || base_width > 4096)
    throw UsageError("backbone base width must be in [1, 4096], got " + std::to_string(base_width));
  for (int i = 0; i < 4; ++i) {
    if (strides[std::size_t(i)] != 1 && strides[std::size_t(i)] != 2)
      throw UsageError("backbone strides must be 1 or 2, got " + std::to_string(strides[std::size_t(i)]));
    if (dilations[std::size_t(i)] < 1 || dilations[std::size_t(i)] > 64)
      throw UsageError("backbone dilations must be in [1, 64], got " + std::to_string(dilations[std::size_t(i)]));
  }
}

static std::string join4(const std::array<int, 4>& a) {
  return std::to_string(a[0]) + "," + std::to_string(a[1]) + "," + std::to_string(a[2]) + "," + std::to_string(a[3]);
}

static const char* policy_name(DilationPolicy p) {
  return p == DilationPolicy::AllBlocks ? "all_blocks" : "torchvision";
}

std::string ModelSpec::describe() const {
  return arch + " (width " + std::to_string(base_width) + ", strides " + join4(strides) + ", dilations " +
         join4(dilations) + ", OS " + std::to_string(output_stride()) + ")";
}

nlohmann::json ModelSpec::to_json() const {
  return {{"arch", arch},
          {"base_width", base_width},
          {"strides", strides},
          {"dilations", dilations},
          {"dilation_policy", policy_name(dilation_policy)}};
}

ModelSpec ModelSpec::from_json(const nlohmann::json& j, const std::string& source) {
  auto bad = [&](const std::string& why) { return UsageError(source + ": backbone spec: " + why); };
  if (!j.is_object()) throw bad("not a JSON object");
  ModelSpec s;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const nlohmann::json& v = it.value();
    if (k == "arch") {
      if (!v.is_string()) throw bad("arch must be a string");
      s.arch = v.get<std::string>();
    } else if (k == "base_width") {
      if (!v.is_number_integer()) throw bad("base_width must be an integer");
      s.base_width = v.get<int>();
    } else if (k == "strides" || k == "dilations") {
      if (!v.is_array() || v.size() != 4) throw bad(k + " must be an array of 4 integers");
      auto& dst = k == "strides" ? s.strides : s.dilations;
      for (std::size_t i = 0; i < 4; ++i) {
        if (!v[i].is_number_integer()) throw bad(k + " must be an array of 4 integers");
        dst[i] = v[i].get<int>();
      }
    } else if (k == "dilation_policy") {
      std::string p = v.is_string() ? v.get<std::string>() : "";
      if (p == "all_blocks") s.dilation_policy = DilationPolicy::AllBlocks;
      else if (p == "torchvision") s.dilation_policy = DilationPolicy::Torchvision;
      else throw bad("dilation_policy must be \"all_blocks\" or \"torchvision\"");
    } else {
      throw bad("unknown field '" + k + "'");
    }
  }
  try {
    s.validate();
  } catch (const UsageError& e) {
    throw bad(e.what());
  }
  return s;
}

bool ModelSpec::operator==(const ModelSpec& o) const {
  return arch == o.arch && base_width == o.base_width && strides == o.strides && dilations == o.dilations &&
         dilation_policy == o.dilation_policy;
}

// ---------------------------------------------------------------- blocks

static nn::Conv2d conv(std::int64_t in, std::int64_t out, int kernel, int stride, int dilation) {
  // padding = dilation keeps a 3x3 conv "same"-sized (torchvision's conv3x3).
  const int padding = kernel == 3 ? dilation : kernel == 7 ? 3 : 0;
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).dilation(dilation).bias(false));
}

ResBlockImpl::ResBlockImpl(bool bottleneck, std::int64_t in_channels, std::int64_t planes, int stride,
                           int stride_conv_dilation, int dilation)
    : bottleneck_(bottleneck) {
  // Registration order fixes state_dict order; it follows torchvision's __init__.
  const std::int64_t out_channels = planes * (bottleneck ? 4 : 1);
  if (bottleneck) {
    conv1 = register_module("conv1", conv(in_channels, planes, 1, 1, 1));
    bn1 = register_module("bn1", nn::BatchNorm2d(planes));
    conv2 = register_module("conv2", conv(planes, planes, 3, stride, stride_conv_dilation));
    bn2 = register_module("bn2", nn::BatchNorm2d(planes));
    conv3 = register_module("conv3", conv(planes, out_channels, 1, 1, 1));
    bn3 = register_module("bn3", nn::BatchNorm2d(out_channels));
  } else {
    conv1 = register_module("conv1", conv(in_channels, planes, 3, stride, stride_conv_dilation));
    bn1 = register_module("bn1", nn::BatchNorm2d(planes));
    conv2 = register_module("conv2", conv(planes, planes, 3, 1, dilation));
    bn2 = register_module("bn2", nn::BatchNorm2d(planes));
  }
  if (stride != 1 || in_channels != out_channels) {
    downsample = register_module("downsample", nn::Sequential(conv(in_channels, out_channels, 1, stride, 1),
                                                              nn::BatchNorm2d(out_channels)));
  }
}

torch::Tensor ResBlockImpl::forward(torch::Tensor x) {
  torch::Tensor identity = downsample ? downsample->forward(x) : x;
  torch::Tensor out = torch::relu(bn1(conv1(x)));
  if (bottleneck_) {
    out = torch::relu(bn2(conv2(out)));
    out = bn3(conv3(out));
  } else {
    out = bn2(conv2(out));
  }
  return torch::relu(out + identity);
}

// ---------------------------------------------------------------- ResNet

ResNetImpl::ResNetImpl(ModelSpec spec) : spec_(std::move(spec)) {
  spec_.validate();
  const std::int64_t w = spec_.base_width;
  conv1 = register_module("conv1", conv(3, w, 7, spec_.strides[0], 1));
  bn1 = register_module("bn1", nn::BatchNorm2d(w));
  maxpool = register_module("maxpool", nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
  const auto blocks = spec_.blocks();
  const std::array<int, 4> layer_strides = {1, spec_.strides[1], spec_.strides[2], spec_.strides[3]};
  std::int64_t channels = w;
  for (std::size_t i = 0; i < 4; ++i) {
    const int previous_dilation = i == 0 ? 1 : spec_.dilations[i - 1];
    layers[i] = register_module("layer" + std::to_string(i + 1),
                                make_layer(channels, w << i, blocks[i], layer_strides[i], spec_.dilations[i],
                                           previous_dilation));
  }
  // torchvision's initialisation (the weights are normally replaced by a file).
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* c = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* b = m->as<nn::BatchNorm2d>()) {
      nn::init::ones_(b->weight);
      nn::init::zeros_(b->bias);
    }
  }
}

nn::Sequential ResNetImpl::make_layer(std::int64_t& in_channels, std::int64_t planes, int blocks, int stride,
                                      int dilation, int previous_dilation) {
  nn::Sequential layer;
  // Under the torchvision policy the conv that carries the stage's (removed)
  // stride keeps the previous dilation, so that the dilated network computes the
  // strided one's outputs on its grid; every later 3x3 conv uses the stage's.
  const int first_dilation = spec_.dilation_policy == DilationPolicy::Torchvision ? previous_dilation : dilation;
  for (int b = 0; b < blocks; ++b) {
    layer->push_back(ResBlock(spec_.bottleneck(), in_channels, planes, b == 0 ? stride : 1,
                              b == 0 ? first_dilation : dilation, dilation));
    in_channels = planes * spec_.expansion();
  }
  return layer;
}

torch::Tensor ResNetImpl::forward_stage(int stage, torch::Tensor x) {
  if (stage == 0) return maxpool(torch::relu(bn1(conv1(x))));
  if (stage < 1 || stage >= kNumStages) throw Error("ResNet::forward_stage: stage " + std::to_string(stage) + " out of range");
  return layers[std::size_t(stage - 1)]->forward(x);
}

std::vector<torch::Tensor> ResNetImpl::forward_stages(torch::Tensor x) {
  std::vector<torch::Tensor> out;
  out.reserve(kNumStages);
  for (int s = 0; s < kNumStages; ++s) {
    x = forward_stage(s, x);
    out.push_back(x);
  }
  return out;
}

torch::Tensor ResNetImpl::forward(torch::Tensor x) {
  for (int s = 0; s < kNumStages; ++s) x = forward_stage(s, x);
  return x;
}

std::vector<nn::BatchNorm2d> ResNetImpl::batchnorms() const {
  std::vector<nn::BatchNorm2d> out;
  for (const auto& m : modules(/*include_self=*/false))
    if (auto bn = std::dynamic_pointer_cast<nn::BatchNorm2dImpl>(m)) out.emplace_back(bn);
  return out;
}

void ResNetImpl::set_frozen_batchnorm(bool frozen) {
  frozen_bn_ = frozen;
  for (auto& bn : batchnorms()) {
    bn->weight.set_requires_grad(!frozen);
    bn->bias.set_requires_grad(!frozen);
  }
  train(is_training());  // puts the BN modules into the right mode now
}

void ResNetImpl::train(bool on) {
  nn::Module::train(on);
  // BN in eval mode normalises with the running statistics and leaves them alone.
  if (frozen_bn_)
    for (auto& bn : batchnorms()) bn->eval();
}

}  // namespace wsss::models
