#include <catch2/catch.hpp>

#include "wsss/core/error.hpp"
#include "wsss/data/join.hpp"

using namespace wsss;

namespace {
Manifest parse(const std::string& text, const std::string& name) { return parse_manifest(text, name, "/data/" + name); }
}  // namespace

TEST_CASE("join adds renamed fields by id", "[join]") {
  Manifest a = parse("{\"id\":\"b\",\"mask\":\"m/b.png\"}\n{\"id\":\"a\",\"mask\":\"m/a.png\"}\n", "gt");
  Manifest b = parse("{\"id\":\"a\",\"mask\":\"p/a.png\",\"score\":1}\n{\"id\":\"b\",\"mask\":\"p/b.png\",\"score\":2}\n"
                     "{\"id\":\"c\",\"mask\":\"p/c.png\",\"score\":3}\n", "seg");
  JoinResult r = join_manifests(a, b, {JoinField::parse("mask:pred"), JoinField::parse("score")}, JoinMissing::Error);
  REQUIRE(r.records.size() == 2);
  CHECK(r.joined == 2);
  CHECK(r.unmatched_b == 1);
  CHECK(record_id(r.records[0]) == "a");
  CHECK(r.records[0]["mask"] == "/data/gt/m/a.png");
  CHECK(r.records[0]["pred"] == "/data/seg/p/a.png");
  CHECK(r.records[1]["score"] == 2);
}

TEST_CASE("join reports, skips or keeps ids missing from B", "[join]") {
  Manifest a = parse("{\"id\":\"a\",\"mask\":\"a.png\"}\n{\"id\":\"zz9\",\"mask\":\"z.png\"}\n", "gt");
  Manifest b = parse("{\"id\":\"a\",\"mask\":\"p.png\"}\n", "seg");
  std::vector<JoinField> take = {JoinField::parse("mask:pred")};
  try {
    join_manifests(a, b, take, JoinMissing::Error);
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).find("'zz9'") != std::string::npos);
  }
  JoinResult skip = join_manifests(a, b, take, JoinMissing::Skip);
  CHECK(skip.records.size() == 1);
  CHECK(skip.skipped == 1);
  JoinResult keep = join_manifests(a, b, take, JoinMissing::Keep);
  REQUIRE(keep.records.size() == 2);
  CHECK(!keep.records[1].contains("pred"));
  // A field that exists already must be renamed rather than silently replaced.
  CHECK_THROWS_AS(join_manifests(a, b, {JoinField::parse("mask")}, JoinMissing::Error), InputError);
  CHECK_THROWS_AS(JoinField::parse("mask:"), UsageError);
  CHECK_THROWS_AS(JoinField::parse("id"), UsageError);
}
