#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/refine/densecrf.hpp"
#include "wsss/refine/permutohedral.hpp"

using namespace wsss;
using namespace wsss::refine;

namespace {

// Uniform [0,1) from raw mt19937 output: libstdc++'s distributions are not portable.
struct Rng {
  std::mt19937 gen;
  explicit Rng(unsigned seed) : gen(seed) {}
  double uniform() { return gen() / 4294967296.0; }
  int below(int n) { return int(uniform() * n); }
};

// A synthetic image: Voronoi regions with their own colour plus noise, and class
// probabilities that mostly favour the region's label but with noisy patches.
struct Scene {
  int w = 0, h = 0, labels = 0;
  std::vector<std::uint8_t> rgb;
  std::vector<std::uint8_t> truth;
  std::vector<float> prob;  // label-major
  std::vector<std::uint8_t> noisy_labels;
};

Scene make_scene(int w, int h, int n_labels, unsigned seed) {
  Rng rng(seed);
  Scene s;
  s.w = w;
  s.h = h;
  s.labels = n_labels;
  const std::size_t n = std::size_t(w) * h;
  const int n_regions = n_labels + 2;
  std::vector<double> cy(n_regions), cx(n_regions);
  std::vector<int> region_label(n_regions);
  std::vector<std::array<int, 3>> colour(n_regions);
  for (int r = 0; r < n_regions; ++r) {
    cy[r] = rng.uniform() * h;
    cx[r] = rng.uniform() * w;
    region_label[r] = r < n_labels ? r : rng.below(n_labels);
    for (int c = 0; c < 3; ++c) colour[r][c] = 30 + rng.below(196);
  }
  s.rgb.resize(n * 3);
  s.truth.resize(n);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      int best = 0;
      double bd = 1e30;
      for (int r = 0; r < n_regions; ++r) {
        const double d = (y - cy[r]) * (y - cy[r]) + (x - cx[r]) * (x - cx[r]);
        if (d < bd) {
          bd = d;
          best = r;
        }
      }
      const std::size_t p = std::size_t(y) * w + x;
      s.truth[p] = std::uint8_t(region_label[best]);
      for (int c = 0; c < 3; ++c)
        s.rgb[p * 3 + c] = std::uint8_t(std::clamp(colour[best][c] + rng.below(31) - 15, 0, 255));
    }
  // Noisy patches: a few squares whose scores favour a random wrong label.
  std::vector<int> patch(n, -1);
  for (int k = 0; k < 4; ++k) {
    const int py = rng.below(h), px = rng.below(w), size = 2 + rng.below(std::max(2, w / 6));
    const int lab = rng.below(n_labels);
    for (int y = py; y < std::min(h, py + size); ++y)
      for (int x = px; x < std::min(w, px + size); ++x) patch[std::size_t(y) * w + x] = lab;
  }
  s.prob.assign(n * n_labels, 0.f);
  s.noisy_labels.resize(n);
  for (std::size_t p = 0; p < n; ++p) {
    std::vector<double> logit(n_labels);
    for (int l = 0; l < n_labels; ++l) logit[l] = 1.5 * rng.uniform();
    logit[s.truth[p]] += 1.2;
    if (patch[p] >= 0) logit[patch[p]] += 1.5;
    double mx = *std::max_element(logit.begin(), logit.end()), sum = 0;
    for (double& v : logit) sum += (v = std::exp(v - mx));
    int arg = 0;
    for (int l = 0; l < n_labels; ++l) {
      s.prob[l * n + p] = float(logit[l] / sum);
      if (logit[l] > logit[arg]) arg = l;
    }
    s.noisy_labels[p] = std::uint8_t(arg);
  }
  return s;
}

// ---- Brute-force oracle: exact O(N^2) mean-field, independent of the lattice ----
struct OracleKernel {
  std::vector<double> features;  // N x d
  int dims;
  double compat;
};

