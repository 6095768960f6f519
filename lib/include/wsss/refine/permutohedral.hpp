#pragma once
// Permutohedral lattice (Adams, Baek & Davis, Eurographics 2010) for approximate
// Gaussian filtering out_i = sum_j exp(-|f_i - f_j|^2 / 2) in_j in time linear in the
// number of points, following Kraehenbuehl's densecrf (the engine of pydensecrf), so
// that our dense CRF carries the same approximation as the reference.
//
// Departures from densecrf, all for robustness or determinism, none changing the
// filter: lattice keys are int32 (densecrf's int16 keys overflow on large
// coordinate/sigma ratios), the elevation is computed in double, sizes are size_t, and
// every vertex sums its points in point order, so that every thread count gives
// byte-identical results.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace wsss::refine {

class PermutohedralLattice {
 public:
  // features: n_points rows of `dims` floats (row-major), already divided by the
  // kernel's standard deviations. Throws wsss::Error on non-finite features,
  // coordinates beyond the int32 key range or more points than the lattice indexes.
  void init(const float* features, std::size_t n_points, int dims, int threads = 1);

  // Filters `value_size` channels per point (row-major n_points x value_size).
  // `out` may alias `in`. The result is densecrf's: splat, [1 2 1]/2 blur along each
  // of the d+1 lattice axes, slice scaled by 1/(1+2^-d). (The dense CRF runs its own
  // fused, vectorised version of these steps over the arrays below.)
  void compute(const float* in, float* out, int value_size, int threads = 1) const;

  std::size_t points() const { return n_; }
  std::size_t vertices() const { return m_; }
  int dims() const { return d_; }
  // The slice's scale 1/(1+2^-d): the blur's total weight is (1+2^-d) times that of
  // the Gaussian it approximates.
  float slice_scale() const;

  // The lattice's structure. Vertex rows are numbered from 1 (vertex v is row v+1);
  // row 0 stands for "no vertex" and must hold zeros in any value array.
  struct Arrays {
    const std::int32_t* corner_row;     // n x (d+1): row of each simplex corner's vertex
    const float* barycentric;           // n x (d+1): weight of each corner
    const std::int32_t* neighbour_row;  // (d+1) x m x 2: rows of the two neighbours along each axis
  };
  Arrays arrays() const;

 private:
  int d_ = 0;
  std::size_t n_ = 0, m_ = 0;
  std::vector<std::int32_t> corner_row_;
  std::vector<float> barycentric_;
  std::vector<std::int32_t> neighbour_row_;
};

}  // namespace wsss::refine
