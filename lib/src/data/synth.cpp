#include "wsss/data/synth.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "wsss/core/error.hpp"
#include "wsss/core/hash.hpp"
#include "wsss/core/log.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/image.hpp"

#include <opencv2/imgcodecs.hpp>

namespace wsss {

namespace {

constexpr double kPi = 3.14159265358979323846;

// splitmix64: tiny, fast and fully specified, so the data set is the same with
// every standard library (std:: distributions are implementation-defined).
std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

struct Rng {
  std::uint64_t state;
  explicit Rng(std::uint64_t s) : state(s) {}
  std::uint64_t next() { return mix64(state += 0x9E3779B97F4A7C15ULL); }
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
  double uniform(double a, double b) { return a + (b - a) * uniform(); }
  int randint(int lo, int hi) { return lo + int(next() % std::uint64_t(hi - lo + 1)); }  // inclusive
  bool chance(double p) { return uniform() < p; }
};

// A per-pixel hash in [0, 1): speckle textures without storing noise images.
double hash01(int x, int y, std::uint64_t salt) {
  std::uint64_t h = mix64(salt ^ (std::uint64_t(std::uint32_t(x)) << 32 | std::uint32_t(y)));
  return double(h >> 11) * (1.0 / 9007199254740992.0);
}

using Rgb = std::array<double, 3>;

Rgb hsv(double h, double s, double v) {
  h = std::fmod(std::fmod(h, 360.0) + 360.0, 360.0) / 60.0;
  int i = int(h);
  double f = h - i, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  Rgb c;
  switch (i) {
    case 0: c = {v, t, p}; break;
    case 1: c = {q, v, p}; break;
    case 2: c = {p, v, t}; break;
    case 3: c = {p, q, v}; break;
    case 4: c = {t, p, v}; break;
    default: c = {v, p, q}; break;
  }
  for (double& x : c) x *= 255.0;
  return c;
}

Rgb lerp(const Rgb& a, const Rgb& b, double t) {
  return {a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t};
}
Rgb scale(const Rgb& a, double f) { return {a[0] * f, a[1] * f, a[2] * f}; }

// Smooth value noise: random values on a coarse grid, bilinear with smoothstep.
struct ValueNoise {
  int gw = 0, gh = 0;
  double cell = 1;
  std::vector<double> grid;
  ValueNoise(Rng& rng, int width, int height, double cell_px) : cell(std::max(2.0, cell_px)) {
    gw = int(width / cell) + 2;
    gh = int(height / cell) + 2;
    grid.resize(std::size_t(gw) * gh);
    for (double& g : grid) g = rng.uniform();
  }
  double at(double x, double y) const {
    double fx = x / cell, fy = y / cell;
    int ix = std::min(int(fx), gw - 2), iy = std::min(int(fy), gh - 2);
    double tx = fx - ix, ty = fy - iy;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    const double* r0 = &grid[std::size_t(iy) * gw + ix];
    const double* r1 = r0 + gw;
    return (r0[0] * (1 - tx) + r0[1] * tx) * (1 - ty) + (r1[0] * (1 - tx) + r1[1] * tx) * ty;
  }
};

// A drawn object. Shapes are tested in local coordinates (u, v): the pixel
// centre relative to (cx, cy), rotated by -angle and divided by the radius r.
struct Object {
  int cls = 0;
  double cx = 0, cy = 0, r = 1, angle = 0, ca = 1, sa = 0;
  double a = 1, b = 1;               // box half sizes, ring inner radius (a), star inner radius (a)
  Rgb c0{}, c1{};                    // the texture's two colours
  double freq = 1, phase = 0;        // stripes/bands
  std::uint64_t salt = 0;            // speckles
  std::vector<std::array<double, 2>> polygon;  // star outline in local coordinates
  // train: body rectangle in pixels, wheel radius and spacing
  double x0 = 0, x1 = 0, y0 = 0, y1 = 0, wheel_r = 0, wheel_gap = 1;
  int xmin = 0, xmax = 0, ymin = 0, ymax = 0;  // bounding box, inclusive, clipped

