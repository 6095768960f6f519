// Agreement with PyTorch/torchvision: run only by the "python: resnet_torchvision"
// ctest, which first generates the fixture with tests/python/make_resnet_fixture.py
// and passes its directory in WSSS_RESNET_FIXTURE (hidden tag: not a unit test).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>

#include "wsss/io/npy.hpp"
#include "wsss/models/resnet.hpp"
#include "wsss/models/weights.hpp"

using namespace wsss;
using namespace wsss::models;

namespace {

fs::path fixture_dir() {
  const char* dir = std::getenv("WSSS_RESNET_FIXTURE");
  if (!dir) FAIL("WSSS_RESNET_FIXTURE is not set (run the 'python: resnet_torchvision' ctest)");
  return dir;
}

nlohmann::json fixture() {
  std::ifstream in(fixture_dir() / "fixture.json");
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

// The fixture stores [N, C, H, W] arrays as [N*C, H, W] .npy files.
torch::Tensor load_array(const std::string& file, const std::vector<std::int64_t>& shape) {
  ScoreMap m = read_npy(fixture_dir() / file);
  return torch::from_blob(m.data.data(), {std::int64_t(m.data.size())}, torch::kFloat32).clone().reshape(shape);
}

}  // namespace

TEST_CASE("ResNet state_dict names equal torchvision's", "[.][torchvision]") {
  const auto fx = fixture();
  for (const std::string arch : {"resnet18", "resnet34", "resnet50", "resnet101"}) {
    INFO(arch);
    ModelSpec spec;
    spec.arch = arch;
    spec.base_width = 16;  // names do not depend on the width
    std::vector<std::string> ours;
    for (const auto& [name, t] : state_dict(*ResNet(spec))) ours.push_back(name);
    CHECK(ours == fx["state_dict_names"][arch].get<std::vector<std::string>>());
  }
}

TEST_CASE("ResNet forward agrees with torchvision", "[.][torchvision]") {
  const auto fx = fixture();
  torch::NoGradGuard no_grad;
  double worst = 0;
  for (const auto& c : fx["cases"]) {
    const std::string name = c["name"];
    INFO(name);
    const ModelSpec spec = ModelSpec::from_json(c["spec"], name);
    ResNet net(spec);
    LoadOptions opt;
    opt.prefix = "backbone.";  // some fixtures use it, torchvision-named ones do not: both must load
    const LoadReport report = load_weights(*net, fixture_dir() / c["weights"].get<std::string>(), opt);
    CHECK(report.used_prefix == !c["prefix"].get<std::string>().empty());
    CHECK(report.missing.empty());
    const std::string file_prefix = c["prefix"];
    CHECK(report.unexpected == std::vector<std::string>{file_prefix + "fc.bias", file_prefix + "fc.weight"});
    net->eval();
    const auto input = load_array(c["input"], c["input_shape"].get<std::vector<std::int64_t>>());
    const auto stages = net->forward_stages(input);
    REQUIRE(stages.size() == c["outputs"].size());
    for (std::size_t s = 0; s < stages.size(); ++s) {
      const auto& o = c["outputs"][s];
      const auto ref = load_array(o["file"], o["shape"].get<std::vector<std::int64_t>>());
      REQUIRE(stages[s].sizes() == ref.sizes());
      const double scale = ref.abs().max().item<double>();
      const double diff = (stages[s] - ref).abs().max().item<double>();
      const double rel = diff / std::max(scale, 1e-12);
      std::cout << name << " " << spec.describe() << " stage " << s << ": max |diff| " << diff << ", output scale "
                << scale << ", relative " << rel << "\n";
      CHECK(scale > 0);
      CHECK(rel < 1e-4);
      worst = std::max(worst, rel);
    }
  }
  std::cout << "worst relative max |diff|: " << worst << "\n";
}
