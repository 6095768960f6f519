#include "wsss/refine/permutohedral.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>

#include "chunked.hpp"
#include "wsss/core/error.hpp"

namespace wsss::refine {

namespace {

constexpr int kMaxDims = 16;
// Elevated coordinates are rounded to multiples of d+1 and then shifted by at most
// d+1; keeping them below 2^30 leaves the int32 keys and neighbour keys in range.
constexpr double kMaxElevated = 1073741824.0;

// Open-addressing hash table from d int32 coordinates to dense vertex ids, filled in
// a fixed order so that vertex ids (and thus every sum over them) are reproducible.
// Each slot holds the key's 32-bit hash next to its id, so that a probe reads the
// stored key only when the hashes match; the table starts small (lattices have far
// fewer vertices than points) and doubles when half full.
class LatticeHash {
 public:
  LatticeHash(int key_size, std::size_t expected) : key_size_(key_size) {
    std::size_t capacity = 1024;
    while (capacity < expected) capacity *= 2;
    table_.assign(capacity, 0);
  }
  std::size_t size() const { return filled_; }
  const std::int32_t* key(std::size_t id) const { return keys_.data() + id * key_size_; }

  template <int D>
  std::int32_t find_or_insert(const std::int32_t* k) {
    if (2 * (filled_ + 1) > table_.size()) grow();
    const std::uint32_t h = hash<D>(k);
    const std::size_t mask = table_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      const std::uint64_t e = table_[i];
      if (e == 0) {
        if (filled_ >= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
          throw Error("permutohedral lattice: more than 2^31 lattice vertices (image too large)");
        keys_.insert(keys_.end(), k, k + key_size_);
        table_[i] = pack(h, filled_);
        return static_cast<std::int32_t>(filled_++);
      }
      if (std::uint32_t(e >> 32) == h && same<D>(k, key(id_of(e)))) return id_of(e);
    }
  }
  template <int D>
  std::int32_t find(const std::int32_t* k) const {
    const std::uint32_t h = hash<D>(k);
    const std::size_t mask = table_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      const std::uint64_t e = table_[i];
      if (e == 0) return -1;
      if (std::uint32_t(e >> 32) == h && same<D>(k, key(id_of(e)))) return id_of(e);
    }
  }

  // D > 0: the key size known at compile time (it equals key_size_).
  template <int D>
  bool same(const std::int32_t* a, const std::int32_t* b) const {
    const int n = D > 0 ? D : key_size_;
    for (int i = 0; i < n; ++i)
      if (a[i] != b[i]) return false;
    return true;
  }

 private:
  static std::uint64_t pack(std::uint32_t h, std::size_t id) { return (std::uint64_t(h) << 32) | (id + 1); }
  static std::int32_t id_of(std::uint64_t e) { return static_cast<std::int32_t>((e & 0xffffffffu) - 1); }
  template <int D>
  std::uint32_t hash(const std::int32_t* k) const {
    const int n = D > 0 ? D : key_size_;
    std::uint64_t h = 0x243F6A8885A308D3ull;
    for (int i = 0; i < n; ++i) {
      h ^= static_cast<std::uint32_t>(k[i]);
      h *= 0x9E3779B97F4A7C15ull;
      h ^= h >> 29;
    }
    return static_cast<std::uint32_t>(h >> 32);
  }
  void grow() {
    std::vector<std::uint64_t> bigger(table_.size() * 2, 0);
    const std::size_t mask = bigger.size() - 1;
    for (const std::uint64_t e : table_) {
      if (e == 0) continue;
      std::size_t i = std::uint32_t(e >> 32) & mask;
      while (bigger[i] != 0) i = (i + 1) & mask;
      bigger[i] = e;
    }
    table_.swap(bigger);
  }