  void local(int x, int y, double& u, double& v) const {
    double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
    u = (dx * ca + dy * sa) / r;
    v = (-dx * sa + dy * ca) / r;
  }

  bool inside(int x, int y) const {
    if (cls == kSynthTrain) {
      double px = x + 0.5, py = y + 0.5;
      if (px >= x0 && px < x1 && py >= y0 && py < y1) return true;
      // Wheels: discs centred on the body's lower edge, one per wheel_gap.
      if (py < y1 || py > y1 + wheel_r || px < x0) return false;
      double centre = x0 + (std::floor((px - x0) / wheel_gap) + 0.5) * wheel_gap;
      if (centre >= x1) return false;
      return (px - centre) * (px - centre) + (py - y1) * (py - y1) <= wheel_r * wheel_r;
    }
    double u, v;
    local(x, y, u, v);
    switch (cls) {
      case kSynthBall: return u * u + v * v <= 1.0;
      case kSynthBox: return std::fabs(u) <= a && std::fabs(v) <= b;
      case kSynthKite:  // short upper half, long lower half
        return v < 0 ? std::fabs(u) / 0.6 - v / 0.7 <= 1.0 : std::fabs(u) / 0.6 + v / 1.1 <= 1.0;
      case kSynthStar: {
        bool in = false;
        for (std::size_t i = 0, j = polygon.size() - 1; i < polygon.size(); j = i++) {
          const auto& p = polygon[i];
          const auto& q = polygon[j];
          if ((p[1] > v) != (q[1] > v) && u < (q[0] - p[0]) * (v - p[1]) / (q[1] - p[1]) + p[0]) in = !in;
        }
        return in;
      }
      case kSynthRing: {
        double d = u * u + v * v;
        return d <= 1.0 && d >= a * a;
      }
    }
    return false;
  }

