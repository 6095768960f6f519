#include <catch2/catch.hpp>

#include <cmath>

#include "wsss/metrics/classification.hpp"

using namespace wsss;

TEST_CASE("average precision matches hand-computed values", "[classification]") {
  // Ranked: 0.9(+) 0.8(-) 0.7(+) 0.1(-): AP = 0.5*1 + 0.5*(2/3).
  CHECK(average_precision({0.9f, 0.8f, 0.7f, 0.1f}, {true, false, true, false}) == Approx(0.5 + 1.0 / 3));
  // A tie between a positive and a negative is one threshold: precision 1/2 at recall 1.
  CHECK(average_precision({0.5f, 0.5f}, {true, false}) == Approx(0.5));
  CHECK(average_precision({0.1f, 0.9f}, {true, true}) == Approx(1.0));
  CHECK(std::isnan(average_precision({0.3f}, {false})));
}

TEST_CASE("mAP skips classes without positives; F1 at a threshold", "[classification]") {
  std::vector<std::vector<float>> s = {{0.9f, 0.2f, 0.1f}, {0.4f, 0.8f, 0.3f}, {0.6f, 0.7f, 0.2f}};
  std::vector<std::vector<bool>> t = {{true, false, false}, {false, false, false}, {true, true, false}};
  ClassificationMetrics m = classification_metrics(s, t, 0.5f);
  CHECK(m.ap[0] == Approx(1.0));
  CHECK(m.ap[1] == Approx(0.5));  // ranked 0.8(-) 0.7(+) 0.2(-)
  CHECK(std::isnan(m.ap[2]));
  CHECK(m.mean_ap == Approx((m.ap[0] + m.ap[1]) / 2));
  // Class 0: predictions {1,0,1} vs truth {1,0,1}: F1 1. Class 1: {0,1,1} vs {0,0,1}: F1 2/3.
  CHECK(m.f1[0] == Approx(1.0));
  CHECK(m.f1[1] == Approx(2.0 / 3));
  CHECK(std::isnan(m.f1[2]));
  CHECK(m.micro_f1 == Approx(2.0 * 3 / (2 * 3 + 1 + 0)));
}
