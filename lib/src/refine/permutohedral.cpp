#include "wsss/refine/permutohedral.hpp"

#include <algorithm>
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
class LatticeHash {
 public:
  LatticeHash(int key_size, std::size_t expected) : key_size_(key_size) {
    std::size_t capacity = 64;
    while (capacity < 2 * expected) capacity *= 2;
    table_.assign(capacity, -1);
  }
  std::size_t size() const { return filled_; }
  const std::int32_t* key(std::size_t id) const { return keys_.data() + id * key_size_; }

  std::int32_t find_or_insert(const std::int32_t* k) {
    if (2 * (filled_ + 1) > table_.size()) grow();
    std::size_t h = hash(k) & (table_.size() - 1);
    for (;;) {
      std::int32_t e = table_[h];
      if (e < 0) {
        if (filled_ >= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
          throw Error("permutohedral lattice: more than 2^31 lattice vertices (image too large)");
        keys_.insert(keys_.end(), k, k + key_size_);
        table_[h] = static_cast<std::int32_t>(filled_);
        return static_cast<std::int32_t>(filled_++);
      }
      if (std::equal(k, k + key_size_, key(e))) return e;
      h = (h + 1) & (table_.size() - 1);
    }
  }
  std::int32_t find(const std::int32_t* k) const {
    std::size_t h = hash(k) & (table_.size() - 1);
    for (;;) {
      std::int32_t e = table_[h];
      if (e < 0) return -1;
      if (std::equal(k, k + key_size_, key(e))) return e;
      h = (h + 1) & (table_.size() - 1);
    }
  }

 private:
  std::size_t hash(const std::int32_t* k) const {
    std::uint64_t h = 0x243F6A8885A308D3ull;
    for (int i = 0; i < key_size_; ++i) {
      h ^= static_cast<std::uint32_t>(k[i]);
      h *= 0x9E3779B97F4A7C15ull;
      h ^= h >> 29;
    }
    return static_cast<std::size_t>(h);
  }
  void grow() {
    std::vector<std::int32_t> bigger(table_.size() * 2, -1);
    const std::size_t mask = bigger.size() - 1;
    for (std::size_t id = 0; id < filled_; ++id) {
      std::size_t h = hash(key(id)) & mask;
      while (bigger[h] >= 0) h = (h + 1) & mask;
      bigger[h] = static_cast<std::int32_t>(id);
    }
    table_.swap(bigger);
  }

  int key_size_;
  std::size_t filled_ = 0;
  std::vector<std::int32_t> table_;
  std::vector<std::int32_t> keys_;
};

}  // namespace

void PermutohedralLattice::init(const float* features, std::size_t n_points, int dims, int threads) {
  if (dims < 1 || dims > kMaxDims)
    throw Error("permutohedral lattice: feature dimension " + std::to_string(dims) + " not in 1.." +
                std::to_string(kMaxDims));
  const int d = dims, d1 = dims + 1;
  if (n_points > 0 && n_points > (std::numeric_limits<std::uint32_t>::max() - 1) / d1)
    throw Error("permutohedral lattice: " + std::to_string(n_points) +
                " points exceed the lattice's 2^32 simplex-corner limit (image too large)");
  d_ = d;
  n_ = n_points;
  offset_.assign(n_ * d1, 0);
  barycentric_.assign(n_ * d1, 0.f);

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

  // Sized like densecrf's (2N slots); it doubles when half full.
  LatticeHash hash(d, n_);
  // Points are processed in blocks: the simplex search runs in parallel into a block
  // buffer, and vertices are inserted serially in point order so ids are reproducible.
  const std::size_t block = 16384;
  std::vector<std::int32_t> block_keys(block * d1 * d);
  std::vector<unsigned char> bad(block);
  for (std::size_t b0 = 0; b0 < n_; b0 += block) {
    const std::size_t b1 = std::min(n_, b0 + block);
    std::fill(bad.begin(), bad.end(), 0);
    detail::for_chunks(b1 - b0, threads, 1024, [&](std::size_t c0, std::size_t c1) {
      std::vector<double> elevated(d1), rem0(d1), bary(d1 + 1);
      std::vector<int> rank(d1);
      for (std::size_t c = c0; c < c1; ++c) {
        const std::size_t k = b0 + c;
        const float* f = features + k * d;
        // Elevate onto the hyperplane sum = 0 (y = E f).
        double sm = 0;
        for (int j = d; j > 0; --j) {
          const double cf = double(f[j - 1]) * scale[j - 1];
          elevated[j] = sm - j * cf;
          sm += cf;
        }
        elevated[0] = sm;
        bool finite = true;
        for (int i = 0; i <= d; ++i)
          if (!(std::fabs(elevated[i]) < kMaxElevated)) finite = false;
        if (!finite) {
          bad[c] = 1;
          continue;
        }
        // Closest remainder-0 point: round each coordinate to a multiple of d+1.
        long long sum = 0;
        for (int i = 0; i <= d; ++i) {
          const double v = elevated[i] / d1;
          const double up = std::ceil(v) * d1, down = std::floor(v) * d1;
          rem0[i] = (up - elevated[i] < elevated[i] - down) ? up : down;
          sum += static_cast<long long>(rem0[i]) / d1;
        }
        // Rank of each coordinate's residual gives the enclosing simplex.
        std::fill(rank.begin(), rank.end(), 0);
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
        std::fill(bary.begin(), bary.end(), 0.0);
        for (int i = 0; i <= d; ++i) {
          const double v = (elevated[i] - rem0[i]) / d1;
          bary[d - rank[i]] += v;
          bary[d - rank[i] + 1] -= v;
        }
        bary[0] += 1.0 + bary[d + 1];
        std::int32_t* keys = block_keys.data() + c * d1 * d;
        for (int r = 0; r <= d; ++r) {
          for (int i = 0; i < d; ++i)
            keys[r * d + i] = static_cast<std::int32_t>(rem0[i]) + canonical[r * d1 + rank[i]];
          barycentric_[k * d1 + r] = static_cast<float>(bary[r]);
        }
      }
    });
    for (std::size_t c = 0; c < b1 - b0; ++c) {
      if (bad[c])
        throw Error("permutohedral lattice: feature of point " + std::to_string(b0 + c) +
                    " is not finite or too large for the lattice (scale features down)");
      for (int r = 0; r <= d; ++r)
        offset_[(b0 + c) * d1 + r] = hash.find_or_insert(block_keys.data() + (c * d1 + r) * d);
    }
  }
  m_ = hash.size();

  // Neighbours of every vertex along each of the d+1 lattice axes.
  neighbours_.assign(std::size_t(d1) * m_ * 2, -1);
  detail::for_chunks(m_, threads, 4096, [&](std::size_t v0, std::size_t v1) {
    std::vector<std::int32_t> n1(d1), n2(d1);
    for (std::size_t v = v0; v < v1; ++v) {
      const std::int32_t* key = hash.key(v);
      for (int j = 0; j <= d; ++j) {
        for (int i = 0; i < d; ++i) {
          n1[i] = key[i] - 1;
          n2[i] = key[i] + 1;
        }
        // For axis d the shifted coordinate is the implicit (d+1)-th one.
        n1[j] = key[j] + d;
        n2[j] = key[j] - d;
        neighbours_[(std::size_t(j) * m_ + v) * 2 + 0] = hash.find(n1.data());
        neighbours_[(std::size_t(j) * m_ + v) * 2 + 1] = hash.find(n2.data());
      }
    }
  });

  // Group simplex corners by vertex (counting sort, stable in point order) so that
  // splatting is a gather whose summation order never depends on the thread count.
  splat_begin_.assign(m_ + 1, 0);
  for (std::size_t s = 0; s < n_ * d1; ++s) ++splat_begin_[offset_[s] + 1];
  for (std::size_t v = 0; v < m_; ++v) splat_begin_[v + 1] += splat_begin_[v];
  splat_slots_.assign(n_ * d1, 0);
  {
    std::vector<std::size_t> fill(splat_begin_.begin(), splat_begin_.end() - 1);
    for (std::size_t s = 0; s < n_ * d1; ++s) splat_slots_[fill[offset_[s]]++] = static_cast<std::uint32_t>(s);
  }
}

