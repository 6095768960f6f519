#include <cstdio>

#include "subcommands.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/data/merge.hpp"

namespace wsss_data {

void add_merge(CLI::App& app, MergeArgs& args, wsss::cli::Action& action) {
  auto* sub = app.add_subcommand("merge", "Merge the shard manifests of a stage run");
  sub->add_option("INPUT", args.inputs, "OUT_DIR (merges OUT_DIR/manifest.J-of-N.jsonl), or manifests with -o")
      ->required();
  sub->add_option("-o,--output", args.output, "Output manifest (for the list form)");
  auto* frac = sub->add_option("--min-success-frac", args.merge.min_success_frac,
                               "Least fraction of the input items (meta*.json \"items\".\"total\") that must be in "
                               "the merged manifest")
                   ->check(wsss::cli::range(0, 1))->capture_default_str();
  wsss::cli::add_common_options(*sub, args.common, wsss::cli::kOverwrite);
  wsss::cli::describe(*sub,
                      "Merges per-shard manifests (manifest.J-of-N.jsonl, written by a stage run with --shard J/N) "
                      "into manifest.jsonl: all N shards must be present, no id may appear twice, and the merged "
                      "records must be at least --min-success-frac of the input counts recorded in the shards' "
                      "meta.J-of-N.json. Written sorted and atomically.",
                      "wsss-data merge exp/cams   or   wsss-data merge a/manifest.jsonl b/manifest.jsonl -o all.jsonl",
                      "docs/data-import.md, docs/formats.md");
  sub->callback([&action, sub, &args, frac] {
    action = [sub, &args, frac] {
      wsss::cli::apply_common_options(*sub, args.common);
      args.merge.overwrite = args.common.overwrite;
      args.merge.provenance = args.common.provenance;
      args.merge.min_success_frac_given = frac->count() > 0;
      wsss::MergeSummary s;
      if (args.output.empty()) {
        if (args.inputs.size() != 1)
          throw wsss::UsageError("merge: give one OUT_DIR, or manifests with -o FILE");
        s = wsss::merge_stage_dir(args.inputs[0], args.merge);
      } else {
        std::vector<wsss::fs::path> files(args.inputs.begin(), args.inputs.end());
        s = wsss::merge_manifests(files, args.output, args.merge);
      }
      wsss::log::info("merged ", s.inputs, " manifest(s): ", s.records, " records",
                      s.expected ? " of " + std::to_string(s.expected) + " input items" : std::string(), " -> ",
                      s.output.string());
      return 0;
    };
  });
}

}  // namespace wsss_data
