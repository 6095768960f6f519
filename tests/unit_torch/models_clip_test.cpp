// CLIP in C++ (models/clip.hpp) and CLIP-ES (cam/clip_es.hpp): loading and its
// errors, the steps of the computation on hand-made inputs, determinism. The
// hidden [clip_python] case compares everything with an independent Python
// reference on a random CLIP saved like OpenAI's files
// (tests/python/run_clip_agreement.sh, ctest "python: clip_es").
#include <catch2/catch.hpp>

#include <torch/script.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "../unit/test_util.hpp"
#include "wsss/cam/clip_es.hpp"
#include "wsss/core/error.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/io/safetensors.hpp"
#include "wsss/models/clip.hpp"

using namespace wsss;
using namespace wsss::models;
using wsss_test::TempDir;

namespace {

using Tensors = std::vector<std::pair<std::string, torch::Tensor>>;

// A tiny random CLIP by state_dict name: vision 64 wide (1 head), `layers`
// blocks, patch 8 on a 3x3 pretrained grid; text 64 wide, 2 blocks, context 8.
Tensors tiny_clip(int layers = 3, std::int64_t width = 64, std::uint64_t seed = 7) {
  torch::manual_seed(seed);
  const std::int64_t T = 64, E = 32, P = 8, G = 3, C = 8, V = 100;
  Tensors t;
  auto add = [&](const std::string& n, std::vector<std::int64_t> shape, double std = 0.2, double mean = 0) {
    t.emplace_back(n, torch::randn(shape) * std + mean);
  };
  auto block = [&](const std::string& p, std::int64_t w) {
    add(p + "ln_1.weight", {w}, 0.1, 1);
    add(p + "ln_1.bias", {w}, 0.05);
    add(p + "attn.in_proj_weight", {3 * w, w}, 0.3);
    add(p + "attn.in_proj_bias", {3 * w}, 0.05);
    add(p + "attn.out_proj.weight", {w, w}, 0.1);
    add(p + "attn.out_proj.bias", {w}, 0.05);
    add(p + "ln_2.weight", {w}, 0.1, 1);
    add(p + "ln_2.bias", {w}, 0.05);
    add(p + "mlp.c_fc.weight", {4 * w, w}, 0.1);
    add(p + "mlp.c_fc.bias", {4 * w}, 0.05);
    add(p + "mlp.c_proj.weight", {w, 4 * w}, 0.05);
    add(p + "mlp.c_proj.bias", {w}, 0.05);
  };
  add("visual.conv1.weight", {width, 3, P, P}, 0.05);
  add("visual.class_embedding", {width});
  add("visual.positional_embedding", {G * G + 1, width});
  add("visual.ln_pre.weight", {width}, 0.1, 1);
  add("visual.ln_pre.bias", {width}, 0.05);
  for (int i = 0; i < layers; ++i) block("visual.transformer.resblocks." + std::to_string(i) + ".", width);
  add("visual.ln_post.weight", {width}, 0.1, 1);
  add("visual.ln_post.bias", {width}, 0.05);
  add("visual.proj", {width, E});
  add("token_embedding.weight", {V, T});
  add("positional_embedding", {C, T}, 0.01);
  for (int i = 0; i < 2; ++i) block("transformer.resblocks." + std::to_string(i) + ".", T);
  add("ln_final.weight", {T}, 0.1, 1);
  add("ln_final.bias", {T}, 0.05);
  add("text_projection", {T, E});
  t.emplace_back("logit_scale", torch::tensor(std::log(100.0f)));
  return t;
}

Tensors without(Tensors t, const std::string& name) {
  t.erase(std::remove_if(t.begin(), t.end(), [&](const auto& p) { return p.first == name; }), t.end());
  return t;
}

Tensors replaced(Tensors t, const std::string& name, torch::Tensor value) {
  for (auto& p : t)
    if (p.first == name) p.second = value;
  return t;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

cv::Mat random_image(int w, int h, unsigned seed) {
  cv::Mat m(h, w, CV_8UC3);
  cv::RNG rng(seed);
  rng.fill(m, cv::RNG::UNIFORM, 0, 256);
  cv::GaussianBlur(m, m, cv::Size(5, 5), 2);
  return m;
}

cam::ClipEsText random_text(std::int64_t classes, std::int64_t background, std::int64_t dim, std::uint64_t seed) {
  torch::manual_seed(seed);
  cam::ClipEsText t;
  t.foreground = torch::randn({classes, dim});
  t.foreground /= t.foreground.norm(2, 1, true);
  t.background = torch::randn({background, dim});
  t.background /= t.background.norm(2, 1, true);
  return t;
}

}  // namespace

TEST_CASE("clip model: architecture from the shapes", "[clip]") {
  ClipModel m = ClipModel::from_tensors(tiny_clip(3), "tiny.pt");
  const ClipConfig& c = m.config();
  CHECK(c.vision_width == 64);
  CHECK(c.vision_layers == 3);
  CHECK(c.vision_heads == 1);
  CHECK(c.patch_size == 8);
  CHECK(c.grid == 3);
  CHECK(c.text_width == 64);
  CHECK(c.text_layers == 2);
  CHECK(c.context_length == 8);
  CHECK(c.vocab_size == 100);
  CHECK(c.embed_dim == 32);
  CHECK(m.logit_scale() == Approx(100.0).epsilon(1e-6));
  CHECK(c.describe().find("patch 8") != std::string::npos);
  // Two heads at width 128.
  CHECK(ClipModel::from_tensors(tiny_clip(2, 128), "w128").config().vision_heads == 2);
}

TEST_CASE("clip model: what is not a ViT CLIP is one error naming the file", "[clip]") {
  auto error_for = [](const Tensors& t) { return error_of([&] { ClipModel::from_tensors(t, "dir/model.pt"); }); };
  std::string e = error_for(without(tiny_clip(), "visual.conv1.weight"));
  CHECK(e.find("dir/model.pt") != std::string::npos);
  CHECK(e.find("not a CLIP model: no tensor 'visual.conv1.weight'") != std::string::npos);
  CHECK(e.find('\n') == std::string::npos);
  CHECK(error_for(without(tiny_clip(), "text_projection")).find("no tensor 'text_projection'") != std::string::npos);
  CHECK(error_for(without(tiny_clip(), "visual.transformer.resblocks.1.mlp.c_fc.bias"))
            .find("no tensor 'visual.transformer.resblocks.1.mlp.c_fc.bias'") != std::string::npos);
  e = error_for(replaced(tiny_clip(), "visual.proj", torch::zeros({10, 32})));
  CHECK(e.find("tensor 'visual.proj' has shape [10,32]") != std::string::npos);
  CHECK(error_for(replaced(tiny_clip(), "visual.positional_embedding", torch::zeros({11, 64})))
            .find("not a square grid") != std::string::npos);
  Tensors resnet = without(tiny_clip(), "visual.conv1.weight");
  resnet.emplace_back("visual.attnpool.positional_embedding", torch::zeros({50, 64}));
  CHECK(error_for(resnet).find("ResNet CLIP") != std::string::npos);
  CHECK(error_for(tiny_clip(2, 96)).find("multiple of 64") != std::string::npos);
  Tensors gap = tiny_clip(3);
  for (auto& p : gap)
    if (p.first.rfind("visual.transformer.resblocks.1.", 0) == 0)
      p.first.replace(0, std::string("visual.transformer.resblocks.1.").size(), "visual.transformer.resblocks.5.");
  CHECK(error_for(gap).find("not numbered 0..2") != std::string::npos);
}

TEST_CASE("clip model: files (TorchScript, safetensors, other)", "[clip]") {
  TempDir dir;
  // A TorchScript module holding CLIP's tensors, float16 where OpenAI's are.
  Tensors t = tiny_clip(2);
  torch::jit::Module clip("Clip");
  std::map<std::string, torch::jit::Module> children;
  // Register each tensor on a module path matching its dotted name.
  for (auto& [name, value] : t) {
    std::vector<std::string> parts;
    std::stringstream ss(name);
    for (std::string s; std::getline(ss, s, '.');) parts.push_back(s);
    torch::jit::Module* m = &clip;
    std::string path;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      path += (path.empty() ? "" : ".") + parts[i];
      if (!children.count(path)) {
        children.emplace(path, torch::jit::Module("M_" + std::to_string(children.size())));
        m->register_module(parts[i], children.at(path));
      }
      m = &children.at(path);
    }
    bool half = name.find("proj") != std::string::npos || name.find("conv1") != std::string::npos;
    m->register_parameter(parts.back(), half ? value.to(torch::kHalf) : value, false);
  }
  clip.save((dir / "clip.pt").string());
  ClipModel from_jit = ClipModel::load(dir / "clip.pt");
  CHECK(from_jit.config().vision_layers == 2);
  ClipModel reference = ClipModel::from_tensors(t, "mem");