std::vector<double> oracle_inference(const std::vector<float>& unary, int n_labels, std::size_t n,
                                     const std::vector<OracleKernel>& kernels, int iterations) {
  // Combined message matrix M = sum_k w_k D_k K_k D_k with D = diag(1/sqrt(K 1)).
  std::vector<double> m(n * n, 0.0), k(n * n);
  for (const OracleKernel& ker : kernels) {
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        double d2 = 0;
        for (int t = 0; t < ker.dims; ++t) {
          const double diff = ker.features[i * ker.dims + t] - ker.features[j * ker.dims + t];
          d2 += diff * diff;
        }
        k[i * n + j] = std::exp(-0.5 * d2);
      }
    std::vector<double> norm(n);
    for (std::size_t i = 0; i < n; ++i) {
      double s = 0;
      for (std::size_t j = 0; j < n; ++j) s += k[i * n + j];
      norm[i] = 1.0 / std::sqrt(s);
    }
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) m[i * n + j] += ker.compat * norm[i] * k[i * n + j] * norm[j];
  }
  auto softmax = [&](std::vector<double>& score, std::vector<double>& q) {
    for (std::size_t i = 0; i < n; ++i) {
      double mx = -1e300;
      for (int l = 0; l < n_labels; ++l) mx = std::max(mx, score[l * n + i]);
      double s = 0;
      for (int l = 0; l < n_labels; ++l) s += std::exp(score[l * n + i] - mx);
      for (int l = 0; l < n_labels; ++l) q[l * n + i] = std::exp(score[l * n + i] - mx) / s;
    }
  };
  std::vector<double> q(n * n_labels), score(n * n_labels);
  for (std::size_t i = 0; i < score.size(); ++i) score[i] = -double(unary[i]);
  softmax(score, q);
  for (int it = 0; it < iterations; ++it) {
    for (int l = 0; l < n_labels; ++l)
      for (std::size_t i = 0; i < n; ++i) {
        double msg = 0;
        const double* row = m.data() + i * n;
        const double* ql = q.data() + l * n;
        for (std::size_t j = 0; j < n; ++j) msg += row[j] * ql[j];
        score[l * n + i] = -double(unary[l * n + i]) + msg;
      }
    softmax(score, q);
  }
  return q;
}

OracleKernel oracle_gaussian(int w, int h, double sxy, double compat) {
  OracleKernel k{{}, 2, compat};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      k.features.push_back(x / sxy);
      k.features.push_back(y / sxy);
    }
  return k;
}

OracleKernel oracle_bilateral(const Scene& s, double sxy, double srgb, double compat) {
  OracleKernel k{{}, 5, compat};
  for (int y = 0; y < s.h; ++y)
    for (int x = 0; x < s.w; ++x) {
      k.features.push_back(x / sxy);
      k.features.push_back(y / sxy);
      for (int c = 0; c < 3; ++c) k.features.push_back(s.rgb[(std::size_t(y) * s.w + x) * 3 + c] / srgb);
    }
  return k;
}

struct Agreement {
  double labels = 0, mean_abs_q = 0, max_abs_q = 0;
  // Disagreements where the oracle's top two marginals differ by more than 0.05.
  std::size_t confident_disagreements = 0;
};

Agreement compare(const Scene& s, const std::vector<float>& unary, const CrfParams& p, const CrfResult& lattice) {
  const std::size_t n = std::size_t(s.w) * s.h;
  std::vector<OracleKernel> ks;
  if (p.gaussian_compat != 0) ks.push_back(oracle_gaussian(s.w, s.h, p.gaussian_sxy, p.gaussian_compat));
  if (p.bilateral_compat != 0) ks.push_back(oracle_bilateral(s, p.bilateral_sxy, p.bilateral_srgb, p.bilateral_compat));
  const std::vector<double> q = oracle_inference(unary, s.labels, n, ks, p.iterations);
  Agreement a;
  std::size_t same = 0;
  for (std::size_t i = 0; i < n; ++i) {
    int arg = 0;
    for (int l = 1; l < s.labels; ++l)
      if (q[l * n + i] > q[arg * n + i]) arg = l;
    same += (arg == lattice.labels[i]);
    double second = 0;
    for (int l = 0; l < s.labels; ++l)
      if (l != arg) second = std::max(second, q[l * n + i]);
    if (arg != lattice.labels[i] && q[arg * n + i] - second > 0.05) ++a.confident_disagreements;
    for (int l = 0; l < s.labels; ++l) {
      const double d = std::fabs(q[l * n + i] - lattice.q[l * n + i]);
      a.mean_abs_q += d;
      a.max_abs_q = std::max(a.max_abs_q, d);
    }
  }
  a.labels = double(same) / n;
  a.mean_abs_q /= double(n) * s.labels;
  return a;
}