  int key_size_;
  std::size_t filled_ = 0;
  std::vector<std::uint64_t> table_;
  std::vector<std::int32_t> keys_;
};

// The enclosing simplex of one point: its d+1 corner keys (d coordinates each) and
// barycentric weights (Adams et al. 2010, with densecrf's steps). Returns false if
// the point is not finite or too large for the lattice. D > 0 fixes d at compile
// time (the CRF's 2-d and 5-d kernels); D = 0 reads it from `dims`.
template <int D>
bool locate(const float* f, int dims, const double* scale, const int* canonical, std::int32_t* keys,
            float* barycentric) {
  const int d = D > 0 ? D : dims, d1 = d + 1;
  std::array<double, kMaxDims + 1> elevated, rem0;
  std::array<double, kMaxDims + 2> bary{};
  std::array<int, kMaxDims + 1> rank{};
  // Elevate onto the hyperplane sum = 0 (y = E f).
  double sm = 0;
  for (int j = d; j > 0; --j) {
    const double cf = double(f[j - 1]) * scale[j - 1];
    elevated[j] = sm - j * cf;
    sm += cf;
  }
  elevated[0] = sm;
  for (int i = 0; i <= d; ++i)
    if (!(std::fabs(elevated[i]) < kMaxElevated)) return false;
  // Closest remainder-0 point: round each coordinate to a multiple of d+1.
  long long sum = 0;
  for (int i = 0; i <= d; ++i) {
    const double v = elevated[i] / d1;
    const double up = std::ceil(v) * d1, down = std::floor(v) * d1;
    rem0[i] = (up - elevated[i] < elevated[i] - down) ? up : down;
    sum += static_cast<long long>(rem0[i]) / d1;
  }
  // Rank of each coordinate's residual gives the enclosing simplex.
  for (int i = 0; i < d; ++i) {
    const double di = elevated[i] - rem0[i];
    for (int j = i + 1; j <= d; ++j) {
      if (di < elevated[j] - rem0[j])
        ++rank[i];
      else
        ++rank[j];
    }
  }
  // Bring the rounded point back onto the plane if the rounding left it off.
  for (int i = 0; i <= d; ++i) {
    rank[i] += static_cast<int>(sum);
    if (rank[i] < 0) {
      rank[i] += d1;
      rem0[i] += d1;
    } else if (rank[i] > d) {
      rank[i] -= d1;
      rem0[i] -= d1;
    }
  }
  // Barycentric coordinates (Adams p.10).
  for (int i = 0; i <= d; ++i) {
    const double v = (elevated[i] - rem0[i]) / d1;
    bary[d - rank[i]] += v;
    bary[d - rank[i] + 1] -= v;
  }
  bary[0] += 1.0 + bary[d + 1];
  for (int r = 0; r <= d; ++r) {
    for (int i = 0; i < d; ++i) keys[r * d + i] = static_cast<std::int32_t>(rem0[i]) + canonical[r * d1 + rank[i]];
    barycentric[r] = static_cast<float>(bary[r]);
  }
  return true;
}

}  // namespace

float PermutohedralLattice::slice_scale() const { return 1.0f / (1.0f + std::pow(2.0f, -float(d_))); }

PermutohedralLattice::Arrays PermutohedralLattice::arrays() const {
  return {corner_row_.data(), barycentric_.data(), neighbour_row_.data(),
          splat_begin_.data(), splat_point_.data(), splat_weight_.data()};
}

