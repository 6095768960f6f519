// wsss-viz's library side: which images are chosen (--ids, --sample, --worst),
// the per-image mIoU that ranks them, the picture of one record (panel count,
// sizes and pixel values) and the grid's order.
#include <catch2/catch.hpp>

#include <algorithm>
#include <opencv2/core.hpp>

#include "test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/viz/picture.hpp"
#include "wsss/viz/viz_stage.hpp"

using namespace wsss;
using namespace wsss::viz;
using wsss_test::TempDir;

namespace {

Vocabulary three_classes() {
  Vocabulary v;
  v.name = "test";
  v.classes = {"background", "cat", "dog"};
  return v;
}

// Records s0..s{n-1}: an 8x6 image, a GT whose left `4` columns are cat, and a
// prediction that gets `right[i]` of those 4 columns right (the rest background).
Manifest fixture(const TempDir& dir, const std::vector<int>& right) {
  Manifest m;
  m.path = dir / "manifest.jsonl";
  m.dir = dir.path;
  for (std::size_t i = 0; i < right.size(); ++i) {
    const std::string id = "s" + std::to_string(i);
    Mask gt(8, 6), pred(8, 6);
    for (int y = 0; y < 6; ++y)
      for (int x = 0; x < 4; ++x) {
        gt.at(y, x) = 1;
        if (x < right[i]) pred.at(y, x) = 1;
      }
    write_mask(dir / (id + "-gt.png"), gt);
    write_mask(dir / (id + "-pred.png"), pred);
    write_image_rgb(dir / (id + ".png"), cv::Mat(6, 8, CV_8UC3, cv::Scalar(40, 80, 120)));
    Record r;
    r["id"] = id;
    r["image"] = (dir / (id + ".png")).string();
    r["labels"] = {1};
    r["mask"] = (dir / (id + "-gt.png")).string();
    r["pred"] = (dir / (id + "-pred.png")).string();
    m.records.push_back(r);
  }
  return m;
}

std::vector<std::string> ids_of(const Manifest& m) {
  std::vector<std::string> ids;
  for (const Record& r : m.records) ids.push_back(record_id(r));
  return ids;
}

}  // namespace

TEST_CASE("per-image mIoU is the mean over the classes present in GT or prediction", "[viz]") {
  Mask gt(4, 1), pred(4, 1);
  gt.data = {0, 0, 1, 1};
  pred.data = {0, 1, 1, 255};
  // background: tp 1, union 2 -> 0.5; cat: tp 1, gt 2, pred 2 -> 1/3 (a predicted 255 is a miss).
  CHECK(image_miou(gt, pred, 3, 255, "gt", "pred") == Approx((0.5 + 1.0 / 3) / 2));
  pred.data = {0, 0, 1, 1};
  CHECK(image_miou(gt, pred, 3, 255, "gt", "pred") == 1.0);
  pred.data = {0, 0, 7, 1};
  CHECK_THROWS_AS(image_miou(gt, pred, 3, 255, "gt", "pred"), InputError);
}

