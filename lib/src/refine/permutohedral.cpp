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

  // The slot a key with hash h is looked up first: fetched ahead of the lookup so
  // that the cache misses of several lookups overlap.
  void prefetch(std::uint32_t h) const { __builtin_prefetch(table_.data() + (h & (table_.size() - 1))); }
  // Once that slot is in cache: fetches the key stored there if its hash matches,
  // which the lookup will compare.
  void prefetch_key(std::uint32_t h) const {
    const std::uint64_t e = table_[h & (table_.size() - 1)];
    if (e != 0 && std::uint32_t(e >> 32) == h) __builtin_prefetch(key(id_of(e)));
  }

  template <int D>
  std::int32_t find_or_insert(const std::int32_t* k, std::uint32_t h) {
    if (2 * (filled_ + 1) > table_.size()) grow();
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
  std::int32_t find(const std::int32_t* k, std::uint32_t h) const {
    const std::size_t mask = table_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      const std::uint64_t e = table_[i];
      if (e == 0) return -1;
      if (std::uint32_t(e >> 32) == h && same<D>(k, key(id_of(e)))) return id_of(e);
    }
  }

  // D > 0: the key size known at compile time (it equals key_size_).
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
bool locate(const float* f, int dims, const double* scale, std::int32_t* keys,
            float* barycentric) {
  const int d = D > 0 ? D : dims, d1 = d + 1;
  std::array<double, kMaxDims + 1> elevated, rem0;
  std::array<double, kMaxDims + 2> bary;
  std::array<int, kMaxDims + 1> rank;
  // Only the d+2 entries in use are cleared (a whole-array clear costs a rep stos).
  for (int i = 0; i <= d + 1; ++i) bary[i] = 0;
  for (int i = 0; i <= d; ++i) rank[i] = 0;
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
  // (v only has to bracket the nearest multiple, so a product serves as well as
  // the quotient: where they differ, v is within an ulp of an integer, which both
  // candidates then contain.)
  long long sum = 0;
  const double inv_d1 = 1.0 / d1;
  for (int i = 0; i <= d; ++i) {
    // Branch-free (which way a coordinate rounds is unpredictable): integer
    // arithmetic on the comparisons' truth values.
    const double v = elevated[i] * inv_d1;
    long long lo = static_cast<long long>(v);
    lo -= static_cast<long long>(double(lo) > v);                 // floor
    const long long hi = lo + static_cast<long long>(double(lo) != v);  // ceil
    const long long up = static_cast<long long>(double(hi) * d1 - elevated[i] < elevated[i] - double(lo) * d1);
    const long long q = lo + up * (hi - lo);
    rem0[i] = double(q) * d1;
    sum += q;
  }
  // Rank of each coordinate's residual gives the enclosing simplex (branch-free: the
  // comparisons are unpredictable).
  std::array<double, kMaxDims + 1> res;
  for (int i = 0; i <= d; ++i) res[i] = elevated[i] - rem0[i];
  for (int i = 0; i < d; ++i)
    for (int j = i + 1; j <= d; ++j) {
      const int lt = res[i] < res[j];
      rank[i] += lt;
      rank[j] += 1 - lt;
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
  // Corner r of the canonical simplex has coordinate r on the axes ranked at most
  // d-r and r-(d+1) on the others.
  std::array<std::int32_t, kMaxDims> base;
  for (int i = 0; i < d; ++i) base[i] = static_cast<std::int32_t>(rem0[i]);
  for (int r = 0; r <= d; ++r) {
    for (int i = 0; i < d; ++i) keys[r * d + i] = base[i] + r - (rank[i] > d - r ? d1 : 0);
    barycentric[r] = static_cast<float>(bary[r]);
  }
  return true;
}

}  // namespace

// ldexp is exact (pow might differ between libm variants).
float PermutohedralLattice::slice_scale() const { return 1.0f / (1.0f + std::ldexp(1.0f, -d_)); }

PermutohedralLattice::Arrays PermutohedralLattice::arrays() const {
  return {corner_row_.data(), barycentric_.data(), neighbour_row_.data()};
}

