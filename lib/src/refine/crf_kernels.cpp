// The dense CRF's inner loops, written once over GCC/Clang vector types and
// instantiated for three instruction sets: the target's baseline (SSE2 on x86-64,
// 4 lanes), AVX2 (8 lanes) and AVX-512F (16 lanes), chosen at run time. The build
// has no -march flags: the AVX2 and AVX-512 copies are compiled through function
// target attributes and only called when the CPU reports them.
//
// Determinism across instruction sets. Each label's value goes through the same
// IEEE single-precision operations in the same order whatever the vector width:
//  - no multiply-add contraction (AVX-512F implies FMA, and GCC would otherwise fuse
//    a*b+c even in ISO mode), hence the pragmas below;
//  - exp is our own polynomial (libm's expf has FMA and non-FMA variants chosen by
//    the CPU, and its vector versions round differently from its scalar one);
//  - the only reduction across labels whose result depends on order, the softmax
//    sum, always runs as 8 partial sums over 8-label chunks, added in chunk order,
//    then folded 8 -> 4 -> 2 -> 1 in a fixed tree, using 4-lane operations on every
//    instruction set. The maximum is exact in any order.
// Padding lanes hold 0 in q and -inf in the unary scores, so they neither change a
// real label's value nor the sum (x + 0 == x).
#include "crf_kernels.hpp"

#include <cstring>
#include <string>

#include "wsss/core/error.hpp"

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#if defined(__x86_64__) || defined(__i386__)
#define WSSS_CRF_X86 1
#else
#define WSSS_CRF_X86 0
#endif