  // The same tensors in safetensors, float16 as well.
  std::vector<torch::Tensor> keep;
  std::vector<safetensors::TensorView> views;
  for (auto& [name, value] : t) {
    keep.push_back(value.to(torch::kHalf).contiguous());
    views.push_back({name, safetensors::DType::F16, keep.back().sizes().vec(), keep.back().data_ptr()});
  }
  safetensors::write(dir / "clip.safetensors", views);
  ClipModel from_st = ClipModel::load(dir / "clip.safetensors");

  torch::NoGradGuard no_grad;
  torch::Tensor img = torch::randn({1, 3, 24, 16});
  torch::Tensor a = from_jit.embed_image(img), b = from_st.embed_image(img);
  // Both went through float16; the float32 original differs by rounding only.
  CHECK(torch::allclose(a, reference.embed_image(img), 1e-2, 1e-2));
  torch::Tensor tokens = torch::tensor({1, 5, 99, 0, 0, 0, 0, 0}, torch::kLong).view({1, 8});
  CHECK(from_jit.encode_text(tokens).sizes() == std::vector<std::int64_t>{1, 32});

  // Not CLIP, not TorchScript, not a model at all: one line naming the file.
  torch::jit::Module other("Other");
  other.register_parameter("weight", torch::zeros({3}), false);
  other.save((dir / "other.pt").string());
  std::string e = error_of([&] { ClipModel::load(dir / "other.pt"); });
  CHECK(e.find("other.pt") != std::string::npos);
  CHECK(e.find("not a CLIP model") != std::string::npos);
  CHECK(e.find('\n') == std::string::npos);
  write_file_atomic(dir / "zip.pt", std::string("PK\x03\x04 not an archive", 22));
  e = error_of([&] { ClipModel::load(dir / "zip.pt"); });
  CHECK(e.find("zip.pt: not a TorchScript archive") != std::string::npos);
  CHECK(e.find('\n') == std::string::npos);
  write_file_atomic(dir / "junk.bin", std::string(64, 'x'));
  CHECK(error_of([&] { ClipModel::load(dir / "junk.bin"); }).find("junk.bin") != std::string::npos);
  CHECK(error_of([&] { ClipModel::load(dir / "absent.pt"); }).find("absent.pt: no such file") != std::string::npos);
}

