#include "training.hpp"

#include <cstdio>
#include <optional>

#include "validators.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/progress.hpp"

namespace wsss::cli {

void add_train_arguments(CLI::App& app, TrainArgs& args, train::TrainOptions& o, const std::string& manifest_help,
                         const std::string& val_help, const TrainFlagsHelp& help) {
  app.add_option("manifest", args.manifest, manifest_help)->required();
  app.add_option("out_dir", args.out_dir, "Output directory")->required();
  if (!val_help.empty()) app.add_option("--val", args.val, val_help);
  args.unit = help.unit;
  const std::string group = "Training";
  app.add_option("--arch", o.arch, "resnet18, resnet34, resnet50 or resnet101")->group(group);
  app.add_option("--width", o.width, help.width)->group(group);
  app.add_option("--init", o.init, help.init)->group(group);
  app.add_option("--lr", o.lr, help.lr)->check(positive())->group(group);
  app.add_option("--momentum", o.momentum, "SGD momentum")->check(range(0, 1))->group(group);
  app.add_option("--weight-decay", o.weight_decay, "Weight decay")->check(at_least(0))->group(group);
  app.add_option("--poly-power", o.poly_power, "Poly learning-rate decay power")->check(at_least(0))->group(group);
  app.add_option("--batch", o.batch, "Batch size")->check(at_least(1))->group(group);
  app.add_option("--crop", o.crop, "Random crop size")->check(at_least(16))->group(group);
  app.add_option("--loader-threads", o.loader_threads, "Background image-loading threads")
      ->check(at_least(1))->group(group);
  app.add_flag("--resume", o.resume, "Continue from OUT_DIR/checkpoint.* (same options as the first run)")
      ->group(group);
  app.add_option("--stop-after", o.stop_after,
                 "Stop after N " + help.unit + " of the schedule, keeping the checkpoint for --resume (0 = all)")
      ->check(at_least(0))->group(group);
  app.add_option("--save-every", o.save_every, "Write the checkpoint every N " + help.unit + " and after the last")
      ->check(at_least(1))->group(group);
  add_common_options(app, args.common, kSeed | kDevice | kClasses | kOverwrite);
}

int run_training(const CLI::App& app, TrainArgs& args, train::TrainOptions& o, const TrainFunction& train,
                 const std::function<void(const train::TrainResult&)>& report) {
  apply_common_options(app, args.common);
  o.seed = args.common.seed;
  o.device = args.common.device;
  o.overwrite = args.common.overwrite;
  o.threads = args.common.resolved_threads();
  o.provenance = args.common.provenance;
  Manifest manifest = read_manifest(args.manifest);
  Vocabulary vocab = vocabulary_for(manifest.dir, args.common.classes);
  std::optional<Manifest> val;
  if (!args.val.empty()) val = read_manifest(args.val);
  train::TrainResult result = train(manifest, vocab, val ? &*val : nullptr);
  if (report && !result.stopped) report(result);
  // "trained 3 epoch(s) at 1.2 it/s, final loss 0.1234; done 1, skipped 0, failed 0 of 1 in 5.0s"
  const std::string unit = args.unit.substr(0, args.unit.size() - 1) + "(s)";
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.3g it/s", result.steps_per_second);
  if (result.stopped)
    log::info("trained ", result.units_run, " ", unit, " at ", rate,
              " (stopped early, no model yet); done 0, skipped 0, failed 0 of 1 in ", format_duration(result.seconds));
  else
    log::info("trained ", result.units_run, " ", unit, " at ", rate, ", final loss ", result.final_loss,
              "; done 1, skipped 0, failed 0 of 1 in ", format_duration(result.seconds));
  return 0;
}

}  // namespace wsss::cli