namespace wsss::refine::detail {

namespace {

#define WSSS_INLINE inline __attribute__((always_inline))
// Fully unrolled so that a row chunk's accumulators live in registers.
#if defined(__clang__)
#define WSSS_UNROLL _Pragma("clang loop unroll(full)")
#else
#define WSSS_UNROLL _Pragma("GCC unroll 8")
#endif

typedef float f4 __attribute__((vector_size(16)));
typedef float f8 __attribute__((vector_size(32)));
typedef float f16 __attribute__((vector_size(64)));

template <class V>
constexpr int lanes_of() {
  return int(sizeof(V) / sizeof(float));
}

template <class V>
WSSS_INLINE V load(const float* p) {
  V v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
// Vectors go by reference: passing a 32- or 64-byte vector by value from code
// compiled without AVX is an ABI GCC warns about, even where everything is inlined.
template <class V>
WSSS_INLINE void store(float* p, const V& v) {
  __builtin_memcpy(p, &v, sizeof v);
}
template <class V>
WSSS_INLINE V broadcast(float x) {
  V v;
  for (int i = 0; i < lanes_of<V>(); ++i) v[i] = x;
  return v;
}

// exp(x) for x <= 0: Cody-Waite reduction x = n ln2 + r (ln2 split in two so that
// n * ln2_hi is exact), the degree-5 minimax polynomial of Cephes' expf for e^r,
// and 2^n built in the exponent bits. Relative error about 1 ulp (tested against
// libm); inputs below -87 give exactly 0 (e^-87 ~ 1.6e-38 is below anything the
// softmax can resolve next to its largest term, 1), including -inf. The clamps keep
// n in [-126, 0] for any input (x > 0 counts as 0, NaN as below -87), so that the
// exponent arithmetic never overflows.
template <class V>
WSSS_INLINE V exp_nonpositive(const V& x) {
  using I = decltype(x < x);
  const V lo = broadcast<V>(-87.0f);
  const I in_range = x >= lo;
  const V xc = in_range ? (x < V{} ? x : V{}) : lo;
  const V round = broadcast<V>(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  const V n = (xc * broadcast<V>(1.44269504088896341f) + round) - round;
  V r = xc - n * broadcast<V>(0.693359375f);
  r = r - n * broadcast<V>(-2.12194440e-4f);
  const V z = r * r;
  V y = broadcast<V>(1.9875691500e-4f);
  y = y * r + broadcast<V>(1.3981999507e-3f);
  y = y * r + broadcast<V>(8.3334519073e-3f);
  y = y * r + broadcast<V>(4.1665795894e-2f);
  y = y * r + broadcast<V>(1.6666665459e-1f);
  y = y * r + broadcast<V>(5.0000001201e-1f);
  y = y * z + r + broadcast<V>(1.0f);
  const I bits = (__builtin_convertvector(n, I) + 127) << 23;  // n in [-126, 0]: a normal 2^n
  V scale;
  __builtin_memcpy(&scale, &bits, sizeof scale);
  return in_range ? y * scale : V{};
}

// Row chunks of up to chunk_of<V>() vectors stay in registers while the entries
// stream by: 6 for vectors of up to 8 lanes (16 registers), 4 for 16-lane ones
// (which take two registers each under AVX2).
template <class V>
constexpr int chunk_of() {
  return lanes_of<V>() > 8 ? 4 : 6;
}

// Splatting scatters in point order: q streams through once, and the vertex rows it
// adds into are those of the last few image rows, which stay in cache. (A gather
// per vertex would read each q row d+1 times from a window of the image as tall
// as the kernel, far beyond the L2 cache for the bilateral kernel.)
template <class V, int NV, int C>
WSSS_INLINE void splat_chunk(const SliceKernel& k, const float* q, std::size_t n, std::size_t lp, float* values) {
  constexpr int W = lanes_of<V>();
  const int corners = C > 0 ? C : k.corners;
  for (std::size_t p = 0; p < n; ++p) {
    V x[NV];
    WSSS_UNROLL for (int j = 0; j < NV; ++j) x[j] = load<V>(q + p * lp + j * W);
    const std::int32_t* row = k.row + p * corners;
    const float* wt = k.weight + p * corners;
    const float f = k.factor[p];
    for (int r = 0; r < corners; ++r) {
      const V w = broadcast<V>(wt[r] * f);
      float* o = values + std::size_t(row[r]) * lp;
      WSSS_UNROLL for (int j = 0; j < NV; ++j) store(o + j * W, load<V>(o + j * W) + w * x[j]);
    }
  }
}

// Runs CALL(NV) over the row in chunks of NV <= chunk_of<V>() vectors starting at `off`.
// (A macro rather than a lambda: a lambda's body would not inherit the target
// attribute of the function it is written in.)
#define WSSS_FOR_ROW_CHUNKS(V, LP, CALL)                                      \
  for (std::size_t off = 0; off < (LP); off += chunk_of<V>() * lanes_of<V>()) { \
    const std::size_t left = ((LP)-off) / lanes_of<V>();                     \
    const std::size_t most = chunk_of<V>();                                  \
    switch (left >= most ? most : left) {                                    \
      case 1: CALL(1); break;                                                \
      case 2: CALL(2); break;                                                \
      case 3: CALL(3); break;                                                \
      case 4: CALL(4); break;                                                \
      case 5: CALL(5); break;                                                \
      default: CALL(6); break;                                               \
    }                                                                        \
  }

template <class V>
WSSS_INLINE void splat_impl(const SliceKernel& k, const float* q, std::size_t n, std::size_t lp, float* values,
                            std::size_t l0, std::size_t l1) {
  // The CRF's kernels have 3 (Gaussian) and 6 (bilateral) corners: unrolled.
#define WSSS_SPLAT_CHUNK(NV)                                                                \
  (k.corners == 3   ? splat_chunk<V, NV, 3>(k, q + l0 + off, n, lp, values + l0 + off)    \
   : k.corners == 6 ? splat_chunk<V, NV, 6>(k, q + l0 + off, n, lp, values + l0 + off)    \
                    : splat_chunk<V, NV, 0>(k, q + l0 + off, n, lp, values + l0 + off))
  WSSS_FOR_ROW_CHUNKS(V, l1 - l0, WSSS_SPLAT_CHUNK)
#undef WSSS_SPLAT_CHUNK
}

template <class V>
WSSS_INLINE void blur_impl(const std::int32_t* nb, const float* in, float* out, std::size_t lp, std::size_t v0,
                           std::size_t v1) {
  constexpr std::size_t W = lanes_of<V>();
  const V half = broadcast<V>(0.5f);
  for (std::size_t v = v0; v < v1; ++v) {
    const float* c = in + (v + 1) * lp;
    const float* a = in + std::size_t(nb[2 * v]) * lp;
    const float* b = in + std::size_t(nb[2 * v + 1]) * lp;
    float* o = out + (v + 1) * lp;
    for (std::size_t k = 0; k < lp; k += W) store(o + k, load<V>(c + k) + half * (load<V>(a + k) + load<V>(b + k)));
  }
}

template <class V, int NV>
WSSS_INLINE void slice_chunk(std::size_t p, const float* score0, const SliceKernel* kernels, int n_kernels,
                             std::size_t lp, std::size_t off, float* out) {
  constexpr int W = lanes_of<V>();
  V s[NV];
  WSSS_UNROLL for (int j = 0; j < NV; ++j) s[j] = load<V>(score0 + off + j * W);
  for (int k = 0; k < n_kernels; ++k) {
    const SliceKernel& K = kernels[k];
    const std::int32_t* row = K.row + p * K.corners;
    const float* wt = K.weight + p * K.corners;
    const float f = K.factor[p];
    V acc[NV];
    {
      const V w = broadcast<V>(wt[0] * f);
      const float* x = K.values + std::size_t(row[0]) * lp + off;
      WSSS_UNROLL for (int j = 0; j < NV; ++j) acc[j] = w * load<V>(x + j * W);
    }
    for (int r = 1; r < K.corners; ++r) {
      const V w = broadcast<V>(wt[r] * f);
      const float* x = K.values + std::size_t(row[r]) * lp + off;
      WSSS_UNROLL for (int j = 0; j < NV; ++j) acc[j] += w * load<V>(x + j * W);
    }
    WSSS_UNROLL for (int j = 0; j < NV; ++j) s[j] += acc[j];
  }
  WSSS_UNROLL for (int j = 0; j < NV; ++j) store(out + off + j * W, s[j]);
}

// Pixels per block of the update: their rows stay in L1 between its passes.
constexpr std::size_t kBlock = 64;

// VR: the vector for row operations (a row's length is a multiple of its lanes);
// VE: the widest vector of the instruction set, for the exponentials, which run
// over a whole block of rows at once (elementwise, so the grouping changes nothing).
template <class VR, class VE>
WSSS_INLINE void update_impl(const float* score0, const SliceKernel* kernels, int n_kernels, float* q,
                             std::size_t lp, std::size_t p0, std::size_t p1) {
  constexpr std::size_t W = lanes_of<VR>(), WE = lanes_of<VE>();
  for (std::size_t b0 = p0; b0 < p1; b0 += kBlock) {
    const std::size_t b1 = b0 + kBlock < p1 ? b0 + kBlock : p1;
    // 1. s = -U + sum of the kernels' messages.
    for (std::size_t p = b0; p < b1; ++p) {
      float* out = q + p * lp;
      const float* s0 = score0 + p * lp;
#define WSSS_SLICE_CHUNK(NV) slice_chunk<VR, NV>(p, s0, kernels, n_kernels, lp, off, out)
      WSSS_FOR_ROW_CHUNKS(VR, lp, WSSS_SLICE_CHUNK)
#undef WSSS_SLICE_CHUNK
    }
    // 2. Subtract each row's maximum (exact in any order).
    for (std::size_t p = b0; p < b1; ++p) {
      float* row = q + p * lp;
      VR mx = load<VR>(row);
      for (std::size_t k = W; k < lp; k += W) {
        const VR x = load<VR>(row + k);
        mx = x > mx ? x : mx;
      }
      float m = mx[0];
      for (std::size_t i = 1; i < W; ++i) m = mx[i] > m ? mx[i] : m;
      const VR mv = broadcast<VR>(m);
      for (std::size_t k = 0; k < lp; k += W) store(row + k, load<VR>(row + k) - mv);
    }
    // 3. Exponentials over the block.
    float* x = q + b0 * lp;
    const std::size_t len = (b1 - b0) * lp;
    std::size_t i = 0;
    for (; i + WE <= len; i += WE) store(x + i, exp_nonpositive<VE>(load<VE>(x + i)));
    for (; i < len; i += 4) store(x + i, exp_nonpositive<f4>(load<f4>(x + i)));
    // 4. Normalise (see the file comment for the fixed summation order).
    for (std::size_t p = b0; p < b1; ++p) {
      float* row = q + p * lp;
      f4 lo{}, hi{};
      for (std::size_t k = 0; k < lp; k += 8) {
        lo += load<f4>(row + k);
        if (k + 4 < lp) hi += load<f4>(row + k + 4);
      }
      const f4 t = lo + hi;
      const VR inv = broadcast<VR>(1.0f / ((t[0] + t[2]) + (t[1] + t[3])));
      for (std::size_t k = 0; k < lp; k += W) store(row + k, load<VR>(row + k) * inv);
    }
  }
}

// ---- The instantiations ----

#define WSSS_CRF_KERNEL_SET(PREFIX, ATTR, VR, VE)                                                                 \
  ATTR void PREFIX##_splat(const SliceKernel& k, const float* q, std::size_t n, std::size_t lp, float* values,  \
                           std::size_t l0, std::size_t l1) {                                                      \
    splat_impl<VR>(k, q, n, lp, values, l0, l1);                                                                  \
  }                                                                                                               \
  ATTR void PREFIX##_blur(const std::int32_t* nb, const float* in, float* out, std::size_t lp, std::size_t v0,  \
                          std::size_t v1) {                                                                       \
    blur_impl<VR>(nb, in, out, lp, v0, v1);                                                                       \
  }                                                                                                               \
  ATTR void PREFIX##_update(const float* score0, const SliceKernel* kernels, int n_kernels, float* q,            \
                            std::size_t lp, std::size_t p0, std::size_t p1) {                                    \
    update_impl<VR, VE>(score0, kernels, n_kernels, q, lp, p0, p1);                                               \
  }

// Rows of 4 lanes serve up to 4 labels on every instruction set, and every label
// count on the baseline; rows of 8 and 16 serve the rest. AVX2 can also run rows of
// 16 (two registers a vector, 2.5x slower: never chosen automatically) so that an
// AVX2 machine's tests exercise the row code of AVX-512 too.
WSSS_CRF_KERNEL_SET(base, , f4, f4)
#if WSSS_CRF_X86
#define WSSS_AVX2 __attribute__((target("avx2")))
#define WSSS_AVX512 __attribute__((target("avx512f")))
WSSS_CRF_KERNEL_SET(avx2_4, WSSS_AVX2, f4, f8)
WSSS_CRF_KERNEL_SET(avx2_8, WSSS_AVX2, f8, f8)
WSSS_CRF_KERNEL_SET(avx2_16, WSSS_AVX2, f16, f16)
WSSS_CRF_KERNEL_SET(avx512_4, WSSS_AVX512, f4, f16)
WSSS_CRF_KERNEL_SET(avx512_8, WSSS_AVX512, f8, f16)
WSSS_CRF_KERNEL_SET(avx512_16, WSSS_AVX512, f16, f16)
#endif

__attribute__((noinline)) float exp_scalar(float x) {
  return exp_nonpositive<f4>(broadcast<f4>(x))[0];
}

}  // namespace

