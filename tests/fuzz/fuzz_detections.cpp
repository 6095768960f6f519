// libFuzzer target: detector output in COCO results format (pseudo/prompts:
// read_detections) against a small manifest of three images, under the
// category-id rules and unknown-image policies; and, the same bytes, a tagger's
// tags file (pseudo/tags: read_tags, labels_from_tags). Kept prompts must be
// boxes of positive area inside their image, of a known class, above the
// score threshold.
#include "fuzz_util.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/png.hpp"
#include "wsss/pseudo/prompts.hpp"
#include "wsss/pseudo/tags.hpp"

using namespace wsss;
using wsss_fuzz::require;

namespace {

struct Fixture {
  Manifest manifest;
  std::map<std::string, std::pair<int, int>> sizes;
  Fixture() {
    const fs::path d = wsss_fuzz::scratch() / "images";
    fs::create_directories(d);
    write_mask(d / "a.png", Mask(16, 12, 0));
    write_mask(d / "b.png", Mask(7, 9, 0));
    write_mask(d / "c.png", Mask(5, 5, 0));
    sizes = {{"2007_000032", {16, 12}}, {"b", {7, 9}}, {"000000000009", {5, 5}}};
    const std::string text =
        "{\"id\": \"2007_000032\", \"image\": \"a.png\", \"labels\": [1, 15]}\n"
        "{\"id\": \"b\", \"image\": \"b.png\"}\n"
        "{\"id\": \"000000000009\", \"image\": \"c.png\", \"labels\": [3]}\n";
    write_file_atomic(d / "manifest.jsonl", text);
    manifest = read_manifest((d / "manifest.jsonl").string());
  }
};

void check_detections(const fs::path& file, const Fixture& fx, const Vocabulary& vocab,
                      const pseudo::DetectionOptions& o) {
  wsss_fuzz::expect_clean(file.filename().string(), [&] {
    pseudo::Detections d =
        pseudo::read_detections(file, fx.manifest, vocab, pseudo::PromptNames::defaults(vocab), o);
    std::size_t kept = 0;
    for (const auto& [id, prompts] : d.prompts) {
      require(fx.sizes.count(id) == 1, "prompts for an unknown record " + id);
      require(d.failed.count(id) == 0, "a failed image kept prompts: " + id);
      const auto [w, h] = fx.sizes.at(id);
      for (const Prompt& p : prompts) {
        require(p.class_id >= 1 && p.class_id <= vocab.num_foreground(), "class out of range");
        require(p.score > o.score_threshold, "score at or below the threshold kept");
        require(p.box.has_value(), "detection without a box");
        const Box& b = *p.box;
        require(b.x0 >= 0 && b.y0 >= 0 && b.x1 <= float(w) && b.y1 <= float(h) && b.x0 < b.x1 && b.y0 < b.y1,
                "box outside the image or empty");
        ++kept;
      }
    }
    require(kept == d.stats.kept, "stats.kept disagrees with the prompts");
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  wsss_fuzz::quiet();
  static const Fixture fx;
  static const Vocabulary voc = builtin_vocabulary("voc12");
  static const Vocabulary coco = builtin_vocabulary("coco");
  const fs::path file = wsss_fuzz::input_file("fuzz-detections.json", data, size);
  pseudo::DetectionOptions o;
  check_detections(file, fx, voc, o);
  o.category_ids = pseudo::CategoryIds::Coco;
  o.unknown_images = pseudo::UnknownImages::Error;
  o.restrict_to_labels = false;
  o.score_threshold = 0.0f;
  check_detections(file, fx, coco, o);

  // The same bytes as a tagger's output.
  static const pseudo::SynonymTable synonyms =
      pseudo::SynonymTable::from_entries({{"person", 15}, {"man", 15}, {"plane", 1}, {"hot dog", 0}, {"dog", 12}});
  wsss_fuzz::expect_clean("fuzz-detections.json", [&] {
    std::vector<pseudo::TaggedImage> tags = pseudo::read_tags(file);
    for (const auto& t : tags)
      for (const auto& tag : t.tags) require(!tag.empty(), "empty tag");
    for (auto missing : {pseudo::MissingTags::Skip, pseudo::MissingTags::Empty}) {
      pseudo::TagLabels r = pseudo::labels_from_tags(tags, file, fx.manifest, synonyms, missing);
      for (const Record& rec : r.records) {
        std::vector<int> labels = record_labels(rec, 20, "labels");
        (void)labels;
      }
    }
  });
  return 0;
}