struct Setting {
  std::string name;
  CrfParams params;
  bool label_unary;
  double min_agreement;  // per image
};

std::vector<Setting> oracle_settings() {
  std::vector<Setting> v;
  v.push_back({"irn", crf_preset("irn").params, true, 0.99});
  v.push_back({"psa", crf_preset("psa").params, false, 0.99});
  v.push_back({"deeplab", crf_preset("deeplab").params, false, 0.99});
  CrfParams weak;
  weak.gaussian_sxy = 3;
  weak.gaussian_compat = 0.5f;
  weak.bilateral_sxy = 10;
  weak.bilateral_srgb = 20;
  weak.bilateral_compat = 0.5f;
  v.push_back({"weak", weak, false, 0.995});
  CrfParams weak_gauss = weak;
  weak_gauss.bilateral_compat = 0;
  weak_gauss.gaussian_compat = 1;
  v.push_back({"weak-gaussian", weak_gauss, false, 0.995});
  return v;
}

// Exact normalised Gaussian filter sum_j k(i,j) v_j / sum_j k(i,j).
std::vector<double> exact_normalised_filter(const std::vector<float>& f, int dims, const std::vector<float>& v) {
  const std::size_t n = v.size();
  std::vector<double> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    double num = 0, den = 0;
    for (std::size_t j = 0; j < n; ++j) {
      double d2 = 0;
      for (int t = 0; t < dims; ++t) d2 += std::pow(double(f[i * dims + t]) - f[j * dims + t], 2);
      num += std::exp(-0.5 * d2) * v[j];
      den += std::exp(-0.5 * d2);
    }
    out[i] = num / den;
  }
  return out;
}

std::vector<double> lattice_normalised_filter(const std::vector<float>& f, int dims, const std::vector<float>& v) {
  const std::size_t n = v.size();
  PermutohedralLattice lat;
  lat.init(f.data(), n, dims);
  std::vector<float> kv(n), k1(n), ones(n, 1.f);
  lat.compute(v.data(), kv.data(), 1);
  lat.compute(ones.data(), k1.data(), 1);
  std::vector<double> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = double(kv[i]) / k1[i];
  return out;
}

}  // namespace

TEST_CASE("lattice filter approximates the exact Gaussian filter", "[refine][crf]") {
  for (int dims : {2, 5}) {
    Rng rng(7 + dims);
    const std::size_t n = 800;
    std::vector<float> f(n * dims), v(n);
    // Dense enough that most points have neighbours within a few sigma.
    for (auto& x : f) x = float(rng.uniform() * (dims == 2 ? 12.0 : 3.0));
    for (auto& x : v) x = float(rng.uniform());
    // The CRF only sees normalised kernels, so compare weighted means; the lattice's
    // overall scale differs from the exact kernel's.
    const std::vector<double> exact = exact_normalised_filter(f, dims, v);
    const std::vector<double> lattice = lattice_normalised_filter(f, dims, v);
    double err = 0, err_identity = 0;
    for (std::size_t i = 0; i < n; ++i) {
      err += std::fabs(exact[i] - lattice[i]);
      err_identity += std::fabs(exact[i] - v[i]);
    }
    err /= n;
    err_identity /= n;
    std::printf("lattice d=%d: mean |normalised filter - exact| = %.4f (no filtering: %.4f)\n", dims, err,
                err_identity);
    CHECK(err < 0.25 * err_identity);
    CHECK(err < 0.05);

    // Shifting every feature by a large constant (beyond densecrf's int16 keys) must
    // not change the filter beyond float rounding of the shifted coordinates.
    std::vector<float> shifted = f;
    for (auto& x : shifted) x += 40000.f;
    const std::vector<double> far = lattice_normalised_filter(shifted, dims, v);
    double shift_err = 0;
    for (std::size_t i = 0; i < n; ++i) shift_err = std::max(shift_err, std::fabs(far[i] - exact[i]));
    double base_err = 0;
    for (std::size_t i = 0; i < n; ++i) base_err = std::max(base_err, std::fabs(lattice[i] - exact[i]));
    CHECK(shift_err < base_err + 0.05);
  }
}

