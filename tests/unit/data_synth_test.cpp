#include <catch2/catch.hpp>

#include <set>

#include "test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/data/synth.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/manifest.hpp"

using namespace wsss;
using wsss_test::TempDir;

TEST_CASE("synthetic samples depend only on seed and index", "[synth]") {
  SynthSample a = generate_synth_sample(3, 17, 96, 80);
  SynthSample b = generate_synth_sample(3, 17, 96, 80);
  SynthSample other_index = generate_synth_sample(3, 18, 96, 80);
  SynthSample other_seed = generate_synth_sample(4, 17, 96, 80);
  REQUIRE(a.image.cols == 96);
  REQUIRE(a.image.rows == 80);
  REQUIRE(a.mask.width == 96);
  REQUIRE(a.mask.height == 80);
  CHECK(cv::countNonZero(a.image.reshape(1) != b.image.reshape(1)) == 0);
  CHECK(a.mask.data == b.mask.data);
  CHECK(a.labels == b.labels);
  SynthSample mask_only = generate_synth_sample(3, 17, 96, 80, false);
  CHECK(mask_only.image.empty());
  CHECK(mask_only.mask.data == a.mask.data);
  CHECK(mask_only.labels == a.labels);
  CHECK(a.mask.data != other_index.mask.data);
  CHECK(a.mask.data != other_seed.mask.data);
}

TEST_CASE("synthetic labels are exactly the classes in the mask, all classes occur, trains have rails",
          "[synth]") {
  const Vocabulary vocab = builtin_vocabulary("synth");
  REQUIRE(vocab.size() == kSynthClasses);
  REQUIRE(vocab.classes[kSynthTrain] == "train");
  std::set<int> seen;
  int with_train = 0, rails_without_train = 0, without_train = 0, multi = 0;
  for (std::uint64_t i = 0; i < 400; ++i) {
    SynthSample s = generate_synth_sample(0, i, 64, 48);
    std::set<int> in_mask;
    for (auto v : s.mask.data) {
      REQUIRE(int(v) < kSynthClasses);
      if (v) in_mask.insert(v);
    }
    REQUIRE(std::vector<int>(in_mask.begin(), in_mask.end()) == s.labels);
    REQUIRE(!s.labels.empty());
    REQUIRE(s.labels.size() <= 3);
    if (s.labels.size() > 1) ++multi;
    seen.insert(s.labels.begin(), s.labels.end());
    bool train = in_mask.count(kSynthTrain) > 0;
    if (train) {
      ++with_train;
      CHECK(s.rails);
    } else {
      ++without_train;
      if (s.rails) ++rails_without_train;
    }
  }
  CHECK(seen.size() == std::size_t(kSynthClasses - 1));
  CHECK(with_train > 40);
  CHECK(multi > 100);
  // "Almost only with trains": rails are rare otherwise.
  CHECK(rails_without_train * 10 < without_train);
}

TEST_CASE("rails are visible background below every train", "[synth]") {
  // The rail band is drawn as background right under the train's wheels: in
  // the rows just below the train, some pixels must be background.
  int checked = 0;
  for (std::uint64_t i = 0; i < 200 && checked < 20; ++i) {
    SynthSample s = generate_synth_sample(1, i, 128, 128);
    if (!std::count(s.labels.begin(), s.labels.end(), int(kSynthTrain))) continue;
    int lowest = -1;
    for (int y = 0; y < s.mask.height; ++y)
      for (int x = 0; x < s.mask.width; ++x)
        if (s.mask.at(y, x) == kSynthTrain) lowest = std::max(lowest, y);
    REQUIRE(lowest >= 0);
    if (lowest + 3 >= s.mask.height) continue;
    int background = 0;
    for (int x = 0; x < s.mask.width; ++x) background += s.mask.at(lowest + 2, x) == 0;
    CHECK(background > 0);
    ++checked;
  }
  CHECK(checked >= 5);
}

TEST_CASE("a synthetic data set is byte-identical for any thread count", "[synth][determinism]") {
  TempDir t;
  SynthOptions o;
  o.count = 24;
  o.width = 48;
  o.height = 40;
  StageOptions s1, s3;
  s1.out_dir = t / "j1";
  s1.threads = 1;
  s1.seed = 5;
  s3 = s1;
  s3.out_dir = t / "j3";
  s3.threads = 3;
  REQUIRE(write_synth_dataset(o, s1).ok);
  REQUIRE(write_synth_dataset(o, s3).ok);
  CHECK(read_file(t / "j1/manifest.jsonl") == read_file(t / "j3/manifest.jsonl"));
  Manifest m = read_manifest((t / "j1/manifest.jsonl").string());
  REQUIRE(m.records.size() == 24);
  CHECK(record_id(m.records.front()) == "s000000");
  for (const auto& r : m.records) {
    std::string id = record_id(r);
    CHECK(read_file(t / "j1/masks" / (id + ".png")) == read_file(t / "j3/masks" / (id + ".png")));
    CHECK(read_file(t / "j1/images" / (id + ".png")) == read_file(t / "j3/images" / (id + ".png")));
  }
  CHECK(Vocabulary::load(t / "j1/classes.json").classes == builtin_vocabulary("synth").classes);
  // A second run refuses to clobber.
  CHECK_THROWS_AS(write_synth_dataset(o, s1), OutputExistsError);
}

TEST_CASE("synth size and id helpers", "[synth]") {
  CHECK(parse_size("500x375") == std::pair<int, int>(500, 375));
  CHECK_THROWS_AS(parse_size("500"), UsageError);
  CHECK_THROWS_AS(parse_size("8x8"), UsageError);
  CHECK_THROWS_AS(parse_size("ax5"), UsageError);
  CHECK(synth_id("s", 7, 1000) == "s000007");
  CHECK(synth_id("x", 7, 12345678) == "x00000007");
}
