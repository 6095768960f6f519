// Issue #18 (docs/robustness.md): what a killed run leaves and what a full disk
// does, at the level of the library: stale temporaries removed, a torn journal
// line not glued to the next, a write past the file size limit reported as a
// DiskFullError with nothing half-written, and a stage stopped by it.
#include <algorithm>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>

#include "test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/stage/stage.hpp"

using namespace wsss;
using wsss_test::TempDir;

namespace {

void touch(const fs::path& p, const std::string& text = "x") {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// Lowers the file size limit for one scope, with SIGXFSZ ignored as the CLI
// does (else the kernel kills the process at the limit).
struct FileSizeLimit {
  rlimit old{};
  void (*old_handler)(int);
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &old);
    old_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit lower = old;
    lower.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &lower);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, old_handler);
  }
};

std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(dir)) names.push_back(fs::relative(e.path(), dir).string());
  std::sort(names.begin(), names.end());
  return names;
}

// Writes OUT/out/<id>.txt; "full" items hit a full disk.
struct Writer : ItemProcessor {
  fs::path dir;
  explicit Writer(fs::path d) : dir(std::move(d)) {}
  std::vector<fs::path> outputs(const Record& r) const override { return {dir / "out" / (record_id(r) + ".txt")}; }
  std::vector<std::string> fields() const override { return {"pred"}; }
  Record process(const Record& r, std::uint64_t) override {
    if (record_id(r).rfind("full", 0) == 0) throw DiskFullError(outputs(r)[0].string() + ": write failed: No space left on device");
    write_file_atomic(outputs(r)[0], record_id(r) + "\n");
    Record add;
    add["pred"] = outputs(r)[0].string();
    return add;
  }
};

}  // namespace

TEST_CASE("remove_stale_temporaries: only the temporaries of the given files, never this process's own",
          "[robustness]") {
  TempDir t;
  const std::string own = std::to_string(getpid());
  touch(t / "a.png");
  touch(t / ".a.tmp123-0.png");         // a killed writer's: removed
  touch(t / ".a.tmp9-12.png");          // another one: removed
  touch(t / (".a.tmp" + own + "-3.png"));  // this process is writing it: kept
  touch(t / ".b.tmp123-0.png");         // not one of the targets: kept
  touch(t / ".a.tmp123-0.npy");         // another extension: kept
  touch(t / ".x.tmp.tmp5-1.npy");       // target x.tmp.npy (a stem holding ".tmp"): removed
  touch(t / ".a.tmpx-1.png");           // not a temporary name: kept
  touch(t / "sub/.c.tmp77-0.json");     // sub/c.json: removed
  CHECK(remove_stale_temporaries({t / "a.png", t / "x.tmp.npy", t / "sub/c.json", t / "missing/d.png"}) == 4);
  std::vector<std::string> kept{".a.tmp" + own + "-3.png", ".a.tmp123-0.npy", ".a.tmpx-1.png", ".b.tmp123-0.png",
                                "a.png", "sub"};
  std::sort(kept.begin(), kept.end());  // as listing() sorts: where this pid's name falls depends on the pid
  CHECK(listing(t.path) == kept);
  // The names are the ones temporary_path_for makes.
  fs::path made = temporary_path_for(t / "q.npy");
  CHECK(made.filename().string().rfind(".q.tmp" + own + "-", 0) == 0);
  CHECK(made.extension() == ".npy");
}

TEST_CASE("write_file_atomic past the file size limit: DiskFullError naming the file, nothing left",
          "[robustness]") {
  TempDir t;
  std::string big(20000, 'x');
  {
    FileSizeLimit limit(4096);
    CHECK_THROWS_AS(write_file_atomic(t / "out/a.bin", big), DiskFullError);
    try {
      write_file_atomic(t / "out/a.bin", big);
    } catch (const DiskFullError& e) {
      CHECK_THAT(e.what(), Catch::StartsWith((t / "out/a.bin").string() + ": write failed: File too large"));
    }
    write_file_atomic(t / "out/small.bin", "fits");  // below the limit: written
  }
  CHECK(listing(t / "out") == std::vector<std::string>{"small.bin"});
  // An error other than a full disk stays a plain Error.
  try {
    throw_write_error(t / "x", "cannot write", EACCES);
  } catch (const DiskFullError&) {
    FAIL("EACCES is no full disk");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("x: cannot write: Permission denied"));
  }
  CHECK_THROWS_AS(throw_write_error(t / "x", "write failed", ENOSPC), DiskFullError);
}

