#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/refine/random_walk.hpp"

using namespace wsss;
using namespace wsss::refine;

namespace {

struct Rng {
  std::mt19937 gen;
  explicit Rng(unsigned seed) : gen(seed) {}
  double uniform() { return gen() / 4294967296.0; }
};

// A boundary map with two closed-ish curves (high values) over a low noisy floor,
// and class maps peaked inside different areas.
struct Grid {
  int h, w, k;
  std::vector<float> edge, cams;
};

Grid make_grid(int h, int w, int k, unsigned seed) {
  Rng rng(seed);
  Grid g{h, w, k, std::vector<float>(std::size_t(h) * w), std::vector<float>(std::size_t(k) * h * w)};
  const double cy = h * (0.3 + 0.4 * rng.uniform()), cx = w * (0.3 + 0.4 * rng.uniform());
  const double radius = std::min(h, w) * 0.3;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double r = std::hypot(y - cy, x - cx);
      double e = 0.05 * rng.uniform() + 0.9 * std::exp(-std::pow(r - radius, 2) / 1.5);
      if (x == w / 4) e = std::max(e, 0.7);  // a vertical wall with a gap
      if (x == w / 4 && y > h / 2 && y < h / 2 + 3) e = 0.02;
      g.edge[std::size_t(y) * w + x] = float(std::min(1.0, e));
    }
  for (int c = 0; c < k; ++c) {
    const double py = h * rng.uniform(), px = w * rng.uniform();
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        g.cams[(std::size_t(c) * h + y) * w + x] =
            float(std::max(0.0, 1.0 - std::hypot(y - py, x - px) / (0.5 * std::max(h, w))) * rng.uniform());
  }
  return g;
}

// ---- Dense oracle: IRN's formulation, written from pairs, not from directions ----
std::vector<double> dense_random_walk(const Grid& g, int radius, double beta, int exp_times) {
  const int n = g.h * g.w;
  std::vector<double> a(std::size_t(n) * n, 0.0);
  for (int i = 0; i < n; ++i) {
    const int yi = i / g.w, xi = i % g.w;
    for (int j = 0; j < n; ++j) {
      const int yj = j / g.w, xj = j % g.w;
      const int dy = yj - yi, dx = xj - xi;
      if (i == j) {
        a[std::size_t(i) * n + j] = 1.0;
        continue;
      }
      if (dy * dy + dx * dx >= radius * radius) continue;
      // Path: pixels of the bounding box whose distance to the line i-j is below 1.
      double mx = 0;
      for (int y = std::min(yi, yj); y <= std::max(yi, yj); ++y)
        for (int x = std::min(xi, xj); x <= std::max(xi, xj); ++x) {
          const double cross = double(dy) * (x - xi) - double(dx) * (y - yi);
          if (cross * cross / (dy * dy + dx * dx) < 1.0) mx = std::max(mx, double(g.edge[std::size_t(y) * g.w + x]));
        }
      a[std::size_t(i) * n + j] = std::pow(1.0 - mx, beta);
    }
  }
  // Column-normalise, then square exp_times times.
  for (int j = 0; j < n; ++j) {
    double s = 0;
    for (int i = 0; i < n; ++i) s += a[std::size_t(i) * n + j];
    for (int i = 0; i < n; ++i) a[std::size_t(i) * n + j] /= s;
  }
  std::vector<double> t2(std::size_t(n) * n);
  for (int e = 0; e < exp_times; ++e) {
    std::fill(t2.begin(), t2.end(), 0.0);
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < n; ++k) {
        const double aik = a[std::size_t(i) * n + k];
        if (aik == 0) continue;
        const double* row = a.data() + std::size_t(k) * n;
        double* out = t2.data() + std::size_t(i) * n;
        for (int j = 0; j < n; ++j) out[j] += aik * row[j];
      }
    a.swap(t2);
  }
  std::vector<double> rw(std::size_t(g.k) * n, 0.0);
  for (int c = 0; c < g.k; ++c)
    for (int i = 0; i < n; ++i) {
      const double xi = double(g.cams[std::size_t(c) * n + i]) * (1.0 - g.edge[i]);
      if (xi == 0) continue;
      for (int j = 0; j < n; ++j) rw[std::size_t(c) * n + j] += xi * a[std::size_t(i) * n + j];
    }
  return rw;
}

