// CLIP's BPE tokenizer: cleaning, pre-tokenisation and merging on a synthetic
// merges file (so these run without CLIP's vocabulary), the bad-file errors,
// and the CLIP-ES prompt files. The hidden [clip_golden] case checks every text
// of shared/data/clip/tokens_golden.jsonl (made with CLIP's own Python
// tokenizer) and every prompt of the shipped clip_es.json files; ctest runs it
// through tests/clip/run_golden.sh, which skips when the data is absent.
#include <catch2/catch.hpp>
#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/text/clip_prompts.hpp"
#include "wsss/text/clip_tokenizer.hpp"

using namespace wsss;
using namespace wsss::text;
using wsss_test::TempDir;

namespace {

void write_gzip(const fs::path& file, const std::string& content) {
  gzFile gz = gzopen(file.c_str(), "wb");
  REQUIRE(gz != nullptr);
  REQUIRE(gzwrite(gz, content.data(), unsigned(content.size())) == int(content.size()));
  REQUIRE(gzclose(gz) == Z_OK);
}

// A merges file with CLIP's layout: the given merges first, then distinct
// fillers (symbols no text produces) up to kClipMerges.
std::string merges_text(const std::vector<std::string>& merges, std::size_t total = kClipMerges) {
  std::string s = "#version: 0.2\n";
  for (const std::string& m : merges) s += m + "\n";
  for (std::size_t i = merges.size(); i < total; ++i) s += "F" + std::to_string(i) + " G\n";
  return s;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Ids of the synthetic vocabulary: byte symbols are 0..255 in CLIP's order
// (printable '!'..'~' first: id = c - 33), "</w>" forms 256 later, merges from 512.
std::int32_t byte_id(char c) { return std::int32_t(c - '!'); }
std::int32_t word_end_id(char c) { return 256 + byte_id(c); }

}  // namespace

TEST_CASE("clip text cleaning: white space, case, ftfy's ASCII effects", "[text][clip]") {
  CHECK(clip_clean_text("  A  Photo\tof\n\nA DOG ") == "a photo of a dog");
  CHECK(clip_clean_text("") == "");
  CHECK(clip_clean_text(" \t ") == "");
  // ftfy removes terminal escapes and these control characters outright (no space).
  CHECK(clip_clean_text("red\033[31mcar\033[0m") == "redcar");
  CHECK(clip_clean_text("a\x01" "b\x7f" "c\x0b" "d") == "abcd");
  CHECK(clip_clean_text("a\x0c" "b\rc") == "a b c");
  // '&' that html.unescape leaves alone.
  CHECK(clip_clean_text("sofa & chair") == "sofa & chair");
  CHECK(clip_clean_text("a && b &") == "a && b &");
  CHECK(clip_clean_text("a &; b") == "a &; b");
}

TEST_CASE("clip text cleaning refuses what it cannot reproduce, naming the text", "[text][clip]") {
  std::string e = error_of([] { clip_clean_text("caf\xc3\xa9"); });
  CHECK(e.find("caf") != std::string::npos);
  CHECK(e.find("non-ASCII") != std::string::npos);
  e = error_of([] { clip_clean_text("fish &amp; chips"); });
  CHECK(e.find("'fish &amp; chips'") != std::string::npos);
  CHECK(e.find("HTML entity") != std::string::npos);
  CHECK(error_of([] { clip_clean_text("&#38;"); }).find("HTML entity") != std::string::npos);
  CHECK(error_of([] { clip_clean_text("R&D"); }).find("HTML entity") != std::string::npos);
}

TEST_CASE("clip tokenizer merges by rank on a synthetic vocabulary", "[text][clip]") {
  TempDir dir;
  // Ranks: 0 "l o", 1 "lo w</w>", 2 "e r</w>", 3 "n e", 4 "ne w", 5 "l l".
  write_gzip(dir / "bpe.gz", merges_text({"l o", "lo w</w>", "e r</w>", "n e", "ne w", "l l"}));
  ClipTokenizer t = ClipTokenizer::load(dir / "bpe.gz");
  CHECK(t.vocab_size() == 49408);
  const std::int32_t merge0 = 512;
  // "low": l o -> lo (rank 0), then lo w</w> (rank 1): one token.
  CHECK(t.encode("low") == std::vector<std::int32_t>{merge0 + 1});
  // "lower": lo, then w and e r</w>: "e r</w>" (rank 2) beats nothing else -> lo w er</w>.
  CHECK(t.encode("lower") == std::vector<std::int32_t>{merge0 + 0, byte_id('w'), merge0 + 2});
  // "newer": n e (3) merges before ne w (4); e r</w> (2) first of all.
  CHECK(t.encode("newer") == std::vector<std::int32_t>{merge0 + 4, merge0 + 2});
  // Occurrences merge left to right without overlap: "lll" -> ll, l</w>.
  CHECK(t.encode("lll") == std::vector<std::int32_t>{merge0 + 5, word_end_id('l')});
  // One-character words end in "</w>"; digits are one piece each.
  CHECK(t.encode("x 42") == std::vector<std::int32_t>{word_end_id('x'), word_end_id('4'), word_end_id('2')});
  // Contractions split off; other punctuation runs are one piece (apostrophes included).
  CHECK(t.encode("x's") == std::vector<std::int32_t>{word_end_id('x'), byte_id('\''), word_end_id('s')});
  CHECK(t.encode("x!'s") == std::vector<std::int32_t>{word_end_id('x'), byte_id('!'), word_end_id('\''),
                                                      word_end_id('s')});
  // The special tokens are recognised in the text (after lower-casing).
  CHECK(t.encode("x<|EndOfText|>") == std::vector<std::int32_t>{word_end_id('x'), kClipEndOfText});
  CHECK(t.tokenize("low") == std::vector<std::int32_t>{kClipStartOfText, merge0 + 1, kClipEndOfText});
  CHECK(t.decode(t.tokenize("Lower, x")) == "<|startoftext|>lower , x <|endoftext|>");
}

TEST_CASE("clip tokenizer: context length is enforced with the text named", "[text][clip]") {
  TempDir dir;
  write_gzip(dir / "bpe.gz", merges_text({}));
  ClipTokenizer t = ClipTokenizer::load(dir / "bpe.gz");
  std::string text;
  for (int i = 0; i < 75; ++i) text += "x ";
  CHECK(t.tokenize(text).size() == 77);  // 75 + start + end fits exactly
  std::string e = error_of([&] { t.tokenize(text + "y"); });
  CHECK(e.find("78 tokens") != std::string::npos);
  CHECK(e.find("context length 77") != std::string::npos);
  CHECK(e.find("x x x") != std::string::npos);
}

TEST_CASE("clip tokenizer: a missing or corrupt BPE file is one error naming it", "[text][clip]") {
  TempDir dir;
  auto load_error = [](const fs::path& f) { return error_of([&] { ClipTokenizer::load(f); }); };
  std::string e = load_error(dir / "absent.txt.gz");
  CHECK(e.find("absent.txt.gz") != std::string::npos);
  CHECK(e.find("no such file") != std::string::npos);

  write_file_atomic(dir / "plain.gz", merges_text({}));
  e = load_error(dir / "plain.gz");
  CHECK(e.find("plain.gz") != std::string::npos);
  CHECK(e.find("not a gzip file") != std::string::npos);

  // A truncated gzip stream.
  write_gzip(dir / "full.gz", merges_text({}));
  std::string bytes = read_file(dir / "full.gz");
  write_file_atomic(dir / "cut.gz", bytes.substr(0, bytes.size() / 2));
  e = load_error(dir / "cut.gz");
  CHECK(e.find("cut.gz") != std::string::npos);
  CHECK(e.find("corrupt") != std::string::npos);

  // Valid gzip, wrong content.
  write_gzip(dir / "short.gz", merges_text({}, 1000));
  e = load_error(dir / "short.gz");
  CHECK(e.find("short.gz") != std::string::npos);
  CHECK(e.find("1000 merges") != std::string::npos);
  write_gzip(dir / "noheader.gz", "a b\n");
  CHECK(load_error(dir / "noheader.gz").find("noheader.gz:1: expected a \"#version\" header") != std::string::npos);
  write_gzip(dir / "badline.gz", "#version: 0.2\na b c\n");
  CHECK(load_error(dir / "badline.gz").find("badline.gz:2: expected one merge") != std::string::npos);
}

TEST_CASE("clip-es prompt files: shipped tables and errors", "[text][clip]") {
  const fs::path root = fs::path(WSSS_SOURCE_DIR) / "data_manifests";
  Vocabulary voc = Vocabulary::load(root / "voc12" / "classes.json");
  ClipEsPrompts p = ClipEsPrompts::load(root / "voc12" / "clip_es.json", voc);
  CHECK(p.background.size() == 25);
  CHECK(p.box_threshold == 0.4);
  auto fg = p.foreground_prompts();
  REQUIRE(fg.size() == 20);
  CHECK(fg[std::size_t(voc.id_of("person") - 1)] == "a clean origami person with clothes,people,human.");
  CHECK(fg[std::size_t(voc.id_of("tvmonitor") - 1)] == "a clean origami tvmonitor screen.");
  CHECK(p.background_prompts().back() == "a clean origami sign.");

  Vocabulary coco = Vocabulary::load(root / "coco" / "classes.json");
  ClipEsPrompts pc = ClipEsPrompts::load(root / "coco" / "clip_es.json", coco);
  CHECK(pc.background.size() == 23);
  CHECK(pc.box_threshold == 0.7);
  CHECK(pc.foreground_prompts()[std::size_t(coco.id_of("spoon") - 1)] == "a clean origami dessertspoon.");
  CHECK(std::count(pc.background.begin(), pc.background.end(), "keyboard") == 0);

  TempDir dir;
  auto error_for = [&](const std::string& content) {
    write_file_atomic(dir / "p.json", content);
    return error_of([&] { ClipEsPrompts::load(dir / "p.json", voc); });
  };
  CHECK(error_for(R"({"format":"wsss-clip-es","version":1,"classes":{"zebra":"z"},"background":["sky"]})")
            .find("'zebra' is not a class") != std::string::npos);
  CHECK(error_for(R"({"format":"wsss-clip-es","version":1,"background":[]})").find("background") != std::string::npos);
  CHECK(error_for(R"({"format":"wsss-clip-es","version":1,"template":"a {} {}","background":["sky"]})")
            .find("exactly one") != std::string::npos);
  CHECK(error_for(R"({"format":"wsss-clip-es","version":1,"box_threshold":1.5,"background":["sky"]})")
            .find("(0, 1)") != std::string::npos);
  CHECK(error_for(R"({"format":"wsss-prompts","version":1})").find("p.json") != std::string::npos);
  // A class left out is prompted by its vocabulary name.
  write_file_atomic(dir / "q.json", R"({"format":"wsss-clip-es","version":1,"template":"{}!","background":["sky"]})");
  CHECK(ClipEsPrompts::load(dir / "q.json", voc).foreground_prompts()[0] == "aeroplane!");
}

namespace {

fs::path clip_data_dir() {
  if (const char* env = std::getenv("WSSS_CLIP_DATA"); env && *env) return env;
  return fs::path(WSSS_SOURCE_DIR).parent_path() / "shared" / "data" / "clip";
}

}  // namespace

TEST_CASE("clip tokenizer gives CLIP's ids for every golden text and shipped prompt", "[.][clip_golden]") {
  const fs::path dir = clip_data_dir();
  const fs::path bpe = dir / "bpe_simple_vocab_16e6.txt.gz", golden = dir / "tokens_golden.jsonl";
  REQUIRE(fs::exists(bpe));
  REQUIRE(fs::exists(golden));
  ClipTokenizer t = ClipTokenizer::load(bpe);
  std::ifstream in(golden);
  std::map<std::string, std::vector<std::int32_t>> expected;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    expected[j["text"].get<std::string>()] = j["ids"].get<std::vector<std::int32_t>>();
  }
  REQUIRE(expected.size() > 100);
  std::size_t mismatches = 0;
  for (const auto& [text, ids] : expected) {
    INFO("golden text '" << text << "'");
    std::vector<std::int32_t> got = t.tokenize(text);
    if (got != ids) ++mismatches;
    CHECK(got == ids);
  }
  // Every prompt the stage uses for the shipped vocabularies is among the golden texts.
  std::size_t prompts = 0;
  const fs::path root = fs::path(WSSS_SOURCE_DIR) / "data_manifests";
  for (const char* set : {"voc12", "coco"}) {
    Vocabulary v = Vocabulary::load(root / set / "classes.json");
    ClipEsPrompts p = ClipEsPrompts::load(root / set / "clip_es.json", v);
    std::vector<std::string> all = p.foreground_prompts();
    for (const std::string& b : p.background_prompts()) all.push_back(b);
    for (const std::string& text : all) {
      INFO(set << ": " << text);
      auto it = expected.find(text);
      REQUIRE(it != expected.end());
      CHECK(t.tokenize(text) == it->second);
      ++prompts;
    }
  }
  WARN("clip tokenizer golden check: " << expected.size() - mismatches << " of " << expected.size()
                                       << " texts identical; " << prompts << " shipped prompts checked");
  CHECK(mismatches == 0);
}