  Rgb paint(int x, int y) const {
    double u = 0, v = 0;
    if (cls != kSynthTrain) local(x, y, u, v);
    switch (cls) {
      case kSynthBall: {  // smooth, lit from the upper left
        double hx = u + 0.35, hy = v + 0.35;
        double light = 1.0 - 0.5 * std::min(1.0, std::sqrt(hx * hx + hy * hy) / 1.4);
        return lerp(scale(c0, light), c1, std::max(0.0, 0.25 - (hx * hx + hy * hy)) * 2.0);
      }
      case kSynthBox: {  // wood grain along u, darker frame
        double grain = 0.5 + 0.5 * std::sin(u * freq + phase + 0.8 * std::sin(v * 3.0 + phase));
        Rgb c = lerp(c0, c1, grain * 0.6);
        if (std::fabs(u) > a - 0.12 || std::fabs(v) > b - 0.12) c = scale(c, 0.6);
        return c;
      }
      case kSynthKite: {  // two-colour quadrants with dark sticks along the axes
        if (std::fabs(u) < 0.05 || std::fabs(v + 0.1) < 0.05) return {40, 30, 20};
        return (u < 0) != (v < -0.1) ? c0 : c1;
      }
      case kSynthStar: {  // golden with speckles
        double s = hash01(x, y, salt);
        return s < 0.18 ? scale(c0, 0.55) : lerp(c0, c1, (1.0 - std::sqrt(u * u + v * v)) * 0.5);
      }
      case kSynthRing: {  // concentric metallic bands
        double d = std::sqrt(u * u + v * v);
        return lerp(c0, c1, 0.5 + 0.5 * std::sin(d * freq + phase));
      }
      case kSynthTrain: {
        double px = x + 0.5, py = y + 0.5;
        if (py >= y1) return {35, 35, 38};  // wheels
        double h = y1 - y0;
        double wy0 = y0 + 0.18 * h, wy1 = y0 + 0.5 * h;
        double pitch = std::max(4.0, h * 0.8);
        double rel = std::fmod(px - x0, pitch);
        if (py >= wy0 && py < wy1 && rel > 0.2 * pitch && rel < 0.8 * pitch && px < x1 - 0.2 * pitch)
          return {70, 90, 120};  // windows
        if (py >= y0 + 0.68 * h && py < y0 + 0.8 * h) return c1;  // livery stripe
        return c0;
      }
    }
    return c0;
  }
};

void finish_bbox(Object& o, double extent, int width, int height) {
  o.xmin = std::max(0, int(std::floor(o.cx - extent)));
  o.xmax = std::min(width - 1, int(std::ceil(o.cx + extent)));
  o.ymin = std::max(0, int(std::floor(o.cy - extent)));
  o.ymax = std::min(height - 1, int(std::ceil(o.cy + extent)));
}

// Colour families overlap on purpose (ball/box/star share warm hues, train and
// ball share red, ring and kite share blues) so that colour alone does not classify.
Object make_object(int cls, Rng& rng, int width, int height, double rail_y) {
  Object o;
  o.cls = cls;
  const double side = std::min(width, height);
  o.salt = rng.next();
  if (cls == kSynthTrain) {
    double length = rng.uniform(0.45, 0.8) * width;
    double h = std::min(length / rng.uniform(2.6, 4.0), 0.4 * height);
    o.x0 = rng.uniform(-0.1 * width, width - 0.9 * length);
    o.x1 = o.x0 + length;
    o.wheel_r = std::max(1.5, 0.12 * h);
    o.y1 = rail_y - 0.5 * o.wheel_r;
    o.y0 = o.y1 - h;
    o.wheel_gap = std::max(4 * o.wheel_r, length / rng.randint(3, 6));
    double hue = rng.chance(0.5) ? rng.uniform(90, 150) : rng.uniform(340, 380);
    o.c0 = hsv(hue, rng.uniform(0.45, 0.85), rng.uniform(0.5, 0.85));
    o.c1 = hsv(hue + 180, 0.3, 0.95);
    o.xmin = std::max(0, int(std::floor(o.x0)));
    o.xmax = std::min(width - 1, int(std::ceil(o.x1)));
    o.ymin = std::max(0, int(std::floor(o.y0)));
    o.ymax = std::min(height - 1, int(std::ceil(o.y1 + o.wheel_r)));
    return o;
  }
  o.r = rng.uniform(0.12, 0.26) * side;
  o.cx = rng.uniform(0.5 * o.r, width - 0.5 * o.r);
  o.cy = rng.uniform(0.5 * o.r, height - 0.5 * o.r);
  o.angle = rng.uniform(-kPi, kPi);
  switch (cls) {
    case kSynthBall:
      o.c0 = hsv(rng.uniform(-10, 45), rng.uniform(0.6, 0.95), rng.uniform(0.75, 1.0));
      o.c1 = {255, 250, 235};
      break;
    case kSynthBox:
      o.a = rng.uniform(0.6, 0.95);
      o.b = rng.uniform(0.45, 0.85);
      o.freq = rng.uniform(12, 30);
      o.phase = rng.uniform(0, 2 * kPi);
      o.c0 = hsv(rng.uniform(15, 50), rng.uniform(0.45, 0.75), rng.uniform(0.45, 0.8));
      o.c1 = hsv(rng.uniform(15, 50), rng.uniform(0.2, 0.5), rng.uniform(0.75, 0.95));
      break;
    case kSynthKite: {
      o.angle = rng.uniform(-0.5, 0.5);  // kites fly upright-ish
      double hue = rng.uniform(180, 330);
      o.c0 = hsv(hue, rng.uniform(0.6, 1.0), rng.uniform(0.7, 1.0));
      o.c1 = hsv(hue + rng.uniform(120, 200), rng.uniform(0.6, 1.0), rng.uniform(0.7, 1.0));
      break;
    }
    case kSynthStar: {
      o.a = rng.uniform(0.38, 0.5);
      for (int i = 0; i < 10; ++i) {
        double t = -kPi / 2 + i * kPi / 5;
        double rad = i % 2 == 0 ? 1.0 : o.a;
        o.polygon.push_back({rad * std::cos(t), rad * std::sin(t)});
      }
      o.c0 = hsv(rng.uniform(38, 62), rng.uniform(0.7, 1.0), rng.uniform(0.8, 1.0));
      o.c1 = {255, 255, 210};
      break;
    }
    case kSynthRing:
      o.a = rng.uniform(0.5, 0.7);
      o.freq = rng.uniform(15, 35);
      o.phase = rng.uniform(0, 2 * kPi);
      if (rng.chance(0.4)) {
        o.c0 = hsv(0, 0, rng.uniform(0.35, 0.55));
        o.c1 = hsv(0, 0, rng.uniform(0.8, 0.95));
      } else {
        double hue = rng.uniform(150, 225);
        o.c0 = hsv(hue, rng.uniform(0.4, 0.8), rng.uniform(0.35, 0.6));
        o.c1 = hsv(hue, rng.uniform(0.1, 0.4), rng.uniform(0.8, 1.0));
      }
      break;
  }
  o.ca = std::cos(o.angle);
  o.sa = std::sin(o.angle);
  finish_bbox(o, 1.5 * o.r, width, height);
  return o;
}

struct Background {
  int style = 0;
  Rgb c0{}, c1{};
  double dir_x = 1, dir_y = 0, period = 10;
  std::vector<ValueNoise> noise;
};

Background make_background(Rng& rng, int width, int height) {
  Background bg;
  bg.style = rng.randint(0, 3);  // 0 noise, 1 gradient, 2 stripes, 3 tiles
  double hue = rng.uniform(0, 360);
  bg.c0 = hsv(hue, rng.uniform(0.05, 0.4), rng.uniform(0.3, 0.8));
  bg.c1 = hsv(hue + rng.uniform(-60, 60), rng.uniform(0.05, 0.4), rng.uniform(0.3, 0.9));
  double t = rng.uniform(0, 2 * kPi);
  bg.dir_x = std::cos(t);
  bg.dir_y = std::sin(t);
  double side = std::min(width, height);
  bg.period = rng.uniform(0.05, 0.16) * side;
  bg.noise.emplace_back(rng, width, height, rng.uniform(0.08, 0.3) * side);
  return bg;
}

Rgb background_at(const Background& bg, int x, int y, int width, int height) {
  double n = bg.noise[0].at(x, y);
  double proj = x * bg.dir_x + y * bg.dir_y;
  switch (bg.style) {
    case 0: return lerp(bg.c0, bg.c1, n);
    case 1: {
      double span = std::fabs(width * bg.dir_x) + std::fabs(height * bg.dir_y) + 1;
      return lerp(bg.c0, bg.c1, std::clamp(proj / span + 0.5 * (bg.dir_x < 0) + 0.5 * (bg.dir_y < 0) + 0.2 * (n - 0.5), 0.0, 1.0));
    }
    case 2: return lerp(bg.c0, bg.c1, 0.5 + 0.5 * std::sin(2 * kPi * proj / bg.period) * (0.6 + 0.4 * n));
    default: {
      int tx = int(std::floor(x / bg.period)), ty = int(std::floor(y / bg.period));
      return lerp(bg.c0, bg.c1, ((tx + ty) & 1) ? 0.15 + 0.2 * n : 0.85 - 0.2 * n);
    }
  }
}

// Rails: gravel ballast, brown sleepers and two steel rails across the whole
// width. The pattern is background (id 0) but appears almost only with trains.
struct Rails {
  double top = 0, gauge = 0, thick = 1, sleeper_pitch = 1, sleeper_w = 1, phase = 0;
  Rgb steel{}, wood{}, gravel{};
  std::uint64_t salt = 0;
  bool contains(double py) const { return py >= top - 2.5 * thick && py < top + gauge + 3.5 * thick; }
  Rgb at(int x, int y, const Rgb& under) const {
    double px = x + 0.5, py = y + 0.5;
    if (!contains(py)) return under;
    if ((py >= top && py < top + thick) || (py >= top + gauge && py < top + gauge + thick)) return steel;
    double rel = std::fmod(px + phase, sleeper_pitch);
    if (rel < sleeper_w && py >= top - 1.5 * thick && py < top + gauge + 2.5 * thick) return wood;
    return scale(gravel, 0.7 + 0.5 * hash01(x, y, salt));
  }
};

Rails make_rails(Rng& rng, double rail_y, int width, int height) {
  Rails r;
  double side = std::min(width, height);
  r.top = rail_y;
  r.thick = std::max(1.0, 0.014 * side);
  r.gauge = std::max(3.0, rng.uniform(0.05, 0.08) * height);
  r.sleeper_pitch = std::max(4.0, rng.uniform(0.05, 0.08) * width);
  r.sleeper_w = std::max(1.5, 0.35 * r.sleeper_pitch);
  r.phase = rng.uniform(0, r.sleeper_pitch);
  r.steel = hsv(210, 0.05, rng.uniform(0.7, 0.85));
  r.wood = hsv(rng.uniform(20, 35), rng.uniform(0.5, 0.7), rng.uniform(0.25, 0.4));
  r.gravel = hsv(rng.uniform(20, 40), 0.12, rng.uniform(0.4, 0.55));
  r.salt = rng.next();
  return r;
}

}  // namespace

SynthSample generate_synth_sample(std::uint64_t seed, std::uint64_t index, int width, int height,
                                  bool with_image) {
  if (width < 16 || height < 16) throw UsageError("synthetic images need at least 16x16 pixels");
  Rng rng(mix64(seed * 0xD1B54A32D192ED03ULL + mix64(index + 0x632BE59BD9B4E019ULL)));
  const std::size_t npx = std::size_t(width) * height;

  // Layout first (cheap, ownership only), retried until every object stays
  // reasonably visible: a label whose object is hidden would be label noise.
  std::vector<Object> objects;
  std::vector<std::int8_t> owner(npx);
  bool has_train = false;
  double rail_y = 0;
  for (int attempt = 0;; ++attempt) {
    objects.clear();
    double u = rng.uniform();
    int n = u < 0.45 ? 1 : u < 0.8 ? 2 : 3;
    std::vector<int> classes;
    while (int(classes.size()) < n) {
      int c = rng.randint(kSynthBall, kSynthTrain);
      if (c == kSynthTrain && std::count(classes.begin(), classes.end(), int(kSynthTrain))) continue;
      classes.push_back(c);
    }
    has_train = std::count(classes.begin(), classes.end(), int(kSynthTrain)) > 0;
    rail_y = rng.uniform(0.55, 0.85) * height;
    // The train stands on the ground and is drawn first; flying things may occlude it.
    if (has_train) objects.push_back(make_object(kSynthTrain, rng, width, height, rail_y));
    for (int c : classes)
      if (c != kSynthTrain) objects.push_back(make_object(c, rng, width, height, rail_y));

    std::fill(owner.begin(), owner.end(), std::int8_t(-1));
    std::vector<std::size_t> drawn(objects.size(), 0), visible(objects.size(), 0);
    for (std::size_t k = 0; k < objects.size(); ++k) {
      const Object& o = objects[k];
      for (int y = o.ymin; y <= o.ymax; ++y)
        for (int x = o.xmin; x <= o.xmax; ++x)
          if (o.inside(x, y)) {
            owner[std::size_t(y) * width + x] = std::int8_t(k);
            ++drawn[k];
          }
    }
    for (auto o : owner)
      if (o >= 0) ++visible[std::size_t(o)];
    bool ok = true;
    for (std::size_t k = 0; k < objects.size(); ++k)
      ok = ok && drawn[k] >= npx / 200 && visible[k] * 5 >= drawn[k] * 2;
    if (ok || attempt >= 50) break;
  }

  SynthSample s;
  // Rails with every train, and (rarely) alone: "almost only with trains".
  s.rails = has_train || rng.chance(0.03);
  s.mask = Mask(width, height, 0);
  std::array<bool, kSynthClasses> present{};
  for (std::size_t i = 0; i < npx; ++i)
    if (owner[i] >= 0) {
      int cls = objects[std::size_t(owner[i])].cls;
      s.mask.data[i] = std::uint8_t(cls);
      present[std::size_t(cls)] = true;
    }
  for (int cls = 1; cls < kSynthClasses; ++cls)
    if (present[std::size_t(cls)]) s.labels.push_back(cls);
  if (!with_image) return s;

  Rails rails = make_rails(rng, rail_y, width, height);
  Background bg = make_background(rng, width, height);

  // Unlabelled clutter in the background, in any class's colours.
  struct Blob { double cx, cy, rx, ry; Rgb c; };
  std::vector<Blob> blobs;
  int nblobs = rng.chance(0.5) ? rng.randint(1, 3) : 0;
  for (int i = 0; i < nblobs; ++i) {
    double side = std::min(width, height);
    blobs.push_back({rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.03, 0.07) * side,
                     rng.uniform(0.03, 0.07) * side, hsv(rng.uniform(0, 360), rng.uniform(0.3, 0.8), rng.uniform(0.4, 0.9))});
  }
  double light_x = rng.uniform(-0.15, 0.15), light_y = rng.uniform(-0.15, 0.15);
  double noise_amp = rng.uniform(3, 9);
  std::uint64_t noise_salt = rng.next();