TEST_CASE("dense CRF agrees with the exact O(N^2) mean-field oracle", "[refine][crf][oracle]") {
  struct Size {
    int w, h, labels;
  };
  const std::vector<Size> sizes = {{24, 24, 2}, {40, 32, 3}, {48, 48, 4}};
  for (const Setting& st : oracle_settings()) {
    double worst = 1, sum_agree = 0, sum_mean_q = 0, worst_max_q = 0;
    std::size_t pixels = 0, agree_pixels = 0, changed = 0;
    int count = 0;
    for (const Size& sz : sizes)
      for (unsigned seed : {1u, 2u, 3u}) {
        const Scene s = make_scene(sz.w, sz.h, sz.labels, seed * 97 + sz.w);
        const std::size_t n = std::size_t(s.w) * s.h;
        std::vector<float> unary =
            st.label_unary ? unary_from_labels(s.noisy_labels.data(), n, s.labels, st.params.gt_prob, false)
                           : unary_from_probabilities(s.prob.data(), s.labels, n);
        const CrfResult r = st.label_unary
                                ? crf_from_labels(s.rgb.data(), s.w, s.h, s.noisy_labels.data(), s.labels, st.params)
                                : crf_from_probabilities(s.rgb.data(), s.w, s.h, s.prob.data(), s.labels, st.params);
        const Agreement a = compare(s, unary, st.params, r);
        // How much the CRF changed the unary argmax: the comparison must not be trivial.
        for (std::size_t i = 0; i < n; ++i) {
          int arg = 0;
          for (int l = 1; l < s.labels; ++l)
            if (unary[l * n + i] < unary[arg * n + i]) arg = l;
          changed += arg != r.labels[i];
        }
        INFO(st.name << " " << s.w << "x" << s.h << " L=" << s.labels << " seed " << seed << ": labels "
                     << a.labels << ", mean|dQ| " << a.mean_abs_q << ", max|dQ| " << a.max_abs_q);
        CHECK(a.labels >= st.min_agreement);
        CHECK(a.mean_abs_q < 0.01);
        if (st.min_agreement > 0.99) CHECK(a.confident_disagreements == 0);
        worst = std::min(worst, a.labels);
        sum_agree += a.labels;
        sum_mean_q += a.mean_abs_q;
        worst_max_q = std::max(worst_max_q, a.max_abs_q);
        pixels += n;
        agree_pixels += std::size_t(std::lround(a.labels * n));
        ++count;
      }
    std::printf(
        "oracle %-14s labels: pooled %.4f, mean %.4f, worst %.4f; mean|dQ| %.4f; max|dQ| %.3f; "
        "CRF changed %.1f%% of unary labels\n",
        st.name.c_str(), double(agree_pixels) / pixels, sum_agree / count, worst, sum_mean_q / count, worst_max_q,
        100.0 * changed / pixels);
    CHECK(changed > 0);
  }
}

