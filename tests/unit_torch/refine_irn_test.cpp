#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>

#include "../unit/test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/parallel.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/threads.hpp"
#include "wsss/models/weights.hpp"
#include "wsss/refine/irn_net.hpp"
#include "wsss/refine/irn_stage.hpp"
#include "wsss/refine/irn_train.hpp"

using namespace wsss;
using namespace wsss::refine;
using wsss_test::TempDir;

namespace {

models::ModelSpec tiny_spec() { return models::ModelSpec::irn("resnet18", 8); }

bool inside(int y, int x, int h, int w) { return y >= 0 && y < h && x >= 0 && x < w; }

}  // namespace

TEST_CASE("reduce_labels_nearest samples PIL's nearest source pixel", "[irn]") {
  // 8x8 -> 2x2: PIL samples floor((i + 0.5) * 4) = 2 and 6 on each axis.
  std::vector<std::uint8_t> labels(64);
  for (int i = 0; i < 64; ++i) labels[i] = std::uint8_t(i);
  auto out = reduce_labels_nearest(labels.data(), 8, 8, 2, 2);
  REQUIRE(out == std::vector<std::uint8_t>{2 * 8 + 2, 2 * 8 + 6, 6 * 8 + 2, 6 * 8 + 6});
  // 7x5 -> 2x2 (non-integer ratio): rows floor(0.5*3.5)=1, floor(1.5*3.5)=5; cols floor(0.5*2.5)=1, floor(1.5*2.5)=3.
  std::vector<std::uint8_t> l2(35);
  for (int i = 0; i < 35; ++i) l2[i] = std::uint8_t(i);
  REQUIRE(reduce_labels_nearest(l2.data(), 7, 5, 2, 2) == std::vector<std::uint8_t>{1 * 5 + 1, 1 * 5 + 3, 5 * 5 + 1, 5 * 5 + 3});
}

TEST_CASE("affinity labels match a brute-force loop over pairs", "[irn]") {
  const int batch = 2, h = 9, w = 11;
  std::mt19937 rng(7);
  const std::uint8_t values[] = {0, 0, 1, 1, 2, 255};
  torch::Tensor labels = torch::zeros({batch, h, w}, torch::kUInt8);
  auto acc = labels.accessor<std::uint8_t, 3>();
  for (int b = 0; b < batch; ++b)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) acc[b][y][x] = values[rng() % 6];
  for (int radius : {2, 4, 10}) {
    auto dirs = random_walk_directions(radius);
    AffinityLabels got = affinity_labels(labels, dirs);
    REQUIRE(got.bg_pos.sizes() == torch::IntArrayRef({batch, std::int64_t(dirs.size()), h, w}));
    auto bg = got.bg_pos.accessor<bool, 4>();
    auto fg = got.fg_pos.accessor<bool, 4>();
    auto neg = got.neg.accessor<bool, 4>();
    long counts[3] = {0, 0, 0};
    for (int b = 0; b < batch; ++b)
      for (std::size_t d = 0; d < dirs.size(); ++d)
        for (int y = 0; y < h; ++y)
          for (int x = 0; x < w; ++x) {
            const int ty = y + dirs[d].dy, tx = x + dirs[d].dx;
            bool e_bg = false, e_fg = false, e_neg = false;
            if (inside(ty, tx, h, w)) {
              const int s = acc[b][y][x], t = acc[b][ty][tx];
              if (s != 255 && t != 255) {
                e_bg = s == t && s == 0;
                e_fg = s == t && s > 0;
                e_neg = s != t;
              }
            }
            REQUIRE(bg[b][d][y][x] == e_bg);
            REQUIRE(fg[b][d][y][x] == e_fg);
            REQUIRE(neg[b][d][y][x] == e_neg);
            counts[0] += e_bg;
            counts[1] += e_fg;
            counts[2] += e_neg;
          }
    // The random map exercises every kind of pair.
    REQUIRE(counts[0] > 0);
    REQUIRE(counts[1] > 0);
    REQUIRE(counts[2] > 0);
  }
}

