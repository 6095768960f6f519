#include <catch2/catch.hpp>

#include <cmath>

#include "wsss/core/error.hpp"
#include "wsss/pseudo/pseudo.hpp"

using namespace wsss;
using namespace wsss::pseudo;

namespace {

// A 4x1 map with classes {2, 5}: per pixel (s2, s5).
RecordScores scores(std::vector<std::pair<float, float>> px, std::vector<int> classes = {2, 5}) {
  RecordScores s;
  s.classes = classes;
  s.map.shape = {2, 1, std::int64_t(px.size())};
  for (auto& p : px) s.map.data.push_back(p.first);
  for (auto& p : px) s.map.data.push_back(p.second);
  return s;
}

}  // namespace

TEST_CASE("constant background threshold: argmax over [t, scores], ties to background", "[pseudo]") {
  PseudoOptions o;
  o.background = {BackgroundRule::Threshold, 0.3};
  Mask m = pseudo_labels(cv::Mat(), scores({{0.1f, 0.2f}, {0.5f, 0.4f}, {0.3f, 0.3f}, {0.2f, 0.9f}}), o);
  CHECK(m.data == std::vector<std::uint8_t>{0, 2, 0, 5});
}

TEST_CASE("power background (1 - max)^A as in PSA / CLIP-ES", "[pseudo]") {
  PseudoOptions o;
  o.background = {BackgroundRule::Power, 2.0};
  // max 0.4 -> bg 0.36 < 0.4: class; max 0.3 -> bg 0.49: background.
  Mask m = pseudo_labels(cv::Mat(), scores({{0.4f, 0.1f}, {0.3f, 0.2f}, {0.0f, 0.6f}, {0.0f, 0.0f}}), o);
  CHECK(m.data == std::vector<std::uint8_t>{2, 0, 5, 0});
}

TEST_CASE("IRN two-threshold rule: fg where the high threshold says fg, bg where both say bg, else 255", "[pseudo]") {
  PseudoOptions o;
  o.ignore = IgnoreRule::parse("irn:0.30:0.05");
  // max 0.5: fg at both -> class; 0.1: bg at 0.30, fg at 0.05 -> 255; 0.01: bg at both -> 0.
  Mask m = pseudo_labels(cv::Mat(), scores({{0.5f, 0.2f}, {0.1f, 0.0f}, {0.01f, 0.0f}, {0.0f, 0.31f}}), o);
  CHECK(m.data == std::vector<std::uint8_t>{2, 255, 0, 5});
}

TEST_CASE("confidence rule marks low top scores as ignore", "[pseudo]") {
  PseudoOptions o;
  o.background = {BackgroundRule::Threshold, 0.2};
  o.ignore = IgnoreRule::parse("confidence:0.5");
  Mask m = pseudo_labels(cv::Mat(), scores({{0.9f, 0.1f}, {0.4f, 0.1f}, {0.1f, 0.1f}, {0.1f, 0.6f}}), o);
  CHECK(m.data == std::vector<std::uint8_t>{2, 255, 255, 5});
}

TEST_CASE("a map with its own background channel is a plain argmax", "[pseudo]") {
  PseudoOptions o;
  o.background = {BackgroundRule::Threshold, 0.99};  // must not matter
  Mask m = pseudo_labels(cv::Mat(), scores({{0.6f, 0.4f}, {0.2f, 0.8f}}, {0, 7}), o);
  CHECK(m.data == std::vector<std::uint8_t>{0, 7});
  o.ignore = IgnoreRule::parse("irn");
  CHECK_THROWS_AS(pseudo_labels(cv::Mat(), scores({{0.6f, 0.4f}}, {0, 7}), o), Error);
}

TEST_CASE("CRF presets run through the pseudo-label path and keep absent labels absent", "[pseudo]") {
  cv::Mat rgb(8, 8, CV_8UC3, cv::Scalar(40, 40, 40));
  rgb(cv::Rect(4, 0, 4, 8)).setTo(cv::Scalar(220, 30, 30));
  RecordScores s;
  s.classes = {3};
  s.map.shape = {1, 8, 8};
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) s.map.data.push_back(x >= 3 ? 0.8f : 0.05f);  // one column too many
  for (const char* preset : {"deeplab", "psa", "irn"}) {
    PseudoOptions o;
    o.background = {BackgroundRule::Threshold, 0.3};
    o.crf = preset;
    Mask m = pseudo_labels(rgb, s, o);
    for (auto v : m.data) CHECK((v == 0 || v == 3));
    CHECK(m.at(0, 7) == 3);
    CHECK(m.at(0, 0) == 0);
  }
}

TEST_CASE("ignore rule parsing", "[pseudo]") {
  CHECK(IgnoreRule::parse("none").kind == IgnoreRule::None);
  CHECK(IgnoreRule::parse("irn").fg == Approx(0.30f));
  CHECK(IgnoreRule::parse("irn:0.35:0.10").bg == Approx(0.10f));
  CHECK(IgnoreRule::parse("confidence").min_confidence == Approx(0.95f));
  CHECK_THROWS_AS(IgnoreRule::parse("irn:0.1:0.3"), UsageError);
  CHECK_THROWS_AS(IgnoreRule::parse("irn:0.3"), UsageError);
  CHECK_THROWS_AS(IgnoreRule::parse("confidence:x"), UsageError);
  CHECK_THROWS_AS(IgnoreRule::parse("bogus"), UsageError);
}
