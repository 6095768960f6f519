
#include "subcommands.hpp"
#include "wsss/core/log.hpp"
#include "wsss/data/coco.hpp"

namespace wsss_data {

void add_coco(CLI::App& app, CocoArgs& args, wsss::cli::Action& action) {
  auto* sub = app.add_subcommand("coco", "Import a COCO instances JSON: labels and painted semantic masks");
  sub->add_option("INSTANCES_JSON", args.instances, "COCO instances file (instances_train2014.json, ...)")
      ->required()->check(CLI::ExistingFile);
  sub->add_option("IMAGE_DIR", args.image_dir, "Folder holding the images' file_name entries")->required();
  sub->add_option("OUT_DIR", args.out_dir, "Output: manifest.jsonl, classes.json, meta.json, masks/")->required();
  wsss::cli::add_common_options(*sub, args.common, wsss::cli::kPerImage);
  wsss::cli::describe(*sub,
                      "Imports a COCO instances JSON (2014 or 2017). Image labels are the categories of all of an "
                      "image's annotations (crowd included); categories in id order map to 1..K. Semantic masks "
                      "OUT_DIR/masks/<12-digit id>.png paint the non-crowd instances in annotation order (later "
                      "ones win); crowd regions and everything else are 0.",
                      "wsss-data coco annotations/instances_train2014.json train2014 exp/coco_train -j 16",
                      "docs/data-import.md");
  sub->callback([&action, sub, &args] {
    action = [sub, &args] {
      wsss::cli::apply_common_options(*sub, args.common);
      auto summary = wsss::coco::import_coco(args.instances, args.image_dir,
                                             args.common.stage_options(args.out_dir));
      wsss::log::info(wsss::summary_line(summary));
      return summary.ok ? 0 : 1;
    };
  });
}

}  // namespace wsss_data
