#include "wsss/refine/densecrf.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <sstream>
#include <string>

#include "chunked.hpp"
#include "crf_kernels.hpp"
#include "wsss/core/error.hpp"

namespace wsss::refine {

namespace {

constexpr std::size_t kPixelGrain = 4096;

float checked_sigma(float sigma, const char* what) {
  if (!std::isfinite(sigma) || sigma <= 0)
    throw UsageError(std::string("dense CRF: ") + what + " must be a positive number, got " +
                     std::to_string(sigma));
  return std::max(sigma, kCrfMinSigma);
}

void check_compat(float compat) {
  if (!std::isfinite(compat))
    throw UsageError("dense CRF: compatibility weight must be finite, got " + std::to_string(compat));
}

// A float buffer aligned to 64 bytes (one cache line, one AVX-512 vector), so that
// padded rows never straddle more lines than they must.
class AlignedFloats {
 public:
  explicit AlignedFloats(std::size_t n) {
    const std::size_t bytes = std::max<std::size_t>(64, (n * sizeof(float) + 63) / 64 * 64);
    data_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    if (!data_) throw std::bad_alloc();
  }
  float* data() { return data_.get(); }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float[], Free> data_;
};

}  // namespace

DenseCrf::DenseCrf(int width, int height, int n_labels) : width_(width), height_(height), n_labels_(n_labels) {
  if (width < 1 || height < 1)
    throw UsageError("dense CRF: image size must be positive, got " + std::to_string(width) + "x" +
                     std::to_string(height));
  if (n_labels < 1) throw UsageError("dense CRF: need at least one label, got " + std::to_string(n_labels));
}

void DenseCrf::set_unary(std::vector<float> energy) {
  const std::size_t n = pixels();
  if (energy.size() != n * n_labels_)
    throw Error("dense CRF: unary has " + std::to_string(energy.size()) + " values, expected " +
                std::to_string(n_labels_) + " labels x " + std::to_string(n) + " pixels");
  // +inf (probability 0) is a valid energy as long as some label of the pixel is finite.
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<unsigned char> possible(n, 0);
  for (int l = 0; l < n_labels_; ++l) {
    const float* u = energy.data() + std::size_t(l) * n;
    for (std::size_t p = 0; p < n; ++p) {
      if (std::isnan(u[p]) || u[p] == -inf)
        throw Error("dense CRF: unary energy is " + std::to_string(u[p]) + " at label " + std::to_string(l) +
                    ", pixel " + std::to_string(p));
      possible[p] |= u[p] != inf;
    }
  }
  for (std::size_t p = 0; p < n; ++p)
    if (!possible[p]) throw Error("dense CRF: every label has infinite unary energy at pixel " + std::to_string(p));
  unary_ = std::move(energy);
}

void DenseCrf::add_kernel(const std::vector<float>& features, int dims, float compat, int threads) {
  Kernel k;
  k.compat = compat;
  const std::size_t n = pixels();
  k.lattice.init(features.data(), n, dims, threads);
  std::vector<float> ones(n, 1.0f);
  k.splat_factor.resize(n);
  k.lattice.compute(ones.data(), k.splat_factor.data(), 1, threads);
  // NORMALIZE_SYMMETRIC; the 1e-20 is densecrf's guard (K 1 >= its self term anyway).
  for (float& v : k.splat_factor) v = 1.0f / std::sqrt(v + 1e-20f);
  const float scale = k.lattice.slice_scale();
  k.slice_factor.resize(n);
  for (std::size_t p = 0; p < n; ++p) k.slice_factor[p] = compat * (scale * k.splat_factor[p]);
  kernels_.push_back(std::move(k));
}

void DenseCrf::set_simd(CrfSimd simd, int row_lanes) {
  detail::crf_kernels(simd, n_labels_, row_lanes);  // throws if the CPU lacks it
  simd_ = simd;
  row_lanes_ = row_lanes;
}

void DenseCrf::add_gaussian(float sxy, float compat, int threads) {
  sxy = checked_sigma(sxy, "Gaussian sxy");
  check_compat(compat);
  std::vector<float> f(pixels() * 2);
  for (int y = 0; y < height_; ++y)
    for (int x = 0; x < width_; ++x) {
      const std::size_t p = std::size_t(y) * width_ + x;
      f[p * 2 + 0] = x / sxy;
      f[p * 2 + 1] = y / sxy;
    }
  add_kernel(f, 2, compat, threads);
}

void DenseCrf::add_bilateral(float sxy, float srgb, const std::uint8_t* rgb, float compat, int threads) {
  sxy = checked_sigma(sxy, "bilateral sxy");
  srgb = checked_sigma(srgb, "bilateral srgb");
  check_compat(compat);
  std::vector<float> f(pixels() * 5);
  for (int y = 0; y < height_; ++y)
    for (int x = 0; x < width_; ++x) {
      const std::size_t p = std::size_t(y) * width_ + x;
      f[p * 5 + 0] = x / sxy;
      f[p * 5 + 1] = y / sxy;
      for (int c = 0; c < 3; ++c) f[p * 5 + 2 + c] = rgb[p * 3 + c] / srgb;
    }
  add_kernel(f, 5, compat, threads);
}

std::vector<float> DenseCrf::inference(int iterations, int threads) const {
  if (iterations < 0) throw UsageError("dense CRF: iterations must be >= 0, got " + std::to_string(iterations));
  const std::size_t n = pixels();
  const int L = n_labels_;
  const detail::CrfKernels& kern = detail::crf_kernels(simd_, L, row_lanes_);
  // Pixel-major rows padded to the vector width: each lattice pass reads whole rows.
  const std::size_t lp = (std::size_t(L) + kern.lanes - 1) / kern.lanes * kern.lanes;
  AlignedFloats score0(n * lp), q(n * lp);
  // score0 = -U, and -inf in the padding lanes so that they get probability 0.
  detail::for_chunks(n, threads, kPixelGrain, [&](std::size_t p0, std::size_t p1) {
    float* s = score0.data();
    for (std::size_t b0 = p0; b0 < p1; b0 += 256) {  // transposed in blocks that stay in cache
      const std::size_t b1 = std::min(p1, b0 + 256);
      for (int l = 0; l < L; ++l) {
        const float* u = unary_.empty() ? nullptr : unary_.data() + std::size_t(l) * n;
        for (std::size_t p = b0; p < b1; ++p) s[p * lp + l] = u ? -u[p] : 0.f;
      }
      for (std::size_t p = b0; p < b1; ++p)
        for (std::size_t l = L; l < lp; ++l) s[p * lp + l] = -std::numeric_limits<float>::infinity();
    }
  });
  // Two value buffers per kernel (the blur ping-pongs), allocated once for all
  // iterations; row 0 of each stays zero (the absent vertex).
  std::vector<std::vector<float>> buffers;
  for (const Kernel& k : kernels_)
    for (int b = 0; b < 2; ++b) buffers.emplace_back((k.lattice.vertices() + 1) * lp, 0.f);
  std::vector<detail::SliceKernel> slices(kernels_.size());

  auto update = [&](int n_kernels) {
    detail::for_chunks(n, threads, kPixelGrain, [&](std::size_t p0, std::size_t p1) {
      kern.update(score0.data(), slices.data(), n_kernels, q.data(), lp, p0, p1);
    });
  };
  update(0);  // Q = softmax(-U)
  for (int it = 0; it < iterations; ++it) {
    // Every kernel splats the previous Q before the update overwrites it.
    for (std::size_t ki = 0; ki < kernels_.size(); ++ki) {
      const Kernel& k = kernels_[ki];
      const PermutohedralLattice::Arrays a = k.lattice.arrays();
      const std::size_t m = k.lattice.vertices();
      float* cur = buffers[2 * ki].data();
      float* next = buffers[2 * ki + 1].data();
      std::fill(cur + lp, cur + (m + 1) * lp, 0.f);
      // The scatter runs in point order; threads take disjoint groups of labels.
      const detail::SliceKernel splat{k.lattice.dims() + 1, a.corner_row, a.barycentric, k.splat_factor.data(),
                                      nullptr};
      detail::for_chunks(lp / kern.lanes, threads, 1, [&](std::size_t c0, std::size_t c1) {
        kern.splat(splat, q.data(), n, lp, cur, c0 * kern.lanes, c1 * kern.lanes);
      });
      for (int j = 0; j <= k.lattice.dims(); ++j) {
        const std::int32_t* nb = a.neighbour_row + std::size_t(j) * m * 2;
        detail::for_chunks(m, threads, 2048, [&](std::size_t v0, std::size_t v1) {
          kern.blur(nb, cur, next, lp, v0, v1);
        });
        std::swap(cur, next);
      }
      slices[ki] = {k.lattice.dims() + 1, a.corner_row, a.barycentric, k.slice_factor.data(), cur};
    }
    update(int(kernels_.size()));
  }
  std::vector<float> out(n * L);
  for (std::size_t b0 = 0; b0 < n; b0 += 256) {
    const std::size_t b1 = std::min(n, b0 + 256);
    for (int l = 0; l < L; ++l)
      for (std::size_t p = b0; p < b1; ++p) out[std::size_t(l) * n + p] = q.data()[p * lp + l];
  }
  return out;
}

std::vector<float> unary_from_probabilities(const float* prob, int n_labels, std::size_t n_pixels, float clip) {
  if (n_labels < 1) throw UsageError("unary_from_probabilities: need at least one label");
  if (!(clip > 0 && clip <= 1)) throw UsageError("unary_from_probabilities: clip must be in (0,1]");
  std::vector<float> u(std::size_t(n_labels) * n_pixels);
  for (std::size_t i = 0; i < u.size(); ++i) {
    const float p = prob[i];
    if (std::isnan(p))
      throw Error("dense CRF: probability is NaN at label " + std::to_string(i / n_pixels) + ", pixel " +
                  std::to_string(i % n_pixels));
    u[i] = -std::log(std::min(std::max(p, clip), 1.0f));
  }
  return u;
}

std::vector<float> unary_from_labels(const std::uint8_t* labels, std::size_t n_pixels, int n_labels,
                                     double gt_prob, bool zero_unsure) {
  if (n_labels < 1) throw UsageError("unary_from_labels: need at least one label");
  if (!(gt_prob > 0 && gt_prob < 1))
    throw UsageError("unary_from_labels: gt_prob must be in (0,1), got " + std::to_string(gt_prob));
  const float p_energy = float(-std::log(gt_prob));
  // Only defined with other labels to share 1-gt_prob; with one label nobody reads it.
  const float n_energy = n_labels > 1 ? float(-std::log((1.0 - gt_prob) / (n_labels - 1))) : 0.f;
  const float unsure_energy = float(-std::log(1.0 / n_labels));
  std::vector<float> u(std::size_t(n_labels) * n_pixels, n_energy);
  for (std::size_t p = 0; p < n_pixels; ++p) {
    const int v = labels[p];
    if (zero_unsure && v == 0) {
      for (int l = 0; l < n_labels; ++l) u[l * n_pixels + p] = unsure_energy;
      continue;
    }
    const int l = zero_unsure ? v - 1 : v;
    if (l >= n_labels) {
      std::ostringstream msg;
      msg << "dense CRF: label " << v << " at pixel " << p << " is out of range for " << n_labels
          << " labels" << (zero_unsure ? " (zero_unsure: values 0.." : " (values 0..")
          << (zero_unsure ? n_labels : n_labels - 1) << ")";
      throw Error(msg.str());
    }
    u[l * n_pixels + p] = p_energy;
  }
  return u;
}

std::vector<std::uint8_t> crf_argmax(const std::vector<float>& q, int n_labels, std::size_t n_pixels) {
  if (n_labels < 1 || n_labels > 256) throw UsageError("crf_argmax: n_labels must be in 1..256");
  if (q.size() != std::size_t(n_labels) * n_pixels) throw Error("crf_argmax: marginals have the wrong size");
  std::vector<std::uint8_t> out(n_pixels, 0);
  for (std::size_t p = 0; p < n_pixels; ++p) {
    float best = q[p];
    for (int l = 1; l < n_labels; ++l) {
      const float v = q[l * n_pixels + p];
      if (v > best) {
        best = v;
        out[p] = static_cast<std::uint8_t>(l);
      }
    }
  }
  return out;
}

const std::vector<CrfPreset>& crf_presets() {
  static const std::vector<CrfPreset> presets = [] {
    std::vector<CrfPreset> v;
    CrfParams irn;  // the struct defaults are IRN's
    v.push_back({"irn", CrfUnary::Labels, irn, "IRN misc/imutils.py crf_inference_label (IR labels)"});
    CrfParams psa;
    psa.bilateral_sxy = 80;
    psa.bilateral_srgb = 13;
    v.push_back({"psa", CrfUnary::Probabilities, psa, "PSA tool/imutils.py crf_inference"});
    CrfParams deeplab;
    deeplab.gaussian_sxy = 1;
    deeplab.gaussian_compat = 3;
    deeplab.bilateral_sxy = 67;
    deeplab.bilateral_srgb = 3;
    deeplab.bilateral_compat = 4;
    v.push_back({"deeplab", CrfUnary::Probabilities, deeplab, "deeplab-pytorch / CLIP-ES DenseCRF"});
    return v;
  }();
  return presets;
}

const CrfPreset& crf_preset(const std::string& name) {
  std::string names;
  for (const CrfPreset& p : crf_presets()) {
    if (p.name == name) return p;
    names += (names.empty() ? "" : ", ") + p.name;
  }
  throw UsageError("unknown CRF preset '" + name + "' (known: " + names + ")");
}

namespace {

CrfResult run_crf(const std::uint8_t* rgb, int width, int height, std::vector<float> unary, int n_labels,
                  const CrfParams& params, int threads) {
  DenseCrf crf(width, height, n_labels);
  crf.set_unary(std::move(unary));
  if (params.gaussian_compat != 0) crf.add_gaussian(params.gaussian_sxy, params.gaussian_compat, threads);
  if (params.bilateral_compat != 0)
    crf.add_bilateral(params.bilateral_sxy, params.bilateral_srgb, rgb, params.bilateral_compat, threads);
  CrfResult r;
  r.q = crf.inference(params.iterations, threads);
  r.labels = crf_argmax(r.q, n_labels, crf.pixels());
  return r;
}

}  // namespace

CrfResult crf_from_probabilities(const std::uint8_t* rgb, int width, int height, const float* prob, int n_labels,
                                 const CrfParams& params, int threads) {
  DenseCrf shape_check(width, height, n_labels);
  const std::size_t n = shape_check.pixels();
  return run_crf(rgb, width, height, unary_from_probabilities(prob, n_labels, n, params.prob_clip), n_labels,
                 params, threads);
}

CrfResult crf_from_labels(const std::uint8_t* rgb, int width, int height, const std::uint8_t* labels,
                          int n_labels, const CrfParams& params, int threads) {
  DenseCrf shape_check(width, height, n_labels);
  const std::size_t n = shape_check.pixels();
  std::vector<float> unary = unary_from_labels(labels, n, n_labels, params.gt_prob, params.zero_unsure);
  if (n_labels == 1) {
    // A single label has nothing to compete with: Q = 1 whatever the pairwise terms.
    CrfResult r;
    r.q.assign(n, 1.0f);
    r.labels.assign(n, 0);
    return r;
  }
  return run_crf(rgb, width, height, std::move(unary), n_labels, params, threads);
}

std::vector<int> mask_label_set(const std::uint8_t* mask, std::size_t n_pixels, std::uint8_t unsure,
                                const std::vector<int>& extra) {
  std::vector<bool> present(256, false);
  present[0] = true;
  for (int c : extra) {
    if (c < 0 || c > 255) throw Error("dense CRF: class id " + std::to_string(c) + " is not in 0..255");
    present[std::size_t(c)] = true;
  }
  for (std::size_t p = 0; p < n_pixels; ++p)
    if (mask[p] != unsure) present[mask[p]] = true;
  std::vector<int> classes;
  for (int c = 0; c < 256; ++c)
    if (present[std::size_t(c)] && c != unsure) classes.push_back(c);
  return classes;
}

CrfResult crf_from_mask(const std::uint8_t* rgb, int width, int height, const std::uint8_t* mask,
                        std::uint8_t unsure, const std::vector<int>& classes, const CrfParams& params, int threads) {
  const int n_labels = int(classes.size());
  if (n_labels < 1 || n_labels > 255)
    throw UsageError("dense CRF on a mask: need 1..255 classes, got " + std::to_string(n_labels));
  // pydensecrf's zero_unsure convention: 0 = unsure, i+1 = the CRF's label i.
  std::array<int, 256> index;
  index.fill(-1);
  for (int i = 0; i < n_labels; ++i) {
    const int c = classes[std::size_t(i)];
    if (c < 0 || c > 255 || c == unsure || (i > 0 && c <= classes[std::size_t(i) - 1]))
      throw UsageError("dense CRF on a mask: classes must be ascending ids in 0..255 other than the unsure value");
    index[std::size_t(c)] = i + 1;
  }
  index[unsure] = 0;
  DenseCrf shape_check(width, height, n_labels);
  const std::size_t n = shape_check.pixels();
  std::vector<std::uint8_t> dense(n);
  for (std::size_t p = 0; p < n; ++p) {
    const int i = index[mask[p]];
    if (i < 0)
      throw Error("dense CRF on a mask: value " + std::to_string(mask[p]) + " at pixel " + std::to_string(p) +
                  " (x " + std::to_string(p % std::size_t(width)) + ", y " + std::to_string(p / std::size_t(width)) +
                  ") is not among the CRF's classes");
    dense[p] = static_cast<std::uint8_t>(i);
  }
  CrfParams zero_unsure = params;
  zero_unsure.zero_unsure = true;
  return crf_from_labels(rgb, width, height, dense.data(), n_labels, zero_unsure, threads);
}

}  // namespace wsss::refine