TEST_CASE("tiny srgb is clamped: finite marginals that match the exact model", "[refine][crf][oracle]") {
  const Scene s = make_scene(32, 24, 3, 11);
  const std::size_t n = std::size_t(s.w) * s.h;
  for (float srgb : {1e-8f, 1e-12f, 1e-30f}) {
    CrfParams p = crf_preset("psa").params;
    p.bilateral_srgb = srgb;
    const CrfResult r = crf_from_probabilities(s.rgb.data(), s.w, s.h, s.prob.data(), s.labels, p);
    for (float v : r.q) REQUIRE(std::isfinite(v));
    const Agreement a = compare(s, unary_from_probabilities(s.prob.data(), s.labels, n), p, r);
    INFO("srgb " << srgb << ": labels " << a.labels << ", mean|dQ| " << a.mean_abs_q);
    CHECK(a.labels >= 0.99);
    CHECK(a.mean_abs_q < 0.02);
  }
  CrfParams p = crf_preset("psa").params;
  p.bilateral_srgb = 0;
  CHECK_THROWS_AS(crf_from_probabilities(s.rgb.data(), s.w, s.h, s.prob.data(), s.labels, p), UsageError);
  p.bilateral_srgb = std::nanf("");
  CHECK_THROWS_AS(crf_from_probabilities(s.rgb.data(), s.w, s.h, s.prob.data(), s.labels, p), UsageError);
}

TEST_CASE("dense CRF output is byte-identical for any thread count", "[refine][crf][determinism]") {
  const Scene s = make_scene(131, 97, 5, 5);
  for (const char* preset : {"irn", "deeplab"}) {
    const CrfParams p = crf_preset(preset).params;
    const CrfResult one = crf_from_probabilities(s.rgb.data(), s.w, s.h, s.prob.data(), s.labels, p, 1);
    for (int threads : {2, 3, 7}) {
      const CrfResult many = crf_from_probabilities(s.rgb.data(), s.w, s.h, s.prob.data(), s.labels, p, threads);
      REQUIRE(many.q.size() == one.q.size());
      CHECK(std::memcmp(many.q.data(), one.q.data(), one.q.size() * sizeof(float)) == 0);
      CHECK(many.labels == one.labels);
    }
  }
}

TEST_CASE("unaries follow pydensecrf's utils", "[refine][crf]") {
  const float prob[6] = {0.5f, 0.f, 2.f, 0.25f, 1e-7f, 0.3f};  // 2 labels x 3 pixels
  const std::vector<float> u = unary_from_probabilities(prob, 2, 3);
  CHECK(u[0] == Approx(-std::log(0.5f)));
  CHECK(u[1] == Approx(-std::log(1e-5f)));  // clipped below
  CHECK(u[2] == Approx(0.f).margin(1e-7));  // clipped above, no renormalisation
  CHECK(u[4] == Approx(-std::log(1e-5f)));
  CHECK(u[5] == Approx(-std::log(0.3f)));

  // Label unaries: energies computed in double and rounded once, as numpy's
  // float64 -log(...) stored into a float32 array.
  const std::uint8_t labels[4] = {0, 2, 1, 0};
  const std::vector<float> ul = unary_from_labels(labels, 4, 3, 0.7, false);
  const float pe = float(-std::log(0.7)), ne = float(-std::log(0.3 / 2));
  // Hand-computed: -ln 0.7 and -ln(0.3 / 2), rounded to float from their decimals.
  CHECK(pe == 0.356674943938732f);
  CHECK(ne == 1.897119984885881f);
  const float expect_l[3][4] = {{pe, ne, ne, pe}, {ne, ne, pe, ne}, {ne, pe, ne, ne}};
  for (int l = 0; l < 3; ++l)
    for (int p = 0; p < 4; ++p) CHECK(ul[std::size_t(l) * 4 + p] == expect_l[l][p]);
  // zero_unsure: 0 is uniform (-ln(1/2) = ln 2), v is label v-1.
  const std::vector<float> uz = unary_from_labels(labels, 4, 2, 0.6, true);
  const float u2 = 0.693147180559945f, p6 = 0.510825623765991f, n6 = 0.916290731874155f;  // ln 2, -ln 0.6, -ln 0.4
  const float expect_z[2][4] = {{u2, n6, p6, u2}, {u2, p6, n6, u2}};
  for (int l = 0; l < 2; ++l)
    for (int p = 0; p < 4; ++p) CHECK(uz[std::size_t(l) * 4 + p] == expect_z[l][p]);
  // Out of range values name the pixel.
  CHECK_THROWS_WITH(unary_from_labels(labels, 4, 2, 0.7f, false), Catch::Contains("pixel 1"));
  CHECK_THROWS_AS(unary_from_labels(labels, 4, 3, 1.0, false), UsageError);
  CHECK_THROWS_AS(unary_from_labels(labels, 4, 3, 0.0, false), UsageError);
  // A single label: no division by zero.
  const std::uint8_t zeros[3] = {0, 0, 0};
  for (float v : unary_from_labels(zeros, 3, 1, 0.7, false)) CHECK(std::isfinite(v));
}