TEST_CASE("path-max affinity and its gradient match a brute-force loop over random_walk_path", "[irn]") {
  const int batch = 2, h = 7, w = 9;
  torch::manual_seed(3);
  torch::Tensor boundary = torch::rand({batch, h, w}, torch::kFloat32).requires_grad_(true);
  for (int radius : {3, 5}) {
    auto dirs = random_walk_directions(radius);
    torch::Tensor aff = path_max_affinity(boundary, dirs);
    REQUIRE(aff.sizes() == torch::IntArrayRef({batch, std::int64_t(dirs.size()), h, w}));
    // d(sum of in-image affinities)/d(boundary): -1 at each pair's path maximum.
    torch::Tensor weight = torch::zeros_like(aff);
    auto b_acc = boundary.accessor<float, 3>();
    auto a_acc = aff.accessor<float, 4>();
    auto w_acc = weight.accessor<float, 4>();
    std::vector<float> expected_grad(std::size_t(batch) * h * w, 0.f);
    for (int b = 0; b < batch; ++b)
      for (std::size_t d = 0; d < dirs.size(); ++d) {
        auto path = random_walk_path(dirs[d]);
        for (int y = 0; y < h; ++y)
          for (int x = 0; x < w; ++x) {
            if (!inside(y + dirs[d].dy, x + dirs[d].dx, h, w)) {
              REQUIRE(a_acc[b][d][y][x] == 0.f);  // IRN's 1.0 padding
              continue;
            }
            float mx = -1.f;
            int arg_y = -1, arg_x = -1;
            for (const GridOffset& o : path) {
              REQUIRE(inside(y + o.dy, x + o.dx, h, w));
              const float v = b_acc[b][y + o.dy][x + o.dx];
              if (v > mx) {
                mx = v;
                arg_y = y + o.dy;
                arg_x = x + o.dx;
              }
            }
            REQUIRE(a_acc[b][d][y][x] == 1.f - mx);
            w_acc[b][d][y][x] = 1.f;
            expected_grad[(std::size_t(b) * h + arg_y) * w + arg_x] -= 1.f;
          }
      }
    boundary.mutable_grad() = torch::Tensor();
    (aff * weight).sum().backward();
    torch::Tensor grad = boundary.grad().contiguous();
    for (std::size_t i = 0; i < expected_grad.size(); ++i) REQUIRE(grad.data_ptr<float>()[i] == expected_grad[i]);
  }
}

TEST_CASE("affinity loss on a tiny case equals the hand-computed value", "[irn]") {
  // Four pairs: one background-positive, two foreground-positive, one negative.
  torch::Tensor aff = torch::tensor({0.9f, 0.2f, 0.6f, 0.5f}).view({1, 4, 1, 1});
  auto mask = [](std::vector<int> on) {
    torch::Tensor m = torch::zeros({1, 4, 1, 1}, torch::kBool);
    for (int i : on) m[0][i][0][0] = true;
    return m;
  };
  AffinityLabels labels{mask({0}), mask({1, 2}), mask({3})};
  AffinityLoss loss = affinity_loss(aff, labels);
  const double eps = 1e-5;
  const double bg = -std::log(0.9 + eps) / (1 + eps);                                // 0.105348
  const double fg = (-std::log(0.2 + eps) - std::log(0.6 + eps)) / (2 + eps);        // 1.060093
  const double neg = -std::log(1 + eps - 0.5) / (1 + eps);                           // 0.693120
  const double total = (bg / 2 + fg / 2 + neg) / 2;                                  // 0.637920
  CHECK(loss.bg_pos.item<double>() == Approx(0.105348).epsilon(1e-5));
  CHECK(loss.fg_pos.item<double>() == Approx(1.060093).epsilon(1e-5));
  CHECK(loss.neg.item<double>() == Approx(0.693120).epsilon(1e-5));
  CHECK(loss.bg_pos.item<double>() == Approx(bg).epsilon(1e-6));
  CHECK(loss.fg_pos.item<double>() == Approx(fg).epsilon(1e-6));
  CHECK(loss.neg.item<double>() == Approx(neg).epsilon(1e-6));
  CHECK(loss.total.item<double>() == Approx(total).epsilon(1e-6));
  CHECK(loss.total.item<double>() == Approx(0.637920).epsilon(1e-5));

  // An empty mask contributes 0 (IRN's +1e-5 in the denominator), not NaN.
  AffinityLabels no_fg{mask({0}), mask({}), mask({3})};
  AffinityLoss l2 = affinity_loss(aff, no_fg);
  CHECK(l2.fg_pos.item<double>() == 0.0);
  CHECK(l2.total.item<double>() == Approx((bg / 2 + neg) / 2).epsilon(1e-6));
}

