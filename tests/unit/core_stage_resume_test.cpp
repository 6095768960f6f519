#include <catch2/catch.hpp>

#include "test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/stage/stage.hpp"
#include "wsss/io/atomic_file.hpp"

using namespace wsss;
using wsss_test::TempDir;

namespace {

// Writes OUT/out/<id>.txt and names it relative to the working directory, as
// the stages do when OUT_DIR is given as a relative path.
struct RelativeWriter : ItemProcessor {
  fs::path dir;
  int calls = 0;
  explicit RelativeWriter(fs::path d) : dir(std::move(d)) {}
  std::vector<fs::path> outputs(const Record& r) const override { return {dir / "out" / (record_id(r) + ".txt")}; }
  std::vector<std::string> fields() const override { return {"pred"}; }
  Record process(const Record& r, std::uint64_t) override {
    ++calls;
    if (record_id(r).rfind("bad", 0) == 0) throw InputError("x.png", "corrupt");
    write_file_atomic(outputs(r)[0], record_id(r) + "\n");
    Record add;
    add["pred"] = outputs(r)[0].string();
    return add;
  }
};

// Runs the body in `dir` and comes back, whatever happens.
struct InDirectory {
  fs::path previous = fs::current_path();
  explicit InDirectory(const fs::path& dir) { fs::current_path(dir); }
  ~InDirectory() { fs::current_path(previous); }
};

}  // namespace

TEST_CASE("stage runner: a journal resumes into the same manifest with a relative OUT_DIR", "[stage]") {
  log::set_level(log::Level::Error);
  std::string text;
  for (int i = 0; i < 4; ++i) text += "{\"id\":\"i" + std::to_string(i) + "\"}\n";
  Manifest in = parse_manifest(text, "in.jsonl", "/data");
  TempDir t;
  InDirectory cd(t.path);
  StageOptions opt;
  opt.out_dir = "rel";
  opt.threads = 1;
  RelativeWriter whole("rel");
  run_stage(whole, in, opt, nullptr);
  std::string expected = read_file(t / "rel/manifest.jsonl");
  REQUIRE_THAT(expected, Catch::Contains("\"pred\":\"out/i0.txt\""));

  // A run killed after items i0 and i1: their journal lines, as the runner
  // writes them (relative to OUT_DIR), and no manifest.
  fs::remove(t / "rel/manifest.jsonl");
  fs::remove(t / "rel/out/i2.txt");
  fs::remove(t / "rel/out/i3.txt");
  write_file_atomic(t / "rel/.journal.jsonl", "{\"pred\":\"out/i0.txt\",\"id\":\"i0\"}\n{\"pred\":\"out/i1.txt\",\"id\":\"i1\"}\n");
  opt.skip_existing = true;
  RelativeWriter resumed("rel");
  StageSummary s = run_stage(resumed, in, opt, nullptr);
  CHECK(resumed.calls == 2);
  CHECK(s.skipped == 2);
  CHECK(read_file(t / "rel/manifest.jsonl") == expected);
}

TEST_CASE("stage runner: a rerun after failed items keeps the journal's paths with a relative OUT_DIR", "[stage]") {
  // The "rerun with --skip-existing" advice after an item failure takes the
  // same journal path as a killed run.
  log::set_level(log::Level::Error);
  Manifest in = parse_manifest("{\"id\":\"bad1\"}\n{\"id\":\"i1\"}\n{\"id\":\"i2\"}\n", "in.jsonl", "/data");
  TempDir t;
  InDirectory cd(t.path);
  StageOptions opt;
  opt.out_dir = "r/k";
  RelativeWriter first("r/k");
  CHECK_FALSE(run_stage(first, in, opt, nullptr).ok);  // bad1 fails: no manifest, the journal stays
  REQUIRE(fs::exists("r/k/.journal.jsonl"));
  opt.skip_existing = true;
  opt.max_failed = 1;
  RelativeWriter second("r/k");
  StageSummary s = run_stage(second, in, opt, nullptr);
  CHECK(s.ok);
  CHECK(s.skipped == 2);
  const std::string manifest = read_file(t / "r/k/manifest.jsonl");
  CHECK_THAT(manifest, Catch::Contains("\"pred\":\"out/i1.txt\""));
  CHECK_THAT(manifest, !Catch::Contains("r/k"));
}