TEST_CASE("single label, absent labels and presets", "[refine][crf]") {
  const Scene s = make_scene(30, 20, 3, 3);
  const std::size_t n = std::size_t(s.w) * s.h;
  const std::vector<std::uint8_t> zeros(n, 0);
  const CrfResult one = crf_from_labels(s.rgb.data(), s.w, s.h, zeros.data(), 1, crf_preset("irn").params);
  CHECK(one.labels == zeros);
  for (float v : one.q) CHECK(v == 1.0f);
  // Through the class itself, a single label also gives Q = 1 (no NaN).
  DenseCrf crf(s.w, s.h, 1);
  crf.set_unary(std::vector<float>(n, 0.35f));
  crf.add_gaussian(3, 3);
  crf.add_bilateral(50, 5, s.rgb.data(), 10);
  for (float v : crf.inference(5)) CHECK(v == 1.0f);

  // Labels 1 and 3 never occur in the map: they must not appear in the output.
  std::vector<std::uint8_t> sparse(n);
  for (std::size_t p = 0; p < n; ++p) sparse[p] = s.noisy_labels[p] == 0 ? 0 : 2;
  const CrfResult r = crf_from_labels(s.rgb.data(), s.w, s.h, sparse.data(), 5, crf_preset("irn").params);
  std::set<int> seen(r.labels.begin(), r.labels.end());
  CHECK(seen == std::set<int>{0, 2});

  CHECK(crf_preset("irn").params.bilateral_srgb == 5);
  CHECK(crf_preset("irn").unary == CrfUnary::Labels);
  CHECK(crf_preset("psa").params.bilateral_sxy == 80);
  CHECK(crf_preset("deeplab").params.gaussian_sxy == 1);
  CHECK(crf_preset("deeplab").params.bilateral_compat == 4);
  CHECK_THROWS_WITH(crf_preset("crf9"), Catch::Contains("irn, psa, deeplab"));
}

namespace {

// A two-region image with stripes of wrong labels; the CRF must keep the regions.
void check_large_image(int w, int h, const CrfParams& p) {
  const std::size_t n = std::size_t(w) * h;
  std::vector<std::uint8_t> rgb(n * 3), labels(n);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const std::size_t px = std::size_t(y) * w + x;
      const bool left = x < w / 2;
      rgb[px * 3 + 0] = left ? 200 : 40;
      rgb[px * 3 + 1] = std::uint8_t((x * 7 + y * 3) % 256);
      rgb[px * 3 + 2] = std::uint8_t(y % 256);
      labels[px] = (left != (x % 500 == 7)) ? 0 : 1;
    }
  const CrfResult r = crf_from_labels(rgb.data(), w, h, labels.data(), 2, p, 2);
  std::size_t correct = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) correct += r.labels[std::size_t(y) * w + x] == (x < w / 2 ? 0 : 1);
  std::size_t non_finite = 0;
  for (float v : r.q) non_finite += !std::isfinite(v);
  CHECK(non_finite == 0);
  CHECK(double(correct) / n > 0.99);
}

}  // namespace

