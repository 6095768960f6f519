#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>
#include <set>

#include "../unit/test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/data/transforms.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/weights.hpp"
#include "wsss/seg/deeplab.hpp"
#include "wsss/seg/train.hpp"
#include "wsss/seg/predict.hpp"

using namespace wsss;
using namespace wsss::seg;
using wsss_test::TempDir;

namespace {

DeepLabV2 tiny_net(std::int64_t classes = 5, std::uint64_t seed = 3) {
  torch::manual_seed(seed);
  return DeepLabV2(models::ModelSpec::deeplab("resnet18", 8), classes);
}

// -log softmax(logits)[label], in double precision from scratch.
double hand_ce(const std::vector<double>& logits, int label) {
  double m = *std::max_element(logits.begin(), logits.end()), sum = 0;
  for (double v : logits) sum += std::exp(v - m);
  return m + std::log(sum) - logits[std::size_t(label)];
}

// Logits [1, 3, 1, 4] (3 classes, 4 pixels) from pixel-major values.
torch::Tensor logits_1x4(const std::vector<std::vector<double>>& pixels) {
  torch::Tensor t = torch::zeros({1, 3, 1, 4});
  for (int p = 0; p < 4; ++p)
    for (int c = 0; c < 3; ++c) t[0][c][0][p] = pixels[std::size_t(p)][std::size_t(c)];
  return t;
}

const std::vector<std::vector<double>> kPixels = {{2.0, -1.0, 0.5}, {0.1, 1.5, -0.3}, {-2.0, 0.2, 3.0}, {5.0, -5.0, 0.0}};

}  // namespace

TEST_CASE("deeplab: logits have K+1 channels at output stride 8", "[seg]") {
  DeepLabV2 net = tiny_net(5);
  net->eval();
  torch::NoGradGuard g;
  CHECK(net->backbone->spec().output_stride() == 8);
  torch::Tensor y = net->forward(torch::randn({2, 3, 64, 64}));
  CHECK(y.sizes() == torch::IntArrayRef({2, 5, 8, 8}));
  // 65 -> conv1 33 -> maxpool 17 -> layer2 9 (PyTorch's floor arithmetic with padding).
  y = net->forward(torch::randn({1, 3, 65, 48}));
  CHECK(y.sizes() == torch::IntArrayRef({1, 5, 9, 6}));
}

TEST_CASE("deeplab: ASPP is the sum of four dilated 3x3 convolutions", "[seg]") {
  DeepLabV2 net = tiny_net(4);
  net->eval();
  torch::NoGradGuard g;
  REQUIRE(net->aspp->branches.size() == 4);
  // Non-zero biases so that a missing bias would show.
  for (auto& conv : net->aspp->branches) conv->bias.normal_(0, 0.5);
  torch::Tensor x = torch::randn({1, 3, 96, 80});
  torch::Tensor features = net->backbone->forward(x);
  const int rates[4] = {6, 12, 18, 24};
  torch::Tensor expected = torch::zeros({1, 4, features.size(2), features.size(3)});
  for (int i = 0; i < 4; ++i) {
    auto& conv = net->aspp->branches[std::size_t(i)];
    expected += torch::conv2d(features, conv->weight, conv->bias, /*stride=*/1, /*padding=*/rates[i],
                              /*dilation=*/rates[i]);
  }
  torch::Tensor got = net->forward(x);
  CHECK((got - expected).abs().max().item<double>() < 1e-5);
  // One branch alone is not the output (the comparison above can fail).
  torch::Tensor one = torch::conv2d(features, net->aspp->branches[0]->weight, net->aspp->branches[0]->bias, 1, 6, 6);
  CHECK((got - one).abs().max().item<double>() > 1e-3);

  // Names as deeplab-pytorch's _ASPP and init N(0, 0.01) / 0.
  auto names = models::state_dict(*net);
  bool found = false;
  for (const auto& [name, t] : names) found = found || name == "aspp.c3.bias";
  CHECK(found);
  DeepLabV2 fresh(models::ModelSpec::deeplab("resnet50", 16), 21);
  torch::Tensor w = fresh->aspp->branches[0]->weight;
  CHECK(std::abs(w.std().item<double>() - 0.01) < 0.001);
  CHECK(std::abs(w.mean().item<double>()) < 0.001);
  CHECK(fresh->aspp->branches[2]->bias.abs().max().item<double>() == 0.0);
}

