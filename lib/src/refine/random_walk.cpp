#include "wsss/refine/random_walk.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "chunked.hpp"
#include "wsss/core/error.hpp"

namespace wsss::refine {

namespace {

constexpr int kMaxRadius = 64;
constexpr int kMaxExpTimes = 24;

// One column of the transition matrix: T[source][target] for the target's neighbours.
struct SparseColumns {
  std::vector<std::size_t> begin;   // N+1
  std::vector<std::uint32_t> source;
  std::vector<double> weight;
};

}  // namespace

std::vector<GridOffset> random_walk_directions(int radius) {
  if (radius < 1 || radius > kMaxRadius)
    throw UsageError("random walk radius must be in 1.." + std::to_string(kMaxRadius) + ", got " +
                     std::to_string(radius));
  std::vector<GridOffset> dirs;
  for (int x = 1; x < radius; ++x) dirs.push_back({0, x});
  for (int y = 1; y < radius; ++y)
    for (int x = -radius + 1; x < radius; ++x)
      if (x * x + y * y < radius * radius) dirs.push_back({y, x});
  return dirs;
}

std::vector<GridOffset> random_walk_path(GridOffset dir) {
  const int len_sq = dir.dy * dir.dy + dir.dx * dir.dx;
  std::vector<GridOffset> path;
  for (int y = std::min(0, dir.dy); y <= std::max(0, dir.dy); ++y)
    for (int x = std::min(0, dir.dx); x <= std::max(0, dir.dx); ++x) {
      // Squared distance from the line: (dy*x - dx*y)^2 / |dir|^2 < 1, in integers.
      const int cross = dir.dy * x - dir.dx * y;
      if (len_sq == 0 || cross * cross < len_sq) path.push_back({y, x});
    }
  // IRN sorts by decreasing |y|+|x| so the destination comes first; only the maximum
  // over the path matters, so ties may stay in any order.
  std::stable_sort(path.begin(), path.end(), [](const GridOffset& a, const GridOffset& b) {
    return std::abs(a.dy) + std::abs(a.dx) > std::abs(b.dy) + std::abs(b.dx);
  });
  return path;
}

std::vector<float> random_walk_propagate(const float* edge, int height, int width, const float* cams,
                                         int n_classes, const RandomWalkParams& params, int threads) {
  if (height < 1 || width < 1)
    throw UsageError("random walk: grid size must be positive, got " + std::to_string(height) + "x" +
                     std::to_string(width));
  if (n_classes < 0) throw UsageError("random walk: negative class count");
  if (!std::isfinite(params.beta) || params.beta <= 0)
    throw UsageError("random walk: beta must be positive, got " + std::to_string(params.beta));
  if (params.exp_times < 0 || params.exp_times > kMaxExpTimes)
    throw UsageError("random walk: exp_times must be in 0.." + std::to_string(kMaxExpTimes) + ", got " +
                     std::to_string(params.exp_times));
  const std::vector<GridOffset> dirs = random_walk_directions(params.radius);
  const std::size_t n = std::size_t(height) * width;
  if (n >= (std::size_t(1) << 32)) throw Error("random walk: grid too large");
  for (std::size_t p = 0; p < n; ++p)
    if (!(edge[p] >= 0.f && edge[p] <= 1.f))
      throw Error("random walk: edge value " + std::to_string(edge[p]) + " at (y=" + std::to_string(p / width) +
                  ", x=" + std::to_string(p % width) + ") is not in [0,1]");
  for (std::size_t i = 0; i < n * std::size_t(n_classes); ++i)
    if (!std::isfinite(cams[i]))
      throw Error("random walk: score map is not finite at class " + std::to_string(i / n) + ", (y=" +
                  std::to_string((i % n) / width) + ", x=" + std::to_string((i % n) % width) + ")");
  if (n_classes == 0) return {};

  std::vector<std::vector<GridOffset>> paths;
  for (const GridOffset& d : dirs) paths.push_back(random_walk_path(d));

  // A^beta for every (source, direction) pair inside the image. Pairs leaving the
  // image have affinity 0 (IRN's 1.0 padding) and simply do not appear.
  const std::size_t nd = dirs.size();
  std::vector<double> aff_beta(n * nd, -1.0);
  detail::for_chunks(n, threads, 1024, [&](std::size_t p0, std::size_t p1) {
    for (std::size_t p = p0; p < p1; ++p) {
      const int y = int(p / width), x = int(p % width);
      for (std::size_t k = 0; k < nd; ++k) {
        const int ty = y + dirs[k].dy, tx = x + dirs[k].dx;
        if (ty < 0 || ty >= height || tx < 0 || tx >= width) continue;
        // Every path pixel lies in the bounding box of two in-image pixels.
        float mx = 0.f;
        for (const GridOffset& o : paths[k]) mx = std::max(mx, edge[std::size_t(y + o.dy) * width + (x + o.dx)]);
        aff_beta[p * nd + k] = std::pow(double(1.0f - mx), double(params.beta));
      }
    }
  });

  // Column j of T holds A^beta[i][j] / sum_i A^beta[i][j] over j itself (A = 1) and
  // its neighbours i = j - d (pair stored at source i) and i = j + d (stored at j).
  SparseColumns cols;
  cols.begin.assign(n + 1, 0);
  cols.source.reserve(n * (2 * nd + 1));
  cols.weight.reserve(n * (2 * nd + 1));
  for (std::size_t j = 0; j < n; ++j) {
    const int y = int(j / width), x = int(j % width);
    const std::size_t first = cols.source.size();
    cols.source.push_back(static_cast<std::uint32_t>(j));
    cols.weight.push_back(1.0);
    for (std::size_t k = 0; k < nd; ++k) {
      const int sy = y - dirs[k].dy, sx = x - dirs[k].dx;
      if (sy >= 0 && sy < height && sx >= 0 && sx < width) {
        const std::size_t i = std::size_t(sy) * width + sx;
        cols.source.push_back(static_cast<std::uint32_t>(i));
        cols.weight.push_back(aff_beta[i * nd + k]);
      }
    }
    for (std::size_t k = 0; k < nd; ++k) {
      const double a = aff_beta[j * nd + k];
      if (a >= 0) {
        cols.source.push_back(static_cast<std::uint32_t>(std::size_t(y + dirs[k].dy) * width + (x + dirs[k].dx)));
        cols.weight.push_back(a);
      }
    }
    double sum = 0;
    for (std::size_t e = first; e < cols.weight.size(); ++e) sum += cols.weight[e];
    for (std::size_t e = first; e < cols.weight.size(); ++e) cols.weight[e] /= sum;  // sum >= 1 (diagonal)
    cols.begin[j + 1] = cols.source.size();
  }
  aff_beta = {};

  // x = cams * (1 - edge), pixel-major so one gather serves every class.
  const std::size_t K = n_classes;
  std::vector<double> x(n * K), next(n * K);
  for (std::size_t c = 0; c < K; ++c)
    for (std::size_t p = 0; p < n; ++p) x[p * K + c] = double(cams[c * n + p]) * (1.0 - double(edge[p]));

  // x <- x T, 2^exp_times times: the same as x T^(2^exp_times) with T squared
  // exp_times times, at ~69 non-zeros per column instead of N.
  const long long steps = 1LL << params.exp_times;
  for (long long s = 0; s < steps; ++s) {
    detail::for_chunks(n, threads, 1024, [&](std::size_t j0, std::size_t j1) {
      for (std::size_t j = j0; j < j1; ++j) {
        double* out = next.data() + j * K;
        for (std::size_t c = 0; c < K; ++c) out[c] = 0;
        for (std::size_t e = cols.begin[j]; e < cols.begin[j + 1]; ++e) {
          const double w = cols.weight[e];
          const double* in = x.data() + std::size_t(cols.source[e]) * K;
          for (std::size_t c = 0; c < K; ++c) out[c] += w * in[c];
        }
      }
    });
    x.swap(next);
  }

  std::vector<float> rw(K * n);
  for (std::size_t c = 0; c < K; ++c)
    for (std::size_t p = 0; p < n; ++p) rw[c * n + p] = static_cast<float>(x[p * K + c]);
  return rw;
}

std::vector<float> upsample_bilinear(const float* in, int n_channels, int height, int width, int scale) {
  if (scale < 1) throw UsageError("upsample_bilinear: scale must be >= 1");
  const int oh = height * scale, ow = width * scale;
  // PyTorch (align_corners=False, scale_factor given): src = max(0, (dst+0.5)/scale - 0.5).
  auto taps = [&](int dst, int size, int& i0, int& i1, float& l1) {
    float src = std::max(0.0f, (float(dst) + 0.5f) / float(scale) - 0.5f);
    i0 = std::min(int(src), size - 1);
    i1 = i0 + (i0 < size - 1 ? 1 : 0);
    l1 = src - float(i0);
  };
  std::vector<int> y0(oh), y1(oh), x0(ow), x1(ow);
  std::vector<float> ly(oh), lx(ow);
  for (int y = 0; y < oh; ++y) taps(y, height, y0[y], y1[y], ly[y]);
  for (int x = 0; x < ow; ++x) taps(x, width, x0[x], x1[x], lx[x]);
  std::vector<float> out(std::size_t(n_channels) * oh * ow);
  for (int c = 0; c < n_channels; ++c) {
    const float* src = in + std::size_t(c) * height * width;
    float* dst = out.data() + std::size_t(c) * oh * ow;
    for (int y = 0; y < oh; ++y) {
      const float* r0 = src + std::size_t(y0[y]) * width;
      const float* r1 = src + std::size_t(y1[y]) * width;
      const float wy1 = ly[y], wy0 = 1.0f - wy1;
      for (int x = 0; x < ow; ++x) {
        const float wx1 = lx[x], wx0 = 1.0f - wx1;
        dst[std::size_t(y) * ow + x] =
            wy0 * (wx0 * r0[x0[x]] + wx1 * r0[x1[x]]) + wy1 * (wx0 * r1[x0[x]] + wx1 * r1[x1[x]]);
      }
    }
  }
  return out;
}

std::vector<std::uint8_t> random_walk_labels(const std::vector<float>& rw, int n_classes, int height, int width,
                                             int out_height, int out_width, float bg_threshold, int scale) {
  if (n_classes < 0 || n_classes > 255) throw UsageError("random walk labels: class count must be in 0..255");
  if (rw.size() != std::size_t(n_classes) * height * width)
    throw Error("random walk labels: score map has the wrong size");
  if (out_height > height * scale || out_width > width * scale || out_height < 1 || out_width < 1)
    throw Error("random walk labels: output " + std::to_string(out_height) + "x" + std::to_string(out_width) +
                " does not fit the upsampled grid " + std::to_string(height * scale) + "x" +
                std::to_string(width * scale));
  const std::size_t n = std::size_t(out_height) * out_width;
  std::vector<std::uint8_t> labels(n, 0);
  if (n_classes == 0) return labels;
  const std::vector<float> up = upsample_bilinear(rw.data(), n_classes, height, width, scale);
  const int uw = width * scale;
  const std::size_t un = std::size_t(height) * scale * uw;
  auto at = [&](int c, int y, int x) { return up[c * un + std::size_t(y) * uw + x]; };
  float mx = -INFINITY;
  for (int c = 0; c < n_classes; ++c)
    for (int y = 0; y < out_height; ++y)
      for (int x = 0; x < out_width; ++x) mx = std::max(mx, at(c, y, x));
  if (!(mx > 0)) return labels;
  for (int y = 0; y < out_height; ++y)
    for (int x = 0; x < out_width; ++x) {
      float best = bg_threshold;
      std::uint8_t arg = 0;
      for (int c = 0; c < n_classes; ++c) {
        const float v = at(c, y, x) / mx;
        if (v > best) {
          best = v;
          arg = static_cast<std::uint8_t>(c + 1);
        }
      }
      labels[std::size_t(y) * out_width + x] = arg;
    }
  return labels;
}

}  // namespace wsss::refine
