#pragma once
// Private to the refine module: the dense CRF's inner loops (splat, blur, slice +
// softmax), vectorised across labels and compiled for several instruction sets
// (crf_kernels.cpp). Every instruction set performs the same IEEE operations on
// every label in the same order (no FMA contraction, one exp polynomial, one
// summation order), so they all give bit-identical marginals; they differ only in
// how many labels one instruction handles.
//
// Layout: per-pixel and per-vertex rows of `lp` floats (labels padded to a multiple
// of the kernel set's `lanes`). Vertex rows are numbered from 1; row 0 holds zeros
// and stands for an absent vertex.
#include <cstddef>
#include <cstdint>

#include "wsss/refine/densecrf.hpp"

namespace wsss::refine::detail {

// One pairwise kernel as the splat or the slice sees it.
struct SliceKernel {
  int corners = 0;                     // d+1
  const std::int32_t* row = nullptr;   // n x corners: vertex row of each simplex corner
  const float* weight = nullptr;       // n x corners: the corner's barycentric weight
  const float* factor = nullptr;       // n: each point's factor; a corner weighs weight * factor
  const float* values = nullptr;       // (m+1) x lp: the lattice values (slice)
};

struct CrfKernels {
  CrfSimd simd;
  int lanes;  // rows are padded to a multiple of this
  // values[k.row[p, r]] += (k.weight[p, r] * k.factor[p]) * q[p] for p in [0, n) and each corner r, in
  // that order (so every vertex sums its points in point order), over the lanes
  // [l0, l1) (multiples of `lanes`). `values` must be zero beforehand.
  void (*splat)(const SliceKernel& k, const float* q, std::size_t n, std::size_t lp, float* values, std::size_t l0,
                std::size_t l1);
  // out[v+1] = in[v+1] + 0.5 * (in[nb[2v]] + in[nb[2v+1]]) for v in [v0, v1) (nb: neighbour rows).
  void (*blur)(const std::int32_t* nb, const float* in, float* out, std::size_t lp, std::size_t v0,
               std::size_t v1);
  // For pixels p in [p0, p1): s = score0[p] + sum over kernels of (sum over corners of
  // (weight * factor) * values[row]); q[p] = softmax(s) over the row (padding lanes of
  // score0 are -inf, so they come out 0).
  void (*update)(const float* score0, const SliceKernel* kernels, int n_kernels, float* q, std::size_t lp,
                 std::size_t p0, std::size_t p1);
};

// The kernel set for `simd` (Auto: the best the CPU runs) and a label count, with rows
// of `row_lanes` (4, 8 or 16; 0: the fastest). Throws wsss::Error if the CPU lacks
// the instruction set asked for, UsageError for rows it does not run.
const CrfKernels& crf_kernels(CrfSimd simd, int n_labels, int row_lanes = 0);

}  // namespace wsss::refine::detail
