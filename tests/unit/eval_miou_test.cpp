// Oracle tests: the confusion matrix, the metrics, score-map thresholds and the
// one-pass sweep are checked exactly against plain nested loops written here,
// independently of lib/eval (chainercv's calc_semantic_segmentation_confusion
// and calc_semantic_segmentation_iou, IRN's eval_cam padding + argmax).
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/eval/sweep.hpp"
#include "wsss/metrics/confusion.hpp"
#include "wsss/scores/score_map.hpp"
#include "wsss/eval/miou.hpp"
#include "wsss/io/manifest.hpp"
#include "wsss/io/npy.hpp"

using namespace wsss;
using wsss_test::TempDir;

namespace {

using Matrix = std::vector<std::vector<std::uint64_t>>;

// chainercv: GT ignore pixels are dropped; the matrix is n x n over label values.
Matrix oracle_confusion(const std::vector<int>& gt, const std::vector<int>& pred, int n) {
  Matrix m(std::size_t(n), std::vector<std::uint64_t>(std::size_t(n), 0));
  for (std::size_t i = 0; i < gt.size(); ++i) {
    if (gt[i] == 255) continue;
    m[std::size_t(gt[i])][std::size_t(pred[i])] += 1;
  }
  return m;
}

// IoU of the first `k` classes of an n x n matrix (n may hold an extra "ignored
// prediction" class that belongs to no GT pixel of its own).
std::vector<double> oracle_iou(const Matrix& m, int k) {
  std::vector<double> iou;
  for (int c = 0; c < k; ++c) {
    double row = 0, col = 0;
    for (std::size_t j = 0; j < m.size(); ++j) row += double(m[std::size_t(c)][j]);
    for (std::size_t i = 0; i < m.size(); ++i) col += double(m[i][std::size_t(c)]);
    double diag = double(m[std::size_t(c)][std::size_t(c)]);
    double denom = row + col - diag;
    iou.push_back(denom == 0 ? std::nan("") : diag / denom);
  }
  return iou;
}

double oracle_nanmean(const std::vector<double>& v) {
  double sum = 0;
  int n = 0;
  for (double x : v)
    if (!std::isnan(x)) {
      sum += x;
      ++n;
    }
  return n ? sum / n : std::nan("");
}

Mask to_mask(const std::vector<int>& v, int w, int h) {
  Mask m(w, h);
  for (std::size_t i = 0; i < v.size(); ++i) m.data[i] = std::uint8_t(v[i]);
  return m;
}

bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

struct RandomPair {
  int w, h, k;
  std::vector<int> gt, pred;
};

RandomPair random_pair(std::mt19937& rng, bool pred_ignore) {
  RandomPair p;
  p.w = 3 + int(rng() % 40);
  p.h = 2 + int(rng() % 30);
  p.k = 2 + int(rng() % 8);
  // Some classes never occur, so some unions are empty.
  int used = 1 + int(rng() % p.k);
  for (int i = 0; i < p.w * p.h; ++i) {
    p.gt.push_back(rng() % 10 == 0 ? 255 : int(rng() % used));
    int r = int(rng() % 12);
    p.pred.push_back(pred_ignore && r == 0 ? 255 : int(rng() % used));
  }
  return p;
}

}  // namespace