TEST_CASE("a wide image with large coordinate/sigma ratios", "[refine][crf]") {
  // x / sxy reaches 4000 / 0.1 = 40000: beyond densecrf's int16 lattice keys.
  CrfParams p = crf_preset("irn").params;
  p.iterations = 3;
  p.gaussian_sxy = 0.1f;
  check_large_image(4000, 60, p);
  check_large_image(4000, 60, crf_preset("deeplab").params);
}

// Hidden (about a minute and 2 GB): wsss_unit_tests "[large]"
TEST_CASE("a 4000x3000 image runs through the lattice without overflow", "[.][refine][crf][large]") {
  CrfParams p = crf_preset("irn").params;
  p.iterations = 2;
  check_large_image(4000, 3000, p);
}

TEST_CASE("label set and CRF of a mask: pydensecrf's unary_from_labels with 255 unsure", "[refine][crf]") {
  // The label set: background, the record's labels, the mask's classes; not 255.
  const std::uint8_t m[6] = {7, 255, 3, 7, 255, 12};
  CHECK(mask_label_set(m, 6, 255, {}) == std::vector<int>{0, 3, 7, 12});
  CHECK(mask_label_set(m, 6, 255, {5, 3}) == std::vector<int>{0, 3, 5, 7, 12});
  const std::uint8_t unsure_only[2] = {255, 255};
  CHECK(mask_label_set(unsure_only, 2, 255, {}) == std::vector<int>{0});

  // crf_from_mask is crf_from_labels on the dense indices with zero_unsure.
  const Scene s = make_scene(40, 30, 3, 21);
  const std::size_t n = std::size_t(s.w) * s.h;
  const std::vector<int> classes = {0, 4, 9};
  std::vector<std::uint8_t> mask(n), dense(n);
  for (std::size_t p = 0; p < n; ++p) {
    const bool unsure = (p * 7919) % 13 == 0;
    mask[p] = unsure ? 255 : std::uint8_t(classes[s.noisy_labels[p]]);
    dense[p] = unsure ? 0 : std::uint8_t(s.noisy_labels[p] + 1);
  }
  CrfParams p = crf_preset("psa").params;
  p.iterations = 5;
  const CrfResult a = crf_from_mask(s.rgb.data(), s.w, s.h, mask.data(), 255, classes, p);
  CrfParams pz = p;
  pz.zero_unsure = true;
  const CrfResult b = crf_from_labels(s.rgb.data(), s.w, s.h, dense.data(), 3, pz);
  REQUIRE(a.q.size() == 3 * n);
  CHECK(std::memcmp(a.q.data(), b.q.data(), a.q.size() * sizeof(float)) == 0);
  CHECK(a.labels == b.labels);
  // Unsure pixels start uniform: with no iterations their marginals are exactly 1/3.
  p.iterations = 0;
  const CrfResult start = crf_from_mask(s.rgb.data(), s.w, s.h, mask.data(), 255, classes, p);
  for (std::size_t q = 0; q < n; ++q)
    if (mask[q] == 255) {
      for (int l = 0; l < 3; ++l) REQUIRE(start.q[std::size_t(l) * n + q] == Approx(1.0 / 3).epsilon(1e-6));
    } else {
      REQUIRE(start.q[std::size_t(s.noisy_labels[q]) * n + q] == Approx(0.7).epsilon(1e-6));
    }
  // A value outside the classes names itself and the pixel.
  mask[45] = 5;
  CHECK_THROWS_WITH(crf_from_mask(s.rgb.data(), s.w, s.h, mask.data(), 255, classes, p),
                    Catch::Contains("value 5 at pixel 45 (x 5, y 1)"));
  CHECK_THROWS_AS(crf_from_mask(s.rgb.data(), s.w, s.h, mask.data(), 255, {0, 9, 4}, p), UsageError);
  CHECK_THROWS_AS(crf_from_mask(s.rgb.data(), s.w, s.h, mask.data(), 255, {}, p), UsageError);
}

