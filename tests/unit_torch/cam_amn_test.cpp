// AMN (issue #13): the label-smoothed balanced loss by hand, the network's
// shapes and frozen parts, make_amn_cam's normalisation rule, and (hidden
// [amn_python], ctest "python: amn") agreement with an independent PyTorch
// reference of gaviotas/AMN on seeded weights (tests/python/amn_reference.py).
#include <catch2/catch.hpp>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "wsss/cam/amn.hpp"
#include "wsss/cam/cam.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/io/png.hpp"
#include "wsss/models/amn_net.hpp"
#include "wsss/train/losses.hpp"

using namespace wsss;

namespace {

models::AmnNet tiny_amn(std::int64_t k = 4, std::uint64_t seed = 5) {
  torch::manual_seed(seed);
  models::AmnNet net(models::ModelSpec::irn("resnet18", 8), k);
  // Larger head weights than the N(0, 0.01) start, so the maps are not flat.
  torch::NoGradGuard no_grad;
  for (auto& p : net->aspp->parameters()) p.normal_(0, 0.2);
  return net;
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

torch::Tensor npy_tensor(const fs::path& file) {
  ScoreMap m = read_npy(file);
  return torch::from_blob(m.data.data(), m.shape, torch::kFloat32).clone();
}

}  // namespace

TEST_CASE("label-smoothed balanced cross-entropy by hand", "[amn]") {
  // Two pixels: background (label 0) and class 2, 3 channels, e = 0.4: targets
  // 0.6 on the label and 0.2 on each other channel; one ignored pixel.
  torch::Tensor logits = torch::tensor({1.0, 0.5, -1.0, 2.0, 0.0, 0.3, 4.0, 4.0, 4.0}).view({1, 3, 1, 3});
  torch::Tensor labels = torch::tensor({0L, 2L, 255L}).view({1, 1, 3});
  auto pixel = [&](int p, int label) {
    double l[3], m = -1e9, s = 0;
    for (int c = 0; c < 3; ++c) m = std::max(m, l[c] = logits[0][c][0][p].item<double>());
    for (double v : l) s += std::exp(v - m);
    double loss = 0;
    for (int c = 0; c < 3; ++c) loss -= (c == label ? 0.6 : 0.2) * (l[c] - m - std::log(s));
    return loss;
  };
  const double want = (pixel(0, 0) + pixel(1, 2)) / 2;
  CHECK(train::balanced_cross_entropy(logits, labels, 255, {}, 0.4).item<double>() == Approx(want).epsilon(1e-6));
  // e = 0 is the plain balanced CE.
  CHECK(train::balanced_cross_entropy(logits, labels, 255, {}, 0.0).item<double>() ==
        Approx(train::balanced_cross_entropy(logits, labels).item<double>()));
  // Only background: its mean alone (the reference divides 0 by 0).
  torch::Tensor bg_only = torch::tensor({0L, 255L, 255L}).view({1, 1, 3});
  CHECK(train::balanced_cross_entropy(logits, bg_only, 255, {}, 0.4).item<double>() == Approx(pixel(0, 0)).epsilon(1e-6));
}

TEST_CASE("AMN network: shapes, frozen stem, the two parameter groups", "[amn]") {
  models::AmnNet net = tiny_amn();
  net->eval();
  torch::Tensor x = torch::randn({2, 3, 64, 48});
  torch::Tensor y = torch::tensor({1.f, 0.f, 1.f, 0.f, 0.f, 0.f, 0.f, 1.f}).view({2, 4});
  torch::Tensor logits = net->forward(x, y);
  CHECK(logits.sizes() == torch::IntArrayRef({2, 5, 4, 3}));  // output stride 16, K + 1 channels
  // The label vector conditions the output.
  CHECK(max_abs_diff(net->forward(x, y), net->forward(x, y.flip({0}))) > 1e-4);
  // Eval mode is deterministic; a dropout generator changes the logits reproducibly.
  CHECK(max_abs_diff(net->forward(x, y), logits) == 0.0);
  auto g1 = at::make_generator<at::CPUGeneratorImpl>(7), g2 = at::make_generator<at::CPUGeneratorImpl>(7);
  torch::Tensor d1 = net->forward(x, y, g1), d2 = net->forward(x, y, g2);
  CHECK(max_abs_diff(d1, d2) == 0.0);
  CHECK(max_abs_diff(d1, logits) > 1e-5);
  CHECK_THROWS(net->forward(x, torch::zeros({2, 3})));
  // conv1 and bn1 never train; every other backbone parameter (BN affine included) does.
  std::size_t frozen = 0, trainable = 0;
  for (const auto& p : net->backbone->named_parameters()) {
    const bool stem = p.key().rfind("conv1.", 0) == 0 || p.key().rfind("bn1.", 0) == 0;
    CHECK(p.value().requires_grad() == !stem);
    (stem ? frozen : trainable) += 1;
  }
  CHECK(frozen == 3);
  CHECK(net->backbone_parameters().size() == trainable);
  CHECK(net->head_parameters().size() == 2 + 2 * 4);  // label_enc weight/bias, 4 ASPP branches
}

TEST_CASE("make_amn_cam: softmax where the IR label is background, min-max elsewhere", "[amn]") {
  models::AmnNet net = tiny_amn();
  net->eval();
  const int h = 37, w = 45;
  cv::Mat rgb(h, w, CV_8UC3);
  cv::randu(rgb, 0, 255);
  cv::Mat ir(h, w, CV_8UC1, cv::Scalar(0));
  ir(cv::Rect(10, 5, 20, 20)).setTo(3);
  ir(cv::Rect(0, 30, 45, 7)).setTo(255);
  const std::vector<int> labels = {1, 3};
  std::vector<torch::Tensor> inputs = {cam::scale_batch(rgb, 1.0, true), cam::scale_batch(rgb, 0.5, true)};
  cam::AmnCam c = cam::amn_cam(*net, inputs, labels, ir, true, true, torch::kCPU);
  REQUIRE(c.high_res.sizes() == torch::IntArrayRef({3, h, w}));
  REQUIRE(c.low_res.sizes() == torch::IntArrayRef({3, (h - 1) / 4 + 1, (w - 1) / 4 + 1}));
  // By hand: the averaged logits' softmax.
  torch::NoGradGuard no_grad;
  torch::Tensor v = cam::label_vector(labels, 4).unsqueeze(0).expand({2, -1});
  torch::Tensor sum;
  for (const auto& x : inputs) {
    torch::Tensor l = net->forward(x, v);
    torch::Tensor m = ((l[0] + l[1].flip({2})) / 2).unsqueeze(0);
    m = torch::nn::functional::interpolate(
        m, torch::nn::functional::InterpolateFuncOptions().size(std::vector<std::int64_t>{h, w}).mode(torch::kBilinear)
               .align_corners(false));
    sum = sum.defined() ? sum + m : m;
  }
  torch::Tensor prob = torch::softmax(sum[0] / 2, 0).index_select(0, torch::tensor({0L, 1L, 3L}));
  torch::Tensor bg = torch::from_blob(ir.data, {h, w}, torch::kUInt8).eq(0);
  for (int ch = 0; ch < 3; ++ch) {
    torch::Tensor p = prob[ch], got = c.high_res[ch];
    CHECK(max_abs_diff(got.masked_select(bg), p.masked_select(bg)) < 1e-6);
    torch::Tensor norm = (p - p.min()) / (p.max() - p.min() + 1e-5);
    CHECK(max_abs_diff(got.masked_select(~bg), norm.masked_select(~bg)) < 1e-6);
  }
  // No flip, no lowres.
  cam::AmnCam single = cam::amn_cam(*net, {cam::scale_batch(rgb, 1.0, false)}, labels, ir, false, false, torch::kCPU);
  CHECK(!single.low_res.defined());
  CHECK(single.high_res.size(0) == 3);
}

TEST_CASE("AMN agrees with the independent Python reference", "[.][amn_python]") {
  const char* env = std::getenv("WSSS_AMN_FIXTURE");
  REQUIRE(env != nullptr);
  const fs::path dir = env;
  std::ifstream in(dir / "expected.json");
  nlohmann::json j = nlohmann::json::parse(in);
  models::LoadedAmn loaded = models::load_amn_net(dir / "model.safetensors");
  models::AmnNetImpl& net = *loaded.net;
  const std::int64_t k = j["num_foreground"];
  REQUIRE(net.num_foreground() == k);

  // The loss of one batch (eval mode: dropout off on both sides).
  const std::int64_t crop = j["crop"];
  torch::Tensor images = npy_tensor(dir / "batch_images.npy").view({2, 3, crop, crop});
  torch::Tensor vectors = npy_tensor(dir / "batch_labels.npy").view({2, k});
  torch::Tensor ir = npy_tensor(dir / "batch_ir.npy").to(torch::kLong);
  torch::NoGradGuard no_grad;
  const double loss = cam::amn_loss(net, images, vectors, ir, j["smoothing"]).item<double>();
  const double want = j["loss"];
  INFO("loss " << loss << " reference " << want);
  CHECK(std::abs(loss - want) <= 1e-4 * std::abs(want));

  // make_amn_cam at scale 1 with the flip.
  cv::Mat rgb = read_image_rgb(dir / "image.png");
  Mask m = read_mask(dir / "ir_label.png");
  cv::Mat ir_label(m.height, m.width, CV_8UC1, m.data.data());
  const std::vector<int> labels = j["labels"];
  cam::AmnCam c = cam::amn_cam(net, {cam::scale_batch(rgb, 1.0, true)}, labels, ir_label, true, true, torch::kCPU);
  torch::Tensor high = npy_tensor(dir / "cam_high.npy"), low = npy_tensor(dir / "cam_low.npy");
  REQUIRE(c.high_res.sizes() == high.sizes());
  REQUIRE(c.low_res.sizes() == low.sizes());
  const double dh = max_abs_diff(c.high_res, high), dl = max_abs_diff(c.low_res, low);
  INFO("max |difference|: high_res " << dh << ", stride-4 " << dl);
  CHECK(dh < 1e-4);
  CHECK(dl < 1e-4);
  // The maps are not trivial: both rules occur, and values spread.
  CHECK(high.max().item<double>() > 0.9);
  CHECK(high.min().item<double>() < 0.1);
  std::printf("amn agreement: loss %.7g vs %.7g (relative %.2g); maps max |diff| %.2g (high_res), %.2g (stride 4)\n",
              loss, want, std::abs(loss - want) / std::abs(want), dh, dl);
}
