#include "per_image.hpp"

#include "wsss/core/log.hpp"

namespace wsss::cli {

void add_per_image_arguments(CLI::App& app, PerImageArgs& args, const std::string& manifest_help,
                             unsigned extra_groups) {
  app.add_option("manifest", args.manifest, manifest_help)->required();
  app.add_option("out_dir", args.out_dir, "Output directory")->required();
  add_common_options(app, args.common, kPerImage | extra_groups);
}

int run_per_image(const CLI::App& app, PerImageArgs& args, const ProcessorFactory& make,
                  const std::function<void()>& after) {
  PerImageHooks hooks;
  if (after) hooks.finish = [&after](const StageSummary&, const StageOptions&) { after(); };
  return run_per_image(app, args, make, hooks);
}

int run_per_image(const CLI::App& app, PerImageArgs& args, const ProcessorFactory& make, const PerImageHooks& hooks) {
  apply_common_options(app, args.common);
  StageOptions stage = args.common.stage_options(args.out_dir);
  Manifest manifest = read_manifest(args.manifest, {args.common.allow_empty});
  Vocabulary vocab = vocabulary_for(manifest.dir, args.common.classes);
  if (hooks.select) manifest = hooks.select(manifest, vocab, stage);
  std::unique_ptr<ItemProcessor> processor = make(PerImageInputs{manifest, vocab, args, stage});
  StageSummary summary = run_stage(*processor, manifest, stage, &vocab);
  if (hooks.finish) hooks.finish(summary, stage);
  log::info(summary_line(summary));
  return summary.ok ? 0 : 1;
}

}  // namespace wsss::cli