TEST_CASE("IRN edge network: stride-4 output and a frozen backbone", "[irn]") {
  torch::manual_seed(0);
  IrnEdgeNet net(tiny_spec());
  // IRN's module names, 32 channels per stage from the right input widths.
  auto params = net->named_parameters();
  REQUIRE(params.contains("fc_edge1.0.weight"));
  REQUIRE(params["fc_edge1.0.weight"].sizes() == torch::IntArrayRef({32, 8, 1, 1}));
  REQUIRE(params["fc_edge5.0.weight"].sizes() == torch::IntArrayRef({32, 64, 1, 1}));
  REQUIRE(params["fc_edge3.1.weight"].sizes() == torch::IntArrayRef({32}));  // GroupNorm
  REQUIRE(params["fc_edge6.weight"].sizes() == torch::IntArrayRef({1, 160, 1, 1}));
  REQUIRE(params.contains("fc_edge6.bias"));
  REQUIRE_FALSE(params.contains("fc_edge1.0.bias"));
  REQUIRE(net->edge_parameters().size() == 5 * 3 + 2);

  for (auto [hh, ww] : {std::pair<int, int>{64, 64}, {65, 50}, {37, 81}}) {
    torch::Tensor out = net->forward(torch::randn({1, 3, hh, ww}));
    REQUIRE(out.size(1) == 1);
    REQUIRE(out.size(2) == (hh - 1) / 4 + 1);
    REQUIRE(out.size(3) == (ww - 1) / 4 + 1);
  }

  // One training step: only the edge layers get gradients, BN statistics stay.
  net->train();
  std::map<std::string, torch::Tensor> before;
  for (const auto& b : net->named_buffers()) before[b.key()] = b.value().clone();
  for (const auto& p : net->named_parameters()) before[p.key()] = p.value().clone();
  torch::Tensor x = torch::randn({2, 3, 48, 48});
  torch::Tensor labels = torch::randint(0, 3, {2, 12, 12}, torch::kLong);
  auto dirs = random_walk_directions(4);
  torch::Tensor aff = path_max_affinity(torch::sigmoid(net->forward(x).select(1, 0)), dirs);
  AffinityLoss loss = affinity_loss(aff, affinity_labels(labels, dirs));
  loss.total.backward();
  int edge_with_grad = 0;
  for (const auto& p : net->named_parameters()) {
    if (p.key().rfind("backbone.", 0) == 0) {
      INFO(p.key());
      REQUIRE_FALSE(p.value().requires_grad());
      REQUIRE_FALSE(p.value().grad().defined());
    } else {
      INFO(p.key());
      REQUIRE(p.value().grad().defined());
      edge_with_grad += p.value().grad().abs().sum().item<double>() > 0;
    }
  }
  REQUIRE(edge_with_grad == 5 * 3 + 2);
  torch::optim::SGD sgd(net->edge_parameters(), torch::optim::SGDOptions(0.1));
  sgd.step();
  for (const auto& b : net->named_buffers()) REQUIRE(torch::equal(b.value(), before[b.key()]));
  for (const auto& p : net->named_parameters())
    if (p.key().rfind("backbone.", 0) == 0) REQUIRE(torch::equal(p.value(), before[p.key()]));
}

TEST_CASE("IRN edge map: flip-averaged, in [0,1], saved and loaded with its kind", "[irn][determinism]") {
  TempDir dir;
  torch::manual_seed(1);
  IrnEdgeNet net(tiny_spec());
  net->eval();
  torch::Tensor image = torch::randn({1, 3, 45, 62});
  torch::Tensor pair = torch::cat({image, image.flip({3})}, 0);
  torch::Tensor e = irn_edge_map(net, pair, torch::kCPU);
  REQUIRE(e.sizes() == torch::IntArrayRef({12, 16}));
  REQUIRE(e.min().item<float>() >= 0.f);
  REQUIRE(e.max().item<float>() <= 1.f);
  torch::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = net->forward(pair).select(1, 0);
  }
  REQUIRE(torch::allclose(e, torch::sigmoid(logits[0] / 2 + logits[1].flip({1}) / 2)));
  // The stage's promise (docs/determinism.md): every worker runs its own
  // single-threaded forward, so a map does not depend on the number of workers
  // (-j). The intra-op thread count itself is not part of the promise: with
  // more than one thread a 1x1 convolution goes to oneDNN instead of the BLAS.
  auto maps_with_workers = [&](int workers) {
    std::vector<torch::Tensor> maps(6);
    parallel_for(maps.size(), workers, [&](std::size_t i, int) {
      models::use_single_threaded_torch();
      maps[i] = irn_edge_map(net, pair, torch::kCPU);
    });
    return maps;
  };
  const auto two = maps_with_workers(2), three = maps_with_workers(3);
  for (std::size_t i = 0; i < two.size(); ++i) {
    REQUIRE(torch::equal(two[i], two[0]));
    REQUIRE(torch::equal(three[i], two[0]));
  }

  auto meta = models::make_metadata(tiny_spec());
  meta[models::kMetaModel] = kModelIrnEdge;
  models::save_weights(*net, dir.path / "irn.safetensors", meta);
  IrnEdgeNet loaded = load_irn_edge_net(dir.path / "irn.safetensors");
  REQUIRE(torch::equal(irn_edge_map(loaded, pair, torch::kCPU), e));

  meta[models::kMetaModel] = models::kModelCamClassifier;
  models::save_weights(*net, dir.path / "cls.safetensors", meta);
  REQUIRE_THROWS_WITH(load_irn_edge_net(dir.path / "cls.safetensors"), Catch::Contains("not an IRN edge network"));
}

TEST_CASE("IRN backbone initialises from a CAM classifier's backbone", "[irn]") {
  TempDir dir;
  torch::manual_seed(2);
  models::CamNet cls(tiny_spec(), 3);
  auto meta = models::make_metadata(tiny_spec(), {"a", "b", "c"});
  meta[models::kMetaModel] = models::kModelCamClassifier;
  models::save_weights(*cls, dir.path / "cls.safetensors", meta);
  IrnEdgeNet net(tiny_spec());
  models::LoadOptions load;
  load.prefix = "backbone.";
  models::load_weights(*net->backbone, dir.path / "cls.safetensors", load);
  REQUIRE(torch::equal(net->backbone->named_parameters()["layer3.0.conv1.weight"],
                       cls->backbone->named_parameters()["layer3.0.conv1.weight"]));
}
