#pragma once
// Fully connected CRF (Kraehenbuehl & Koltun, NIPS 2011) with the semantics of
// pydensecrf's DenseCRF2D: Potts compatibility, symmetric kernel normalisation,
// kernels that include the i=j term, and naive mean-field inference
//   Q = softmax(-U);  repeat: Q = softmax(-U + sum_k w_k * Ktilde_k Q)
// where Ktilde Q = n (.) K(n (.) Q), n = 1/sqrt(K 1), and K is filtered with a
// permutohedral lattice. See docs/refinement.md.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "wsss/refine/permutohedral.hpp"

namespace wsss::refine {

// Standard deviations below this are raised to it. Features are integers (pixel
// coordinates, uint8 colours), so at 0.1 two different values are already 10 sigma
// apart: their kernel value exp(-50) ~ 2e-22 vanishes next to the self term in
// float32 and the lattice cannot connect them either. Smaller values change nothing in
// the model but push lattice coordinates towards overflow (pydensecrf#98 crashes).
constexpr float kCrfMinSigma = 0.1f;

// Instruction sets for the CRF's inner loops (vectorised across labels). All of them
// give bit-identical marginals (docs/refinement.md, "Determinism"); they differ in
// speed only. Auto picks the best the CPU runs: AVX-512F, AVX2, then the baseline
// (SSE2 on x86-64).
enum class CrfSimd { Auto, Baseline, Avx2, Avx512 };
bool crf_simd_available(CrfSimd simd);
CrfSimd crf_simd_best();
const char* crf_simd_name(CrfSimd simd);
// exp(x) for x <= 0 as the CRF's softmax computes it on every instruction set (its
// own polynomial, within 2 ulp of libm's; exactly 0 below -87). For tests.
float crf_exp(float x);

class DenseCrf {
 public:
  // width first, as pydensecrf's DenseCRF2D(W, H, n_labels). n_labels >= 1.
  DenseCrf(int width, int height, int n_labels);

  // Energies -log p, label-major (n_labels x height x width), as setUnaryEnergy.
  // Without a unary the energies are 0 (uniform start), as in densecrf.
  void set_unary(std::vector<float> energy);

  // Kernel exp(-|dp|^2 / (2 sxy^2)) over pixel positions; Potts weight `compat`.
  void add_gaussian(float sxy, float compat, int threads = 1);
  // Kernel over (x/sxy, y/sxy, c0/srgb, c1/srgb, c2/srgb) with the channels in the
  // order given: rgb is height x width x 3 interleaved, row-major, no padding.
  void add_bilateral(float sxy, float srgb, const std::uint8_t* rgb, float compat, int threads = 1);

  // Mean-field marginals after `iterations` updates, label-major (n_labels x H x W).
  // Byte-identical for every thread count and instruction set.
  std::vector<float> inference(int iterations, int threads = 1) const;

  // Forces an instruction set and optionally the row width in lanes (4, 8 or 16; 0:
  // the fastest for the label count), for tests and benchmarks. Error if the CPU
  // lacks the instruction set, UsageError for a width it does not run (baseline: 4).
  void set_simd(CrfSimd simd, int row_lanes = 0);

  int width() const { return width_; }
  int height() const { return height_; }
  int labels() const { return n_labels_; }
  std::size_t pixels() const { return std::size_t(width_) * std::size_t(height_); }

 private:
  struct Kernel {
    PermutohedralLattice lattice;
    float compat = 0;
    // The normalisation n = 1/sqrt(K 1) and the Potts weight become per-pixel
    // factors of the lattice's barycentric weights: splatting n_j Q_j and slicing
    // with compat * (1+2^-d)^-1 * n_i gives compat * Ktilde Q.
    std::vector<float> splat_factor;  // n_i
    std::vector<float> slice_factor;  // compat * ((1+2^-d)^-1 * n_i)
  };
  void add_kernel(const std::vector<float>& features, int dims, float compat, int threads);