TEST_CASE("clip-es input: PIL bicubic to multiples of the patch; too small is an error", "[clip]") {
  cv::Mat img = random_image(37, 20, 1);
  torch::Tensor x = clip_image_input(img, 16, "a.png");
  CHECK(x.sizes() == std::vector<std::int64_t>{1, 3, 32, 48});
  cv::Mat exact = random_image(32, 16, 2);
  torch::Tensor y = clip_image_input(exact, 16, "b.png");
  // No resize: the normalised pixel values themselves.
  float expected = (float(exact.at<cv::Vec3b>(3, 5)[1]) / 255.0f - kClipMean[1]) / kClipStd[1];
  CHECK(y[0][1][3][5].item<float>() == Approx(expected).margin(1e-6));
  std::string e = error_of([] { clip_image_input(random_image(15, 40, 3), 16, "dir/tiny.jpg"); });
  CHECK(e.find("dir/tiny.jpg") != std::string::npos);
  CHECK(e.find("15x40 image is smaller than one 16x16 patch") != std::string::npos);
}

TEST_CASE("clip-es positional embedding: CLIP-ES's bilinear resize, float16-rounded", "[clip]") {
  ClipModel m = ClipModel::from_tensors(tiny_clip(), "tiny");
  torch::NoGradGuard no_grad;
  // At the pretrained grid the table is unchanged (up to float16 rounding).
  torch::Tensor same = m.positional_embedding(3, 3);
  Tensors t = tiny_clip();
  torch::Tensor orig;
  for (auto& p : t)
    if (p.first == "visual.positional_embedding") orig = p.second;
  CHECK(torch::equal(same, orig.to(torch::kHalf).to(torch::kFloat)));
  torch::Tensor up = m.positional_embedding(5, 7);
  CHECK(up.sizes() == std::vector<std::int64_t>{36, 64});
  CHECK(torch::equal(up[0], orig[0].to(torch::kHalf).to(torch::kFloat)));
}

