
#include "subcommands.hpp"
#include "wsss/core/log.hpp"
#include "wsss/stage/stage.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/pseudo/oracle_boxes.hpp"

namespace wsss_data {

void add_boxes(CLI::App& app, BoxesArgs& args, wsss::cli::Action& action) {
  auto* sub = app.add_subcommand("boxes", "Oracle detector: ground-truth boxes as COCO results JSON (evaluation aid)");
  sub->add_option("MANIFEST", args.manifest, "Manifest with a label field")->required();
  sub->add_option("OUT", args.output, "COCO results JSON to write")->required();
  sub->add_option("--field", args.boxes.field, "Label field the boxes come from")->capture_default_str();
  sub->add_option("--jitter", args.boxes.jitter,
                  "Move each edge by up to this fraction of the box's size; score = IoU with the true box")
      ->capture_default_str()->check(wsss::cli::range(0, 1));
  sub->add_option("--category-ids", args.category_ids,
                  "What category_id holds: auto, vocab (1..K) or coco (1..90), as wsss-sam --category-ids")
      ->capture_default_str();
  wsss::cli::add_common_options(*sub, args.common, wsss::cli::kOverwrite | wsss::cli::kSeed | wsss::cli::kClasses);
  wsss::cli::describe(*sub,
                      "Writes one box per 8-connected component of each class in the ground-truth masks, score 1, "
                      "as the detections wsss-sam --detections reads: the box-supervised upper bound of the SAM "
                      "text-input path, not a weak-supervision source. --jitter moves the edges (seeded per "
                      "record) and scores each box by its IoU with the true one.",
                      "wsss-data boxes exp/synth/manifest.jsonl exp/synth/gt_boxes.json --jitter 0.1",
                      "wsss-sam(1), docs/sam.md");
  sub->callback([&action, sub, &args] {
    action = [sub, &args] {
      wsss::cli::apply_common_options(*sub, args.common);
      args.boxes.seed = args.common.seed;
      args.boxes.category_ids = wsss::pseudo::parse_category_ids(args.category_ids);
      args.boxes.validate();
      wsss::check_can_write(args.output, args.common.overwrite);
      wsss::Manifest m = wsss::read_manifest(args.manifest);
      wsss::Vocabulary vocab = wsss::vocabulary_for(m.dir, args.common.classes);
      wsss::pseudo::OracleBoxStats stats;
      nlohmann::json boxes = wsss::pseudo::oracle_boxes(m, vocab, args.boxes, &stats);
      wsss::write_file_atomic(args.output, boxes.dump() + "\n");
      wsss::log::info(stats.boxes, " box(es) in ", stats.images, " of ", m.records.size(), " image(s); wrote ",
                      args.output);
      return 0;
    };
  });
}

}  // namespace wsss_data
