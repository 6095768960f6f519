// wsss-tags: the prompt side of the foundation-model path. `labels` turns a
// tagger's tags (RAM) into image labels through a whole-word synonym table;
// both subcommands write the captions an open-vocabulary detector (Grounding
// DINO) is run on elsewhere. The logic is in lib/pseudo (tags.hpp, prompts.hpp).
#include <cstdio>
#include <memory>

#include "tool.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/pseudo/tags.hpp"

using namespace wsss;

namespace {

struct Args {
  std::string tags, manifest, out, synonyms, prompts, category_ids = "auto", missing = "error";
  cli::CommonOptions common;
};

void add_prompt_options(CLI::App& sub, Args& a) {
  sub.add_option("--prompt-names", a.prompts,
                 "Prompt names (wsss-prompts JSON); default: data_manifests/<vocabulary>/prompts.json, else the "
                 "class names");
  sub.add_option("--category-ids", a.category_ids,
                 "The category_ids written: auto (COCO's official ids for the coco vocabulary, else class ids), "
                 "vocab or coco")
      ->check(CLI::IsMember({"auto", "vocab", "coco"}))->capture_default_str();
}

pseudo::PromptNames prompt_names(const Args& a, const Vocabulary& vocab) {
  return a.prompts.empty() ? pseudo::PromptNames::for_vocabulary(vocab) : pseudo::PromptNames::load(a.prompts, vocab);
}

std::string percent(std::size_t a, std::size_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", b ? 100.0 * double(a) / double(b) : 0.0);
  return buf;
}

void setup(CLI::App& app, Args& a, cli::Action& action) {
  app.require_subcommand(1);

  auto* labels = app.add_subcommand("labels", "Image labels from a tagger's tags, plus detector prompts");
  labels->add_option("TAGS", a.tags, "Tagger output: JSON {\"<image>\": [tags] | \"tag | tag\"} or text lines "
                                        "<image><TAB>tag | tag")->required();
  labels->add_option("MANIFEST", a.manifest, "The images' manifest")->required();
  labels->add_option("OUT_DIR", a.out, "Output directory")->required();
  labels->add_option("--synonyms", a.synonyms,
                     "Synonym table (wsss-synonyms JSON); default: data_manifests/<vocabulary>/synonyms.json");
  labels->add_option("--missing", a.missing,
                     "A record without tags: error, empty (no labels) or skip (left out)")
      ->check(CLI::IsMember({"error", "empty", "skip"}))->capture_default_str();
  add_prompt_options(*labels, a);
  cli::add_common_options(*labels, a.common, cli::kOverwrite | cli::kClasses);
  cli::describe(*labels,
                "Maps each image's tags to classes (whole words; a phrase must be the tag or its last words, "
                "so 'bush' is no bus and 'car seat' no car) and writes OUT_DIR/manifest.jsonl with those "
                "\"labels\" (the previous labels kept as \"labels_gt\", the tags as \"tags\"), "
                "OUT_DIR/detector_prompts.jsonl, and OUT_DIR/unmatched_tags.tsv and OUT_DIR/no_class.txt "
                "when some tags or images match no class.",
                "wsss-tags labels ram_tags.json exp/voc/train/manifest.jsonl exp/voc/zeroshot",
                "docs/prompts.md");
  labels->callback([&action, labels, &a] {
    action = [labels, &a] {
      cli::apply_common_options(*labels, a.common);
      Manifest m = read_manifest(a.manifest);
      Vocabulary vocab = vocabulary_for(m.dir, a.common.classes);
      pseudo::SynonymTable synonyms = a.synonyms.empty() ? pseudo::SynonymTable::for_vocabulary(vocab)
                                                            : pseudo::SynonymTable::load(a.synonyms, vocab);
      pseudo::TagsStageOptions o;
      o.out_dir = a.out;
      o.overwrite = a.common.overwrite;
      o.missing = a.missing == "skip"    ? pseudo::MissingTags::Skip
                  : a.missing == "empty" ? pseudo::MissingTags::Empty
                                            : pseudo::MissingTags::Error;
      o.category_ids = pseudo::parse_category_ids(a.category_ids);
      o.provenance = a.common.provenance;
      pseudo::TagLabels r = pseudo::run_tags_stage(a.tags, m, vocab, synonyms, prompt_names(a, vocab), o);
      log::info(r.tags, " tags, ", r.matched_tags, " (", percent(r.matched_tags, r.tags), ") name a class; ",
                r.unmatched.size(), " distinct tags name none",
                r.unmatched.empty() ? "" : " (unmatched_tags.tsv)");
      if (r.gt_images)
        log::info("labels vs labels_gt on ", r.gt_images, " images: precision ", percent(r.tp, r.tp + r.fp),
                  ", recall ", percent(r.tp, r.tp + r.fn), ", exact ", percent(r.exact, r.gt_images));
      log::info("wrote ", r.records.size(), " records (", r.no_class.size(), " with no class",
                r.no_class.empty() ? "" : ", no_class.txt", r.missing ? ", " + std::to_string(r.missing) + " untagged" : "",
                ") to ", (fs::path(a.out) / "manifest.jsonl").string());
      return 0;
    };
  });

  auto* prompts = app.add_subcommand("prompts", "Detector prompts from a manifest's known labels (text input)");
  prompts->add_option("MANIFEST", a.manifest, "Manifest with \"labels\"")->required();
  prompts->add_option("-o,--output", a.out, "Output JSON Lines file (detector_prompts.jsonl)")->required();
  add_prompt_options(*prompts, a);
  cli::add_common_options(*prompts, a.common, cli::kOverwrite | cli::kClasses);
  cli::describe(*prompts,
                "Writes one line per image with labels: {\"id\", \"image\", \"text\": \"wild bird . dining table "
                ".\", \"prompts\", \"category_ids\"}, the captions SAM_WSSS gives Grounding DINO (one per class). "
                "Image paths are relative to the output file's directory.",
                "wsss-tags prompts exp/voc/train/manifest.jsonl -o exp/voc/detector_prompts.jsonl",
                "docs/prompts.md");
  prompts->callback([&action, prompts, &a] {
    action = [prompts, &a] {
      cli::apply_common_options(*prompts, a.common);
      check_can_write(a.out, a.common.overwrite);
      Manifest m = read_manifest(a.manifest);
      Vocabulary vocab = vocabulary_for(m.dir, a.common.classes);
      std::size_t lines = 0;
      std::string text = pseudo::detector_prompts(m.records, m.path, vocab, prompt_names(a, vocab),
                                                  pseudo::parse_category_ids(a.category_ids), a.out, &lines);
      write_file_atomic(a.out, text);
      log::info("wrote ", lines, " of ", m.records.size(), " images (the others have no labels) to ", a.out);
      return 0;
    };
  });
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_tool<Args>(argc, argv, {"wsss-tags",
                     "Zero-shot labels and detector prompts for the SAM path. 'labels' maps a tagger's tags (RAM: "
                     "JSON or ID<TAB>tag | tag) to the vocabulary's classes through a whole-word synonym table and "
                     "writes a manifest with those labels; 'prompts' writes the per-image Grounding DINO captions "
                     "of a manifest's known labels.",
                     "wsss-tags labels ram_tags.json exp/voc/train/manifest.jsonl exp/voc/zeroshot",
                     "wsss-sam(1), docs/prompts.md"}, setup);
}