TEST_CASE("clip-es box mask: all contours' rectangles, the reference's exclusive extents", "[clip]") {
  // 6 x 8 CAM with two blobs; max 1 -> uint8 255, threshold 0.4 -> 102: > 102 is in.
  torch::Tensor cam = torch::zeros({6, 8});
  cam.slice(0, 1, 3).slice(1, 1, 4).fill_(0.9f);  // rows 1-2, cols 1-3
  cam[1][2] = 1.0f;
  cam.slice(0, 4, 6).slice(1, 6, 8).fill_(0.5f);  // rows 4-5, cols 6-7 (touches the border)
  cam[0][6] = 0.4f;                               // 0.4*255 = 102: not above the threshold
  torch::Tensor mask = cam::box_mask(cam, 0.4);
  torch::Tensor expected = torch::zeros({6, 8});
  // Blob 1: x 1..3, y 1..2 -> rect (1,1,3,2) -> fill [1:3, 1:4).
  expected.slice(0, 1, 3).slice(1, 1, 4).fill_(1);
  // Blob 2: x 6..7, y 4..5 -> x1 = min(8, 7) = 7, y1 = min(6, 5) = 5 -> [4:5, 6:7).
  expected.slice(0, 4, 5).slice(1, 6, 7).fill_(1);
  CHECK(torch::equal(mask, expected));
  // Nothing above the threshold: an empty mask.
  CHECK(cam::box_mask(torch::zeros({4, 4}), 0.4).sum().item<float>() == 0);
  // The uint8 truncation: 0.7 * 254 = 177.8 -> 177; 177/255 = 0.694... is out, 178/255 in.
  torch::Tensor c2 = torch::zeros({4, 4});
  c2[0][0] = 254.5f / 255;
  c2[2][2] = 178.2f / 255;
  c2[1][2] = 177.9f / 255;
  torch::Tensor m2 = cam::box_mask(c2, 0.7);
  CHECK(m2[0][0].item<float>() == 1);
  CHECK(m2[2][2].item<float>() == 1);
  CHECK(m2[1][2].item<float>() == 0);
}

TEST_CASE("clip-es affinity: normalisations, symmetry, square", "[clip]") {
  torch::manual_seed(3);
  torch::Tensor attn = torch::softmax(torch::randn({4, 10, 10}) * 3, -1);
  torch::Tensor t = cam::affinity_transition(attn);
  // In double, step by step.
  torch::Tensor a = attn.to(torch::kDouble).mean(0).slice(0, 1).slice(1, 1);
  for (int i = 0; i < 3; ++i) {
    a = a / a.sum(0, true);
    a = a / a.sum(1, true);
  }
  a = (a + a.t()) / 2;
  a = a.matmul(a);
  CHECK(t.sizes() == std::vector<std::int64_t>{9, 9});
  CHECK(torch::allclose(t.to(torch::kDouble), a, 1e-5, 1e-7));
  CHECK(torch::allclose(t, t.t(), 1e-5, 1e-7));
  torch::Tensor s = cam::scale_cam(torch::tensor({2.0f, 4.0f, 3.0f}));
  CHECK(s[0].item<float>() == 0);
  CHECK(s[1].item<float>() == Approx(1.0).epsilon(1e-6));
  CHECK(s[2].item<float>() == Approx(0.5).epsilon(1e-6));
}

