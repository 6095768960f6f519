// Dense CRF and random-walk benchmarks (docs/refinement.md). Prints measured numbers
// only. Each measurement runs in a forked child so that its peak RSS is its own.
//   wsss_bench_refine [crf|rw|all]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "bench_util.hpp"
#include "wsss/refine/densecrf.hpp"
#include "wsss/refine/random_walk.hpp"

using namespace wsss::refine;
using wsss::bench::seconds_since;

namespace {

struct Measure {
  double seconds = 0;
  double peak_rss_mb = 0;
  double cpu_seconds = 0;  // user + system: less sensitive than wall time to a busy machine
};

// Runs fn in a child process; returns its wall time and the child's peak RSS.
Measure in_child(const std::function<double()>& fn) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    Measure m;
    m.seconds = fn();
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    m.peak_rss_mb = ru.ru_maxrss / 1024.0;
    m.cpu_seconds = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
    std::fflush(stdout);
    if (write(fds[1], &m, sizeof m) != ssize_t(sizeof m)) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  Measure m;
  if (read(fds[0], &m, sizeof m) != ssize_t(sizeof m)) m = {-1, -1};
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return m;
}

// A synthetic photo-like image: smooth colour regions with noise, and a noisy label map.
void synthetic_image(int w, int h, int n_labels, std::vector<std::uint8_t>& rgb, std::vector<std::uint8_t>& labels) {
  std::mt19937 gen(42);
  const int regions = std::max(4, n_labels);
  std::vector<double> cy(regions), cx(regions);
  std::vector<int> col(regions * 3);
  for (int r = 0; r < regions; ++r) {
    cy[r] = gen() % h;
    cx[r] = gen() % w;
    for (int c = 0; c < 3; ++c) col[r * 3 + c] = 20 + gen() % 216;
  }
  rgb.assign(std::size_t(w) * h * 3, 0);
  labels.assign(std::size_t(w) * h, 0);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      int best = 0;
      double bd = 1e30;
      for (int r = 0; r < regions; ++r) {
        const double d = (y - cy[r]) * (y - cy[r]) + (x - cx[r]) * (x - cx[r]);
        if (d < bd) bd = d, best = r;
      }
      const std::size_t p = std::size_t(y) * w + x;
      for (int c = 0; c < 3; ++c) rgb[p * 3 + c] = std::uint8_t(std::clamp(col[best * 3 + c] + int(gen() % 21) - 10, 0, 255));
      labels[p] = std::uint8_t(gen() % 10 == 0 ? gen() % n_labels : best % n_labels);
    }
}

void bench_crf() {
  const int w = 500, h = 375, iterations = 10;
  std::printf("== dense CRF, %dx%d synthetic image, IRN preset (label unary, Gaussian 3/3, bilateral 50/5/10), "
              "%d iterations; construction (lattices) + inference ==\n",
              w, h, iterations);
  for (int labels : {3, 21}) {
    std::vector<std::uint8_t> rgb, lab;
    synthetic_image(w, h, labels, rgb, lab);
    for (int threads : {1, 2}) {
      std::vector<double> times, cpu;
      Measure last;
      for (int rep = 0; rep < 3; ++rep) {
        last = in_child([&] {
          const auto t0 = std::chrono::steady_clock::now();
          CrfResult r = crf_from_labels(rgb.data(), w, h, lab.data(), labels, crf_preset("irn").params, threads);
          const double s = seconds_since(t0);
          if (r.labels.size() != lab.size()) std::abort();
          return s;
        });
        times.push_back(last.seconds);
        cpu.push_back(last.cpu_seconds);
      }
      const double best = *std::min_element(times.begin(), times.end());
      const double best_cpu = *std::min_element(cpu.begin(), cpu.end());
      const double mp = w * h / 1e6;
      std::printf("labels %2d  -j%d  best of 3: %7.1f ms wall = %6.2f ms per megapixel per label per iteration; "
                  "process CPU %7.1f ms; peak RSS %.0f MB\n",
                  labels, threads, best * 1e3, best * 1e3 / (mp * labels * iterations), best_cpu * 1e3,
                  last.peak_rss_mb);
    }
  }
  // Where the time goes, single-threaded, 21 labels.
  std::vector<std::uint8_t> rgb, lab;
  synthetic_image(w, h, 21, rgb, lab);
  Measure m = in_child([&] {
    DenseCrf crf(w, h, 21);
    crf.set_unary(unary_from_labels(lab.data(), lab.size(), 21, 0.7f, false));
    const auto t0 = std::chrono::steady_clock::now();
    crf.add_gaussian(3, 3);
    crf.add_bilateral(50, 5, rgb.data(), 10);
    const double build = seconds_since(t0);
    std::printf("  split (21 labels, -j1): lattice construction %.1f ms", build * 1e3);
    std::fflush(stdout);
    const auto t1 = std::chrono::steady_clock::now();
    crf.inference(10);
    std::printf(", inference %.1f ms\n", seconds_since(t1) * 1e3);
    return build;
  });
  (void)m;
}

struct RwInput {
  int h, w, k;
  std::vector<float> edge, cams;
};

RwInput rw_input(int image_h, int image_w, int k) {
  RwInput in{(image_h - 1) / 4 + 1, (image_w - 1) / 4 + 1, k, {}, {}};
  std::mt19937 gen(7);
  const std::size_t n = std::size_t(in.h) * in.w;
  in.edge.resize(n);
  in.cams.resize(n * k);
  for (int y = 0; y < in.h; ++y)
    for (int x = 0; x < in.w; ++x) {
      const double r = std::hypot(y - in.h / 2.0, x - in.w / 2.0);
      in.edge[std::size_t(y) * in.w + x] =
          float(std::min(1.0, 0.05 * (gen() % 100) / 100.0 + 0.9 * std::exp(-std::pow(r - in.h / 3.0, 2) / 2.0)));
    }
  for (int c = 0; c < k; ++c)
    for (std::size_t p = 0; p < n; ++p) in.cams[c * n + p] = float((gen() % 1000) / 1000.0);
  return in;
}