TEST_CASE("deeplab: BatchNorm is frozen in training mode", "[seg]") {
  DeepLabV2 net = tiny_net(3);
  net->train();
  auto bns = net->backbone->batchnorms();
  REQUIRE(!bns.empty());
  for (auto& bn : bns) {
    CHECK_FALSE(bn->is_training());
    CHECK_FALSE(bn->weight.requires_grad());
    CHECK_FALSE(bn->bias.requires_grad());
  }
  torch::Tensor before = bns[0]->running_mean.clone();
  net->forward(torch::randn({2, 3, 32, 32}) * 3 + 1).sum().backward();
  CHECK(torch::equal(before, bns[0]->running_mean));
  CHECK_FALSE(bns[0]->weight.grad().defined());
  CHECK(net->aspp->branches[0]->weight.grad().defined());
}

TEST_CASE("deeplab: parameter groups, multipliers and weight decay", "[seg]") {
  DeepLabV2 net = tiny_net(3);
  ParameterGroups groups = parameter_groups(*net);
  // resnet18: conv1, 8 blocks x 2 convs, 3 downsample convs.
  CHECK(groups.backbone_weights.size() == 20);
  CHECK(groups.aspp_weights.size() == 4);
  CHECK(groups.aspp_biases.size() == 4);
  std::size_t in_groups = groups.backbone_weights.size() + groups.aspp_weights.size() + groups.aspp_biases.size();
  std::size_t trainable = 0;
  for (const auto& p : net->parameters()) trainable += p.requires_grad() ? 1 : 0;
  CHECK(in_groups == trainable);  // every trainable tensor, each once; no BN
  for (const auto& t : groups.backbone_weights) CHECK(t.dim() == 4);

  SegTrainOptions o;
  o.lr = 0.01;
  auto sgd = make_optimizer(*net, o);
  REQUIRE(sgd->param_groups().size() == 3);
  auto opt = [&](int g) { return static_cast<torch::optim::SGDOptions&>(sgd->param_groups()[std::size_t(g)].options()); };
  CHECK(opt(0).lr() == Approx(0.01));
  CHECK(opt(1).lr() == Approx(0.1));
  CHECK(opt(2).lr() == Approx(0.2));
  CHECK(opt(0).weight_decay() == Approx(5e-4));
  CHECK(opt(1).weight_decay() == Approx(5e-4));
  CHECK(opt(2).weight_decay() == 0.0);
  for (int g = 0; g < 3; ++g) CHECK(opt(g).momentum() == Approx(0.9));
  CHECK(sgd->param_groups()[2].params().size() == 4);
  CHECK(sgd->param_groups()[2].params()[0].dim() == 1);
}

TEST_CASE("deeplab: poly learning rate steps every lr_decay_every iterations", "[seg]") {
  SegTrainOptions o;
  o.iters = 100;
  CHECK(train::lr_factor(0, deeplab_schedule(o), o.poly_power) == 1.0);
  CHECK(train::lr_factor(9, deeplab_schedule(o), o.poly_power) == 1.0);
  CHECK(train::lr_factor(10, deeplab_schedule(o), o.poly_power) == Approx(std::pow(0.9, 0.9)));
  CHECK(train::lr_factor(19, deeplab_schedule(o), o.poly_power) == Approx(std::pow(0.9, 0.9)));
  CHECK(train::lr_factor(95, deeplab_schedule(o), o.poly_power) == Approx(std::pow(0.1, 0.9)));
  o.lr_decay_every = 1;
  CHECK(train::lr_factor(95, deeplab_schedule(o), o.poly_power) == Approx(std::pow(0.05, 0.9)));
}

TEST_CASE("deeplab: cross-entropy ignores 255", "[seg]") {
  torch::Tensor logits = logits_1x4(kPixels);
  torch::Tensor labels = torch::tensor({0, 1, 2, 255}, torch::kLong).view({1, 1, 4});
  double expected = (hand_ce(kPixels[0], 0) + hand_ce(kPixels[1], 1) + hand_ce(kPixels[2], 2)) / 3;
  CHECK(cross_entropy(logits, labels).item<double>() == Approx(expected).epsilon(1e-5));
  // The ignored pixel's logits do not matter.
  torch::Tensor changed = logits.clone();
  changed[0][1][0][3] = 100.0;
  CHECK(cross_entropy(changed, labels).item<double>() == Approx(expected).epsilon(1e-5));
  // Same as torch's CrossEntropyLoss(ignore_index=255).
  namespace F = torch::nn::functional;
  double torch_ce = F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions().ignore_index(255)).item<double>();
  CHECK(cross_entropy(logits, labels).item<double>() == Approx(torch_ce).epsilon(1e-6));
  // All ignored: 0, and still differentiable.
  torch::Tensor l = logits.clone().requires_grad_(true);
  torch::Tensor none = cross_entropy(l, torch::full({1, 1, 4}, 255, torch::kLong));
  CHECK(none.item<double>() == 0.0);
  none.backward();
  CHECK(l.grad().abs().sum().item<double>() == 0.0);
}