// Bilinear upsampling written as a tent filter over clamped source coordinates.
double tent_upsample(const std::vector<float>& img, int h, int w, int scale, int y, int x) {
  auto src = [&](int d, int size) { return std::min(double(size - 1), std::max(0.0, (d + 0.5) / scale - 0.5)); };
  const double sy = src(y, h), sx = src(x, w);
  double v = 0;
  for (int i = 0; i < h; ++i)
    for (int j = 0; j < w; ++j) {
      const double wy = std::max(0.0, 1.0 - std::fabs(sy - i)), wx = std::max(0.0, 1.0 - std::fabs(sx - j));
      v += wy * wx * img[std::size_t(i) * w + j];
    }
  return v;
}

}  // namespace

TEST_CASE("random walk directions and paths follow IRN's PathIndex", "[refine][rw]") {
  const std::vector<GridOffset> dirs = random_walk_directions(5);
  CHECK(dirs.size() == 34);
  std::set<std::pair<int, int>> got, expected;
  for (const GridOffset& d : dirs) got.insert({d.dy, d.dx});
  for (int dy = -4; dy <= 4; ++dy)
    for (int dx = -4; dx <= 4; ++dx)
      if ((dy > 0 || (dy == 0 && dx > 0)) && dy * dy + dx * dx < 25) expected.insert({dy, dx});
  CHECK(got == expected);
  CHECK(got.size() == dirs.size());
  CHECK(random_walk_directions(10).size() == 152);  // IRN's training radius
  CHECK((dirs.front() == GridOffset{0, 1}));

  // Straight paths are the pixels in between, destination first.
  const std::vector<GridOffset> row = random_walk_path({0, 3});
  CHECK(row.size() == 4);
  CHECK((row.front() == GridOffset{0, 3}));
  CHECK((row.back() == GridOffset{0, 0}));
  // A diagonal step touches the two side pixels too (distance 1/sqrt(2) < 1).
  CHECK(random_walk_path({1, 1}).size() == 4);
  // (1,2): the box is 2x3; (1,0) and (0,2) are at distance 2/sqrt(5) < 1, so all 6.
  CHECK(random_walk_path({1, 2}).size() == 6);
  // Counts from evaluating IRN's get_all_dir_paths formula for these directions.
  CHECK(random_walk_path({2, 4}).size() == 11);
  const std::vector<GridOffset> skew = random_walk_path({3, -2});
  CHECK(skew.size() == 8);
  CHECK((skew.front() == GridOffset{3, -2}));
  CHECK(std::count(skew.begin(), skew.end(), GridOffset{0, -1}) == 1);
  CHECK(std::count(skew.begin(), skew.end(), GridOffset{1, -2}) == 0);
  CHECK_THROWS_AS(random_walk_directions(0), UsageError);
}

TEST_CASE("sparse random walk equals IRN's dense matrix squarings", "[refine][rw][oracle]") {
  struct Case {
    int h, w, k, exp_times;
    unsigned seed;
  };
  for (const Case& c : {Case{9, 13, 3, 8, 1}, Case{16, 20, 2, 8, 2}, Case{14, 17, 4, 3, 3}, Case{5, 4, 1, 5, 4}}) {
    const Grid g = make_grid(c.h, c.w, c.k, c.seed);
    RandomWalkParams params;
    params.exp_times = c.exp_times;
    const std::vector<float> sparse = random_walk_propagate(g.edge.data(), g.h, g.w, g.cams.data(), g.k, params);
    const std::vector<double> dense = dense_random_walk(g, 5, 10.0, c.exp_times);
    REQUIRE(sparse.size() == dense.size());
    double max_rel = 0, peak = 0;
    for (double v : dense) peak = std::max(peak, std::fabs(v));
    for (std::size_t i = 0; i < dense.size(); ++i) max_rel = std::max(max_rel, std::fabs(sparse[i] - dense[i]) / peak);
    INFO(c.h << "x" << c.w << " K=" << c.k << " exp_times " << c.exp_times << ": max |diff| / max = " << max_rel);
    CHECK(max_rel < 1e-5);  // float output of a double computation
    std::printf("random walk %dx%d K=%d t=2^%d: sparse vs dense max|diff|/max = %.2e\n", c.h, c.w, c.k,
                c.exp_times, max_rel);

    // Same labels after IRN's upsample / normalise / threshold.
    const int H = c.h * 4 - 3, W = c.w * 4 - 1;
    std::vector<float> dense_f(dense.begin(), dense.end());
    const auto ls = random_walk_labels(sparse, g.k, g.h, g.w, H, W);
    const auto ld = random_walk_labels(dense_f, g.k, g.h, g.w, H, W);
    std::size_t same = 0;
    for (std::size_t i = 0; i < ls.size(); ++i) same += ls[i] == ld[i];
    CHECK(same == ls.size());
    std::set<int> classes(ls.begin(), ls.end());
    CHECK(classes.size() >= 2);  // not a degenerate all-background map
  }
}