  s.image = cv::Mat(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    auto* row = s.image.ptr<std::uint8_t>(y);
    for (int x = 0; x < width; ++x) {
      std::size_t i = std::size_t(y) * width + x;
      Rgb c;
      int k = owner[i];
      if (k >= 0) {
        c = objects[std::size_t(k)].paint(x, y);
      } else {
        c = background_at(bg, x, y, width, height);
        for (const Blob& b : blobs) {
          double dx = (x + 0.5 - b.cx) / b.rx, dy = (y + 0.5 - b.cy) / b.ry;
          if (dx * dx + dy * dy <= 1) c = b.c;
        }
        if (s.rails) c = rails.at(x, y, c);
      }
      double light = 1.0 + light_x * (2.0 * x / width - 1) + light_y * (2.0 * y / height - 1);
      double noise = (hash01(x, y, noise_salt) + hash01(x, y, noise_salt + 1) - 1.0) * noise_amp;
      for (int ch = 0; ch < 3; ++ch)
        row[3 * x + ch] = std::uint8_t(std::clamp(std::lround(c[ch] * light + noise), 0L, 255L));
    }
  }
  return s;
}

cv::Mat synth_saliency(const Mask& mask, std::uint64_t seed, std::uint64_t index) {
  // Its own random stream: the images and masks do not change with --saliency.
  Rng rng(mix64(seed * 0xA0761D6478BD642FULL + mix64(index + 0xE7037ED1A0B428DBULL)));
  const int w = mask.width, h = mask.height;
  const std::size_t n = std::size_t(w) * h;
  const double side = std::min(w, h);
  std::array<double, 256> strength{};
  for (int c = 1; c < 256; ++c) strength[std::size_t(c)] = rng.uniform(0.6, 1.0);
  std::vector<double> s(n);
  for (std::size_t i = 0; i < n; ++i) s[i] = mask.data[i] == 0 ? 0.0 : strength[mask.data[i]];
  auto ellipse = [&](double cx, double cy, double rx, double ry, auto&& apply) {
    const int x0 = std::max(0, int(cx - rx)), x1 = std::min(w - 1, int(cx + rx));
    const int y0 = std::max(0, int(cy - ry)), y1 = std::min(h - 1, int(cy + ry));
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) {
        const double dx = (x + 0.5 - cx) / rx, dy = (y + 0.5 - cy) / ry;
        if (dx * dx + dy * dy <= 1) apply(s[std::size_t(y) * w + x]);
      }
  };
  // A missed part of an object: a hole around a random object pixel.
  std::vector<std::size_t> object_pixels;
  for (std::size_t i = 0; i < n; ++i)
    if (mask.data[i] != 0) object_pixels.push_back(i);
  if (!object_pixels.empty() && rng.chance(0.5)) {
    const std::size_t p = object_pixels[std::size_t(rng.next() % object_pixels.size())];
    const double keep = rng.uniform(0.0, 0.3);
    ellipse(double(p % std::size_t(w)) + 0.5, double(p / std::size_t(w)) + 0.5, rng.uniform(0.05, 0.15) * side,
            rng.uniform(0.05, 0.15) * side, [&](double& v) { v *= keep; });
  }
  // Salient things that are not objects of a class.
  const int blobs = rng.chance(0.6) ? rng.randint(1, 2) : 0;
  for (int b = 0; b < blobs; ++b) {
    const double value = rng.uniform(0.4, 0.9);
    ellipse(rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.04, 0.1) * side, rng.uniform(0.04, 0.1) * side,
            [&](double& v) { v = std::max(v, value); });
  }
  const std::uint64_t salt = rng.next();
  for (std::size_t i = 0; i < n; ++i)
    s[i] += (hash01(int(i % std::size_t(w)), int(i / std::size_t(w)), salt) - 0.5) * 0.1;
  // A separable Gaussian blur (sigma 1.5% of the short side), borders replicated,
  // in a fixed order: the same bytes on every machine.
  const double sigma = std::max(0.5, 0.015 * side);
  const int radius = int(std::ceil(3 * sigma));
  std::vector<double> kernel(std::size_t(2 * radius + 1));
  double total = 0;
  for (int t = -radius; t <= radius; ++t) total += kernel[std::size_t(t + radius)] = std::exp(-0.5 * t * t / (sigma * sigma));
  for (double& k : kernel) k /= total;
  std::vector<double> tmp(n);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double acc = 0;
      for (int t = -radius; t <= radius; ++t)
        acc += kernel[std::size_t(t + radius)] * s[std::size_t(y) * w + std::clamp(x + t, 0, w - 1)];
      tmp[std::size_t(y) * w + x] = acc;
    }
  cv::Mat out(h, w, CV_8UC1);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double acc = 0;
      for (int t = -radius; t <= radius; ++t)
        acc += kernel[std::size_t(t + radius)] * tmp[std::size_t(std::clamp(y + t, 0, h - 1)) * w + x];
      out.at<std::uint8_t>(y, x) = std::uint8_t(std::lround(std::clamp(acc, 0.0, 1.0) * 255.0));
    }
  return out;
}

