// Merging per-prompt masks: a hand-worked case and a brute-force oracle that
// ranks every pixel's covering masks by the rule's key, independently of
// merge_masks' single pass.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <set>
#include <tuple>

#include "wsss/core/error.hpp"
#include "wsss/pseudo/merge.hpp"

using namespace wsss;
using namespace wsss::pseudo;

namespace {

InstanceMask make(int class_id, float score, const std::vector<int>& bits) {
  InstanceMask m;
  m.class_id = class_id;
  m.score = score;
  for (int b : bits) m.mask.push_back(std::uint8_t(b));
  return m;
}

std::vector<std::uint8_t> merged(const std::vector<InstanceMask>& masks, int w, int h, const std::string& rule) {
  return merge_masks(masks, w, h, MergeOptions::parse(rule)).data;
}

// Per pixel: the covering masks, the best by the rule's key (a tuple compared
// lexicographically), 255 when their classes differ and the band is on.
std::vector<std::uint8_t> oracle(const std::vector<InstanceMask>& masks, std::size_t n, const MergeOptions& o) {
  std::vector<std::uint8_t> out(n, 0);
  for (std::size_t p = 0; p < n; ++p) {
    std::vector<std::tuple<double, double, double>> keys;  // larger is better
    std::set<int> classes;
    std::vector<int> cls;
    for (const auto& m : masks) {
      if (!m.mask[p]) continue;
      double area = double(std::count_if(m.mask.begin(), m.mask.end(), [](std::uint8_t v) { return v != 0; }));
      switch (o.rule) {
        case MergeRule::MaxId: keys.emplace_back(m.class_id, 0, 0); break;
        case MergeRule::Score: keys.emplace_back(m.score, m.class_id, 0); break;
        case MergeRule::Smallest: keys.emplace_back(-area, m.score, m.class_id); break;
      }
      cls.push_back(m.class_id);
      classes.insert(m.class_id);
    }
    if (cls.empty()) continue;
    std::size_t best = std::size_t(std::max_element(keys.begin(), keys.end()) - keys.begin());
    out[p] = o.ignore_contested && classes.size() > 1 ? std::uint8_t(o.ignore) : std::uint8_t(cls[best]);
  }
  return out;
}

}  // namespace

TEST_CASE("merge rule names", "[merge]") {
  for (const char* n : {"max-id", "score", "smallest", "max-id+ignore", "score+ignore", "smallest+ignore"})
    CHECK(MergeOptions::parse(n).name() == n);
  CHECK(MergeOptions::parse("score+ignore").ignore_contested);
  CHECK(MergeOptions::parse("smallest").rule == MergeRule::Smallest);
  CHECK_THROWS_AS(MergeOptions::parse("largest"), UsageError);
  CHECK_THROWS_AS(MergeOptions::parse("+ignore"), UsageError);
  CHECK_THROWS_AS(MergeOptions::parse("max-id+ignore+ignore"), UsageError);
}

TEST_CASE("merge rules on a hand-worked 4x2 case", "[merge]") {
  // person (15, score 0.9) covers the left three columns, sofa (18, 0.5) the
  // right three, a bottle (5, 0.4) one pixel inside both; the last row's first
  // pixel is covered by nothing.
  std::vector<InstanceMask> masks = {
      make(15, 0.9f, {1, 1, 1, 0,
                      0, 1, 1, 0}),
      make(18, 0.5f, {0, 1, 1, 1,
                      0, 1, 1, 1}),
      make(5, 0.4f, {0, 0, 1, 0,
                     0, 0, 0, 0}),
  };
  using V = std::vector<std::uint8_t>;
  // SAM_WSSS: the highest id wins: sofa over person, sofa over the bottle.
  CHECK(merged(masks, 4, 2, "max-id") == V{15, 18, 18, 18,
                                           0, 18, 18, 18});
  CHECK(merged(masks, 4, 2, "score") == V{15, 15, 15, 18,
                                          0, 15, 15, 18});
  // Areas: person 5, sofa 6, bottle 1.
  CHECK(merged(masks, 4, 2, "smallest") == V{15, 15, 5, 18,
                                             0, 15, 15, 18});
  CHECK(merged(masks, 4, 2, "max-id+ignore") == V{15, 255, 255, 18,
                                                  0, 255, 255, 18});
  CHECK(merged(masks, 4, 2, "smallest+ignore") == merged(masks, 4, 2, "max-id+ignore"));
  // Two masks of one class never contest.
  std::vector<InstanceMask> same = {make(7, 0.2f, {1, 1}), make(7, 0.9f, {0, 1})};
  CHECK(merged(same, 2, 1, "score+ignore") == V{7, 7});
  CHECK(merged({}, 2, 1, "max-id") == V{0, 0});
}

TEST_CASE("merge rules equal a brute-force ranking on random masks, in any order", "[merge][oracle]") {
  std::mt19937 rng(6);
  for (int trial = 0; trial < 60; ++trial) {
    const int w = 1 + int(rng() % 9), h = 1 + int(rng() % 7);
    const std::size_t n = std::size_t(w * h);
    std::vector<InstanceMask> masks(rng() % 7);
    for (auto& m : masks) {
      m.class_id = 1 + int(rng() % 5);  // few classes: many same-class overlaps
      m.score = float(rng() % 4) / 4.0f;  // few scores: ties exercise the tie-breaks
      const int density = 1 + int(rng() % 4);
      for (std::size_t p = 0; p < n; ++p) m.mask.push_back(rng() % 4 < unsigned(density) ? 1 : 0);
    }
    for (const char* rule : {"max-id", "score", "smallest", "max-id+ignore", "score+ignore", "smallest+ignore"}) {
      MergeOptions o = MergeOptions::parse(rule);
      auto want = oracle(masks, n, o);
      INFO("trial " << trial << " rule " << rule);
      CHECK(merge_masks(masks, w, h, o).data == want);
      auto shuffled = masks;
      std::shuffle(shuffled.begin(), shuffled.end(), rng);
      CHECK(merge_masks(shuffled, w, h, o).data == want);
    }
  }
}

TEST_CASE("merge: masks of the wrong size or class are errors", "[merge]") {
  MergeOptions o;
  CHECK_THROWS_WITH(merge_masks({make(3, 1, {1, 0, 1})}, 2, 1, o), Catch::Contains("mask 0 has 3 pixels"));
  CHECK_THROWS_WITH(merge_masks({make(0, 1, {1, 0})}, 2, 1, o), Catch::Contains("class id 0"));
  CHECK_THROWS_WITH(merge_masks({make(255, 1, {1, 0})}, 2, 1, o), Catch::Contains("class id 255"));
}