TEST_CASE("confusion and IoU equal the chainercv computation (pred 255 as background)", "[eval][oracle]") {
  std::mt19937 rng(11);
  for (int round = 0; round < 60; ++round) {
    RandomPair p = random_pair(rng, round % 2 == 0);
    Confusion c(p.k);
    accumulate_masks(c, to_mask(p.gt, p.w, p.h), to_mask(p.pred, p.w, p.h), PredIgnore::Background, 255, "gt.png",
                     "pred.png");
    // IRN eval_sem_seg: pred[pred == 255] = 0.
    std::vector<int> pred = p.pred;
    for (int& v : pred)
      if (v == 255) v = 0;
    Matrix m = oracle_confusion(p.gt, pred, p.k);
    for (int g = 0; g < p.k; ++g) {
      CHECK(c.pred_ignored(g) == 0);
      for (int q = 0; q < p.k; ++q) REQUIRE(c.at(g, q) == m[std::size_t(g)][std::size_t(q)]);
    }
    std::vector<double> iou = oracle_iou(m, p.k);
    Scores s = compute_scores(c);
    for (int j = 0; j < p.k; ++j) CHECK(same(s.classes[std::size_t(j)].iou, iou[std::size_t(j)]));
    CHECK(same(s.miou, oracle_nanmean(iou)));
  }
}

TEST_CASE("a predicted 255 under 'wrong' is a miss of the GT class and no class of its own", "[eval][oracle]") {
  std::mt19937 rng(12);
  for (int round = 0; round < 60; ++round) {
    RandomPair p = random_pair(rng, true);
    Confusion c(p.k);
    accumulate_masks(c, to_mask(p.gt, p.w, p.h), to_mask(p.pred, p.w, p.h), PredIgnore::Wrong, 255, "gt.png",
                     "pred.png");
    // Oracle: the ignored prediction is an extra class k that no GT pixel has.
    std::vector<int> pred = p.pred;
    for (int& v : pred)
      if (v == 255) v = p.k;
    Matrix m = oracle_confusion(p.gt, pred, p.k + 1);
    for (int g = 0; g < p.k; ++g) {
      CHECK(c.pred_ignored(g) == m[std::size_t(g)][std::size_t(p.k)]);
      for (int q = 0; q < p.k; ++q) REQUIRE(c.at(g, q) == m[std::size_t(g)][std::size_t(q)]);
    }
    std::vector<double> iou = oracle_iou(m, p.k);
    Scores s = compute_scores(c);
    for (int j = 0; j < p.k; ++j) {
      const ClassScore& cs = s.classes[std::size_t(j)];
      CHECK(same(cs.iou, iou[std::size_t(j)]));
      // Precision, recall and IRN's fp/fn, from the definitions.
      double row = 0, col = 0;
      for (int q = 0; q <= p.k; ++q) row += double(m[std::size_t(j)][std::size_t(q)]);
      for (int g = 0; g <= p.k; ++g) col += double(m[std::size_t(g)][std::size_t(j)]);
      double tp = double(m[std::size_t(j)][std::size_t(j)]);
      double uni = row + col - tp;
      CHECK(same(cs.precision, col > 0 ? tp / col : std::nan("")));
      CHECK(same(cs.recall, row > 0 ? tp / row : std::nan("")));
      CHECK(same(cs.fp, uni > 0 ? 1.0 - row / uni : std::nan("")));
      CHECK(same(cs.fn, uni > 0 ? 1.0 - col / uni : std::nan("")));
    }
    CHECK(same(s.miou, oracle_nanmean(iou)));
  }
}

TEST_CASE("hand-computed IoUs of a tiny case", "[eval]") {
  // GT     pred
  // 0 0 1  0 1 1
  // 1 1 255 1 0 0
  Confusion c(2);
  accumulate_masks(c, to_mask({0, 0, 1, 1, 1, 255}, 3, 2), to_mask({0, 1, 1, 1, 0, 0}, 3, 2), PredIgnore::Wrong, 255,
                   "g", "p");
  // bg: tp 1, gt 2, pred 2 -> IoU 1/3; fg: tp 2, gt 3, pred 3 -> IoU 2/4.
  Scores s = compute_scores(c);
  CHECK(s.classes[0].iou == 1.0 / 3.0);
  CHECK(s.classes[1].iou == 2.0 / 4.0);
  CHECK(s.miou == (1.0 / 3.0 + 0.5) / 2);
  CHECK(s.classes[1].precision == 2.0 / 3.0);
}