void PermutohedralLattice::compute(const float* in, float* out, int value_size, int threads) const {
  if (n_ == 0) return;
  const int d1 = d_ + 1;
  const std::size_t vs = static_cast<std::size_t>(value_size);
  // Slot 0 is a zero vertex standing for absent neighbours, so vertex v lives at v+1.
  std::vector<float> values((m_ + 1) * vs, 0.f), next((m_ + 1) * vs, 0.f);

  detail::for_chunks(m_, threads, 2048, [&](std::size_t v0, std::size_t v1) {
    for (std::size_t v = v0; v < v1; ++v) {
      float* acc = values.data() + (v + 1) * vs;
      for (std::size_t s = splat_begin_[v]; s < splat_begin_[v + 1]; ++s) {
        const std::uint32_t slot = splat_slots_[s];
        const float w = barycentric_[slot];
        const float* x = in + (slot / d1) * vs;
        for (std::size_t k = 0; k < vs; ++k) acc[k] += w * x[k];
      }
    }
  });

  for (int j = 0; j <= d_; ++j) {
    detail::for_chunks(m_, threads, 4096, [&](std::size_t v0, std::size_t v1) {
      for (std::size_t v = v0; v < v1; ++v) {
        const std::int32_t* nb = neighbours_.data() + (std::size_t(j) * m_ + v) * 2;
        const float* old_val = values.data() + (v + 1) * vs;
        const float* a = values.data() + std::size_t(nb[0] + 1) * vs;
        const float* b = values.data() + std::size_t(nb[1] + 1) * vs;
        float* new_val = next.data() + (v + 1) * vs;
        for (std::size_t k = 0; k < vs; ++k) new_val[k] = old_val[k] + 0.5f * (a[k] + b[k]);
      }
    });
    values.swap(next);
  }

  // The blur's total weight is (1+2^-d) times that of the Gaussian it approximates.
  const float alpha = 1.0f / (1.0f + std::pow(2.0f, -float(d_)));
  detail::for_chunks(n_, threads, 4096, [&](std::size_t p0, std::size_t p1) {
    for (std::size_t p = p0; p < p1; ++p) {
      float* o = out + p * vs;
      for (std::size_t k = 0; k < vs; ++k) o[k] = 0.f;
      for (int r = 0; r < d1; ++r) {
        const float w = barycentric_[p * d1 + r] * alpha;
        const float* x = values.data() + std::size_t(offset_[p * d1 + r] + 1) * vs;
        for (std::size_t k = 0; k < vs; ++k) o[k] += w * x[k];
      }
    }
  });
}

}  // namespace wsss::refine
