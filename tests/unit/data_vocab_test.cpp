#include <catch2/catch.hpp>

#include "test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/parse.hpp"
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

TEST_CASE("a class list with a name that is not UTF-8 is refused, naming the line", "[vocab]") {
  // Found by fuzz_classes in a 10-minute run: the plain-list reader took the
  // bytes, and writing the vocabulary as JSON then threw nlohmann's own error.
  TempDir t;
  write_file_atomic(t / "classes.txt", "background\ncat\nd\xF6g\n");  // Latin-1 ö
  CHECK_THROWS_WITH(Vocabulary::load(t / "classes.txt"),
                    Catch::Contains("classes.txt:3: class name is not valid UTF-8"));
  write_file_atomic(t / "ok.txt", "background\ncat\nd\xC3\xB6g\n");  // UTF-8 ö
  CHECK(Vocabulary::load(t / "ok.txt").classes[2] == "d\xC3\xB6g");
}

TEST_CASE("UTF-8 validity, by hand", "[vocab][utf8]") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("plain ascii"));
  CHECK(is_valid_utf8("\xC3\xB6"));              // U+00F6
  CHECK(is_valid_utf8("\xE2\x82\xAC"));          // U+20AC
  CHECK(is_valid_utf8("\xF0\x9F\x90\x88"));      // U+1F408
  CHECK(is_valid_utf8("\xF4\x8F\xBF\xBF"));      // U+10FFFF, the last code point
  CHECK_FALSE(is_valid_utf8("\xF6"));            // Latin-1 byte alone
  CHECK_FALSE(is_valid_utf8("\x80"));            // continuation byte first
  CHECK_FALSE(is_valid_utf8("\xC3"));            // truncated
  CHECK_FALSE(is_valid_utf8("\xE2\x82"));        // truncated
  CHECK_FALSE(is_valid_utf8("\xC3\x28"));        // bad continuation
  CHECK_FALSE(is_valid_utf8("\xC0\xAF"));        // overlong '/'
  CHECK_FALSE(is_valid_utf8("\xE0\x80\xAF"));    // overlong '/'
  CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));    // surrogate U+D800
  CHECK_FALSE(is_valid_utf8("\xF4\x90\x80\x80")); // U+110000
  CHECK_FALSE(is_valid_utf8("\xFF\xFF"));
}