TEST_CASE("deeplab: balanced cross-entropy is the mean of background and foreground CE", "[seg]") {
  torch::Tensor logits = logits_1x4(kPixels);
  // One background pixel, two foreground pixels, one ignored.
  torch::Tensor labels = torch::tensor({0, 1, 2, 255}, torch::kLong).view({1, 1, 4});
  double bg = hand_ce(kPixels[0], 0);
  double fg = (hand_ce(kPixels[1], 1) + hand_ce(kPixels[2], 2)) / 2;
  CHECK(balanced_cross_entropy(logits, labels).item<double>() == Approx((bg + fg) / 2).epsilon(1e-5));
  // Differs from the plain CE here (1 bg vs 2 fg pixels), so the test can fail.
  CHECK(std::abs(balanced_cross_entropy(logits, labels).item<double>() - cross_entropy(logits, labels).item<double>()) > 1e-3);
  // Three background pixels, one foreground.
  labels = torch::tensor({0, 0, 2, 0}, torch::kLong).view({1, 1, 4});
  bg = (hand_ce(kPixels[0], 0) + hand_ce(kPixels[1], 0) + hand_ce(kPixels[3], 0)) / 3;
  fg = hand_ce(kPixels[2], 2);
  CHECK(balanced_cross_entropy(logits, labels).item<double>() == Approx((bg + fg) / 2).epsilon(1e-5));
  // Only foreground: the foreground mean alone.
  labels = torch::tensor({1, 255, 2, 1}, torch::kLong).view({1, 1, 4});
  fg = (hand_ce(kPixels[0], 1) + hand_ce(kPixels[2], 2) + hand_ce(kPixels[3], 1)) / 3;
  CHECK(balanced_cross_entropy(logits, labels).item<double>() == Approx(fg).epsilon(1e-5));
  CHECK(balanced_cross_entropy(logits, torch::full({1, 1, 4}, 255, torch::kLong)).item<double>() == 0.0);
}

TEST_CASE("deeplab: label resizing is PIL's NEAREST", "[seg]") {
  // 1 x 5 x 5 labels with value 10*row + col.
  torch::Tensor labels = torch::zeros({1, 5, 5}, torch::kLong);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 5; ++x) labels[0][y][x] = 10 * y + x;
  // PIL maps output i to floor((i + 0.5) * 5 / 2): rows/cols 1 and 3.
  torch::Tensor small = resize_labels_nearest(labels, 2, 2);
  CHECK(small.sizes() == torch::IntArrayRef({1, 2, 2}));
  CHECK(small[0][0][0].item<std::int64_t>() == 11);
  CHECK(small[0][0][1].item<std::int64_t>() == 13);
  CHECK(small[0][1][0].item<std::int64_t>() == 31);
  CHECK(small[0][1][1].item<std::int64_t>() == 33);
  // Enlarging 5 -> 7: floor((i + 0.5) * 5 / 7) = 0,1,1,2,3,3,4.
  torch::Tensor big = resize_labels_nearest(labels, 1, 7);
  std::vector<std::int64_t> cols = {0, 1, 1, 2, 3, 3, 4};
  for (int i = 0; i < 7; ++i) CHECK(big[0][0][i].item<std::int64_t>() == 20 + cols[std::size_t(i)]);
}

TEST_CASE("deeplab: MSC returns the scales and their elementwise max", "[seg]") {
  DeepLabV2 net = tiny_net(3);
  net->eval();
  torch::NoGradGuard g;
  torch::Tensor x = torch::randn({1, 3, 64, 64});
  auto out = net->forward_msc(x, {0.5, 0.75});
  REQUIRE(out.size() == 4);
  CHECK(out[0].sizes() == torch::IntArrayRef({1, 3, 8, 8}));
  CHECK(out[1].sizes() == torch::IntArrayRef({1, 3, 4, 4}));   // 32 px input
  CHECK(out[2].sizes() == torch::IntArrayRef({1, 3, 6, 6}));   // 48 px input
  CHECK(out[3].sizes() == torch::IntArrayRef({1, 3, 8, 8}));
  CHECK(torch::equal(out[0], net->forward(x)));
  namespace F = torch::nn::functional;
  auto up = [&](const torch::Tensor& t) {
    return F::interpolate(t, F::InterpolateFuncOptions().size(std::vector<std::int64_t>{8, 8}).mode(torch::kBilinear)
                                 .align_corners(false));
  };
  torch::Tensor expected = torch::max(torch::max(out[0], up(out[1])), up(out[2]));
  CHECK(torch::equal(out[3], expected));
  CHECK_FALSE(torch::equal(out[3], out[0]));
}

