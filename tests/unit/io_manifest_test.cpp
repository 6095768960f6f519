#include <catch2/catch.hpp>

#include "test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/manifest.hpp"

using namespace wsss;
using wsss_test::TempDir;

TEST_CASE("manifest: records are sorted by id and paths resolve against the manifest directory", "[manifest]") {
  TempDir t;
  write_file_atomic(t / "m.jsonl",
                    "{\"id\":\"b\",\"image\":\"img/b.jpg\",\"labels\":[3,1]}\n"
                    "\n"
                    "{\"id\":\"a\",\"image\":\"/abs/a.jpg\",\"extra\":{\"k\":1}}\n");
  Manifest m = read_manifest((t / "m.jsonl").string());
  REQUIRE(m.records.size() == 2);
  CHECK(record_id(m.records[0]) == "a");
  CHECK(m.records[0]["image"] == "/abs/a.jpg");
  CHECK(m.records[1]["image"] == (fs::absolute(t.path) / "img/b.jpg").lexically_normal().string());
  CHECK(record_labels(m.records[1], 20, m.path) == std::vector<int>{1, 3});
  CHECK_FALSE(m.content_hash.empty());
}

TEST_CASE("manifest: written paths are relative to the new manifest's directory", "[manifest]") {
  TempDir t;
  write_file_atomic(t / "in/m.jsonl", "{\"id\":\"x\",\"image\":\"../data/x.png\",\"note\":\"../keep\"}\n");
  Manifest m = read_manifest((t / "in/m.jsonl").string());
  write_manifest(t / "out/stage/manifest.jsonl", m.records);
  std::string text = read_file(t / "out/stage/manifest.jsonl");
  CHECK(text == "{\"id\":\"x\",\"image\":\"../../data/x.png\",\"note\":\"../keep\"}\n");
  Manifest again = read_manifest((t / "out/stage/manifest.jsonl").string());
  CHECK(again.records[0]["image"] == m.records[0]["image"]);
}

TEST_CASE("manifest: bad input names the file and line", "[manifest]") {
  auto message = [](const std::string& text, bool allow_empty = false) {
    try {
      ManifestReadOptions opt;
      opt.allow_empty = allow_empty;
      parse_manifest(text, "m.jsonl", "/tmp", opt);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(message("{\"id\":\"a\"}\n{\"id\":\"b\"\n"), Catch::StartsWith("m.jsonl:2: malformed JSON"));
  CHECK_THAT(message("{\"id\":\"a\"}\n[1,2]\n"), Catch::StartsWith("m.jsonl:2: record is not a JSON object"));
  CHECK_THAT(message("{\"image\":\"x\"}\n"), Catch::StartsWith("m.jsonl:1: record has no non-empty string \"id\""));
  CHECK_THAT(message("{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"a\"}\n"),
             Catch::Equals("m.jsonl:3: duplicate id 'a' (first on line 1)"));
  CHECK_THAT(message(""), Catch::Contains("empty manifest"));
  CHECK(message("", true) == "no error");
  CHECK_THAT(message("{\"id\":\"a\",\"image\":3}\n"), Catch::Contains("must be a path string"));
}

TEST_CASE("manifest: labels outside 1..K are reported with the item", "[manifest]") {
  Manifest m = parse_manifest("{\"id\":\"a\",\"labels\":[1,21]}\n", "m.jsonl", "/tmp");
  CHECK_THROWS_WITH(record_labels(m.records[0], 20, m.path), Catch::Contains("item 'a': label 21 outside 1..20"));
  Manifest z = parse_manifest("{\"id\":\"a\",\"labels\":[0]}\n", "m.jsonl", "/tmp");
  CHECK_THROWS_AS(record_labels(z.records[0], 20, z.path), InputError);
}

TEST_CASE("atomic files leave no temporary behind", "[io]") {
  TempDir t;
  write_file_atomic(t / "sub/f.txt", "hello");
  CHECK(read_file(t / "sub/f.txt") == "hello");
  write_file_atomic(t / "sub/f.txt", "again");
  CHECK(read_file(t / "sub/f.txt") == "again");
  int files = 0;
  for (auto& e : fs::directory_iterator(t / "sub")) files += e.is_regular_file();
  CHECK(files == 1);
  {
    AtomicFile f(t / "sub/g.txt");
    CHECK(f.temporary().extension() == ".txt");
  }  // not committed: nothing remains
  CHECK_FALSE(fs::exists(t / "sub/g.txt"));
  files = 0;
  for (auto& e : fs::directory_iterator(t / "sub")) files += e.is_regular_file();
  CHECK(files == 1);
}
