#include <catch2/catch.hpp>

#include "wsss/core/error.hpp"
#include "wsss/pseudo/cam_prompts.hpp"

using namespace wsss;
using namespace wsss::pseudo;

namespace {

// A [k, h, w] map filled with `base`, with rectangles painted per channel.
struct MapBuilder {
  ScoreMap map;
  MapBuilder(int k, int h, int w, float base = 0.05f) {
    map.shape = {k, h, w};
    map.data.assign(std::size_t(k) * std::size_t(h) * std::size_t(w), base);
  }
  MapBuilder& rect(int c, int x0, int y0, int x1, int y1, float v) {  // [x0, x1) x [y0, y1)
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) map.data[(std::size_t(c) * map.shape[1] + y) * map.shape[2] + x] = v;
    return *this;
  }
};

}  // namespace

TEST_CASE("cam_prompts: one prompt per large region, largest first, box and peak", "[cam_prompts]") {
  MapBuilder b(2, 20, 30);
  b.rect(0, 2, 3, 7, 7, 0.8f)      // class 3: 5x4 = 20 px
      .rect(0, 5, 5, 6, 6, 1.0f)   // its peak at (5, 5)
      .rect(0, 20, 10, 22, 12, 0.6f)  // 2x2 = 4 px, kept (>= 0.1 x 20)
      .rect(0, 28, 18, 29, 19, 0.9f)  // 1 px < 2: dropped
      .rect(1, 10, 10, 16, 20, 0.7f)  // class 5: 6x10, peak 0.7
      .rect(0, 12, 12, 14, 14, 0.65f);  // under class 5's 0.7 there: class 5 wins these pixels
  auto prompts = cam_prompts(b.map, {3, 5}, CamPromptOptions{}, "item 'a'");
  REQUIRE(prompts.size() == 3);
  CHECK(prompts[0].class_id == 3);
  REQUIRE(prompts[0].box);
  CHECK(prompts[0].box->x0 == 2);
  CHECK(prompts[0].box->y0 == 3);
  CHECK(prompts[0].box->x1 == 7);
  CHECK(prompts[0].box->y1 == 7);
  CHECK(prompts[0].points == std::vector<std::array<float, 2>>{{5, 5}});
  CHECK(prompts[0].point_labels == std::vector<int>{1});
  CHECK(prompts[0].score == Approx(1.0));
  CHECK(prompts[0].origin == "item 'a' class 3 region 1");
  CHECK(prompts[1].class_id == 3);
  CHECK(prompts[1].box->x0 == 20);
  CHECK(prompts[1].box->x1 == 22);
  CHECK(prompts[1].points == std::vector<std::array<float, 2>>{{20, 10}});  // first maximum in raster order
  CHECK(prompts[1].score == Approx(0.6));
  CHECK(prompts[2].class_id == 5);
  CHECK(prompts[2].box->x0 == 10);
  CHECK(prompts[2].box->y0 == 10);
  CHECK(prompts[2].box->x1 == 16);
  CHECK(prompts[2].box->y1 == 20);
  CHECK(prompts[2].score == Approx(1.0));
}

TEST_CASE("cam_prompts: modes, thresholds and limits", "[cam_prompts]") {
  MapBuilder b(1, 10, 10);
  b.rect(0, 1, 1, 4, 4, 1.0f).rect(0, 6, 6, 9, 9, 0.5f);
  CamPromptOptions box = CamPromptOptions::parse("box");
  auto p = cam_prompts(b.map, {2}, box, "x");
  REQUIRE(p.size() == 2);
  CHECK(p[0].points.empty());
  CHECK(p[0].box);
  CamPromptOptions point = CamPromptOptions::parse("point");
  point.max_regions = 1;
  p = cam_prompts(b.map, {2}, point, "x");
  REQUIRE(p.size() == 1);
  CHECK(!p[0].box);
  CHECK(p[0].points.size() == 1);
  CamPromptOptions high;
  high.threshold = 0.6f;  // the 0.5 region falls below 0.6 x max
  CHECK(cam_prompts(b.map, {2}, high, "x").size() == 1);
  CHECK(CamPromptOptions::parse("box+point").mode() == "box+point");
  CHECK_THROWS_AS(CamPromptOptions::parse("boxes"), UsageError);
  high.threshold = 0;
  CHECK_THROWS_AS(cam_prompts(b.map, {2}, high, "x"), UsageError);
}

TEST_CASE("cam_prompts: empty maps, background channels and mismatched classes", "[cam_prompts]") {
  MapBuilder zero(2, 5, 5, 0.0f);
  zero.rect(1, 0, 0, 2, 2, 1.0f);
  auto p = cam_prompts(zero.map, {0, 4}, CamPromptOptions{}, "x");  // channel 0 is background: skipped
  REQUIRE(p.size() == 1);
  CHECK(p[0].class_id == 4);
  CHECK(cam_prompts(MapBuilder(1, 5, 5, 0.0f).map, {1}, CamPromptOptions{}, "x").empty());
  ScoreMap none;
  none.shape = {0, 5, 5};
  CHECK(cam_prompts(none, {}, CamPromptOptions{}, "x").empty());
  CHECK_THROWS_AS(cam_prompts(zero.map, {4}, CamPromptOptions{}, "x"), Error);
}