TEST_CASE("the exp of the CRF's softmax is within 2 ulp of libm's", "[refine][crf]") {
  double worst = 0;
  for (int i = 0; i <= 1000000; ++i) {
    const float x = -87.0f * float(i) / 1000000.0f;
    const double exact = std::exp(double(x));
    const double got = crf_exp(x);
    // In units of the float spacing at the exact value.
    const double ulp = double(std::nextafter(float(exact), 1.0f) - float(exact));
    worst = std::max(worst, std::fabs(got - exact) / ulp);
  }
  std::printf("crf_exp: worst error %.2f ulp over [-87, 0]\n", worst);
  CHECK(worst <= 2.0);
  CHECK(crf_exp(0.0f) == 1.0f);
  CHECK(crf_exp(-87.5f) == 0.0f);
  CHECK(crf_exp(-std::numeric_limits<float>::infinity()) == 0.0f);
}

TEST_CASE("every instruction set gives the same bits", "[refine][crf]") {
  std::vector<CrfSimd> simds;
  for (CrfSimd c : {CrfSimd::Baseline, CrfSimd::Avx2, CrfSimd::Avx512})
    if (crf_simd_available(c)) simds.push_back(c);
  std::printf("instruction sets on this CPU:");
  for (CrfSimd c : simds) std::printf(" %s", crf_simd_name(c));
  std::printf(" (best: %s)\n", crf_simd_name(crf_simd_best()));
  REQUIRE(crf_simd_available(CrfSimd::Baseline));
  // Every instruction set with every row width it runs (rows of 16 on AVX2 run the
  // row code of AVX-512), label counts from 1 to several register chunks per row.
  for (int labels : {1, 2, 3, 4, 5, 8, 12, 16, 21, 32, 50, 81}) {
    const Scene s = make_scene(37, 23, std::min(labels, 12), 100 + labels);
    const std::size_t n = std::size_t(s.w) * s.h;
    std::vector<float> unary(std::size_t(labels) * n);
    Rng rng(labels);
    for (float& u : unary) u = float(3.0 * rng.uniform());
    // One pixel whose every label but one is impossible (+inf energy).
    for (int l = 1; l < labels; ++l) unary[std::size_t(l) * n + 17] = std::numeric_limits<float>::infinity();
    std::vector<float> first;
    for (CrfSimd c : simds)
      for (int lanes : {0, 4, 8, 16})
      for (int threads : {1, 3}) {
        if (c == CrfSimd::Baseline && lanes > 4) continue;
        if (threads == 3 && lanes != 0) continue;
        DenseCrf crf(s.w, s.h, labels);
        crf.set_simd(c, lanes);
        crf.set_unary(unary);
        crf.add_gaussian(3, 3, threads);
        crf.add_bilateral(20, 10, s.rgb.data(), 5, threads);
        const std::vector<float> q = crf.inference(4, threads);
        for (float v : q) REQUIRE(std::isfinite(v));
        CHECK(q[17] == 1.0f);
        if (first.empty()) {
          first = q;
          continue;
        }
        INFO(labels << " labels, " << crf_simd_name(c) << ", rows of " << lanes << ", " << threads << " threads");
        REQUIRE(q.size() == first.size());
        CHECK(std::memcmp(q.data(), first.data(), q.size() * sizeof(float)) == 0);
      }
  }
  // The unary's checks.
  DenseCrf crf(2, 1, 2);
  const float inf = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH(crf.set_unary({inf, 0.f, inf, 0.f}), Catch::Contains("every label has infinite unary energy at pixel 0"));
  CHECK_THROWS_WITH(crf.set_unary({0.f, -inf, 1.f, 1.f}), Catch::Contains("pixel 1"));
  CHECK_THROWS_WITH(crf.set_unary({0.f, std::nanf(""), 1.f, 1.f}), Catch::Contains("pixel 1"));
  CHECK_THROWS_AS(crf.set_simd(CrfSimd::Baseline, 8), UsageError);
  CHECK_THROWS_AS(crf.set_simd(CrfSimd::Auto, 5), UsageError);
}
