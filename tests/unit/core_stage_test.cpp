#include <catch2/catch.hpp>

#include <atomic>
#include <set>

#include "test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/shard.hpp"
#include "wsss/stage/stage.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/io/atomic_file.hpp"

using namespace wsss;
using wsss_test::TempDir;

TEST_CASE("shards are 1-based contiguous blocks covering every item once", "[shard]") {
  for (std::size_t n : {0u, 1u, 7u, 10u, 101u}) {
    for (int count : {1, 2, 3, 8}) {
      std::size_t covered = 0, expected_begin = 0;
      for (int j = 1; j <= count; ++j) {
        auto [b, e] = Shard{j, count}.range(n);
        CHECK(b == expected_begin);
        CHECK(e - b <= n / count + 1);
        covered += e - b;
        expected_begin = e;
      }
      CHECK(covered == n);
    }
  }
  CHECK(Shard::parse("3/8").index == 3);
  CHECK(Shard::parse("3/8").suffix() == ".3-of-8");
  CHECK(Shard::parse("1/1").suffix().empty());
  CHECK_THROWS_AS(Shard::parse("0/4"), UsageError);
  CHECK_THROWS_AS(Shard::parse("5/4"), UsageError);
  CHECK_THROWS_AS(Shard::parse("1/0"), UsageError);
  CHECK_THROWS_AS(Shard::parse("a/b"), UsageError);
  CHECK_THROWS_WITH(Shard::parse("3"), Catch::Contains("expected J/N"));
}

namespace {

// Writes "<id>.txt" holding the id and a seeded number; fails items whose id starts with "bad".
struct FileWriter : ItemProcessor {
  fs::path dir;
  std::atomic<int> calls{0};
  explicit FileWriter(fs::path d) : dir(std::move(d)) {}
  std::vector<fs::path> outputs(const Record& r) const override { return {dir / "out" / (record_id(r) + ".txt")}; }
  std::vector<std::string> fields() const override { return {"pred", "n"}; }
  Record process(const Record& r, std::uint64_t seed) override {
    ++calls;
    if (record_id(r).rfind("bad", 0) == 0) throw InputError("x.png", "corrupt");
    fs::path f = outputs(r)[0];
    write_file_atomic(f, record_id(r) + " " + std::to_string(seed % 1000) + "\n");
    Record add;
    add["pred"] = f.string();
    add["n"] = int(seed % 7);
    return add;
  }
};

Manifest make_input(int n, const std::string& extra_id = "") {
  std::string text;
  for (int i = 0; i < n; ++i) text += "{\"id\":\"i" + std::to_string(100 + i) + "\",\"image\":\"x.png\"}\n";
  if (!extra_id.empty()) text += "{\"id\":\"" + extra_id + "\"}\n";
  return parse_manifest(text, "in.jsonl", "/data");
}

std::string dir_listing(const fs::path& dir) {
  std::set<std::string> names;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string().rfind("meta", 0) != 0)
      names.insert(e.path().lexically_relative(dir).string() + "=" + read_file(e.path()));
  std::string out;
  for (auto& n : names) out += n + "\n";
  return out;
}

}  // namespace

TEST_CASE("stage runner: output is independent of threads and sharding", "[stage][determinism]") {
  log::set_level(log::Level::Warn);
  Manifest in = make_input(23);
  TempDir a, b, c;
  StageOptions opt;
  opt.seed = 5;
  opt.threads = 1;
  opt.out_dir = a.path;
  FileWriter wa(a.path);
  StageSummary sa = run_stage(wa, in, opt, nullptr);
  CHECK(sa.ok);
  CHECK(sa.done == 23);
  opt.threads = 4;
  opt.out_dir = b.path;
  FileWriter wb(b.path);
  run_stage(wb, in, opt, nullptr);
  CHECK(dir_listing(a.path) == dir_listing(b.path));

  // Shards 1/3..3/3 cover the same outputs; their manifests concatenated equal the whole.
  std::string joined;
  for (int j = 1; j <= 3; ++j) {
    opt.out_dir = c.path;
    opt.shard = Shard{j, 3};
    FileWriter wc(c.path);
    StageSummary s = run_stage(wc, in, opt, nullptr);
    joined += read_file(s.manifest);
  }
  CHECK(joined == read_file(a / "manifest.jsonl"));
  // Output paths are relative to the output directory; input paths are rebased.
  CHECK_THAT(read_file(a / "manifest.jsonl"), Catch::Contains("\"pred\":\"out/i100.txt\""));
  CHECK_THAT(read_file(a / "manifest.jsonl"), Catch::Contains("\"image\":\"/data/x.png\""));
}

