// Saliency-guided pseudo masks (issue #13): OAA's proxy-GT rule on hand-computed
// pixels, reading saliency maps, and the synthetic stand-in for a saliency model.
#include <catch2/catch.hpp>

#include <cmath>

#include "test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/data/join.hpp"
#include "wsss/data/synth.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/pseudo/saliency.hpp"

using namespace wsss;
using namespace wsss::pseudo;
using wsss_test::TempDir;

namespace {

// A 1 x n map with classes {2, 5}: per pixel (s2, s5). Pixel 0 holds (0, 0) and
// pixel 1 holds (1, 1), so min-max normalisation leaves the others unchanged (up to 1e-8).
RecordScores scores(std::vector<std::pair<float, float>> px, std::vector<int> classes = {2, 5}) {
  px.insert(px.begin(), {{0.f, 0.f}, {1.f, 1.f}});
  RecordScores s;
  s.classes = classes;
  s.map.shape = {2, 1, std::int64_t(px.size())};
  for (auto& p : px) s.map.data.push_back(p.first);
  for (auto& p : px) s.map.data.push_back(p.second);
  return s;
}

}  // namespace

TEST_CASE("saliency rule: background from saliency, classes from the CAMs, 255 where they disagree", "[saliency]") {
  SaliencyRule rule;  // OAA: threshold 0.125, floor 0.3, conflict 0.9, object 0.8, min fg 0.01
  // Pixels after the two normalisation anchors (labels of the anchors: 0 -> background with
  // saliency 0; 1 -> both classes 1.0 > 0.9: conflict, 255):
  //  2: s 0.05, cams (0.2, 0.1): bg 0.95 wins, not salient               -> 0
  //  3: s 0.15, cams (0.97, 0.1): 0.97 > bg 0.85, salient but claimed    -> 2
  //  4: s 0.05, cams (0.95, 0.93): bg 0.95 and two cams > 0.9: conflict  -> 255
  //  5: s 0.6, cams (0.5, 0.7): bg 0.4, class 5 wins                     -> 5
  //  6: s 0.6, cams (0.1, 0.2): cams below the floor, bg 0.4 wins, salient -> 255
  //  7: s 0.1, cams (0.85, 0.2): bg 0.9 wins, a CAM above 0.8 (object)    -> 255
  //  8: s 0.9, cams (0.25, 0.28): all below the floor (bg 0.1): 0, salient -> 255
  //  9: s 0.124, cams (0, 0): bg 0.876, s < 0.125                        -> 0
  // 10: s 0.126, cams (0, 0): salient                                     -> 255
  RecordScores s = scores({{0.2f, 0.1f}, {0.97f, 0.1f}, {0.95f, 0.93f}, {0.5f, 0.7f}, {0.1f, 0.2f},
                           {0.85f, 0.2f}, {0.25f, 0.28f}, {0.f, 0.f}, {0.f, 0.f}});
  std::vector<float> sal = {0.f, 0.f, 0.05f, 0.15f, 0.05f, 0.6f, 0.6f, 0.1f, 0.9f, 0.124f, 0.126f};
  Mask m = saliency_labels(s, sal, rule);
  CHECK(m.data == std::vector<std::uint8_t>{0, 255, 0, 2, 255, 5, 255, 255, 255, 0, 255});

  // Every threshold is an option: a higher saliency threshold makes pixel 10 background.
  rule.threshold = 0.2;
  CHECK(saliency_labels(s, sal, rule).data[10] == 0);
  // Without the object rule (1.0), pixel 7 is background.
  rule.object = 1.0;
  CHECK(saliency_labels(s, sal, rule).data[7] == 0);
  // A huge minimum foreground share makes the image all 255.
  rule.min_foreground = 0.5;
  for (auto v : saliency_labels(s, sal, rule).data) CHECK(v == 255);
}

TEST_CASE("saliency rule: the CAMs are min-max normalised per class", "[saliency]") {
  // Class 2 spans [0.2, 0.6]: 0.6 -> 1, 0.4 -> 0.5, 0.2 -> 0.
  RecordScores s;
  s.classes = {2};
  s.map.shape = {1, 1, 3};
  s.map.data = {0.2f, 0.4f, 0.6f};
  SaliencyRule rule;
  rule.min_foreground = 0;
  // saliency 0.6: bg 0.4; class 0 / 0.5 / 1.0.
  Mask m = saliency_labels(s, {0.6f, 0.6f, 0.6f}, rule);
  CHECK(m.data == std::vector<std::uint8_t>{255, 2, 2});
  RecordScores with_bg = s;
  with_bg.classes = {0};
  CHECK_THROWS_AS(saliency_labels(with_bg, {0.f, 0.f, 0.f}, rule), Error);
}