TEST_CASE("deeplab: a saved model loads back and other kinds are refused", "[seg]") {
  TempDir dir;
  DeepLabV2 net = tiny_net(3);
  net->eval();
  auto meta = models::make_metadata(net->backbone->spec(), {"background", "a", "b"});
  meta[models::kMetaModel] = kModelDeepLabV2;
  meta[kMetaHead] = R"({"aspp_rates":[6,12,18,24]})";
  fs::path file = dir.path / "m.safetensors";
  models::save_weights(*net, file, meta);
  LoadedDeepLab loaded = load_deeplab(file);
  CHECK(loaded.class_names == std::vector<std::string>{"background", "a", "b"});
  torch::NoGradGuard g;
  torch::Tensor x = torch::randn({1, 3, 40, 40});
  CHECK(torch::equal(loaded.net->forward(x), net->forward(x)));

  models::CamNet cam(models::ModelSpec::irn("resnet18", 8), 2);
  auto cam_meta = models::make_metadata(cam->backbone->spec(), {"a", "b"});
  cam_meta[models::kMetaModel] = models::kModelCamClassifier;
  fs::path cam_file = dir.path / "cam.safetensors";
  models::save_weights(*cam, cam_file, cam_meta);
  CHECK_THROWS_WITH(load_deeplab(cam_file), Catch::Contains("not a DeepLab-v2 segmentation model") &&
                                                Catch::Contains("cam-classifier"));
}

TEST_CASE("deeplab: predict fuses scales on the first scale's grid", "[seg]") {
  DeepLabV2 net = tiny_net(3);
  net->eval();
  cv::Mat rgb(40, 56, CV_8UC3);
  cv::randu(rgb, 0, 255);
  SegPredictOptions single;
  single.scales = {1.0};
  torch::Tensor a = predict_logits(*net, rgb, single, torch::kCPU);
  CHECK(a.sizes() == torch::IntArrayRef({3, 40, 56}));
  // The same scale twice fuses to itself, by max or mean.
  SegPredictOptions twice = single;
  twice.scales = {1.0, 1.0};
  CHECK(torch::allclose(predict_logits(*net, rgb, twice, torch::kCPU), a));
  twice.fuse = "mean";
  CHECK(torch::allclose(predict_logits(*net, rgb, twice, torch::kCPU), a));
  // Max fusion is never below the single-scale logits on the 1.0 grid, hence after upsampling.
  SegPredictOptions msc;
  torch::Tensor m = predict_logits(*net, rgb, msc, torch::kCPU);
  CHECK((m - a).min().item<double>() > -1e-5);
  CHECK((m - a).max().item<double>() > 1e-6);
  // Flip: the mean of the image and its mirror, so a mirrored image gives mirrored logits.
  SegPredictOptions flip = single;
  flip.flip = true;
  cv::Mat mirrored;
  cv::flip(rgb, mirrored, 1);
  torch::Tensor f1 = predict_logits(*net, rgb, flip, torch::kCPU);
  torch::Tensor f2 = predict_logits(*net, mirrored, flip, torch::kCPU);
  CHECK(torch::allclose(f1, f2.flip({2}), 1e-4, 1e-5));
  std::vector<std::uint8_t> labels = predict_labels(a, rgb, single);
  torch::Tensor argmax = a.argmax(0).flatten();
  std::size_t agree = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) agree += labels[i] == argmax[std::int64_t(i)].item<std::int64_t>();
  CHECK(agree == labels.size());
}

namespace {

// A 30x20 image whose colour encodes a block label map (labels 0..3).
struct LabelledImage {
  cv::Mat rgb;
  Mask mask;
};
LabelledImage labelled_image() {
  LabelledImage li{cv::Mat(20, 30, CV_8UC3), Mask(30, 20)};
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 30; ++x) {
      int label = (y / 5 + x / 6) % 4;
      li.mask.at(y, x) = std::uint8_t(label);
      li.rgb.at<cv::Vec3b>(y, x) = cv::Vec3b(std::uint8_t(label * 60 + 10), std::uint8_t(255 - label * 50), 7);
    }
  return li;
}