TEST_CASE("stage runner: refuses to clobber, skips and resumes", "[stage]") {
  log::set_level(log::Level::Error);
  Manifest in = make_input(6);
  TempDir t;
  StageOptions opt;
  opt.out_dir = t.path;
  opt.threads = 2;
  FileWriter w1(t.path);
  run_stage(w1, in, opt, nullptr);
  std::string first = dir_listing(t.path);

  FileWriter w2(t.path);
  CHECK_THROWS_AS(run_stage(w2, in, opt, nullptr), OutputExistsError);
  CHECK(w2.calls == 0);

  opt.skip_existing = true;
  FileWriter w3(t.path);
  StageSummary s3 = run_stage(w3, in, opt, nullptr);
  CHECK(w3.calls == 0);
  CHECK(s3.skipped == 6);
  CHECK(dir_listing(t.path) == first);

  // Simulate a run killed after some items: no manifest, a journal, some files.
  fs::remove(t / "manifest.jsonl");
  fs::remove(t / "out/i102.txt");
  fs::remove(t / "out/i104.txt");
  {
    // Journal of the items that finished (as the runner writes it), plus a torn line.
    std::string journal;
    for (const char* id : {"i100", "i101", "i103", "i105"})
      journal += std::string("{\"pred\":\"out/") + id + ".txt\",\"n\":" + std::to_string(0) + ",\"id\":\"" + id + "\"}\n";
    write_file_atomic(t / ".journal.jsonl", journal + "{\"pred\":\"ou");
  }
  opt.skip_existing = false;
  FileWriter w4(t.path);
  CHECK_THROWS_AS(run_stage(w4, in, opt, nullptr), OutputExistsError);  // the journal marks an unfinished run
  opt.skip_existing = true;
  FileWriter w5(t.path);
  StageSummary s5 = run_stage(w5, in, opt, nullptr);
  CHECK(w5.calls == 2);  // only the two missing items were recomputed
  CHECK(s5.done == 2);
  CHECK(s5.skipped == 4);
  CHECK_FALSE(fs::exists(t / ".journal.jsonl"));

  opt.skip_existing = false;
  opt.overwrite = true;
  FileWriter w6(t.path);
  run_stage(w6, in, opt, nullptr);
  CHECK(w6.calls == 6);
  CHECK(dir_listing(t.path) == first);
}

TEST_CASE("stage runner: failed items are listed, counted against --max-failed", "[stage]") {
  log::set_level(log::Level::Error);
  Manifest in = make_input(4, "bad1");
  TempDir t;
  StageOptions opt;
  opt.out_dir = t.path;
  FileWriter w(t.path);
  StageSummary s = run_stage(w, in, opt, nullptr);
  CHECK_FALSE(s.ok);
  CHECK(s.failed == 1);
  CHECK(s.failed_ids == std::vector<std::string>{"bad1"});
  CHECK_FALSE(fs::exists(t / "manifest.jsonl"));  // a failed stage is not "done"
  CHECK_THAT(read_file(t / "failed.txt"), Catch::StartsWith("bad1\tx.png: corrupt"));
  CHECK(summary_line(s).rfind("done 4, skipped 0, failed 1 of 5 in ", 0) == 0);

  opt.skip_existing = true;
  opt.max_failed = 1;
  Vocabulary v = builtin_vocabulary("synth");
  FileWriter w2(t.path);
  StageSummary s2 = run_stage(w2, in, opt, &v);
  CHECK(s2.ok);
  CHECK(w2.calls == 1);  // only the failing item is retried
  CHECK(fs::exists(t / "manifest.jsonl"));
  CHECK(fs::exists(t / "meta.json"));
  CHECK(Vocabulary::load(t / "classes.json").classes == v.classes);
  CHECK_THAT(read_file(t / "manifest.jsonl"), !Catch::Contains("bad1"));
}

TEST_CASE("item seeds depend on run seed and id only", "[stage]") {
  CHECK(item_seed(1, "a") == item_seed(1, "a"));
  CHECK(item_seed(1, "a") != item_seed(2, "a"));
  CHECK(item_seed(1, "a") != item_seed(1, "b"));
}