TEST_CASE("out-of-range values and size mismatches name the file", "[eval]") {
  Confusion c(3);
  Mask gt(2, 2, 0), pred(2, 2, 0);
  gt.data[1] = 7;
  try {
    accumulate_masks(c, gt, pred, PredIgnore::Wrong, 255, "gt7.png", "p.png");
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).find("gt7.png") != std::string::npos);
    CHECK(std::string(e.what()).find("value 7") != std::string::npos);
  }
  gt.data[1] = 0;
  pred.data[3] = 3;
  try {
    accumulate_masks(c, gt, pred, PredIgnore::Wrong, 255, "g.png", "pred3.png");
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).find("pred3.png: value 3") != std::string::npos);
  }
  CHECK_THROWS_AS(accumulate_masks(c, gt, Mask(3, 2), PredIgnore::Wrong, 255, "g", "p"), InputError);
}

namespace {

// IRN eval_cam: pad a constant background channel (cast to float32 like the
// CAMs), argmax keeps the first maximum, channel j > 0 maps to classes[j-1].
int oracle_threshold_label(const std::vector<float>& scores, const std::vector<int>& classes, double t) {
  float best = float(t);
  int arg = 0;
  for (std::size_t j = 0; j < scores.size(); ++j)
    if (scores[j] > best) {
      best = scores[j];
      arg = int(j) + 1;
    }
  return arg == 0 ? 0 : classes[std::size_t(arg - 1)];
}

struct RandomMap {
  ScoreMap map;
  std::vector<int> classes;
  Mask gt;
};

RandomMap random_map(std::mt19937& rng, int k, const std::vector<double>& thresholds) {
  RandomMap r;
  int w = 2 + int(rng() % 20), h = 2 + int(rng() % 15);
  for (int c = 1; c < k; ++c)
    if (rng() % 2) r.classes.push_back(c);
  r.map.shape = {std::int64_t(r.classes.size()), h, w};
  for (std::size_t i = 0; i < r.classes.size() * std::size_t(w * h); ++i) {
    // A fifth of the scores sit exactly on a threshold: ties must go to background.
    float v = rng() % 5 == 0 ? float(thresholds[rng() % thresholds.size()])
                             : float(std::uniform_real_distribution<double>(0, 0.8)(rng));
    if (rng() % 17 == 0 && i > 0) v = r.map.data[i - 1];  // ties between channels
    r.map.data.push_back(v);
  }
  r.gt = Mask(w, h);
  for (auto& v : r.gt.data) v = rng() % 9 == 0 ? 255 : std::uint8_t(rng() % k);
  return r;
}

std::vector<int> oracle_labels(const RandomMap& r, double t) {
  std::vector<int> out;
  const std::size_t plane = std::size_t(r.gt.width * r.gt.height);
  for (std::size_t i = 0; i < plane; ++i) {
    std::vector<float> s;
    for (std::size_t c = 0; c < r.classes.size(); ++c) s.push_back(r.map.data[c * plane + i]);
    out.push_back(oracle_threshold_label(s, r.classes, t));
  }
  return out;
}

std::vector<int> gt_vector(const Mask& m) { return std::vector<int>(m.data.begin(), m.data.end()); }

}  // namespace

TEST_CASE("score maps with a constant background threshold follow IRN's pad-and-argmax", "[eval][oracle]") {
  std::mt19937 rng(5);
  std::vector<double> thresholds = {0.15, 0.3};
  for (int round = 0; round < 40; ++round) {
    RandomMap r = random_map(rng, 6, thresholds);
    for (double t : thresholds) {
      Mask m = score_map_to_mask(r.map, r.classes, {BackgroundRule::Threshold, t});
      REQUIRE(gt_vector(m) == oracle_labels(r, t));
    }
  }
}