TEST_CASE("clip-es maps: shapes, ranges, determinism, bad classes", "[clip]") {
  ClipModel m = ClipModel::from_tensors(tiny_clip(4), "tiny");
  cam::ClipEsText text = random_text(5, 6, 32, 11);
  cv::Mat img = random_image(45, 30, 9);
  cam::ClipEsOptions opt;
  cam::ClipEsMaps a = cam::clip_es_maps(m, text, img, {2, 4}, opt, "img.png");
  CHECK(a.gradcam.sizes() == std::vector<std::int64_t>{2, 4, 6});  // 32x48 input, patch 8
  CHECK(a.refined.sizes() == std::vector<std::int64_t>{2, 30, 45});
  CHECK(a.probabilities.size(0) == 2 + 6);
  CHECK(a.probabilities.sum().item<float>() == Approx(1.0).epsilon(1e-5));
  CHECK(a.refined.min().item<float>() >= 0);
  CHECK(a.refined.max().item<float>() <= 1.0f + 1e-6f);
  CHECK(a.gradcam.max().item<float>() <= 1.0f);
  // With 4 blocks, the affinity uses all of them.
  cam::ClipEsMaps b = cam::clip_es_maps(m, text, img, {2, 4}, opt, "img.png");
  CHECK(torch::equal(a.refined, b.refined));
  CHECK(torch::equal(a.gradcam, b.gradcam));
  // Each class's map does not depend on the other classes' channels except
  // through the softmax: class 4 alone differs from class 4 next to class 2.
  cam::ClipEsMaps c = cam::clip_es_maps(m, text, img, {4}, opt, "img.png");
  CHECK(c.probabilities.size(0) == 1 + 6);
  CHECK(error_of([&] { cam::clip_es_maps(m, text, img, {6}, opt, "x.png"); }).find("x.png: class id 6") !=
        std::string::npos);
  CHECK(error_of([&] { cam::clip_es_maps(m, text, img, {}, opt, "x.png"); }).find("x.png") != std::string::npos);
}

TEST_CASE("clip-es tags: threshold and the at-least-one rule", "[clip]") {
  ClipModel m = ClipModel::from_tensors(tiny_clip(2), "tiny");
  cam::ClipEsText text = random_text(5, 6, 32, 12);
  cv::Mat img = random_image(40, 40, 4);
  cam::ClipTagOptions opt;
  opt.threshold = 0.0;  // every class passes
  cam::ClipTags all = cam::clip_tags(m, text, img, opt, "img");
  CHECK(all.labels == std::vector<int>{1, 2, 3, 4, 5});
  REQUIRE(all.scores.size() == 5);
  opt.threshold = 1.1;  // none passes: the best class only
  cam::ClipTags one = cam::clip_tags(m, text, img, opt, "img");
  REQUIRE(one.labels.size() == 1);
  int best = int(std::max_element(all.scores.begin(), all.scores.end()) - all.scores.begin()) + 1;
  CHECK(one.labels[0] == best);
  opt.at_least_one = false;
  CHECK(cam::clip_tags(m, text, img, opt, "img").labels.empty());
  // p_c = softmax over [class c, background] at c, by hand.
  torch::NoGradGuard no_grad;
  torch::Tensor x = m.embed_image(clip_image_input(img, 8, "img"));
  for (int i = 0; i < 2; ++i) x = m.visual_block(i, x);
  torch::Tensor f = m.image_head(x, true);
  f = f / f.norm();
  torch::Tensor logits = torch::cat({text.foreground.slice(0, 2, 3), text.background}, 0).matmul(f) * 100.0f;
  CHECK(all.scores[2] == Approx(torch::softmax(logits, 0)[0].item<float>()).margin(1e-5));
}

