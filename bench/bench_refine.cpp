// Dense CRF and random-walk benchmarks (docs/refinement.md). Prints measured numbers
// only. The random-walk measurements run in forked children so that each peak RSS
// is its own.
//   wsss_bench_refine crf [ROUNDS [PYDENSECRF_PYTHONPATH [bench/pydensecrf_bench.py [PYTHON]]]]
//   wsss_bench_refine rw | all
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
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
void synthetic_image(int w, int h, int n_labels, std::vector<std::uint8_t>& rgb, std::vector<std::uint8_t>& labels,
                     unsigned seed = 42) {
  std::mt19937 gen(seed);
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

// ---- Dense CRF: wsss and pydensecrf side by side ----

constexpr int kW = 500, kH = 375;

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

struct Timing {
  double cpu_ms = 0, wall_ms = 0;
};

// The steps pydensecrf_bench.py times: construction, unary, both kernels, inference,
// the marginals out (the unary itself is made before the clock starts, on both sides).
Timing time_wsss(const std::vector<std::uint8_t>& rgb, const std::vector<float>& unary, int labels, int iterations,
                 CrfSimd simd) {
  const double c0 = thread_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  DenseCrf crf(kW, kH, labels);
  crf.set_simd(simd);
  crf.set_unary(unary);
  crf.add_gaussian(3, 3);
  crf.add_bilateral(50, 5, rgb.data(), 10);
  const std::vector<float> q = crf.inference(iterations);
  Timing t{(thread_cpu_seconds() - c0) * 1e3, seconds_since(t0) * 1e3};
  if (q.size() != unary.size()) std::abort();
  return t;
}

// pydensecrf_bench.py as a child process answering one request per line.
class PyDenseCrf {
 public:
  PyDenseCrf(const std::string& python, const std::string& script, const std::string& pythonpath) {
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) throw std::runtime_error("pipe failed");
    std::fflush(stdout);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(to_child[0], 0);
      dup2(from_child[1], 1);
      close(to_child[1]);
      close(from_child[0]);
      setenv("PYTHONPATH", pythonpath.c_str(), 1);
      setenv("OMP_NUM_THREADS", "1", 1);
      setenv("OPENBLAS_NUM_THREADS", "1", 1);
      execl(python.c_str(), python.c_str(), script.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    in_ = fdopen(to_child[1], "w");
    out_ = fdopen(from_child[0], "r");
  }
  ~PyDenseCrf() {
    if (in_) std::fclose(in_);
    if (out_) std::fclose(out_);
    int status = 0;
    if (pid_ > 0) waitpid(pid_, &status, 0);
  }
  std::vector<double> ask(const std::string& request) {
    std::fprintf(in_, "%s\n", request.c_str());
    std::fflush(in_);
    char line[256];
    if (!std::fgets(line, sizeof line, out_)) throw std::runtime_error("pydensecrf_bench.py stopped (see its error above)");
    std::vector<double> v;
    for (char* p = std::strtok(line, " \n"); p; p = std::strtok(nullptr, " \n")) v.push_back(std::atof(p));
    return v;
  }

 private:
  pid_t pid_ = -1;
  FILE* in_ = nullptr;
  FILE* out_ = nullptr;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Image {
  std::vector<std::uint8_t> rgb, labels;
  std::string file;  // rgb then labels, for pydensecrf_bench.py
};

Image make_image(int labels, unsigned seed, const std::string& dir) {
  Image im;
  synthetic_image(kW, kH, labels, im.rgb, im.labels, seed);
  im.file = dir + "/image_" + std::to_string(labels) + "_" + std::to_string(seed) + ".u8";
  FILE* f = std::fopen(im.file.c_str(), "wb");
  if (!f || std::fwrite(im.rgb.data(), 1, im.rgb.size(), f) != im.rgb.size() ||
      std::fwrite(im.labels.data(), 1, im.labels.size(), f) != im.labels.size() || std::fclose(f) != 0)
    throw std::runtime_error("cannot write " + im.file);
  return im;
}

std::string request(const char* verb, const Image& im, int labels, int iterations) {
  return std::string(verb) + " " + im.file + " " + std::to_string(kW) + " " + std::to_string(kH) + " " +
         std::to_string(labels) + " " + std::to_string(iterations);
}

// Wall time of every image once, on `workers` threads taking images in turn
// (as wsss-refine crf -j does), each CRF single-threaded.
double wsss_batch_ms(const std::vector<Image>& images, int labels, int iterations, int workers) {
  const auto t0 = std::chrono::steady_clock::now();
  wsss::parallel_for(images.size(), workers, [&](std::size_t i, int) {
    CrfParams p = crf_preset("irn").params;
    p.iterations = iterations;
    const CrfResult r = crf_from_labels(images[i].rgb.data(), kW, kH, images[i].labels.data(), labels, p, 1);
    if (r.labels.size() != images[i].labels.size()) std::abort();
  });
  return seconds_since(t0) * 1e3;
}

// wsss_bench_refine crf [ROUNDS [PYTHONPATH [SCRIPT [PYTHON]]]]
int bench_crf(int argc, char** argv) {
  const int rounds = argc > 2 ? std::max(1, std::atoi(argv[2])) : 5;
  const std::string pythonpath = argc > 3 ? argv[3] : "";
  const std::string script = argc > 4 ? argv[4] : "bench/pydensecrf_bench.py";
  const std::string python = argc > 5 ? argv[5] : "/usr/bin/python3";
  char tmpl[] = "/tmp/wsss-bench-crf-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  const std::string dir = tmpl;
  std::unique_ptr<PyDenseCrf> py;
  if (!pythonpath.empty()) py = std::make_unique<PyDenseCrf>(python, script, pythonpath);
  const CrfSimd simd = crf_simd_best();
  std::printf("== dense CRF, %dx%d synthetic images, label unary gt_prob 0.7, Gaussian 3/3, bilateral 50/5/10 "
              "(IRN's crf_inference_label); one thread; construction + inference; %s kernels; "
              "%d rounds, wsss and pydensecrf in turn on the same image ==\n",
              kW, kH, crf_simd_name(simd), rounds);
  if (!py) std::printf("(pydensecrf not given: wsss only)\n");
  std::printf("%-6s %-5s %12s %12s %12s %12s %9s %9s\n", "labels", "iters", "wsss cpu ms", "wsss wall ms",
              "pydcrf cpu", "pydcrf wall", "cpu ratio", "wall ratio");
  for (int iterations : {10, 5})
    for (int labels : {3, 21, 81}) {
      const Image im = make_image(labels, 42, dir);
      const std::vector<float> unary = unary_from_labels(im.labels.data(), im.labels.size(), labels, 0.7, false);
      time_wsss(im.rgb, unary, labels, iterations, simd);  // warm-up: page faults, caches
      if (py) py->ask(request("run", im, labels, iterations));
      std::vector<double> wc, ww, pc, pw, rc, rw;
      for (int r = 0; r < rounds; ++r) {
        const Timing t = time_wsss(im.rgb, unary, labels, iterations, simd);
        wc.push_back(t.cpu_ms);
        ww.push_back(t.wall_ms);
        if (py) {
          const std::vector<double> v = py->ask(request("run", im, labels, iterations));
          if (v.size() != 2) throw std::runtime_error("pydensecrf_bench.py: bad answer");
          pc.push_back(v[0]);
          pw.push_back(v[1]);
          rc.push_back(t.cpu_ms / v[0]);
          rw.push_back(t.wall_ms / v[1]);
        }
      }
      if (py)
        std::printf("%-6d %-5d %12.1f %12.1f %12.1f %12.1f %9.3f %9.3f\n", labels, iterations, median(wc), median(ww),
                    median(pc), median(pw), median(rc), median(rw));
      else
        std::printf("%-6d %-5d %12.1f %12.1f\n", labels, iterations, median(wc), median(ww));
      std::fflush(stdout);
    }
  std::printf("(medians over the rounds; ratios = wsss / pydensecrf, the median of the per-round ratios)\n");

  // Scaling over images: 8 images of 21 labels, 10 iterations, on 1 and 2 workers.
  const int n_images = 8, labels = 21, iterations = 10;
  std::vector<Image> images;
  std::string batch;
  for (int i = 0; i < n_images; ++i) {
    images.push_back(make_image(labels, 100 + i, dir));
    batch += " " + images.back().file + " " + std::to_string(kW) + " " + std::to_string(kH) + " " + std::to_string(labels);
  }
  std::printf("== -j2 scaling: %d images, %d labels, %d iterations; wall ms for all images (median of %d) ==\n",
              n_images, labels, iterations, rounds);
  std::vector<double> w1, w2, p1, p2, c1, c2;
  wsss_batch_ms(images, labels, iterations, 2);  // warm-up
  for (int r = 0; r < rounds; ++r) {
    double c0 = wsss::bench::cpu_seconds();
    w1.push_back(wsss_batch_ms(images, labels, iterations, 1));
    c1.push_back((wsss::bench::cpu_seconds() - c0) * 1e3);
    if (py) p1.push_back(py->ask("batch 1 " + std::to_string(iterations) + batch).at(0));
    c0 = wsss::bench::cpu_seconds();
    w2.push_back(wsss_batch_ms(images, labels, iterations, 2));
    c2.push_back((wsss::bench::cpu_seconds() - c0) * 1e3);
    if (py) p2.push_back(py->ask("batch 2 " + std::to_string(iterations) + batch).at(0));
  }
  std::printf("wsss        -j1 %8.1f ms  -j2 %8.1f ms  speed-up %.2f  (process CPU %.0f ms and %.0f ms)\n", median(w1),
              median(w2), median(w1) / median(w2), median(c1), median(c2));
  if (py)
    std::printf("pydensecrf  -j1 %8.1f ms  -j2 %8.1f ms  speed-up %.2f (2 processes)\n", median(p1), median(p2),
                median(p1) / median(p2));
  py.reset();
  std::filesystem::remove_all(dir);
  return 0;
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
  try {
    if (what == "crf" || what == "all") bench_crf(what == "crf" ? argc : 1, argv);
    if (what == "rw" || what == "all") bench_rw();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wsss_bench_refine: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