TEST_CASE("the power background (1 - max)^A follows CLIP-ES", "[eval][oracle]") {
  std::mt19937 rng(6);
  for (int round = 0; round < 30; ++round) {
    RandomMap r = random_map(rng, 5, {0.5});
    for (double a : {1.0, 2.0, 4.0}) {
      Mask m = score_map_to_mask(r.map, r.classes, {BackgroundRule::Power, a});
      const std::size_t plane = std::size_t(r.gt.width * r.gt.height);
      for (std::size_t i = 0; i < plane; ++i) {
        float best = -1;
        int arg = 0;
        for (std::size_t c = 0; c < r.classes.size(); ++c)
          if (r.map.data[c * plane + i] > best) {
            best = r.map.data[c * plane + i];
            arg = r.classes[c];
          }
        float bg = r.classes.empty() ? 1.0f : std::pow(1.0f - best, float(a));
        int want = !r.classes.empty() && best > bg ? arg : 0;
        REQUIRE(int(m.data[i]) == want);
      }
    }
  }
}

TEST_CASE("the one-pass threshold sweep equals evaluating every threshold separately", "[eval][oracle]") {
  std::vector<double> thresholds = parse_sweep("0.05:0.60:0.01");
  REQUIRE(thresholds.size() == 56);
  CHECK(thresholds.front() == 0.05);
  CHECK(thresholds[22] == 0.27);
  CHECK(thresholds.back() == 0.6);
  std::mt19937 rng(9);
  const int k = 5;
  ThresholdSweep sweep(k, thresholds);
  std::vector<RandomMap> maps;
  for (int i = 0; i < 12; ++i) {
    maps.push_back(random_map(rng, k, thresholds));
    sweep.add_score_map(maps.back().gt, maps.back().map, maps.back().classes, 255, "gt.png");
  }
  Mask empty_gt(4, 3, 2);
  empty_gt.data[0] = 255;
  sweep.add_empty(empty_gt, 255, "empty.png");
  for (std::size_t t = 0; t < thresholds.size(); ++t) {
    Matrix total(k, std::vector<std::uint64_t>(k, 0));
    for (const auto& r : maps) {
      Matrix m = oracle_confusion(gt_vector(r.gt), oracle_labels(r, thresholds[t]), k);
      for (int g = 0; g < k; ++g)
        for (int p = 0; p < k; ++p) total[std::size_t(g)][std::size_t(p)] += m[std::size_t(g)][std::size_t(p)];
    }
    total[2][0] += 11;  // the empty prediction
    Confusion c = sweep.confusion_at(t);
    for (int g = 0; g < k; ++g)
      for (int p = 0; p < k; ++p) REQUIRE(c.at(g, p) == total[std::size_t(g)][std::size_t(p)]);
  }
}

TEST_CASE("sweep parsing and shortest formatting", "[eval]") {
  CHECK(parse_sweep("0.1:0.3:0.1") == std::vector<double>{0.1, 0.2, 0.3});
  CHECK_THROWS_AS(parse_sweep("0.1:0.3"), UsageError);
  CHECK_THROWS_AS(parse_sweep("0.3:0.1:0.1"), UsageError);
  CHECK_THROWS_AS(parse_sweep("0.1:0.3:0"), UsageError);
  CHECK(format_shortest(0.27) == "0.27");
  CHECK(format_shortest(0.1 + 0.2) == "0.30000000000000004");
}

