// wsss-data boxes: one COCO results box per 8-connected component of each class.
#include <catch2/catch.hpp>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/manifest.hpp"
#include "wsss/io/png.hpp"
#include "wsss/pseudo/oracle_boxes.hpp"

using namespace wsss;
using namespace wsss::pseudo;
using wsss_test::TempDir;

namespace {

void paint(Mask& m, int x0, int y0, int x1, int y1, std::uint8_t v) {  // [x0, x1) x [y0, y1)
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) m.at(y, x) = v;
}

struct Fixture {
  TempDir d;
  Vocabulary synth = builtin_vocabulary("synth");
  Manifest manifest;
  explicit Fixture(std::uint8_t stray = 0) {
    Mask a(40, 30, 0);
    paint(a, 2, 2, 5, 5, 1);     // class 1: a 3x3 block ...
    a.at(5, 5) = 1;              // ... and a pixel touching its corner: one 8-connected component [2,6)x[2,6)
    paint(a, 20, 20, 25, 23, 1);  // class 1, a second component
    paint(a, 10, 0, 14, 8, 3);    // class 3
    paint(a, 30, 10, 40, 30, 255);  // ignore: no box
    if (stray) a.at(29, 0) = stray;
    write_mask(d / "a.png", a);
    write_mask(d / "b.png", Mask(16, 16, 0));  // nothing: no box
    write_file_atomic(d / "m.jsonl", "{\"id\":\"a\",\"image\":\"a.png\",\"mask\":\"a.png\"}\n"
                                     "{\"id\":\"b\",\"image\":\"b.png\",\"mask\":\"b.png\"}\n");
    manifest = read_manifest((d / "m.jsonl").string());
  }
};

}  // namespace

TEST_CASE("oracle_boxes: one box per 8-connected component, pixel edges, score 1", "[oracle_boxes]") {
  Fixture f;
  OracleBoxStats stats;
  nlohmann::json boxes = oracle_boxes(f.manifest, f.synth, OracleBoxOptions{}, &stats);
  nlohmann::json expected = nlohmann::json::parse(R"([
    {"image_id": "a", "category_id": 1, "bbox": [2, 2, 4, 4], "score": 1},
    {"image_id": "a", "category_id": 1, "bbox": [20, 20, 5, 3], "score": 1},
    {"image_id": "a", "category_id": 3, "bbox": [10, 0, 4, 8], "score": 1}])");
  CHECK(boxes == expected);
  CHECK(stats.boxes == 3);
  CHECK(stats.images == 1);
}

TEST_CASE("oracle_boxes: jitter moves edges within the image, scores are the IoU, seeded per record",
          "[oracle_boxes]") {
  Fixture f;
  OracleBoxOptions o;
  o.jitter = 0.3;
  o.seed = 4;
  nlohmann::json a = oracle_boxes(f.manifest, f.synth, o);
  nlohmann::json truth = oracle_boxes(f.manifest, f.synth, OracleBoxOptions{});
  REQUIRE(a.size() == truth.size());
  bool moved = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto b = a[i]["bbox"].get<std::vector<double>>(), t = truth[i]["bbox"].get<std::vector<double>>();
    CHECK(b[0] >= 0);
    CHECK(b[1] >= 0);
    CHECK(b[0] + b[2] <= 40 + 1e-9);
    CHECK(b[1] + b[3] <= 30 + 1e-9);
    CHECK(b[2] >= 1);
    CHECK(b[3] >= 1);
    // Each edge within 0.3 x the true size of where it was.
    CHECK(std::abs(b[0] - t[0]) <= 0.3 * t[2] + 0.01);
    CHECK(std::abs(b[1] + b[3] - t[1] - t[3]) <= 0.3 * t[3] + 0.02);
    double iw = std::max(0.0, std::min(b[0] + b[2], t[0] + t[2]) - std::max(b[0], t[0]));
    double ih = std::max(0.0, std::min(b[1] + b[3], t[1] + t[3]) - std::max(b[1], t[1]));
    double iou = iw * ih / (b[2] * b[3] + t[2] * t[3] - iw * ih);
    CHECK(a[i]["score"].get<double>() == Approx(iou).margin(0.011));
    moved |= b != t;
  }
  CHECK(moved);
  CHECK(oracle_boxes(f.manifest, f.synth, o) == a);  // same seed, same boxes
  o.seed = 5;
  CHECK(oracle_boxes(f.manifest, f.synth, o) != a);
}

TEST_CASE("oracle_boxes: a label outside the vocabulary names the file", "[oracle_boxes]") {
  Fixture f(9);
  try {
    oracle_boxes(f.manifest, f.synth, OracleBoxOptions{});
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK_THAT(e.what(), Catch::Contains("a.png") && Catch::Contains("label 9"));
  }
  OracleBoxOptions bad;
  bad.jitter = 2;
  CHECK_THROWS_AS(bad.validate(), UsageError);
}