// The red value of a normalised pixel, back in 0..255.
double red_of(const std::vector<float>& image, std::size_t index) {
  Normalization n;
  return (double(image[index]) * n.std[0] + n.mean[0]) * 255.0;
}

struct Augmented {
  std::vector<float> image;
  std::vector<std::int64_t> labels;
};
Augmented run_augment(const LabelledImage& li, const SegTrainOptions& o, std::uint64_t seed) {
  Augmented a{std::vector<float>(std::size_t(3 * o.crop * o.crop)), std::vector<std::int64_t>(std::size_t(o.crop * o.crop))};
  std::mt19937_64 rng(seed);
  augment_sample(li.rgb, li.mask, o, 255, rng, a.image.data(), a.labels.data());
  return a;
}

}  // namespace

TEST_CASE("deeplab: augmentation keeps image and labels aligned", "[seg]") {
  LabelledImage li = labelled_image();
  SegTrainOptions o;
  o.scales = {1.0};
  SECTION("padding and flip") {
    o.crop = 40;  // larger than the image: no crop offset, padding bottom/right
    int flipped = 0, plain = 0;
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
      Augmented a = run_augment(li, o, seed);
      bool is_plain = true, is_flipped = true;
      for (int y = 0; y < 40; ++y)
        for (int x = 0; x < 40; ++x) {
          std::size_t i = std::size_t(y * 40 + x);
          auto expect = [&](int sx) -> std::int64_t { return (y < 20 && sx >= 0 && sx < 30) ? li.mask.at(y, sx) : 255; };
          is_plain = is_plain && a.labels[i] == expect(x);
          is_flipped = is_flipped && a.labels[i] == expect(39 - x);
          if (a.labels[i] == 255) {
            for (int c = 0; c < 3; ++c) REQUIRE(a.image[std::size_t(c) * 1600 + i] == 0.0f);  // the mean
          } else {
            REQUIRE(std::lround(red_of(a.image, i)) == a.labels[i] * 60 + 10);
          }
        }
      CHECK(is_plain != is_flipped);
      plain += is_plain;
      flipped += is_flipped;
    }
    CHECK(plain > 0);
    CHECK(flipped > 0);
    o.flip = false;
    for (std::uint64_t seed = 0; seed < 10; ++seed) CHECK(run_augment(li, o, seed).labels[0] == li.mask.at(0, 0));
  }
  SECTION("random crop inside the image") {
    o.crop = 16;
    std::set<std::int64_t> corners;
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
      Augmented a = run_augment(li, o, seed);
      for (std::size_t i = 0; i < a.labels.size(); ++i) {
        REQUIRE(a.labels[i] != 255);
        REQUIRE(std::lround(red_of(a.image, i)) == a.labels[i] * 60 + 10);
      }
      corners.insert(a.labels[0] * 1000 + a.labels[15] * 100 + a.labels[16 * 15]);
    }
    CHECK(corners.size() > 1);  // the offsets vary
  }
  SECTION("scaling: truncated size, bilinear image, nearest labels") {
    o.crop = 40;
    o.flip = false;
    o.scales = {1.25};  // 20 x 30 -> int(25.0) x int(37.5) = 25 x 37 (rounding would give 38)
    Augmented a = run_augment(li, o, 1);
    CHECK(std::count_if(a.labels.begin(), a.labels.end(), [](std::int64_t v) { return v != 255; }) == 25 * 37);
    o.scales = {0.5};   // 10 x 15; label (y, x) from source pixel floor((y + 0.5) * 2) = 2y + 1
    a = run_augment(li, o, 1);
    CHECK(std::count_if(a.labels.begin(), a.labels.end(), [](std::int64_t v) { return v != 255; }) == 10 * 15);
    for (int y = 0; y < 10; ++y)
      for (int x = 0; x < 15; ++x) {
        std::size_t i = std::size_t(y * 40 + x);
        CHECK(a.labels[i] == li.mask.at(2 * y + 1, 2 * x + 1));
        // Halving with INTER_LINEAR samples at 2x + 0.5: the mean of each 2x2 block.
        double mean = 0;
        for (int dy = 0; dy < 2; ++dy)
          for (int dx = 0; dx < 2; ++dx) mean += li.rgb.at<cv::Vec3b>(2 * y + dy, 2 * x + dx)[0] / 4.0;
        CHECK(red_of(a.image, i) == Approx(mean).margin(1e-3));
      }
  }
}
