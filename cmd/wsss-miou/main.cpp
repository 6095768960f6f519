// wsss-miou: mIoU of predictions (masks or score maps) against GT masks, and
// the merge of per-shard results. The logic is in lib/eval (miou.hpp).
#include <iostream>

#include "tool.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/run_context.hpp"
#include "wsss/eval/miou.hpp"
#include "wsss/io/atomic_file.hpp"

using namespace wsss;

int main(int argc, char** argv) {
  cli::ToolInfo info{"wsss-miou",
                     "Scores a manifest's predictions against its ground truth: per-class IoU, precision, recall, "
                     "IRN's FP/FN ratios and the mIoU, from one confusion matrix over the vocabulary's classes "
                     "(GT 255 ignored). Predictions are label PNGs, or .npy score maps turned into labels with a "
                     "background threshold (or swept over many thresholds in one pass). Per-shard --json results "
                     "merge exactly with --merge.",
                     "wsss-miou exp/eval/pairs.jsonl --pred pred --json exp/eval/miou.json",
                     "wsss-data join, docs/evaluation.md"};
  struct Args {
    std::vector<std::string> inputs;
    std::string pred = "pred", gt = "mask", pred_ignore = "wrong", missing = "strict", json, sweep, groups = "auto";
    double threshold = 0.15, power = 0;
    bool merge = false;
    cli::CommonOptions common;
  } args;
  return cli::run_tool(argc, argv, info, [&args](CLI::App& app, cli::Action& action) {
    app.add_option("MANIFEST", args.inputs, "The manifest to evaluate (or, with --merge, wsss-miou JSON results)")
        ->required();
    app.add_flag("--merge", args.merge, "Sum the confusion matrices of per-shard --json results");
    app.add_option("--pred", args.pred, "Prediction field: label PNGs or .npy score maps")->capture_default_str();
    app.add_option("--gt", args.gt, "Ground-truth field: label PNGs")->capture_default_str();
    app.add_option("--pred-ignore", args.pred_ignore,
                   "A predicted 255: 'wrong' (a miss for the GT class) or 'background' (class 0, as IRN)")
        ->check(CLI::IsMember({"wrong", "background"}))->capture_default_str();
    app.add_option("--missing", args.missing,
                   "A record without a prediction (field or file): strict (error), skip (leave the image out), "
                   "empty (score it as all background)")
        ->check(CLI::IsMember({"strict", "skip", "empty"}))->capture_default_str();
    auto* thr = app.add_option("--bg-threshold", args.threshold,
                               "Score maps: a pixel is its max channel's class if that max > T, else background")
                    ->capture_default_str()->check(wsss::cli::range(0, 1));
    auto* sweep = app.add_option("--bg-sweep", args.sweep,
                                 "Score maps: evaluate every threshold FROM:TO:STEP in one pass, e.g. 0.05:0.60:0.01");
    auto* power = app.add_option("--bg-power", args.power,
                                 "Score maps: background score (1 - max)^A instead of a constant (PSA, CLIP-ES)")
                      ->check(cli::positive());
    thr->excludes(sweep)->excludes(power);
    sweep->excludes(power);
    app.add_option("--json", args.json, "Also write the full result (with the confusion matrix) to this file");
    app.add_option("--groups", args.groups,
                   "Per-group IoU: voc-table2 (the survey's Table 2: person, animals, transportation, "
                   "objects/items), none, or auto (voc-table2 for the VOC classes)")
        ->check(CLI::IsMember({"auto", "none", "voc-table2"}))->capture_default_str();
    cli::add_common_options(app, args.common, cli::kPerImage | cli::kClasses);

    action = [&app, &args, sweep, power] {
      cli::apply_common_options(app, args.common);
      if (!args.json.empty()) check_can_write(args.json, args.common.overwrite);
      MiouResult result;
      if (args.merge) {
        std::vector<MiouResult> parts;
        std::vector<fs::path> files;
        for (const auto& f : args.inputs) {
          parts.push_back(read_miou_json(f));
          files.push_back(f);
        }
        result = merge_miou(parts, files);
        log::info("merged ", parts.size(), " result(s)");
      } else {
        if (args.inputs.size() != 1)
          throw UsageError("expected one MANIFEST (give several result files only with --merge)");
        MiouOptions o;
        o.pred_field = args.pred;
        o.gt_field = args.gt;
        o.pred_ignore = args.pred_ignore == "background" ? PredIgnore::Background : PredIgnore::Wrong;
        o.missing = args.missing == "skip"    ? MissingPrediction::Skip
                    : args.missing == "empty" ? MissingPrediction::Empty
                                              : MissingPrediction::Strict;
        if (power->count() > 0) o.background = {BackgroundRule::Power, args.power};
        else o.background = {BackgroundRule::Threshold, args.threshold};
        if (sweep->count() > 0) {
          o.sweep = parse_sweep(args.sweep);
          o.sweep_text = args.sweep;
        }
        o.shard = Shard::parse(args.common.shard);
        o.threads = args.common.resolved_threads();
        ManifestReadOptions read_options;
        read_options.allow_empty = args.common.allow_empty;
        Manifest manifest = read_manifest(args.inputs[0], read_options);
        Vocabulary vocabulary = vocabulary_for(manifest.dir, args.common.classes);
        result = evaluate_manifest(manifest, vocabulary, o);
      }
      result.groups = class_groups(args.groups, result.classes);
      std::cout << format_miou_report(result);
      if (!args.json.empty()) {
        write_file_atomic(args.json, format_miou_json(result));
        log::info("wrote ", args.json);
      }
      return 0;
    };
  });
}
