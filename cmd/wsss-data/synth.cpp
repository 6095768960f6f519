
#include "subcommands.hpp"
#include "wsss/core/log.hpp"
#include "wsss/data/synth.hpp"

namespace wsss_data {

void add_synth(CLI::App& app, SynthArgs& args, wsss::cli::Action& action) {
  auto* sub = app.add_subcommand("synth", "Generate the built-in synthetic data set (images, GT masks, labels)");
  sub->add_option("OUT_DIR", args.out_dir, "Output: images/, masks/, manifest.jsonl, classes.json, meta.json")
      ->required();
  sub->add_option("--count", args.synth.count, "Number of images")->capture_default_str()
      ->check(wsss::cli::at_least(1));
  sub->add_option("--size", args.size, "Image size WIDTHxHEIGHT")->capture_default_str();
  sub->add_option("--prefix", args.synth.prefix, "Id prefix (ids are PREFIX000000, PREFIX000001, ...)")
      ->capture_default_str();
  sub->add_flag("--masks-only", args.synth.masks_only,
                "Write only the GT masks and labels, no RGB images (for evaluation tests and benchmarks)");
  sub->add_flag("--saliency", args.synth.saliency,
                "Also write saliency/<id>.png, a noisy stand-in for a saliency model's output (field \"saliency\")");
  wsss::cli::add_common_options(*sub, args.common, wsss::cli::kPerImage | wsss::cli::kSeed);
  wsss::cli::describe(*sub,
                      "Generates a deterministic synthetic WSSS data set with the built-in 'synth' vocabulary: "
                      "1-3 textured objects (ball, box, kite, star, ring, train) per image on textured "
                      "backgrounds, with exact GT masks. Trains always stand on rails (background), the "
                      "co-occurrence that makes CAMs leak. Image i depends only on --seed and i.",
                      "wsss-data synth exp/synth --count 1000 --size 128x128 --seed 0",
                      "docs/synthetic-data.md");
  sub->callback([&action, sub, &args] {
    action = [sub, &args] {
      wsss::cli::apply_common_options(*sub, args.common);
      std::tie(args.synth.width, args.synth.height) = wsss::parse_size(args.size);
      auto summary = wsss::write_synth_dataset(args.synth, args.common.stage_options(args.out_dir));
      wsss::log::info(wsss::summary_line(summary));
      return summary.ok ? 0 : 1;
    };
  });
}

}  // namespace wsss_data
