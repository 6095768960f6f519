// SamModel: the interface check, SAM's coordinate arithmetic, postprocessing
// geometry and the embedding reuse, with TorchScript modules defined here
// (torch::jit::Module::define, no Python). The hidden [sam_python] cases compare
// the pre- and post-processing with segment_anything's code paths computed in
// Python (tests/python/run_sam_agreement.sh).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../unit/test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/models/sam.hpp"

using namespace wsss;
using namespace wsss::models;
using wsss_test::TempDir;

namespace {

const char* kEmbed = R"(
def embed(self, image: Tensor) -> Tensor:
    self.embed_calls += 1
    return torch.avg_pool2d(image, [16, 16])
)";

// Saves a module with the given methods and attributes; returns its path.
fs::path save_module(const TempDir& dir, const std::string& name, const std::string& source, int version = 1,
                     const std::string& frame = "") {
  torch::jit::Module m("Fixture");
  if (version >= 0) m.register_attribute("sam_interface", c10::IntType::get(), version);
  if (!frame.empty()) m.register_attribute("input_frame", c10::StringType::get(), frame);
  m.register_attribute("embed_calls", c10::IntType::get(), 0);
  m.register_attribute("decode_calls", c10::IntType::get(), 0);
  m.define(source);
  fs::path file = dir / name;
  m.save(file.string());
  return file;
}

// decode: logits from a given expression over n prompts, M = 1 or 3.
std::string decode_source(const std::string& single, const std::string& multi, const std::string& iou_multi) {
  return std::string(kEmbed) + R"(
def decode(self, embeddings: Tensor, boxes: Tensor, points: Tensor, point_labels: Tensor, multimask: bool) -> Tuple[Tensor, Tensor]:
    self.decode_calls += 1
    n = points.size(0)
    if multimask:
        return )" + multi + ", " + iou_multi + R"(
    return )" + single + R"(, torch.full([n, 1], 0.8)
)";
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

Prompt box_prompt(float x0, float y0, float x1, float y1) {
  Prompt p;
  p.class_id = 1;
  p.box = Box{x0, y0, x1, y1};
  p.origin = "test box";
  return p;
}

}  // namespace