TEST_CASE("saliency maps: PNG / 255 or .npy in [0, 1], size and range checked", "[saliency]") {
  TempDir dir;
  Mask png(3, 2, 0);
  png.data = {0, 51, 255, 128, 1, 254};
  write_mask(dir / "s.png", png);
  std::vector<float> v = read_saliency(dir / "s.png", 3, 2);
  CHECK(v[1] == Approx(0.2f));
  CHECK(v[2] == 1.0f);
  CHECK_THROWS_AS(read_saliency(dir / "s.png", 2, 3), InputError);
  std::vector<float> a = {0.f, 0.5f, 1.f, 0.25f, 0.f, 0.f};
  write_npy(dir / "a.npy", a.data(), {1, 2, 3});
  CHECK(read_saliency(dir / "a.npy", 3, 2) == a);
  write_npy(dir / "b.npy", a.data(), {2, 3});
  CHECK(read_saliency(dir / "b.npy", 3, 2) == a);
  a[3] = 1.5f;
  write_npy(dir / "c.npy", a.data(), {2, 3});
  try {
    read_saliency(dir / "c.npy", 3, 2);
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).find("(x=0, y=1) is outside [0, 1]") != std::string::npos);
  }
  CHECK_THROWS_AS(read_saliency(dir / "none.png", 3, 2), InputError);
}

TEST_CASE("synthetic saliency: the objects, blurred, with seeded errors; images unchanged", "[saliency][synth]") {
  int more_on_objects = 0, with_false_positives = 0;
  for (std::uint64_t i = 0; i < 40; ++i) {
    SynthSample s = generate_synth_sample(0, i, 96, 80, false);
    cv::Mat sal = synth_saliency(s.mask, 0, i);
    REQUIRE(sal.type() == CV_8UC1);
    REQUIRE(sal.rows == 80);
    REQUIRE(sal.cols == 96);
    CHECK(cv::countNonZero(synth_saliency(s.mask, 0, i) != sal) == 0);  // deterministic
    double on = 0, off = 0;
    int n_on = 0, n_off = 0, off_high = 0;
    for (int y = 0; y < 80; ++y)
      for (int x = 0; x < 96; ++x) {
        const int v = sal.at<std::uint8_t>(y, x);
        if (s.mask.at(y, x)) { on += v; ++n_on; } else { off += v; ++n_off; if (v > 100) ++off_high; }
      }
    if (on / n_on > off / n_off + 60) ++more_on_objects;
    if (off_high > 20) ++with_false_positives;
  }
  CHECK(more_on_objects >= 36);       // a useful saliency map...
  CHECK(with_false_positives >= 10);  // ...with salient things that are not objects
  CHECK(with_false_positives <= 36);
  SynthSample a = generate_synth_sample(0, 3, 96, 80, false);
  CHECK(cv::countNonZero(synth_saliency(a.mask, 0, 3) != synth_saliency(a.mask, 1, 3)) > 0);
}

TEST_CASE("a folder of per-image files joins by id", "[join][saliency]") {
  TempDir dir;
  fs::create_directories(dir / "sal");
  write_file_atomic(dir / "sal" / "a.png", "x");
  write_file_atomic(dir / "sal" / "b.npy", "x");
  Manifest a = parse_manifest("{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n", "m", dir.path);
  Manifest b = folder_as_manifest(a, dir / "sal", "saliency", {".png", ".npy"});
  REQUIRE(b.records.size() == 2);
  CHECK(b.records[0]["saliency"] == (dir / "sal" / "a.png").string());
  CHECK(b.records[1]["saliency"] == (dir / "sal" / "b.npy").string());
  JoinResult r = join_manifests(a, b, {JoinField::parse("saliency")}, JoinMissing::Keep);
  CHECK(r.joined == 2);
  CHECK(r.kept == 1);
  CHECK_THROWS_AS(folder_as_manifest(a, dir / "nowhere", "saliency", {".png"}), InputError);
}