namespace {

template <int D>
void build_lattice(const float* features, std::size_t n, int dims, int threads, std::vector<std::int32_t>& corner_row,
                   std::vector<float>& barycentric, std::vector<std::int32_t>& neighbour_row, std::size_t& m) {
  const int d = dims, d1 = dims + 1;
  // The canonical simplex: corner r has coordinates r (first d+1-r axes) and r-(d+1).
  std::vector<int> canonical(d1 * d1);
  for (int r = 0; r <= d; ++r) {
    for (int j = 0; j <= d - r; ++j) canonical[r * d1 + j] = r;
    for (int j = d - r + 1; j <= d; ++j) canonical[r * d1 + j] = r - d1;
  }
  // Scaling so that the lattice blur approximates a unit-variance Gaussian (Adams p.6),
  // times the diagonal of the elevation matrix E (p.5).
  std::vector<double> scale(d);
  const double inv_std_dev = std::sqrt(2.0 / 3.0) * d1;
  for (int i = 0; i < d; ++i) scale[i] = inv_std_dev / std::sqrt(double(i + 1) * double(i + 2));

  LatticeHash hash(d, n / 4);
  // Points are processed in blocks: the simplex search runs in parallel into a block
  // buffer, and vertices are inserted serially in point order so ids are reproducible.
  const std::size_t block = 16384;
  std::vector<std::int32_t> block_keys(block * d1 * d);
  std::vector<unsigned char> bad(block);
  // Neighbouring pixels mostly share their simplex: the previous point's corners are
  // checked before the hash table (the ids are the same either way).
  std::vector<std::int32_t> prev_keys(std::size_t(d1) * d), prev_ids(d1, -1);
  for (std::size_t b0 = 0; b0 < n; b0 += block) {
    const std::size_t b1 = std::min(n, b0 + block);
    detail::for_chunks(b1 - b0, threads, 1024, [&](std::size_t c0, std::size_t c1) {
      for (std::size_t c = c0; c < c1; ++c)
        bad[c] = !locate<D>(features + (b0 + c) * d, d, scale.data(), canonical.data(),
                            block_keys.data() + c * d1 * d, barycentric.data() + (b0 + c) * d1);
    });
    for (std::size_t c = 0; c < b1 - b0; ++c) {
      if (bad[c])
        throw Error("permutohedral lattice: feature of point " + std::to_string(b0 + c) +
                    " is not finite or too large for the lattice (scale features down)");
      const std::int32_t* keys = block_keys.data() + c * d1 * d;
      std::int32_t* rows = corner_row.data() + (b0 + c) * d1;
      for (int r = 0; r <= d; ++r) {
        const std::int32_t* k = keys + r * d;
        std::int32_t id = -1;
        for (int t = 0; t <= d && id < 0; ++t) {
          const int cand = (r + t) % d1;  // the same corner first
          if (prev_ids[cand] >= 0 && hash.same<D>(k, prev_keys.data() + cand * d)) id = prev_ids[cand];
        }
        if (id < 0) id = hash.find_or_insert<D>(k);
        rows[r] = id + 1;
      }
      std::copy(keys, keys + d1 * d, prev_keys.begin());
      for (int r = 0; r <= d; ++r) prev_ids[r] = rows[r] - 1;
    }
  }
  m = hash.size();

  // Neighbours of every vertex along each of the d+1 lattice axes.
  neighbour_row.assign(std::size_t(d1) * m * 2, 0);
  detail::for_chunks(m, threads, 4096, [&](std::size_t v0, std::size_t v1) {
    std::array<std::int32_t, kMaxDims> n1, n2;
    for (std::size_t v = v0; v < v1; ++v) {
      const std::int32_t* key = hash.key(v);
      for (int j = 0; j <= d; ++j) {
        for (int i = 0; i < d; ++i) {
          n1[i] = key[i] - 1;
          n2[i] = key[i] + 1;
        }
        // For axis d the shifted coordinate is the implicit (d+1)-th one.
        if (j < d) {
          n1[j] = key[j] + d;
          n2[j] = key[j] - d;
        }
        neighbour_row[(std::size_t(j) * m + v) * 2 + 0] = hash.find<D>(n1.data()) + 1;
        neighbour_row[(std::size_t(j) * m + v) * 2 + 1] = hash.find<D>(n2.data()) + 1;
      }
    }
  });
}

}  // namespace

