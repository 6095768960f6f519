#include <catch2/catch.hpp>

#include "test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/io/atomic_file.hpp"

using namespace wsss;
using wsss_test::TempDir;

TEST_CASE("built-in vocabularies", "[vocab]") {
  Vocabulary voc = builtin_vocabulary("voc12");
  CHECK(voc.size() == 21);
  CHECK(voc.id_of("tvmonitor") == 20);
  CHECK(voc.id_of("person") == 15);
  Vocabulary coco = builtin_vocabulary("coco");
  CHECK(coco.size() == 81);
  CHECK(coco.id_of("person") == 1);
  CHECK(coco.id_of("toothbrush") == 80);
  CHECK(coco.id_of("motorcycle") == 4);
  CHECK_THROWS_AS(builtin_vocabulary("nope"), UsageError);
}

TEST_CASE("vocabulary files round-trip and the shipped copies match the built-ins", "[vocab]") {
  TempDir t;
  for (const char* name : {"voc12", "coco", "synth"}) {
    Vocabulary v = builtin_vocabulary(name);
    v.save(t / "classes.json");
    Vocabulary back = Vocabulary::load(t / "classes.json");
    CHECK(back.classes == v.classes);
    CHECK(back.palette == v.palette);
    fs::path shipped = fs::path(WSSS_SOURCE_DIR) / "data_manifests" / name / "classes.json";
    CHECK(read_file(shipped) == v.to_json());
  }
}

TEST_CASE("vocabulary lookup beside the manifest", "[vocab]") {
  TempDir t;
  CHECK_THROWS_WITH(vocabulary_for(t.path, ""), Catch::Contains("no class vocabulary"));
  builtin_vocabulary("synth").save(t / "classes.json");
  CHECK(vocabulary_for(t.path, "").name == "synth");
  CHECK(vocabulary_for(t.path, "voc12").name == "voc12");
  write_file_atomic(t / "bad.json", "{\"format\":\"wsss-classes\",\"version\":1,\"classes\":[\"bg\"]}");
  CHECK_THROWS_WITH(vocabulary_for(t.path, (t / "bad.json").string()), Catch::Contains("bad.json"));
}

TEST_CASE("a vocabulary with a duplicate or empty class name is refused, naming both ids", "[vocab]") {
  TempDir t;
  write_file_atomic(t / "dup.json",
                    "{\"format\":\"wsss-classes\",\"version\":1,\"classes\":[\"background\",\"cat\",\"dog\",\"cat\"]}");
  CHECK_THROWS_WITH(Vocabulary::load(t / "dup.json"),
                    Catch::Contains("dup.json: class name 'cat' appears twice (ids 1 and 3)"));
  write_file_atomic(t / "empty.json",
                    "{\"format\":\"wsss-classes\",\"version\":1,\"classes\":[\"background\",\"\",\"dog\"]}");
  CHECK_THROWS_WITH(Vocabulary::load(t / "empty.json"), Catch::Contains("empty.json: class 1 has an empty name"));
}