// IRN's dense formulation in float32 (as IRN runs it): A^beta column-normalised and
// squared exp_times times with a cache-blocked matrix product. Used only to measure.
double dense_walk_seconds(const RwInput& in, int exp_times, double& seconds_per_squaring) {
  const std::size_t n = std::size_t(in.h) * in.w;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<float> t(n * n, 0.f), t2(n * n);
  const auto dirs = random_walk_directions(5);
  for (std::size_t i = 0; i < n; ++i) t[i * n + i] = 1.f;
  for (int y = 0; y < in.h; ++y)
    for (int x = 0; x < in.w; ++x)
      for (const GridOffset& d : dirs) {
        const int ty = y + d.dy, tx = x + d.dx;
        if (ty < 0 || ty >= in.h || tx < 0 || tx >= in.w) continue;
        float mx = 0;
        for (const GridOffset& o : random_walk_path(d)) mx = std::max(mx, in.edge[std::size_t(y + o.dy) * in.w + x + o.dx]);
        const float a = std::pow(1.f - mx, 10.f);
        const std::size_t i = std::size_t(y) * in.w + x, j = std::size_t(ty) * in.w + tx;
        t[i * n + j] = t[j * n + i] = a;
      }
  for (std::size_t j = 0; j < n; ++j) {
    float s = 0;
    for (std::size_t i = 0; i < n; ++i) s += t[i * n + j];
    for (std::size_t i = 0; i < n; ++i) t[i * n + j] /= s;
  }
  const auto ts = std::chrono::steady_clock::now();
  // OpenCV's gemm (SIMD, single-threaded here) stands in for IRN's BLAS/cuBLAS product.
  const int rows = static_cast<int>(n);
  cv::Mat tm(rows, rows, CV_32F, t.data()), t2m(rows, rows, CV_32F, t2.data());
  for (int e = 0; e < exp_times; ++e) {
    cv::gemm(tm, tm, 1.0, cv::noArray(), 0.0, t2m);
    t2m.copyTo(tm);
  }
  seconds_per_squaring = seconds_since(ts) / exp_times;
  std::vector<float> rw(std::size_t(in.k) * n, 0.f);
  for (int c = 0; c < in.k; ++c)
    for (std::size_t i = 0; i < n; ++i) {
      const float xi = in.cams[c * n + i] * (1.f - in.edge[i]);
      for (std::size_t j = 0; j < n; ++j) rw[c * n + j] += xi * t[i * n + j];
    }
  return seconds_since(t0);
}

void bench_rw() {
  std::printf("== IRN random walk (radius 5, beta 10, 2^8 = 256 steps), 3 classes, stride-4 grid ==\n");
  struct Size {
    int h, w;
  };
  for (Size s : {Size{375, 500}, Size{640, 640}}) {
    const RwInput in = rw_input(s.h, s.w, 3);
    for (int threads : {1, 2}) {
      const Measure m = in_child([&] {
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<float> rw = random_walk_propagate(in.edge.data(), in.h, in.w, in.cams.data(), in.k, {}, threads);
        auto labels = random_walk_labels(rw, in.k, in.h, in.w, s.h, s.w);
        const double sec = seconds_since(t0);
        if (labels.size() != std::size_t(s.h) * s.w) std::abort();
        return sec;
      });
      std::printf("sparse  image %dx%d (grid %dx%d, N=%d)  -j%d: %8.3f s wall, process CPU %.3f s, peak RSS %6.1f MB\n",
                  s.w, s.h, in.w, in.h, in.h * in.w, threads, m.seconds, m.cpu_seconds, m.peak_rss_mb);
    }
  }
  // The dense formulation on small grids, extrapolated: time ~ N^3, memory ~ N^2.
  const Measure base = in_child([] { return 0.0; });
  double per_sq_small = 0;
  int n_small = 0;
  double rss_small = 0;
  for (Size s : {Size{200, 200}, Size{280, 280}}) {
    const RwInput in = rw_input(s.h, s.w, 3);
    double per_sq = 0;
    const Measure m = in_child([&] {
      double ps = 0;
      const double total = dense_walk_seconds(in, 8, ps);
      std::printf("dense   image %dx%d (grid %dx%d, N=%d)  -j1: %8.3f s (%.3f s per squaring), ", s.w, s.h, in.w, in.h,
                  in.h * in.w, total, ps);
      std::fflush(stdout);
      return ps;
    });
    per_sq = m.seconds;
    std::printf("peak RSS %6.1f MB\n", m.peak_rss_mb);
    per_sq_small = per_sq;
    n_small = in.h * in.w;
    rss_small = m.peak_rss_mb - base.peak_rss_mb;
  }
  for (Size s : {Size{375, 500}, Size{640, 640}}) {
    const int n = ((s.h - 1) / 4 + 1) * ((s.w - 1) / 4 + 1);
    const double r = double(n) / n_small;
    std::printf("dense   image %dx%d (N=%d) extrapolated from N=%d: %.1f s for 8 squarings, %.0f MB for the matrices\n",
                s.w, s.h, n, n_small, per_sq_small * 8 * r * r * r, rss_small * r * r);
  }
}

}  // namespace

int main(int argc, char** argv) {
  wsss::tune_runtime_environment(argv);
  cv::setNumThreads(1);
  const std::string what = argc > 1 ? argv[1] : "all";
  if (what == "crf" || what == "all") bench_crf();
  if (what == "rw" || what == "all") bench_rw();
  return 0;
}