void PermutohedralLattice::init(const float* features, std::size_t n_points, int dims, int threads) {
  if (dims < 1 || dims > kMaxDims)
    throw Error("permutohedral lattice: feature dimension " + std::to_string(dims) + " not in 1.." +
                std::to_string(kMaxDims));
  const int d1 = dims + 1;
  if (n_points > 0 && n_points > (std::numeric_limits<std::uint32_t>::max() - 1) / d1)
    throw Error("permutohedral lattice: " + std::to_string(n_points) +
                " points exceed the lattice's 2^32 simplex-corner limit (image too large)");
  d_ = dims;
  n_ = n_points;
  corner_row_.assign(n_ * d1, 0);
  barycentric_.assign(n_ * d1, 0.f);
  switch (dims) {
    case 2: build_lattice<2>(features, n_, dims, threads, corner_row_, barycentric_, neighbour_row_, m_); break;
    case 5: build_lattice<5>(features, n_, dims, threads, corner_row_, barycentric_, neighbour_row_, m_); break;
    default: build_lattice<0>(features, n_, dims, threads, corner_row_, barycentric_, neighbour_row_, m_); break;
  }

  // Group simplex corners by vertex (counting sort, stable in point order) so that
  // splatting is a gather whose summation order never depends on the thread count.
  splat_begin_.assign(m_ + 1, 0);
  for (std::size_t s = 0; s < n_ * d1; ++s) ++splat_begin_[corner_row_[s]];
  for (std::size_t v = 0; v < m_; ++v) splat_begin_[v + 1] += splat_begin_[v];
  splat_point_.assign(n_ * d1, 0);
  splat_weight_.assign(n_ * d1, 0.f);
  {
    std::vector<std::size_t> fill(splat_begin_.begin(), splat_begin_.end() - 1);
    for (std::size_t s = 0; s < n_ * d1; ++s) {
      const std::size_t at = fill[corner_row_[s] - 1]++;
      splat_point_[at] = static_cast<std::uint32_t>(s / d1);
      splat_weight_[at] = barycentric_[s];
    }
  }
}

void PermutohedralLattice::compute(const float* in, float* out, int value_size, int threads) const {
  if (n_ == 0) return;
  const int d1 = d_ + 1;
  const std::size_t vs = static_cast<std::size_t>(value_size);
  // Row 0 is a zero vertex standing for absent neighbours, so vertex v lives at row v+1.
  std::vector<float> values((m_ + 1) * vs, 0.f), next((m_ + 1) * vs, 0.f);

  detail::for_chunks(m_, threads, 2048, [&](std::size_t v0, std::size_t v1) {
    for (std::size_t v = v0; v < v1; ++v) {
      float* acc = values.data() + (v + 1) * vs;
      for (std::size_t s = splat_begin_[v]; s < splat_begin_[v + 1]; ++s) {
        const float w = splat_weight_[s];
        const float* x = in + std::size_t(splat_point_[s]) * vs;
        for (std::size_t k = 0; k < vs; ++k) acc[k] += w * x[k];
      }
    }
  });

  for (int j = 0; j <= d_; ++j) {
    detail::for_chunks(m_, threads, 4096, [&](std::size_t v0, std::size_t v1) {
      for (std::size_t v = v0; v < v1; ++v) {
        const std::int32_t* nb = neighbour_row_.data() + (std::size_t(j) * m_ + v) * 2;
        const float* old_val = values.data() + (v + 1) * vs;
        const float* a = values.data() + std::size_t(nb[0]) * vs;
        const float* b = values.data() + std::size_t(nb[1]) * vs;
        float* new_val = next.data() + (v + 1) * vs;
        for (std::size_t k = 0; k < vs; ++k) new_val[k] = old_val[k] + 0.5f * (a[k] + b[k]);
      }
    });
    values.swap(next);
  }

  const float alpha = slice_scale();
  detail::for_chunks(n_, threads, 4096, [&](std::size_t p0, std::size_t p1) {
    for (std::size_t p = p0; p < p1; ++p) {
      float* o = out + p * vs;
      for (std::size_t k = 0; k < vs; ++k) o[k] = 0.f;
      for (int r = 0; r < d1; ++r) {
        const float w = barycentric_[p * d1 + r] * alpha;
        const float* x = values.data() + std::size_t(corner_row_[p * d1 + r]) * vs;
        for (std::size_t k = 0; k < vs; ++k) o[k] += w * x[k];
      }
    }
  });
}

}  // namespace wsss::refine