TEST_CASE("manifest evaluation: threads and shards give the same integers", "[eval][determinism]") {
  TempDir t;
  std::mt19937 rng(21);
  std::string text;
  for (int i = 0; i < 9; ++i) {
    RandomPair p = random_pair(rng, true);
    std::string id = "im" + std::to_string(i);
    Mask gt = to_mask(p.gt, p.w, p.h), pred = to_mask(p.pred, p.w, p.h);
    for (auto& v : gt.data)
      if (v != 255 && v > 2) v = 2;
    for (auto& v : pred.data)
      if (v != 255 && v > 2) v = 1;
    write_mask(t / (id + "_gt.png"), gt);
    write_mask(t / (id + "_pred.png"), pred);
    text += "{\"id\":\"" + id + "\",\"mask\":\"" + id + "_gt.png\",\"pred\":\"" + id + "_pred.png\"}\n";
  }
  Manifest m = parse_manifest(text, t / "m.jsonl", t.path);
  Vocabulary v;
  v.classes = {"background", "a", "b"};
  MiouOptions o;
  o.threads = 1;
  MiouResult one = evaluate_manifest(m, v, o);
  o.threads = 3;
  MiouResult three = evaluate_manifest(m, v, o);
  CHECK(one.confusions[0] == three.confusions[0]);
  CHECK(one.evaluated == 9);
  std::vector<MiouResult> parts;
  for (int j = 1; j <= 4; ++j) {
    o.shard = Shard{j, 4};
    parts.push_back(evaluate_manifest(m, v, o));
  }
  MiouResult merged = merge_miou(parts, {"1", "2", "3", "4"});
  CHECK(merged.confusions[0] == one.confusions[0]);
  CHECK(format_miou_json(merged) == format_miou_json(one));
  CHECK_THROWS_AS(merge_miou({parts[0], parts[0]}, {"a", "b"}), InputError);
  CHECK_THROWS_AS(merge_miou({parts[0], parts[1]}, {"a", "b"}), UsageError);
  // JSON round trip keeps every count.
  MiouResult back = miou_from_json(nlohmann::ordered_json::parse(format_miou_json(one)), "r.json");
  CHECK(back.confusions[0] == one.confusions[0]);
  CHECK(back.source == one.source);

  // The same images twice are refused, however they come: one result twice,
  // a merged result with one of its parts, two results over one manifest.
  CHECK_THROWS_WITH(merge_miou({one, one}, {"r.json", "r.json"}),
                    Catch::Contains("r.json: holds a result over the same 9 item(s) as r.json") &&
                        Catch::Contains("count them twice"));
  CHECK_THROWS_WITH(merge_miou({merged, one}, {"m.json", "r.json"}), Catch::Contains("as m.json"));
  // Results of different manifests (no shared items) still add up.
  Manifest other = parse_manifest(text.substr(0, text.find('\n') + 1), t / "other.jsonl", t.path);
  Manifest rest = parse_manifest(text.substr(text.find('\n') + 1), t / "rest.jsonl", t.path);
  o.shard = Shard{};
  MiouResult a = evaluate_manifest(other, v, o), b = evaluate_manifest(rest, v, o);
  MiouResult sum = merge_miou({a, b}, {"a.json", "b.json"});
  CHECK(sum.confusions[0] == one.confusions[0]);
  CHECK(sum.source["items_hash"] == one.source["items_hash"]);  // the hash of a set adds up
  CHECK(sum.source["parts"].size() == 2);
  CHECK_THROWS_WITH(merge_miou({sum, b}, {"sum.json", "b.json"}), Catch::Contains("b.json: holds a result over the same 8"));
  // Shards of another manifest are not shards of this split.
  Manifest changed = parse_manifest(text + "{\"id\":\"zz\",\"mask\":\"im0_gt.png\",\"pred\":\"im0_pred.png\"}\n",
                                    t / "m2.jsonl", t.path);
  o.shard = Shard{4, 4};
  MiouResult foreign = evaluate_manifest(changed, v, o);
  CHECK_THROWS_WITH(merge_miou({parts[0], parts[1], parts[2], foreign}, {"1", "2", "3", "x"}),
                    Catch::Contains("is of another manifest"));
  // Results written before "source" existed merge as before.
  MiouResult old1 = parts[0], old2 = parts[0];
  old1.source = old2.source = nlohmann::ordered_json();
  old2.shard = "2/4";
  MiouResult p3 = parts[2], p4 = parts[3];
  CHECK_NOTHROW(merge_miou({old1, old2, p3, p4}, {"1", "2", "3", "4"}));
}