  int width_, height_, n_labels_;
  std::vector<float> unary_;  // label-major L x N as given, empty = zero energies
  std::vector<Kernel> kernels_;
  CrfSimd simd_ = CrfSimd::Auto;
  int row_lanes_ = 0;
};

// -log(clamp(p, clip, 1)) without renormalising, as pydensecrf's unary_from_softmax.
// prob is label-major n_labels x n_pixels.
std::vector<float> unary_from_probabilities(const float* prob, int n_labels, std::size_t n_pixels,
                                            float clip = 1e-5f);

// pydensecrf's unary_from_labels: the given label gets -log(gt_prob), every other label
// -log((1-gt_prob)/(n_labels-1)). With zero_unsure, value 0 means "unknown" (uniform
// energy) and value v>0 is label v-1. With a single label there are no other labels,
// so there is nothing to divide (pydensecrf divides by zero there). Label values out of
// range throw wsss::Error naming the pixel; gt_prob outside (0,1) is a UsageError.
// The energies are computed in double and rounded once to float, as numpy does.
std::vector<float> unary_from_labels(const std::uint8_t* labels, std::size_t n_pixels, int n_labels,
                                     double gt_prob, bool zero_unsure);

// Index of the largest marginal per pixel (first one on ties), from label-major q.
std::vector<std::uint8_t> crf_argmax(const std::vector<float>& q, int n_labels, std::size_t n_pixels);

struct CrfParams {
  int iterations = 10;
  float gaussian_sxy = 3, gaussian_compat = 3;
  float bilateral_sxy = 50, bilateral_srgb = 5, bilateral_compat = 10;
  double gt_prob = 0.7;      // label unaries only
  bool zero_unsure = false;  // label unaries only
  float prob_clip = 1e-5f;   // probability unaries only
};

enum class CrfUnary { Labels, Probabilities };

struct CrfPreset {
  std::string name;
  CrfUnary unary;  // the input the reference code feeds this preset
  CrfParams params;
  std::string origin;
};

// "irn", "psa", "deeplab"; an unknown name is a UsageError listing these.
const CrfPreset& crf_preset(const std::string& name);
const std::vector<CrfPreset>& crf_presets();

struct CrfResult {
  std::vector<float> q;               // label-major n_labels x H x W
  std::vector<std::uint8_t> labels;   // H x W argmax
};

// Runs the CRF of `params` (Gaussian + bilateral; a kernel with compat 0 is left out)
// on rgb (H x W x 3) with unaries from label-major probabilities.
CrfResult crf_from_probabilities(const std::uint8_t* rgb, int width, int height, const float* prob,
                                 int n_labels, const CrfParams& params, int threads = 1);
// The same with unaries from a label map (values 0..n_labels-1, or 0..n_labels with
// zero_unsure). With n_labels == 1 the CRF is skipped: Q = 1 and every label is 0.
CrfResult crf_from_labels(const std::uint8_t* rgb, int width, int height, const std::uint8_t* labels,
                          int n_labels, const CrfParams& params, int threads = 1);

// ---- The CRF on a label mask (pseudo masks, SAM masks, predictions) ----

// The CRF's labels for a mask of class ids: background 0, the classes in `extra`
// (the record's image labels) and every value present in the mask except `unsure`,
// ascending and without repeats.
std::vector<int> mask_label_set(const std::uint8_t* mask, std::size_t n_pixels, std::uint8_t unsure,
                                const std::vector<int>& extra);

// The dense CRF of `params` with pydensecrf's unary_from_labels on a mask: the CRF's
// label i is class classes[i]; a pixel of class c gets -log(gt_prob) for c and
// -log((1 - gt_prob)/(n-1)) for every other label, a pixel valued `unsure` gets
// -log(1/n) everywhere (zero_unsure). Every mask value other than `unsure` must be in
// `classes` (ascending, at most 255 entries); otherwise wsss::Error names the value
// and the pixel. Q is label-major in the order of `classes`.
CrfResult crf_from_mask(const std::uint8_t* rgb, int width, int height, const std::uint8_t* mask,
                        std::uint8_t unsure, const std::vector<int>& classes, const CrfParams& params,
                        int threads = 1);

}  // namespace wsss::refine
