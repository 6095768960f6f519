// GrabCut as a promptable segmenter (wsss-sam --segmenter grabcut): masks are
// scored against the shape drawn into a synthetic image, and are the same for
// the same seed on any thread.
#include <catch2/catch.hpp>

#include <opencv2/core.hpp>
#include <thread>

#include "wsss/pseudo/grabcut.hpp"

using namespace wsss;
using namespace wsss::pseudo;

namespace {

constexpr int W = 64, H = 48;

// A dark, noisy background with bright squares [x0, x1) x [y0, y1); the truth is the first square.
struct Scene {
  cv::Mat rgb = cv::Mat(H, W, CV_8UC3);
  std::vector<std::uint8_t> truth = std::vector<std::uint8_t>(W * H, 0);
  Scene() {
    cv::RNG noise(7);
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        bool in = x >= 20 && x < 40 && y >= 12 && y < 32;
        bool other = x >= 50 && x < 60 && y >= 2 && y < 12;  // outside the test boxes
        truth[std::size_t(y) * W + x] = in;
        int base = in || other ? 210 : 35;
        for (int c = 0; c < 3; ++c) rgb.at<cv::Vec3b>(y, x)[c] = cv::saturate_cast<uchar>(base + noise.uniform(-15, 16) + 5 * c);
      }
  }
};

double iou(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
  std::size_t inter = 0, uni = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    inter += a[i] && b[i];
    uni += a[i] || b[i];
  }
  return uni ? double(inter) / double(uni) : 0.0;
}

Prompt box_prompt(float x0, float y0, float x1, float y1) {
  Prompt p;
  p.class_id = 1;
  p.box = Box{x0, y0, x1, y1};
  p.origin = "test";
  return p;
}

}  // namespace

TEST_CASE("grabcut: a box around a bright square segments the square", "[grabcut]") {
  Scene s;
  GrabCutOptions o;
  auto mask = grabcut_mask(s.rgb, box_prompt(14, 6, 46, 38), o, 1);
  REQUIRE(mask.size() == std::size_t(W * H));
  CHECK(iou(mask, s.truth) > 0.9);
  // The box alone (what GrabCut starts from) is far worse: the test measures the cut.
  std::vector<std::uint8_t> box(W * H, 0);
  for (int y = 6; y < 38; ++y)
    for (int x = 14; x < 46; ++x) box[std::size_t(y) * W + x] = 1;
  CHECK(iou(box, s.truth) < 0.45);
  // Nothing outside the box, though the second square has the same colour.
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      if (x < 14 || x >= 46 || y < 6 || y >= 38) REQUIRE(mask[std::size_t(y) * W + x] == 0);
}

TEST_CASE("grabcut: points add certain foreground; a point alone finds the colour", "[grabcut]") {
  Scene s;
  GrabCutOptions o;
  Prompt bp = box_prompt(14, 6, 46, 38);
  bp.points = {{30, 22}};
  bp.point_labels = {1};
  CHECK(iou(grabcut_mask(s.rgb, bp, o, 1), s.truth) > 0.9);
  Prompt p;
  p.class_id = 1;
  p.points = {{30, 22}};
  p.point_labels = {1};
  p.origin = "test";
  auto m = grabcut_mask(s.rgb, p, o, 1);
  // Without a box, the square's colour anywhere: the square and the second one.
  CHECK(m[std::size_t(22) * W + 30] == 1);
  CHECK(m[std::size_t(6) * W + 55] == 1);
  CHECK(m[std::size_t(40) * W + 5] == 0);
  // Mismatched points and labels are an error, not a guess.
  p.point_labels.clear();
  CHECK_THROWS(grabcut_mask(s.rgb, p, o, 1));
}

TEST_CASE("grabcut: a box over the whole image has no background to learn, and is its own mask", "[grabcut]") {
  Scene s;
  auto m = grabcut_mask(s.rgb, box_prompt(0, 0, W, H), GrabCutOptions{}, 1);
  CHECK(std::count(m.begin(), m.end(), 1) == W * H);
}

TEST_CASE("grabcut: the mask depends on the seed only, on any thread; theRNG is restored", "[grabcut][determinism]") {
  Scene s;
  // A noisy scene where k-means' initialisation matters: random colours, a box over half.
  cv::Mat noisy(H, W, CV_8UC3);
  cv::RNG(3).fill(noisy, cv::RNG::UNIFORM, 0, 256);
  Prompt p = box_prompt(8, 8, 40, 40);
  GrabCutOptions o;
  o.iterations = 2;
  cv::theRNG().state = 12345;
  auto a = grabcut_mask(noisy, p, o, 99);
  CHECK(cv::theRNG().state == 12345);
  std::vector<std::uint8_t> b, c;
  std::thread t1([&] { b = grabcut_mask(noisy, p, o, 99); });
  std::thread t2([&] { c = grabcut_mask(noisy, p, o, 99); });
  t1.join();
  t2.join();
  CHECK(a == b);
  CHECK(a == c);
  auto segmenter = make_grabcut_segmenter(o);
  auto masks = segmenter->segment(noisy, {p, p}, 5);
  REQUIRE(masks.size() == 2);
  CHECK(masks[0].quality == 1.0f);
  CHECK(masks[0].mask == segmenter->segment(noisy, {p}, 5)[0].mask);
  GrabCutOptions bad;
  bad.iterations = 0;
  CHECK_THROWS(bad.validate());
}
