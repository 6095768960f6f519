#include <catch2/catch.hpp>

#include <set>

#include "../unit/test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/safetensors.hpp"
#include "wsss/models/resnet.hpp"
#include "wsss/models/weights.hpp"

using namespace wsss;
using namespace wsss::models;
namespace st = wsss::safetensors;
using wsss_test::TempDir;

namespace {

std::int64_t parameter_count(const torch::nn::Module& m) {
  std::int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

std::vector<std::string> names_of(const torch::nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& [name, t] : state_dict(m)) out.push_back(name);
  return out;
}

ModelSpec spec_of(const std::string& arch, int width, std::array<int, 4> strides = {2, 2, 2, 2},
                  std::array<int, 4> dilations = {1, 1, 1, 1},
                  DilationPolicy policy = DilationPolicy::AllBlocks) {
  ModelSpec s;
  s.arch = arch;
  s.base_width = width;
  s.strides = strides;
  s.dilations = dilations;
  s.dilation_policy = policy;
  return s;
}

// Gives every BN non-trivial statistics so that a dropped buffer shows.
void randomise_batchnorm(ResNet& net, std::uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard g;
  for (auto& bn : net->batchnorms()) {
    bn->weight.uniform_(0.5, 1.5);
    bn->bias.normal_(0, 0.1);
    bn->running_mean.normal_(0, 0.1);
    bn->running_var.uniform_(0.5, 1.5);
    bn->num_batches_tracked.fill_(17);
  }
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

void write_state(const fs::path& file, const std::vector<std::pair<std::string, torch::Tensor>>& entries,
                 const st::Metadata& meta = {}) {
  std::vector<torch::Tensor> keep;
  std::vector<st::TensorView> views;
  keep.reserve(entries.size());
  for (const auto& [name, t] : entries) {
    keep.push_back(t.contiguous());
    views.push_back({name, t.scalar_type() == torch::kInt64 ? st::DType::I64 : st::DType::F32,
                     std::vector<std::int64_t>(t.sizes().begin(), t.sizes().end()), keep.back().data_ptr()});
  }
  st::write(file, views, meta);
}

}  // namespace

TEST_CASE("ResNet parameter counts match torchvision's (without fc)", "[models][resnet]") {
  // torchvision's documented totals minus the 1000-way fc (512*1000+1000 or 2048*1000+1000).
  CHECK(parameter_count(*ResNet(spec_of("resnet18", 64))) == 11689512 - 513000);
  CHECK(parameter_count(*ResNet(spec_of("resnet34", 64))) == 21797672 - 513000);
  CHECK(parameter_count(*ResNet(spec_of("resnet50", 64))) == 25557032 - 2049000);
  CHECK(parameter_count(*ResNet(spec_of("resnet101", 64))) == 44549160 - 2049000);
}

TEST_CASE("ResNet state_dict names follow torchvision's layout", "[models][resnet]") {
  // Counts derived by hand: stem 1 conv + 1 BN (5 tensors); BasicBlock 2 convs + 2 BN;
  // Bottleneck 3 + 3; downsample 1 + 1 where the shape changes.
  auto r18 = names_of(*ResNet(spec_of("resnet18", 8)));
  auto r50 = names_of(*ResNet(spec_of("resnet50", 8)));
  CHECK(r18.size() == 6 + 8 * 12 + 3 * 6);
  CHECK(names_of(*ResNet(spec_of("resnet34", 8))).size() == 6 + 16 * 12 + 3 * 6);
  CHECK(r50.size() == 6 + 16 * 18 + 4 * 6);
  CHECK(names_of(*ResNet(spec_of("resnet101", 8))).size() == 6 + 33 * 18 + 4 * 6);
  const std::vector<std::string> r18_head = {"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean",
                                             "bn1.running_var", "bn1.num_batches_tracked", "layer1.0.conv1.weight",
                                             "layer1.0.bn1.weight"};
  CHECK(std::vector<std::string>(r18.begin(), r18.begin() + 8) == r18_head);
  std::set<std::string> s18(r18.begin(), r18.end()), s50(r50.begin(), r50.end());
  CHECK(s18.count("layer2.0.downsample.0.weight"));
  CHECK(s18.count("layer2.0.downsample.1.running_var"));
  CHECK_FALSE(s18.count("layer1.0.downsample.0.weight"));
  CHECK_FALSE(s18.count("layer1.0.conv3.weight"));
  CHECK(s50.count("layer1.0.downsample.0.weight"));
  CHECK(s50.count("layer4.2.bn3.num_batches_tracked"));
  CHECK(r50.back() == "layer4.2.bn3.num_batches_tracked");
}

TEST_CASE("ResNet stage shapes for output stride 32, 16 and 8", "[models][resnet]") {
  torch::NoGradGuard g;
  const auto x = torch::randn({2, 3, 65, 96});
  // conv1 s2: 33x48, maxpool s2: 17x24, then /2 per strided stage (ceil).
  auto os32 = ResNet(spec_of("resnet50", 8));
  os32->eval();
  auto f = os32->forward_stages(x);
  REQUIRE(f.size() == 5);
  CHECK(f[0].sizes() == torch::IntArrayRef({2, 8, 17, 24}));
  CHECK(f[1].sizes() == torch::IntArrayRef({2, 32, 17, 24}));
  CHECK(f[2].sizes() == torch::IntArrayRef({2, 64, 9, 12}));
  CHECK(f[3].sizes() == torch::IntArrayRef({2, 128, 5, 6}));
  CHECK(f[4].sizes() == torch::IntArrayRef({2, 256, 3, 3}));
  CHECK(os32->spec().output_stride() == 32);

  auto irn = ResNet(ModelSpec::irn("resnet50", 8));
  irn->eval();
  CHECK(irn->spec().output_stride() == 16);
  CHECK(irn->forward(x).sizes() == torch::IntArrayRef({2, 256, 5, 6}));
  auto irn18 = ResNet(ModelSpec::irn("resnet18", 16));
  irn18->eval();
  auto g18 = irn18->forward_stages(x);
  CHECK(g18[4].sizes() == torch::IntArrayRef({2, 128, 5, 6}));
  const auto ch = irn18->spec().stage_channels();
  for (int s = 0; s < 5; ++s) CHECK(g18[std::size_t(s)].size(1) == ch[std::size_t(s)]);

  auto dl = ResNet(ModelSpec::deeplab("resnet101", 8));
  dl->eval();
  CHECK(dl->spec().output_stride() == 8);
  auto h = dl->forward_stages(x);
  CHECK(h[3].sizes() == torch::IntArrayRef({2, 128, 9, 12}));
  CHECK(h[4].sizes() == torch::IntArrayRef({2, 256, 9, 12}));
}

TEST_CASE("dilated ResNet equals the strided one on the stride grid", "[models][resnet]") {
  // The "a trous" identity: removing a stride-2 and dilating every later 3x3 conv
  // by 2 computes the strided network's outputs at every other position. It holds
  // for torchvision's policy (the first block of a stage keeps the previous
  // dilation), which makes it an independent check of stride/dilation/padding.
  torch::NoGradGuard g;
  for (const std::string arch : {"resnet18", "resnet50"}) {
    ResNet strided(spec_of(arch, 8));
    ResNet dilated(spec_of(arch, 8, {2, 2, 1, 1}, {1, 1, 2, 4}, DilationPolicy::Torchvision));
    randomise_batchnorm(strided, 5);
    for (auto& [name, t] : state_dict(*dilated)) {
      for (auto& [n2, t2] : state_dict(*strided))
        if (n2 == name) t.copy_(t2);
    }
    strided->eval();
    dilated->eval();
    const auto x = torch::randn({1, 3, 77, 90});
    auto a = strided->forward_stages(x);
    auto b = dilated->forward_stages(x);
    using torch::indexing::Slice;
    auto b3 = b[3].index({Slice(), Slice(), Slice(torch::indexing::None, torch::indexing::None, 2),
                          Slice(torch::indexing::None, torch::indexing::None, 2)});
    auto b4 = b[4].index({Slice(), Slice(), Slice(torch::indexing::None, torch::indexing::None, 4),
                          Slice(torch::indexing::None, torch::indexing::None, 4)});
    REQUIRE(b3.sizes() == a[3].sizes());
    REQUIRE(b4.sizes() == a[4].sizes());
    const double scale = a[4].abs().max().item<double>();
    CHECK(max_abs_diff(b3, a[3]) <= 1e-4 * a[3].abs().max().item<double>());
    CHECK(max_abs_diff(b4, a[4]) <= 1e-4 * scale);
    // And the all-blocks policy really differs (its first block is dilated too).
    ResNet all(spec_of(arch, 8, {2, 2, 1, 1}, {1, 1, 2, 4}, DilationPolicy::AllBlocks));
    for (auto& [name, t] : state_dict(*all))
      for (auto& [n2, t2] : state_dict(*dilated))
        if (n2 == name) t.copy_(t2);
    all->eval();
    CHECK(max_abs_diff(all->forward(x), b[4]) > 1e-3 * scale);
  }
}

TEST_CASE("frozen BatchNorm uses running statistics and trains nothing", "[models][resnet]") {
  ResNet net(ModelSpec::irn("resnet18", 8));
  randomise_batchnorm(net, 3);
  net->set_frozen_batchnorm(true);
  net->train();
  CHECK(net->is_training());
  for (const auto& bn : net->batchnorms()) {
    CHECK_FALSE(bn->is_training());
    CHECK_FALSE(bn->weight.requires_grad());
    CHECK_FALSE(bn->bias.requires_grad());
  }
  std::int64_t trainable = 0, bn_params = 0;
  for (const auto& p : net->parameters()) trainable += p.requires_grad() ? p.numel() : 0;
  for (const auto& bn : net->batchnorms()) bn_params += bn->weight.numel() + bn->bias.numel();
  CHECK(trainable == parameter_count(*net) - bn_params);

  const auto before = net->batchnorms()[0]->running_mean.clone();
  const auto x = torch::randn({2, 3, 40, 40});
  auto y_train = net->forward(x);
  y_train.sum().backward();
  CHECK(torch::equal(net->batchnorms()[0]->running_mean, before));
  CHECK(net->batchnorms()[0]->num_batches_tracked.item<std::int64_t>() == 17);
  CHECK_FALSE(net->batchnorms()[0]->weight.grad().defined());
  CHECK(net->batchnorms().size() == 1 + 8 * 2 + 3);
  net->eval();
  torch::NoGradGuard g;
  CHECK(max_abs_diff(net->forward(x), y_train.detach()) == 0.0);

  // Unfrozen, train mode normalises with batch statistics: a different output.
  net->set_frozen_batchnorm(false);
  net->train();
  CHECK(net->batchnorms()[0]->is_training());
  CHECK(net->batchnorms()[0]->weight.requires_grad());
  CHECK(max_abs_diff(net->forward(x), y_train.detach()) > 1e-3);
}

TEST_CASE("ModelSpec JSON round trip and validation", "[models][resnet]") {
  ModelSpec s = ModelSpec::deeplab("resnet101", 32);
  s.dilation_policy = DilationPolicy::Torchvision;
  CHECK(ModelSpec::from_json(s.to_json(), "t") == s);
  CHECK(ModelSpec::from_json(nlohmann::json::parse(R"({"arch":"resnet34"})"), "t").base_width == 64);
  CHECK_THROWS_WITH(ModelSpec::from_json(nlohmann::json::parse(R"({"arch":"vgg16"})"), "w.safetensors"),
                    Catch::Contains("w.safetensors") && Catch::Contains("unknown backbone architecture 'vgg16'"));
  CHECK_THROWS_WITH(ModelSpec::from_json(nlohmann::json::parse(R"({"strides":[2,2,3,1]})"), "t"),
                    Catch::Contains("strides must be 1 or 2"));
  CHECK_THROWS_WITH(ModelSpec::from_json(nlohmann::json::parse(R"({"depth":50})"), "t"),
                    Catch::Contains("unknown field 'depth'"));
  CHECK(s.describe() == "resnet101 (width 32, strides 2,2,1,1, dilations 1,1,2,4, OS 8)");
}

TEST_CASE("weights save and load with BN buffers, prefixes and metadata", "[models][weights]") {
  TempDir t;
  ResNet a(ModelSpec::irn("resnet18", 8));
  randomise_batchnorm(a, 11);
  a->eval();
  save_weights(*a, t / "a.safetensors", make_metadata(a->spec(), {"cat", "dog"}, {{"epochs", 5}}), "backbone.");

  const auto meta = read_weight_metadata(t / "a.safetensors");
  CHECK(meta.at(kMetaFormat) == kMetaFormatValue);
  CHECK(read_backbone_spec(t / "a.safetensors") == a->spec());
  CHECK(read_class_names(meta, t / "a.safetensors") == std::vector<std::string>{"cat", "dog"});
  CHECK(nlohmann::json::parse(meta.at(kMetaTrainingOptions))["epochs"] == 5);

  ResNet b(ModelSpec::irn("resnet18", 8));
  LoadOptions opt;
  opt.prefix = "backbone.";
  LoadReport r = load_weights(*b, t / "a.safetensors", opt);
  CHECK(r.used_prefix);
  CHECK(r.loaded.size() == 120);
  CHECK(r.missing.empty());
  CHECK(r.unexpected.empty());
  b->eval();
  torch::NoGradGuard g;
  const auto x = torch::randn({1, 3, 48, 48});
  CHECK(torch::equal(a->forward(x), b->forward(x)));
  CHECK(b->batchnorms()[3]->num_batches_tracked.item<std::int64_t>() == 17);
  CHECK(torch::equal(b->batchnorms()[3]->running_var, a->batchnorms()[3]->running_var));

  // Saving is deterministic.
  save_weights(*b, t / "b.safetensors", make_metadata(a->spec(), {"cat", "dog"}, {{"epochs", 5}}), "backbone.");
  CHECK(read_file(t / "a.safetensors") == read_file(t / "b.safetensors"));
}

TEST_CASE("weights load from torchvision-named files and report unexpected and missing", "[models][weights]") {
  TempDir t;
  ResNet a(spec_of("resnet18", 8));
  randomise_batchnorm(a, 12);
  auto entries = state_dict(*a);
  // A torchvision file: no prefix, plus the classifier we do not use, in half precision.
  auto tv = entries;
  tv.emplace_back("fc.weight", torch::zeros({10, 64}));
  tv.emplace_back("fc.bias", torch::zeros({10}));
  write_state(t / "tv.safetensors", tv);

  ResNet b(ModelSpec::irn("resnet18", 8));  // other strides: same weights
  LoadOptions opt;
  opt.prefix = "backbone.";  // not in the file: names are taken as they are
  LoadReport r = load_weights(*b, t / "tv.safetensors", opt);
  CHECK_FALSE(r.used_prefix);
  CHECK(r.loaded.size() == entries.size());
  CHECK(r.unexpected == std::vector<std::string>{"fc.bias", "fc.weight"});
  CHECK(r.summary() == "loaded 120, missing 0, unexpected 2 (fc.bias, fc.weight)");
  CHECK(torch::equal(state_dict(*b)[1].second, entries[1].second));

  // A missing tensor is refused by default, reported when allowed.
  auto partial = entries;
  partial.erase(partial.begin() + 7);  // layer1.0.bn1.weight
  write_state(t / "partial.safetensors", partial);
  ResNet c(spec_of("resnet18", 8));
  CHECK_THROWS_WITH(load_weights(*c, t / "partial.safetensors"),
                    Catch::Contains("partial.safetensors") && Catch::Contains("1 model tensors missing") &&
                        Catch::Contains("'layer1.0.bn1.weight'"));
  opt = {};
  opt.allow_missing = true;
  r = load_weights(*c, t / "partial.safetensors", opt);
  CHECK(r.missing == std::vector<std::string>{"layer1.0.bn1.weight"});
  CHECK(r.loaded.size() == 119);
}

TEST_CASE("weights of another architecture are refused naming file and tensor", "[models][weights]") {
  TempDir t;
  ResNet r18(spec_of("resnet18", 8));
  save_weights(*r18, t / "r18.safetensors", make_metadata(r18->spec()));

  // Other width: a shape mismatch, reported with both shapes, module untouched.
  ResNet wide(spec_of("resnet18", 16));
  const auto before = wide->parameters()[0].clone();
  try {
    load_weights(*wide, t / "r18.safetensors");
    FAIL("no error");
  } catch (const InputError& e) {
    std::string msg = e.what();
    CHECK_THAT(msg, Catch::StartsWith((t / "r18.safetensors").string() + ": tensor 'conv1.weight': shape [8,3,7,7] "
                                      "in the file but [16,3,7,7] in the model"));
  }
  CHECK(torch::equal(wide->parameters()[0], before));

  // Bottleneck vs basic blocks: the first differing tensor is named.
  ResNet r50(spec_of("resnet50", 8));
  CHECK_THROWS_WITH(load_weights(*r50, t / "r18.safetensors"),
                    Catch::Contains("tensor 'layer1.0.conv1.weight': shape [8,8,3,3] in the file but [8,8,1,1]"));

  // Deeper network, every shared tensor fits: the metadata and the first missing tensor tell.
  ResNet r34(spec_of("resnet34", 8));
  CHECK_THROWS_WITH(load_weights(*r34, t / "r18.safetensors"),
                    Catch::Contains("r18.safetensors: weights are for resnet18 width 8 but the model is resnet34 "
                                    "width 8 (first missing tensor 'layer1.2.conv1.weight')"));
  // Without metadata the missing tensors still refuse it.
  write_state(t / "plain.safetensors", state_dict(*r18));
  CHECK_THROWS_WITH(load_weights(*r34, t / "plain.safetensors"),
                    Catch::Contains("first 'layer1.2.conv1.weight'"));

  // A full model file (backbone + head): loading the backbone ignores the head.
  struct Net : torch::nn::Module {
    ResNet backbone{nullptr};
    torch::nn::Conv2d classifier{nullptr};
    Net() {
      backbone = register_module("backbone", ResNet(spec_of("resnet18", 8)));
      classifier = register_module("classifier", torch::nn::Conv2d(torch::nn::Conv2dOptions(64, 3, 1).bias(false)));
    }
  };
  Net net;
  save_weights(net, t / "net.safetensors", make_metadata(net.backbone->spec()));
  CHECK(state_dict(net).front().first == "backbone.conv1.weight");
  CHECK(state_dict(net).back().first == "classifier.weight");
  ResNet only(spec_of("resnet18", 8));
  LoadOptions opt;
  opt.prefix = "backbone.";
  LoadReport r = load_weights(*only, t / "net.safetensors", opt);
  CHECK(r.loaded.size() == 120);
  CHECK(r.unexpected.empty());
  CHECK(r.ignored_outside_prefix == 1);
  Net net2;
  CHECK(load_weights(net2, t / "net.safetensors").loaded.size() == 121);
}

TEST_CASE("weights load converts file dtypes", "[models][weights]") {
  TempDir t;
  ResNet a(spec_of("resnet18", 4));
  randomise_batchnorm(a, 13);
  auto entries = state_dict(*a);
  // Store the floats as F16 (and the step counters as I32) like a half-precision export.
  std::vector<torch::Tensor> keep;
  std::vector<st::TensorView> views;
  for (const auto& [name, tensor] : entries) {
    const bool is_int = tensor.scalar_type() == torch::kInt64;
    keep.push_back(tensor.to(is_int ? torch::kInt32 : torch::kFloat16).contiguous());
    views.push_back({name, is_int ? st::DType::I32 : st::DType::F16,
                     std::vector<std::int64_t>(tensor.sizes().begin(), tensor.sizes().end()), keep.back().data_ptr()});
  }
  st::write(t / "half.safetensors", views);
  ResNet b(spec_of("resnet18", 4));
  load_weights(*b, t / "half.safetensors");
  auto got = state_dict(*b);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    INFO(entries[i].first);
    CHECK(got[i].second.scalar_type() == entries[i].second.scalar_type());
    CHECK(torch::equal(got[i].second, entries[i].second.to(keep[i].scalar_type()).to(entries[i].second.scalar_type())));
  }
}