std::string synth_id(const std::string& prefix, std::size_t index, std::size_t count) {
  int digits = 1;
  for (std::size_t n = count > 0 ? count - 1 : 0; n >= 10; n /= 10) ++digits;
  digits = std::max(digits, 6);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*zu", digits, index);
  return prefix + buf;
}

std::pair<int, int> parse_size(const std::string& text) {
  auto x = text.find('x');
  auto bad = [&] { return UsageError("--size " + text + ": expected WIDTHxHEIGHT, e.g. 500x375"); };
  if (x == std::string::npos || x == 0 || x + 1 == text.size()) throw bad();
  std::string w = text.substr(0, x), h = text.substr(x + 1);
  for (const std::string& s : {w, h})
    if (s.find_first_not_of("0123456789") != std::string::npos || s.size() > 5) throw bad();
  int width = std::stoi(w), height = std::stoi(h);
  if (width < 16 || height < 16 || width > 8192 || height > 8192)
    throw UsageError("--size " + text + ": width and height must be within 16..8192");
  return {width, height};
}

namespace {

class SynthProcessor : public ItemProcessor {
 public:
  SynthProcessor(const SynthOptions& options, fs::path out_dir, std::uint64_t seed)
      : options_(options), out_(std::move(out_dir)), seed_(seed) {}