// ---------------------------------------------------------------------------
// Agreement with the independent Python reference (tests/python/clip_reference.py).

namespace {

struct Diff {
  double max_abs = 0, max_ref = 0;
  double rel() const { return max_ref > 0 ? max_abs / max_ref : max_abs; }
};

Diff compare(const torch::Tensor& got, const ScoreMap& expected) {
  torch::Tensor e = torch::from_blob(const_cast<float*>(expected.data.data()), {std::int64_t(expected.data.size())},
                                     torch::kFloat32);
  torch::Tensor g = got.to(torch::kCPU, torch::kFloat32).contiguous().flatten();
  REQUIRE(g.numel() == e.numel());
  Diff d;
  d.max_abs = (g - e).abs().max().item<double>();
  d.max_ref = e.abs().max().item<double>();
  return d;
}

void merge(Diff& into, const Diff& d) {
  into.max_abs = std::max(into.max_abs, d.max_abs);
  into.max_ref = std::max(into.max_ref, d.max_ref);
}

}  // namespace

TEST_CASE("clip-es agrees with the independent Python reference", "[.][clip_python]") {
  const char* env = std::getenv("WSSS_CLIP_FIXTURE");
  const char* data = std::getenv("WSSS_CLIP_DATA");
  REQUIRE(env != nullptr);
  REQUIRE(data != nullptr);
  const fs::path dir = env;
  nlohmann::json j = nlohmann::json::parse(read_file(dir / "expected.json"));
  auto npy = [&](const std::string& name) { return read_npy(dir / (name + ".npy")); };

  ClipModel model = ClipModel::load(dir / "model.pt");
  ClipModel model_st = ClipModel::load(dir / "model.safetensors");
  const ClipConfig& c = model.config();
  CHECK(c.vision_width == j["config"]["vision_width"]);
  CHECK(c.vision_layers == j["config"]["vision_layers"]);
  CHECK(c.grid == j["config"]["grid"]);
  CHECK(c.text_layers == j["config"]["text_layers"]);
  CHECK(c.embed_dim == j["config"]["embed_dim"]);
  CHECK(float(model.logit_scale()) == j["logit_scale"].get<float>());

  // Text: the C++ tokenizer and text tower against CLIP's ids and the Python tower.
  text::ClipTokenizer tokenizer = text::ClipTokenizer::load(fs::path(data) / "bpe_simple_vocab_16e6.txt.gz");
  Vocabulary voc = Vocabulary::load(fs::path(WSSS_SOURCE_DIR) / "data_manifests" / "voc12" / "classes.json");
  text::ClipEsPrompts prompts =
      text::ClipEsPrompts::load(fs::path(WSSS_SOURCE_DIR) / "data_manifests" / "voc12" / "clip_es.json", voc);
  std::vector<std::string> all = prompts.foreground_prompts();
  for (const auto& b : prompts.background_prompts()) all.push_back(b);
  REQUIRE(all == j["prompts"].get<std::vector<std::string>>());
  torch::Tensor tokens = torch::zeros({std::int64_t(all.size()), c.context_length}, torch::kLong);
  for (std::size_t i = 0; i < all.size(); ++i) {
    auto ids = tokenizer.tokenize(all[i]);
    for (std::size_t k = 0; k < ids.size(); ++k) tokens[std::int64_t(i)][std::int64_t(k)] = ids[k];
  }
  torch::NoGradGuard no_grad_text;
  Diff text_diff = compare(model.encode_text(tokens), npy("text_raw"));
  Diff text_st = compare(model_st.encode_text(tokens), npy("text_raw"));
  cam::ClipEsText text = cam::encode_prompts(model, tokenizer, prompts);

  // CLIP's own image embedding (class token) at the pretrained resolution.
  cv::Mat native = read_image_rgb(dir / "native.png");
  Diff native_diff = compare(model.encode_image(clip_image_input(native, c.patch_size, "native.png")),
                             npy("native_embedding"));

  Diff feature, probs, gradcam, affinity, refined_grid, refined, tags;
  long masks_differ = 0, labels_differ = 0, labels_total = 0, near_ties = 0, near_tie_differ = 0;
  for (const auto& cs : j["cases"]) {
    const std::string name = cs["name"];
    std::vector<int> classes = cs["classes"].get<std::vector<int>>();
    cv::Mat rgb = read_image_rgb(dir / (name + ".png"));
    cam::ClipEsOptions opt;
    opt.box_threshold = j["box_threshold"].get<double>();
    cam::ClipEsMaps m = cam::clip_es_maps(model, text, rgb, classes, opt, name);
    merge(feature, compare(m.image_feature, npy(name + "_feature")));
    merge(probs, compare(m.probabilities, npy(name + "_probabilities")));
    merge(gradcam, compare(m.gradcam, npy(name + "_gradcam")));
    merge(affinity, compare(m.affinity, npy(name + "_affinity")));
    masks_differ += long(compare(m.box_masks, npy(name + "_box_masks")).max_abs > 0);
    merge(refined_grid, compare(m.refined_grid, npy(name + "_refined_grid")));
    merge(refined, compare(m.refined, npy(name + "_refined")));
    cam::ClipTagOptions topt;
    merge(tags, compare(torch::tensor(cam::clip_tags(model, text, rgb, topt, name).scores), npy(name + "_tags")));

    // Labels after the (1 - max)^1 background rule.
    torch::Tensor scores = torch::cat({(1 - std::get<0>(m.refined.max(0))).unsqueeze(0), m.refined}, 0);
    torch::Tensor arg = scores.argmax(0).flatten();
    ScoreMap expected_labels = npy(name + "_labels"), margin = npy(name + "_margin");
    std::vector<int> ids = {0};
    ids.insert(ids.end(), classes.begin(), classes.end());
    auto a = arg.accessor<std::int64_t, 1>();
    for (std::int64_t p = 0; p < arg.numel(); ++p) {
      bool differ = ids[std::size_t(a[p])] != int(expected_labels.data[std::size_t(p)]);
      bool tie = margin.data[std::size_t(p)] <= 1e-4f;
      labels_total += 1;
      labels_differ += differ;
      near_ties += tie;
      near_tie_differ += differ && tie;
    }
  }
  auto line = [](const char* what, const Diff& d) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%-26s max abs %.3g, max rel %.3g (max |ref| %.3g)", what, d.max_abs, d.rel(),
                  d.max_ref);
    return std::string(buf);
  };
  WARN("clip agreement:\n"
       << line("text embeddings", text_diff) << "\n"
       << line("text (safetensors)", text_st) << "\n"
       << line("image embedding (CLS)", native_diff) << "\n"
       << line("image feature (CLIP-ES)", feature) << "\n"
       << line("softmax scores", probs) << "\n"
       << line("GradCAM (grid)", gradcam) << "\n"
       << line("affinity", affinity) << "\n"
       << line("refined (grid, raw)", refined_grid) << "\n"
       << line("CAA-refined map (image)", refined) << "\n"
       << line("tag scores", tags) << "\n"
       << "box masks differing: " << masks_differ << "\n"
       << "labels differing: " << labels_differ << " of " << labels_total << " pixels (" << near_ties
       << " pixels within 1e-4 of a tie, " << near_tie_differ << " of them differ)");
  CHECK(text_diff.max_abs <= 1e-4);
  CHECK(text_st.max_abs <= 1e-4);
  CHECK(native_diff.max_abs <= 1e-4);
  CHECK(feature.max_abs <= 1e-4);
  CHECK(probs.max_abs <= 1e-4);
  CHECK(gradcam.max_abs <= 1e-4);
  CHECK(masks_differ == 0);
  CHECK(refined.max_abs <= 1e-4);
  CHECK(tags.max_abs <= 1e-4);
  // Identical labels wherever the reference's decision is not a tie within the
  // maps' tolerance (a tie may go either way on another CPU's rounding).
  CHECK(labels_differ - near_tie_differ == 0);
}