TEST_CASE("truncated weight file gives a clear error", "[models][weights]") {
  TempDir t;
  ResNet a(spec_of("resnet18", 4));
  save_weights(*a, t / "w.safetensors");
  const std::string bytes = read_file(t / "w.safetensors");
  write_file_atomic(t / "cut.safetensors", bytes.substr(0, bytes.size() / 2));
  ResNet b(spec_of("resnet18", 4));
  CHECK_THROWS_WITH(load_weights(*b, t / "cut.safetensors"),
                    Catch::StartsWith((t / "cut.safetensors").string() + ": tensor '") &&
                        Catch::Contains("truncated"));
}

TEST_CASE("weights with NaN or infinity are neither loaded nor saved, naming the tensor", "[models][weights]") {
  TempDir t;
  ResNet a(ModelSpec::irn("resnet18", 8));
  save_weights(*a, t / "good.safetensors", make_metadata(a->spec()));
  {
    torch::NoGradGuard g;
    a->named_parameters()["layer2.0.conv1.weight"].view(-1)[3] = std::numeric_limits<float>::quiet_NaN();
  }
  // Saving: a diverged training must not leave a model that looks finished.
  CHECK_THROWS_WITH(save_weights(*a, t / "nan.safetensors", make_metadata(a->spec())),
                    Catch::Contains("nan.safetensors: tensor 'layer2.0.conv1.weight' has NaN or infinite values"));
  CHECK_FALSE(fs::exists(t / "nan.safetensors"));

  // Loading: a file with a NaN (written by another tool) is refused before
  // anything is copied, so the model keeps its weights.
  const auto entries = state_dict(*a);
  std::vector<st::TensorView> views;
  std::vector<torch::Tensor> keep;
  for (const auto& [name, tensor] : entries) {
    keep.push_back(tensor.detach().contiguous());
    views.push_back({name, tensor.scalar_type() == torch::kInt64 ? st::DType::I64 : st::DType::F32,
                     std::vector<std::int64_t>(tensor.sizes().begin(), tensor.sizes().end()), keep.back().data_ptr()});
  }
  st::write(t / "nan.safetensors", views, {});
  ResNet b(ModelSpec::irn("resnet18", 8));
  load_weights(*b, t / "good.safetensors");
  const torch::Tensor before = b->named_parameters()["layer2.0.conv1.weight"].clone();
  CHECK_THROWS_WITH(load_weights(*b, t / "nan.safetensors"),
                    Catch::Contains("nan.safetensors: tensor 'layer2.0.conv1.weight' has 1 NaN or infinite values"));
  CHECK(torch::equal(b->named_parameters()["layer2.0.conv1.weight"], before));
}