TEST_CASE("SamModel rejects files without the SAM interface, naming the file", "[sam]") {
  TempDir dir;
  const std::string good = decode_source("torch.ones([n, 1, 256, 256])", "torch.ones([n, 3, 256, 256])",
                                         "torch.ones([n, 3])");
  auto check = [&](const fs::path& file, const std::string& fragment) {
    std::string msg = error_of([&] { SamModel(file, "cpu"); });
    INFO(msg);
    CHECK(msg.rfind(file.string() + ": ", 0) == 0);
    CHECK(msg.find(fragment) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
  };
  check(dir / "missing.pt", "no such file");
  {
    std::ofstream(dir / "garbage.pt") << "not a zip archive";
    check(dir / "garbage.pt", "not a TorchScript file");
  }
  check(save_module(dir, "no_version.pt", good, -1), "no int attribute 'sam_interface'");
  check(save_module(dir, "version2.pt", good, 2), "sam_interface 2 is not supported");
  check(save_module(dir, "no_decode.pt", kEmbed), "no method 'decode'");
  check(save_module(dir, "bad_decode.pt", std::string(kEmbed) + R"(
def decode(self, embeddings: Tensor, boxes: Tensor) -> Tensor:
    return boxes
)"),
        "method 'decode' is decode(");
  check(save_module(dir, "bad_return.pt", std::string(kEmbed) + R"(
def decode(self, embeddings: Tensor, boxes: Tensor, points: Tensor, point_labels: Tensor, multimask: bool) -> Tensor:
    return boxes
)"),
        "expected decode(embeddings: Tensor, boxes: Tensor, points: Tensor, point_labels: Tensor, multimask: bool)");
  check(save_module(dir, "bad_frame.pt", good, 1, "square"), "input_frame must be");
  CHECK_NOTHROW(SamModel(save_module(dir, "good.pt", good), "cpu"));
}

TEST_CASE("SamModel transforms sizes and prompts as ResizeLongestSide", "[sam]") {
  TempDir dir;
  const std::string src = decode_source("torch.ones([n, 1, 256, 256])", "torch.ones([n, 3, 256, 256])",
                                        "torch.ones([n, 3])");
  SamModel pad(save_module(dir, "pad.pt", src), "cpu");
  CHECK(pad.frame() == SamFrame::Pad);
  CHECK(pad.input_size(375, 500) == cv::Size(1024, 768));
  CHECK(pad.input_size(500, 333) == cv::Size(682, 1024));  // 333 * 2.048 = 681.98 -> int(682.48)
  CHECK(pad.input_size(17, 1200) == cv::Size(1024, 15));   // 14.507 -> int(15.007)
  auto p = pad.to_input_frame(250, 100, 375, 500);
  CHECK(p[0] == 512.0f);
  CHECK(p[1] == float(100.0 * (768.0 / 375.0)));
  SamModel stretch(save_module(dir, "stretch.pt", src, 1, "stretch"), "cpu");
  CHECK(stretch.input_size(375, 500) == cv::Size(1024, 1024));
  auto q = stretch.to_input_frame(250, 100, 375, 500);
  CHECK(q[0] == 512.0f);
  CHECK(q[1] == (100.0f * 1024.0f) / 375.0f);
  CHECK(pad.preprocess(cv::Mat(375, 500, CV_8UC3, cv::Scalar(0, 0, 0))).sizes() == torch::IntArrayRef({1, 3, 1024, 1024}));
}

TEST_CASE("SamModel embeds once per image and decodes each prompt shape in one batch", "[sam]") {
  TempDir dir;
  SamModel model(save_module(dir, "count.pt", decode_source("torch.ones([n, 1, 256, 256])",
                                                            "torch.ones([n, 3, 256, 256])", "torch.ones([n, 3])")),
                 "cpu");
  cv::Mat rgb(30, 40, CV_8UC3, cv::Scalar(10, 20, 30));
  SamImage image = model.embed(rgb);
  CHECK(image.embeddings.sizes() == torch::IntArrayRef({1, 3, 64, 64}));
  std::vector<Prompt> prompts = {box_prompt(1, 1, 10, 10), box_prompt(5, 5, 39, 29), box_prompt(0, 0, 2, 2)};
  Prompt pts;
  pts.class_id = 2;
  pts.points = {{3, 4}, {20, 10}};
  pts.point_labels = {1, 0};
  prompts.insert(prompts.begin() + 1, pts);
  std::vector<SamMask> masks = model.predict(image, prompts, false);
  REQUIRE(masks.size() == 4);
  for (const SamMask& m : masks) {
    CHECK(m.mask == std::vector<std::uint8_t>(30 * 40, 1));
    CHECK(m.iou == Approx(0.8f));
  }
  CHECK(model.module().attr("embed_calls").toInt() == 1);
  CHECK(model.module().attr("decode_calls").toInt() == 2);  // the three boxes together, the points alone
  CHECK(model.embed_calls() == 1);
}

TEST_CASE("SamModel crops the padding before resizing to the image", "[sam]") {
  TempDir dir;
  // Positive logits over the left half of the low-res frame only. A 100x50 image
  // fills exactly that half of the padded input, so the mask must be all ones;
  // without the crop, the right half of the image would be 0.
  SamModel model(save_module(dir, "half.pt", decode_source(
                     "torch.cat([torch.ones([n, 1, 256, 128]), -torch.ones([n, 1, 256, 128])], 3)",
                     "torch.ones([n, 3, 256, 256])", "torch.ones([n, 3])")),
                 "cpu");
  SamImage image = model.embed(cv::Mat(100, 50, CV_8UC3, cv::Scalar(0, 0, 0)));
  CHECK(image.input_height == 1024);
  CHECK(image.input_width == 512);
  auto masks = model.predict(image, {box_prompt(0, 0, 50, 100)}, false);
  CHECK(masks[0].mask == std::vector<std::uint8_t>(100 * 50, 1));
}

TEST_CASE("SamModel with multimask keeps the mask of the highest predicted IoU", "[sam]") {
  TempDir dir;
  SamModel model(save_module(dir, "multi.pt", decode_source(
                     "-torch.ones([n, 1, 256, 256])",
                     "torch.cat([-torch.ones([n, 1, 256, 256]), torch.ones([n, 1, 256, 256]), "
                     "-torch.ones([n, 1, 256, 256])], 1)",
                     "torch.tensor([[0.2, 0.9, 0.9]]).expand(n, 3)")),
                 "cpu");
  SamImage image = model.embed(cv::Mat(20, 20, CV_8UC3, cv::Scalar(0, 0, 0)));
  auto one = model.predict(image, {box_prompt(2, 2, 8, 8)}, false);
  CHECK(one[0].index == 0);
  CHECK(one[0].mask == std::vector<std::uint8_t>(400, 0));
  auto best = model.predict(image, {box_prompt(2, 2, 8, 8)}, true);
  CHECK(best[0].index == 1);  // the first of the equal best scores
  CHECK(best[0].iou == Approx(0.9f));
  CHECK(best[0].mask == std::vector<std::uint8_t>(400, 1));
}

TEST_CASE("SamModel reports decode outputs of the wrong shape, naming the file", "[sam]") {
  TempDir dir;
  fs::path file = save_module(dir, "shape.pt", decode_source("torch.ones([n, 2, 256, 256])",
                                                             "torch.ones([n, 3, 256, 256])", "torch.ones([n, 2])"));
  SamModel model(file, "cpu");
  SamImage image = model.embed(cv::Mat(20, 20, CV_8UC3, cv::Scalar(0, 0, 0)));
  std::string single = error_of([&] { model.predict(image, {box_prompt(2, 2, 8, 8)}, false); });
  CHECK(single.rfind(file.string() + ": decode returned masks [1, 2, 256, 256] and iou [1, 1]", 0) == 0);
  std::string multi = error_of([&] { model.predict(image, {box_prompt(2, 2, 8, 8)}, true); });
  CHECK(multi.find("decode returned masks [1, 3, 256, 256] and iou [1, 2]") != std::string::npos);
}

// Agreement with segment_anything / EfficientSAM computed in Python by
// tests/python/sam_fixture.py numerics (run by tests/python/run_sam_agreement.sh).
TEST_CASE("SamModel pre- and post-processing equal the Python reference", "[.][sam_python]") {
  const char* env = std::getenv("WSSS_SAM_FIXTURE");
  REQUIRE(env != nullptr);
  fs::path dir(env);
  auto cases = nlohmann::json::parse(std::ifstream(dir / "cases.json"))["cases"];
  for (const char* frame : {"pad", "stretch"}) {
    SamModel model(dir / (std::string(frame) == "pad" ? "field.pt" : "field_stretch.pt"), "cpu");
    for (std::size_t i = 0; i < cases.size(); ++i) {
      const std::string tag = std::to_string(i) + "_" + frame;
      cv::Mat rgb = read_image_rgb(dir / ("image" + std::to_string(i) + ".png"));
      ScoreMap want = read_npy(dir / ("input" + tag + ".npy"));
      torch::Tensor got = model.preprocess(rgb)[0].contiguous();
      torch::Tensor ref = torch::from_blob(want.data.data(), {3, want.height(), want.width()}, torch::kFloat32);
      double input_diff = (got - ref).abs().max().item<double>();
      ScoreMap low = read_npy(dir / ("low" + tag + ".npy"));
      ScoreMap logits = read_npy(dir / ("logits" + tag + ".npy"));
      SamImage image;
      image.height = rgb.rows;
      image.width = rgb.cols;
      cv::Size in = model.input_size(rgb.rows, rgb.cols);
      image.input_height = in.height;
      image.input_width = in.width;
      torch::Tensor out = model.postprocess(
          torch::from_blob(low.data.data(), {low.channels(), low.height(), low.width()}, torch::kFloat32), image);
      torch::Tensor expect =
          torch::from_blob(logits.data.data(), {logits.channels(), logits.height(), logits.width()}, torch::kFloat32);
      double logit_diff = (out - expect).abs().max().item<double>();
      std::int64_t flips = (std::string(frame) == "pad" ? out.gt(0).ne(expect.gt(0)) : out.ge(0).ne(expect.ge(0)))
                               .sum().item<std::int64_t>();
      INFO("case " << tag << " (" << rgb.rows << "x" << rgb.cols << "): input max |diff| " << input_diff
                   << ", logits max |diff| " << logit_diff << ", mask pixels differing " << flips);
      WARN("sam agreement " << tag << ": input max |diff| " << input_diff << ", logits max |diff| " << logit_diff
                            << ", mask pixels differing " << flips << " of " << out.numel());
      CHECK(input_diff == 0.0);
      CHECK(logit_diff <= 1e-5);
      CHECK(flips == 0);
    }
  }
}