TEST_CASE("viz selection: --worst picks the lowest per-image mIoU first, --ids keeps its order", "[viz]") {
  TempDir dir;
  const Manifest m = fixture(dir, {4, 1, 3, 0, 2});
  VizOptions o;
  resolve_fields(o, m.records[0]);
  CHECK(o.masks == std::vector<std::string>{"mask", "pred"});
  CHECK(o.errors == std::vector<std::string>{"pred"});
  CHECK(o.scores.empty());
  VizSelection worst;
  worst.worst = 3;
  const Manifest w = select_records(m, three_classes(), worst, o, 2);
  CHECK(ids_of(w) == std::vector<std::string>{"s1", "s3", "s4"});  // sorted by id; ranks give the order
  std::map<std::string, std::size_t> rank;
  for (const Record& r : w.records) rank[record_id(r)] = r["viz_rank"].get<std::size_t>();
  CHECK(rank["s3"] == 0);  // nothing right
  CHECK(rank["s1"] == 1);
  CHECK(rank["s4"] == 2);
  for (const Record& r : w.records) CHECK(r.contains("viz_miou"));
  // s3: cat missed entirely -> cat IoU 0, background 24/48.
  CHECK(w.records[1]["viz_miou"].get<double>() == Approx(0.25));

  VizSelection ids;
  ids.ids = {"s4", "s0"};
  const Manifest i = select_records(m, three_classes(), ids, o, 1);
  CHECK(ids_of(i) == std::vector<std::string>{"s0", "s4"});
  CHECK(i.records[0]["viz_rank"] == 1);
  CHECK(i.records[1]["viz_rank"] == 0);
  ids.ids = {"s9"};
  CHECK_THROWS_WITH(select_records(m, three_classes(), ids, o, 1), Catch::Contains("--ids: no item 's9'"));
  VizSelection both = worst;
  both.ids = {"s1"};
  CHECK_THROWS_AS(select_records(m, three_classes(), both, o, 1), UsageError);
  VizOptions no_errors;
  no_errors.auto_fields = false;
  CHECK_THROWS_WITH(select_records(m, three_classes(), worst, no_errors, 1), Catch::Contains("--worst needs"));
}

TEST_CASE("viz selection: --sample is seeded, independent of the manifest's order and stable when images are added", "[viz]") {
  Manifest m;
  for (int i = 0; i < 40; ++i) {
    Record r;
    r["id"] = "img" + std::to_string(1000 + i);
    m.records.push_back(r);
  }
  VizSelection s;
  s.sample = 5;
  s.seed = 3;
  const Manifest a = select_records(m, three_classes(), s, VizOptions(), 1);
  REQUIRE(a.records.size() == 5);
  Manifest reversed = m;
  std::reverse(reversed.records.begin(), reversed.records.end());
  CHECK(ids_of(select_records(reversed, three_classes(), s, VizOptions(), 1)) == ids_of(a));
  // Adding images keeps a chosen image chosen unless a new one ranks before it:
  // every old image in the sample of the larger set was in the old sample.
  Manifest more = m;
  for (int i = 40; i < 60; ++i) {
    Record r;
    r["id"] = "img" + std::to_string(1000 + i);
    more.records.push_back(r);
  }
  const std::vector<std::string> before = ids_of(a), after = ids_of(select_records(more, three_classes(), s, VizOptions(), 1));
  for (const std::string& id : after)
    if (id < "img1040") CHECK(std::find(before.begin(), before.end(), id) != before.end());
  // Not simply neighbouring ids.
  CHECK(std::stoi(before.back().substr(3)) - std::stoi(before.front().substr(3)) > 5);
  s.sample = 60;
  CHECK(select_records(more, three_classes(), s, VizOptions(), 1).records.size() == 60);
  s.seed = 4;
  s.sample = 5;
  CHECK(ids_of(select_records(m, three_classes(), s, VizOptions(), 1)) != ids_of(a));
  for (std::size_t k = 0; k < a.records.size(); ++k) CHECK(a.records[k]["viz_rank"] == k);
}