  void add_index(const std::string& id, std::size_t index) { index_[id] = index; }

  std::vector<fs::path> outputs(const Record& input) const override {
    const std::string& id = record_id(input);
    std::vector<fs::path> files = {mask_path(id)};
    if (!options_.masks_only) files.insert(files.begin(), image_path(id));
    if (options_.saliency) files.push_back(saliency_path(id));
    return files;
  }
  std::vector<std::string> fields() const override {
    std::vector<std::string> f = {"image", "labels", "mask"};
    if (options_.masks_only) f.erase(f.begin());
    if (options_.saliency) f.push_back("saliency");
    return f;
  }
  Record process(const Record& input, std::uint64_t) override {
    // Seeded by index, not by the stage's per-id seed: --prefix only renames.
    const std::string& id = record_id(input);
    SynthSample s = generate_synth_sample(seed_, index_.at(id), options_.width, options_.height, !options_.masks_only);
    Record out = Record::object();
    if (!options_.masks_only) {
      write_image_rgb(image_path(id), s.image);
      out["image"] = fs::absolute(image_path(id)).lexically_normal().string();
    }
    write_mask(mask_path(id), s.mask);
    out["labels"] = s.labels;
    out["mask"] = fs::absolute(mask_path(id)).lexically_normal().string();
    if (options_.saliency) {
      std::vector<std::uint8_t> png;
      if (!cv::imencode(".png", synth_saliency(s.mask, seed_, index_.at(id)), png))
        throw Error(saliency_path(id).string() + ": PNG encoding failed");
      write_file_atomic(saliency_path(id), std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
      out["saliency"] = fs::absolute(saliency_path(id)).lexically_normal().string();
    }
    return out;
  }

 private:
  fs::path image_path(const std::string& id) const { return out_ / "images" / (id + ".png"); }
  fs::path mask_path(const std::string& id) const { return out_ / "masks" / (id + ".png"); }
  fs::path saliency_path(const std::string& id) const { return out_ / "saliency" / (id + ".png"); }
  SynthOptions options_;
  fs::path out_;
  std::uint64_t seed_;
  std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace

StageSummary write_synth_dataset(const SynthOptions& options, const StageOptions& stage) {
  if (options.count == 0) throw UsageError("--count must be at least 1");
  if (options.prefix.find('/') != std::string::npos) throw UsageError("--prefix must not contain '/'");
  SynthProcessor processor(options, stage.out_dir, stage.seed);
  Manifest input;
  input.path = "<synth>";
  std::string description = "synth seed=" + std::to_string(stage.seed) + " count=" + std::to_string(options.count) +
                            " size=" + std::to_string(options.width) + "x" + std::to_string(options.height) +
                            " prefix=" + options.prefix + (options.masks_only ? " masks-only" : "") +
                            (options.saliency ? " saliency" : "");
  input.content_hash = hex64(fnv1a64(description));
  input.records.reserve(options.count);
  for (std::size_t i = 0; i < options.count; ++i) {
    std::string id = synth_id(options.prefix, i, options.count);
    processor.add_index(id, i);
    Record r = Record::object();
    r["id"] = id;
    input.records.push_back(std::move(r));
  }
  Vocabulary vocabulary = builtin_vocabulary("synth");
  StageOptions opts = stage;
  opts.progress_label = "synth";
  return run_stage(processor, input, opts, &vocabulary);
}

}  // namespace wsss