TEST_CASE("random walk is byte-identical for any thread count", "[refine][rw][determinism]") {
  const Grid g = make_grid(40, 53, 5, 9);
  const std::vector<float> one = random_walk_propagate(g.edge.data(), g.h, g.w, g.cams.data(), g.k, {}, 1);
  for (int threads : {2, 3, 8}) {
    const std::vector<float> many = random_walk_propagate(g.edge.data(), g.h, g.w, g.cams.data(), g.k, {}, threads);
    REQUIRE(many.size() == one.size());
    CHECK(std::memcmp(many.data(), one.data(), one.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("random walk rejects bad inputs, naming the position", "[refine][rw]") {
  Grid g = make_grid(6, 7, 2, 1);
  g.edge[2 * 7 + 3] = 1.5f;
  CHECK_THROWS_WITH(random_walk_propagate(g.edge.data(), 6, 7, g.cams.data(), 2), Catch::Contains("y=2, x=3"));
  g.edge[2 * 7 + 3] = 0.5f;
  g.cams[42 + 5] = std::nanf("");
  CHECK_THROWS_WITH(random_walk_propagate(g.edge.data(), 6, 7, g.cams.data(), 2), Catch::Contains("class 1"));
  g.cams[42 + 5] = 0.f;
  RandomWalkParams bad;
  bad.exp_times = -1;
  CHECK_THROWS_AS(random_walk_propagate(g.edge.data(), 6, 7, g.cams.data(), 2, bad), UsageError);
  CHECK(random_walk_propagate(g.edge.data(), 6, 7, g.cams.data(), 0).empty());
}

TEST_CASE("bilinear upsampling matches PyTorch's align_corners=False", "[refine][rw]") {
  Rng rng(3);
  const int h = 5, w = 7;
  std::vector<float> img(h * w);
  for (auto& v : img) v = float(rng.uniform());
  const std::vector<float> up = upsample_bilinear(img.data(), 1, h, w, 4);
  REQUIRE(up.size() == std::size_t(h * 4 * w * 4));
  double worst = 0;
  for (int y = 0; y < h * 4; ++y)
    for (int x = 0; x < w * 4; ++x)
      worst = std::max(worst, std::fabs(up[std::size_t(y) * w * 4 + x] - tent_upsample(img, h, w, 4, y, x)));
  CHECK(worst < 1e-6);
}

TEST_CASE("random walk labels: global max, background threshold, argmax", "[refine][rw]") {
  // Two classes on a 1x2 grid; after x4 upsampling and cropping to 3x6.
  const std::vector<float> rw = {2.0f, 0.2f,   // class 0: strong left
                                 0.1f, 1.0f};  // class 1: right, half of the global max
  const auto labels = random_walk_labels(rw, 2, 1, 2, 3, 6);
  REQUIRE(labels.size() == 18);
  CHECK(labels[0] == 1);  // class 0 -> label 1
  CHECK(labels[5] == 2);  // right edge: class 1 at 1.0/2.0 = 0.5 > 0.25
  // With a higher threshold the right side becomes background.
  const auto strict = random_walk_labels(rw, 2, 1, 2, 3, 6, 0.6f);
  CHECK(strict[0] == 1);
  CHECK(strict[5] == 0);
  // All-zero scores: background everywhere instead of IRN's 0/0.
  const auto zero = random_walk_labels(std::vector<float>(4, 0.f), 2, 1, 2, 4, 8);
  CHECK(std::all_of(zero.begin(), zero.end(), [](std::uint8_t v) { return v == 0; }));
  CHECK_THROWS_AS(random_walk_labels(rw, 2, 1, 2, 5, 6), Error);  // larger than the upsampled grid
}