TEST_CASE("a record's picture: the image, a heat panel per class, overlays and error maps", "[viz]") {
  TempDir dir;
  Manifest m = fixture(dir, {2});
  // A 2-channel score map (cat, dog) with cat's maximum at (x 1, y 4).
  std::vector<float> cam(2 * 6 * 8, 0.f);
  cam[4 * 8 + 1] = 1.f;
  cam[48 + 0] = 0.5f;
  write_npy(dir / "cam.npy", cam.data(), {2, 6, 8});
  m.records[0]["cam"] = (dir / "cam.npy").string();
  m.records[0]["cam_classes"] = {1, 2};
  m.records[0]["labels"] = {1, 2};
  VizOptions o;
  resolve_fields(o, m.records[0]);
  CHECK(o.scores == std::vector<std::string>{"cam"});
  o.alpha = 1;
  const cv::Mat pic = record_picture(m.records[0], three_classes(), m.path, o);
  // image, cam: cat, cam: dog, mask, pred, error map of pred: 6 panels of 8x6.
  REQUIRE(pic.rows == 6 + kTitleHeight);
  REQUIRE(pic.cols == 6 * 8 + 5 * kGap);
  auto at = [&](int panel, int y, int x) { return pic.at<cv::Vec3b>(kTitleHeight + y, panel * (8 + kGap) + x); };
  CHECK(at(0, 0, 0) == cv::Vec3b(40, 80, 120));
  const Rgb& hot = heat_color(1.f);
  const Rgb& cold = heat_color(0.f);
  CHECK(at(1, 4, 1) == cv::Vec3b(hot[0], hot[1], hot[2]));
  CHECK(at(1, 0, 0) == cv::Vec3b(cold[0], cold[1], cold[2]));
  const Rgb& mid = heat_color(0.5f);
  CHECK(at(2, 0, 0) == cv::Vec3b(mid[0], mid[1], mid[2]));
  CHECK(at(3, 0, 0) == cv::Vec3b(128, 0, 0));  // GT cat at alpha 1
  CHECK(at(3, 0, 7) == cv::Vec3b(0, 0, 0));
  CHECK(at(4, 0, 3) == cv::Vec3b(0, 0, 0));  // the prediction missed column 3
  auto err = [](ErrorKind k) { return cv::Vec3b(error_color(k)[0], error_color(k)[1], error_color(k)[2]); };
  CHECK(at(5, 0, 0) == err(ErrorKind::CorrectForeground));
  CHECK(at(5, 0, 3) == err(ErrorKind::MissedForeground));
  CHECK(at(5, 0, 7) == err(ErrorKind::CorrectBackground));
  // --size doubles every panel.
  o.size = 16;
  const cv::Mat big = record_picture(m.records[0], three_classes(), m.path, o);
  CHECK(big.rows == 12 + kTitleHeight);
  CHECK(big.cols == 6 * 16 + 5 * kGap);
  // A missing field fails the item, naming it.
  o.errors = {"pseudo"};
  CHECK_THROWS_WITH(record_picture(m.records[0], three_classes(), m.path, o), Catch::Contains("no \"pseudo\" mask"));
}

TEST_CASE("the grid stacks the pictures in rank order", "[viz]") {
  TempDir dir;
  Manifest out;
  out.path = dir / "manifest.jsonl";
  out.dir = dir.path;
  const int colours[3] = {10, 120, 230};
  for (int i = 0; i < 3; ++i) {
    const fs::path file = dir / ("p" + std::to_string(i) + ".png");
    write_image_rgb(file, cv::Mat(5, 6 + i, CV_8UC3, cv::Scalar(colours[i], 0, 0)));
    Record r;
    r["id"] = "p" + std::to_string(i);
    r["viz"] = file.string();
    r["viz_rank"] = 2 - i;
    out.records.push_back(r);
  }
  VizOptions o;
  REQUIRE(write_grid(dir.path, out, o));
  const cv::Mat grid = read_image_rgb(grid_file(dir.path));
  REQUIRE(grid.cols == 8);
  REQUIRE(grid.rows == 3 * 5 + 2 * kGap);
  CHECK(grid.at<cv::Vec3b>(0, 0)[0] == 230);
  CHECK(grid.at<cv::Vec3b>(5 + kGap, 0)[0] == 120);
  CHECK(grid.at<cv::Vec3b>(2 * (5 + kGap), 0)[0] == 10);
  o.grid_max = 2;
  fs::remove(grid_file(dir.path));
  CHECK_FALSE(write_grid(dir.path, out, o));
  CHECK_FALSE(fs::exists(grid_file(dir.path)));
}