TEST_CASE("stage runner: a full disk stops the stage; the items done stay for --skip-existing", "[robustness][stage]") {
  log::set_level(log::Level::Error);
  TempDir t;
  Manifest in = parse_manifest("{\"id\":\"a\"}\n{\"id\":\"full\"}\n{\"id\":\"z\"}\n", "in.jsonl", "/data");
  StageOptions opt;
  opt.out_dir = t / "o";
  opt.threads = 1;
  opt.max_failed = 5;  // a full disk is no item failure: --max-failed does not let it pass
  Writer w(opt.out_dir);
  try {
    run_stage(w, in, opt, nullptr);
    FAIL("no DiskFullError");
  } catch (const DiskFullError& e) {
    CHECK_THAT(e.what(), Catch::Contains("full.txt: write failed: No space left on device; stopped"));
    CHECK_THAT(e.what(), Catch::Contains("--skip-existing"));
  }
  CHECK_FALSE(fs::exists(t / "o/manifest.jsonl"));
  CHECK(fs::exists(t / "o/out/a.txt"));
  CHECK_FALSE(fs::exists(t / "o/out/z.txt"));  // not attempted after the disk filled
  CHECK(read_file(t / "o/.journal.jsonl").find("\"id\":\"a\"") != std::string::npos);
}

TEST_CASE("stage runner: a resumed run removes a killed run's temporaries and mends a torn journal line",
          "[robustness][stage]") {
  log::set_level(log::Level::Error);
  TempDir t;
  Manifest in = parse_manifest("{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n", "in.jsonl", "/data");
  StageOptions opt;
  opt.out_dir = t / "o";
  opt.threads = 2;
  Writer whole(t / "w");
  StageOptions whole_opt = opt;
  whole_opt.out_dir = t / "w";
  run_stage(whole, in, whole_opt, nullptr);

  // What a kill leaves: a's output and journal line, the journal torn in b's
  // line, temporaries of b's output and of the manifest.
  Writer w(opt.out_dir);
  touch(t / "o/out/a.txt", "a\n");
  touch(t / "o/.journal.jsonl", "{\"pred\":\"out/a.txt\",\"id\":\"a\"}\n{\"pred\":\"out/b.t");
  touch(t / "o/out/.b.tmp999999-0.txt", "b");
  touch(t / "o/.manifest.tmp999999-4.jsonl", "{");
  opt.skip_existing = true;
  StageSummary s = run_stage(w, in, opt, nullptr);
  CHECK(s.skipped == 1);
  CHECK(s.done == 2);
  CHECK(read_file(t / "o/manifest.jsonl") == read_file(t / "w/manifest.jsonl"));
  CHECK(listing(t / "o") == listing(t / "w"));
}

TEST_CASE("stage runner: a sharded run leaves other shards' and shared files' temporaries alone", "[robustness][stage]") {
  log::set_level(log::Level::Error);
  TempDir t;
  Manifest in = parse_manifest("{\"id\":\"a\"}\n{\"id\":\"b\"}\n", "in.jsonl", "/data");
  StageOptions opt;
  opt.out_dir = t / "o";
  opt.shard = Shard::parse("1/2");
  touch(t / "o/out/.b.tmp999999-0.txt");         // shard 2's item, perhaps being written now
  touch(t / "o/.classes.tmp999999-0.json");      // classes.json is every shard's
  touch(t / "o/.manifest.1-of-2.tmp999999-0.jsonl");
  Writer w(opt.out_dir);
  run_stage(w, in, opt, nullptr);
  CHECK(fs::exists(t / "o/out/.b.tmp999999-0.txt"));
  CHECK(fs::exists(t / "o/.classes.tmp999999-0.json"));
  CHECK_FALSE(fs::exists(t / "o/.manifest.1-of-2.tmp999999-0.jsonl"));
}