bool cpu_has(CrfSimd simd) {
#if WSSS_CRF_X86
  __builtin_cpu_init();
  if (simd == CrfSimd::Avx2) return __builtin_cpu_supports("avx2");
  if (simd == CrfSimd::Avx512) return __builtin_cpu_supports("avx512f");
#endif
  return simd == CrfSimd::Baseline;
}

const CrfKernels& crf_kernels(CrfSimd simd, int n_labels, int row_lanes) {
  static const CrfKernels base{CrfSimd::Baseline, 4, base_splat, base_blur, base_update};
  if (simd == CrfSimd::Auto) simd = crf_simd_best();
  if (!cpu_has(simd)) throw Error(std::string("dense CRF: this CPU cannot run the ") + crf_simd_name(simd) + " kernels");
  if (row_lanes != 0 && row_lanes != 4 && row_lanes != 8 && row_lanes != 16)
    throw UsageError("dense CRF: rows of " + std::to_string(row_lanes) + " lanes (expected 4, 8 or 16)");
#if WSSS_CRF_X86
  static const CrfKernels avx2_4{CrfSimd::Avx2, 4, avx2_4_splat, avx2_4_blur, avx2_4_update};
  static const CrfKernels avx2_8{CrfSimd::Avx2, 8, avx2_8_splat, avx2_8_blur, avx2_8_update};
  static const CrfKernels avx2_16{CrfSimd::Avx2, 16, avx2_16_splat, avx2_16_blur, avx2_16_update};
  static const CrfKernels avx512_4{CrfSimd::Avx512, 4, avx512_4_splat, avx512_4_blur, avx512_4_update};
  static const CrfKernels avx512_8{CrfSimd::Avx512, 8, avx512_8_splat, avx512_8_blur, avx512_8_update};
  static const CrfKernels avx512_16{CrfSimd::Avx512, 16, avx512_16_splat, avx512_16_blur, avx512_16_update};
  if (row_lanes == 0) {
    // The loops are bound by memory traffic, which padding increases: rows get the
    // widest vector of the instruction set that adds no padding lanes over the next
    // narrower one.
    const int pad8 = (n_labels + 7) / 8 * 8, pad16 = (n_labels + 15) / 16 * 16;
    row_lanes = (n_labels <= 4 || simd == CrfSimd::Baseline) ? 4 : (simd == CrfSimd::Avx512 && pad16 == pad8) ? 16 : 8;
  }
  if (simd == CrfSimd::Avx2) return row_lanes == 4 ? avx2_4 : row_lanes == 8 ? avx2_8 : avx2_16;
  if (simd == CrfSimd::Avx512) return row_lanes == 4 ? avx512_4 : row_lanes == 8 ? avx512_8 : avx512_16;
#else
  (void)n_labels;
#endif
  if (row_lanes > 4) throw UsageError("dense CRF: the baseline kernels have rows of 4 lanes only");
  return base;
}

}  // namespace wsss::refine::detail

namespace wsss::refine {

float crf_exp(float x) { return detail::exp_scalar(x); }

bool crf_simd_available(CrfSimd simd) { return simd == CrfSimd::Auto || detail::cpu_has(simd); }

CrfSimd crf_simd_best() {
  static const CrfSimd best = detail::cpu_has(CrfSimd::Avx512) ? CrfSimd::Avx512
                              : detail::cpu_has(CrfSimd::Avx2) ? CrfSimd::Avx2
                                                       : CrfSimd::Baseline;
  return best;
}

const char* crf_simd_name(CrfSimd simd) {
  switch (simd) {
    case CrfSimd::Auto: return "auto";
    case CrfSimd::Baseline: return "baseline";
    case CrfSimd::Avx2: return "avx2";
    case CrfSimd::Avx512: return "avx512";
  }
  return "?";
}

}  // namespace wsss::refine