namespace {

template <int D>
void build_lattice(const float* features, std::size_t n, int dims, int threads, std::vector<std::int32_t>& corner_row,
                   std::vector<float>& barycentric, std::vector<std::int32_t>& neighbour_row, std::size_t& m) {
  const int d = dims, d1 = dims + 1;
  // Scaling so that the lattice blur approximates a unit-variance Gaussian (Adams p.6),
  // times the diagonal of the elevation matrix E (p.5).
  std::vector<double> scale(d);
  const double inv_std_dev = std::sqrt(2.0 / 3.0) * d1;
  for (int i = 0; i < d; ++i) scale[i] = inv_std_dev / std::sqrt(double(i + 1) * double(i + 2));

  LatticeHash hash(d, n / 4);
  // Points are processed in blocks: the simplex search (and the keys' hashes) runs in
  // parallel into a block buffer, and vertices are inserted serially in point order
  // so that ids are reproducible.
  const std::size_t block = 16384;
  std::vector<std::int32_t> block_keys(block * d1 * d);
  std::vector<std::uint32_t> block_hash(block * d1);
  std::vector<unsigned char> bad(block);
  // Neighbouring pixels often share simplex corners (3 in 4 with the Gaussian
  // kernel): the previous point's same corner is checked before the hash table (the
  // ids are the same either way).
  std::vector<std::int32_t> prev_keys(std::size_t(d1) * d), prev_ids(d1, -1);
  // The table slots of the corners kAhead points ahead are prefetched, and the keys
  // stored in the slots of those kAhead/2 points ahead, so that the lookups' cache
  // misses overlap instead of queueing one behind the other.
  constexpr std::size_t kAhead = 8;
  for (std::size_t b0 = 0; b0 < n; b0 += block) {
    const std::size_t b1 = std::min(n, b0 + block);
    detail::for_chunks(b1 - b0, threads, 1024, [&](std::size_t c0, std::size_t c1) {
      for (std::size_t c = c0; c < c1; ++c) {
        std::int32_t* keys = block_keys.data() + c * d1 * d;
        bad[c] = !locate<D>(features + (b0 + c) * d, d, scale.data(), keys,
                            barycentric.data() + (b0 + c) * d1);
        if (!bad[c])
          for (int r = 0; r <= d; ++r) block_hash[c * d1 + r] = hash.hash<D>(keys + r * d);
      }
    });
    for (std::size_t c = 0; c < b1 - b0; ++c) {
      if (bad[c])
        throw Error("permutohedral lattice: feature of point " + std::to_string(b0 + c) +
                    " is not finite or too large for the lattice (scale features down)");
      if (c + kAhead < b1 - b0 && !bad[c + kAhead])
        for (int r = 0; r <= d; ++r) hash.prefetch(block_hash[(c + kAhead) * d1 + r]);
      if (c + kAhead / 2 < b1 - b0 && !bad[c + kAhead / 2])
        for (int r = 0; r <= d; ++r) hash.prefetch_key(block_hash[(c + kAhead / 2) * d1 + r]);
      const std::int32_t* keys = block_keys.data() + c * d1 * d;
      std::int32_t* rows = corner_row.data() + (b0 + c) * d1;
      for (int r = 0; r <= d; ++r) {
        const std::int32_t* k = keys + r * d;
        const bool same = prev_ids[r] >= 0 && hash.same<D>(k, prev_keys.data() + r * d);
        const std::int32_t id = same ? prev_ids[r] : hash.find_or_insert<D>(k, block_hash[c * d1 + r]);
        rows[r] = id + 1;
      }
      std::copy(keys, keys + d1 * d, prev_keys.begin());
      for (int r = 0; r <= d; ++r) prev_ids[r] = rows[r] - 1;
    }
  }
  m = hash.size();

  // Neighbours of every vertex along each of the d+1 lattice axes, looked up in
  // batches whose table slots are prefetched first.
  neighbour_row.assign(std::size_t(d1) * m * 2, 0);
  detail::for_chunks(m, threads, 4096, [&](std::size_t v0, std::size_t v1) {
    constexpr std::size_t kBatch = 8;
    std::vector<std::int32_t> keys(kBatch * 2 * d1 * d);
    std::vector<std::uint32_t> hashes(kBatch * 2 * d1);
    for (std::size_t vb = v0; vb < v1; vb += kBatch) {
      const std::size_t ve = std::min(v1, vb + kBatch);
      for (std::size_t v = vb; v < ve; ++v) {
        const std::int32_t* key = hash.key(v);
        for (int j = 0; j <= d; ++j)
          for (int side = 0; side < 2; ++side) {
            const std::size_t slot = ((v - vb) * d1 + j) * 2 + side;
            std::int32_t* nk = keys.data() + slot * d;
            // One step along axis j: -1 on every coordinate and +d on coordinate j
            // (for axis d, the implicit (d+1)-th coordinate), or the opposite.
            for (int i = 0; i < d; ++i) nk[i] = side == 0 ? key[i] - 1 : key[i] + 1;
            if (j < d) nk[j] = side == 0 ? key[j] + d : key[j] - d;
            hashes[slot] = hash.hash<D>(nk);
            hash.prefetch(hashes[slot]);
          }
      }
      for (std::size_t v = vb; v < ve; ++v)
        for (int j = 0; j <= d; ++j)
          for (int side = 0; side < 2; ++side) {
            const std::size_t slot = ((v - vb) * d1 + j) * 2 + side;
            neighbour_row[(std::size_t(j) * m + v) * 2 + side] =
                hash.find<D>(keys.data() + slot * d, hashes[slot]) + 1;
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
  d_ = dims;
  n_ = n_points;
  corner_row_.assign(n_ * d1, 0);
  barycentric_.assign(n_ * d1, 0.f);
  switch (dims) {
    case 2: build_lattice<2>(features, n_, dims, threads, corner_row_, barycentric_, neighbour_row_, m_); break;
    case 5: build_lattice<5>(features, n_, dims, threads, corner_row_, barycentric_, neighbour_row_, m_); break;
    default: build_lattice<0>(features, n_, dims, threads, corner_row_, barycentric_, neighbour_row_, m_); break;
  }
}

void PermutohedralLattice::compute(const float* in, float* out, int value_size, int threads) const {
  if (n_ == 0) return;
  const int d1 = d_ + 1;
  const std::size_t vs = static_cast<std::size_t>(value_size);
  // Row 0 is a zero vertex standing for absent neighbours, so vertex v lives at row v+1.
  std::vector<float> values((m_ + 1) * vs, 0.f), next((m_ + 1) * vs, 0.f);

  // Splat in point order (every vertex sums its points in point order); threads
  // take disjoint channels, so no sum depends on the thread count.
  detail::for_chunks(vs, threads, 1, [&](std::size_t k0, std::size_t k1) {
    for (std::size_t p = 0; p < n_; ++p)
      for (int r = 0; r < d1; ++r) {
        const float w = barycentric_[p * d1 + r];
        float* acc = values.data() + std::size_t(corner_row_[p * d1 + r]) * vs;
        for (std::size_t k = k0; k < k1; ++k) acc[k] += w * in[p * vs + k];
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
