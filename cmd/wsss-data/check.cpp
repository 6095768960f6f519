#include <cstdio>

#include "subcommands.hpp"
#include "wsss/core/log.hpp"
#include "wsss/data/check.hpp"

namespace wsss_data {

void add_check(CLI::App& app, CheckArgs& args, wsss::cli::Action& action) {
  auto* sub = app.add_subcommand("check", "Validate a manifest and report every problem");
  sub->add_option("MANIFEST", args.manifest, "The manifest to check")->required();
  sub->add_flag("--decode", args.check.decode,
                "Fully decode images, label PNGs and score maps (corrupt files, mask values above K)");
  sub->add_flag("--masks-only", args.check.masks_only,
                "With --decode: decode the label PNGs but only the headers of the images");
  sub->add_flag("--allow-no-image", args.check.allow_no_image,
                "Accept records without an \"image\" field (evaluation-only manifests, e.g. from "
                "wsss-data synth --masks-only)");
  sub->add_flag("--allow-empty", args.check.allow_empty, "Accept an empty manifest")->group("Common");
  wsss::cli::add_common_options(*sub, args.common, wsss::cli::kClasses);
  wsss::cli::describe(*sub,
                      "Checks a manifest: JSON syntax, ids (present, unique), an \"image\" in every record, that every "
                      "path field names an "
                      "existing file, labels within 1..K, label PNGs the size of their image (from the file "
                      "headers). --decode also decodes every file, reporting corrupt ones and mask values above K "
                      "that are not the ignore id. Each problem is printed as FILE:LINE: message on stderr; exit 0 "
                      "when clean, 1 otherwise.",
                      "wsss-data check exp/voc_train/manifest.jsonl --decode -j 8", "docs/data-import.md");
  sub->callback([&action, sub, &args] {
    action = [sub, &args] {
      wsss::cli::apply_common_options(*sub, args.common);
      args.check.classes = args.common.classes;
      args.check.threads = args.common.resolved_threads();
      wsss::CheckReport report = wsss::check_manifest(args.manifest, args.check);
      for (const auto& p : report.problems) std::fprintf(stderr, "%s\n", report.format(p).c_str());
      if (!report.ok()) {
        wsss::log::error(report.problems.size(), " problem(s) in ", args.manifest);
        return 1;
      }
      std::printf("OK %s: %zu records, %zu files checked, %zu decoded%s\n", args.manifest.c_str(), report.records,
                  report.files, report.decoded,
                  report.num_foreground < 0 ? " (no vocabulary: label ranges not checked)" : "");
      return 0;
    };
  });
}

}  // namespace wsss_data
