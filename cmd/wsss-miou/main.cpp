// wsss-miou: mIoU of a manifest's predictions against its ground truth.
#include <iostream>

#include "tool.hpp"
#include "wsss/core/log.hpp"
#include "wsss/eval/groups.hpp"
#include "wsss/eval/miou.hpp"
#include "wsss/io/atomic_file.hpp"

using namespace wsss;

namespace {

struct Args {
  std::vector<std::string> inputs;
  std::string json, groups = "auto";
  bool merge = false;
  MiouOptions options;
  cli::CommonOptions common;
};

void setup(CLI::App& app, Args& a, cli::Action& action) {
  auto& o = a.options;
  app.add_option("MANIFEST", a.inputs, "The manifest to evaluate (or, with --merge, wsss-miou JSON results)")
      ->required();
  app.add_flag("--merge", a.merge, "Sum the confusion matrices of per-shard --json results");
  app.add_option("--pred", o.pred_field, "Prediction field: label PNGs or .npy score maps");
  app.add_option("--gt", o.gt_field, "Ground-truth field: label PNGs");
  app.add_option("--pred-ignore", "A predicted 255: 'wrong' (a miss for the GT class, the default) or 'background' "
                                  "(class 0, as IRN)")
      ->check(CLI::IsMember({"wrong", "background"}))
      ->each([&o](const std::string& text) { o.pred_ignore = parse_pred_ignore(text); });
  app.add_option("--missing",
                 "A record without a prediction (field or file): strict (error, the default), skip (leave the image "
                 "out), empty (score it as all background)")
      ->check(CLI::IsMember({"strict", "skip", "empty"}))
      ->each([&o](const std::string& text) { o.missing = parse_missing_prediction(text); });
  auto* thr = app.add_option("--bg-threshold",
                             "Score maps: a pixel is its max channel's class if that max > T, else background "
                             "(default 0.15)")
                  ->type_name("FLOAT")
                  ->check(cli::range(0, 1))
                  ->each([&o](const std::string& text) {
                    o.background = {BackgroundRule::Threshold, std::stod(text)};
                  });
  auto* sweep = app.add_option("--bg-sweep", "Score maps: evaluate every threshold FROM:TO:STEP in one pass, "
                                             "e.g. 0.05:0.95:0.01; a best on an edge other than 0 or 1 is "
                                             "swept again up to that bound (see --sweep-edge)")
                    ->each([&o](const std::string& text) {
                      o.sweep = parse_sweep(text);
                      o.sweep_text = text;
                    });
  auto* power = app.add_option("--bg-power", "Score maps: background score (1 - max)^A instead of a constant "
                                             "(PSA, CLIP-ES)")
                    ->type_name("FLOAT")
                    ->check(cli::positive())
                    ->each([&o](const std::string& text) { o.background = {BackgroundRule::Power, std::stod(text)}; });
  app.add_flag("--drop-bg-channel", o.drop_bg_channel,
               "Score maps with a background channel (classes starting with 0, e.g. AMN's): drop it and decide "
               "background from the class channels with --bg-threshold/--bg-sweep/--bg-power (AMN's eval_amn_cam)");
  app.add_option("--sweep-edge", "A sweep's best on an edge of its range: widen (sweep again up to 0 or 1) or "
                                 "warn (default widen)")
      ->check(CLI::IsMember({"widen", "warn"}))
      ->needs(sweep)
      ->each([&o](const std::string& text) { o.widen_sweep_at_edge = text == "widen"; });
  thr->excludes(sweep)->excludes(power);
  sweep->excludes(power);
  app.add_option("--json", a.json, "Also write the full result (with the confusion matrix) to this file");
  app.add_option("--groups", a.groups,
                 "Per-group IoU: voc-table2 (the survey's Table 2: person, animals, transportation, objects/items), "
                 "none, or auto (voc-table2 for the VOC classes)")
      ->check(CLI::IsMember({"auto", "none", "voc-table2"}));
  cli::add_common_options(app, a.common, cli::kPerImage | cli::kClasses);

  action = [&app, &a] {
    cli::apply_common_options(app, a.common);
    if (!a.json.empty()) check_can_write(a.json, a.common.overwrite);
    MiouResult result;
    if (a.merge) {
      result = merge_miou_files({a.inputs.begin(), a.inputs.end()});
      log::info("merged ", a.inputs.size(), " result(s)");
    } else {
      if (a.inputs.size() != 1) throw UsageError("expected one MANIFEST (give several result files only with --merge)");
      a.options.shard = Shard::parse(a.common.shard);
      a.options.threads = a.common.resolved_threads();
      Manifest manifest = read_manifest(a.inputs[0], {a.common.allow_empty});
      result = evaluate_manifest(manifest, vocabulary_for(manifest.dir, a.common.classes), a.options);
    }
    result.groups = class_groups(a.groups, result.classes);
    std::cout << format_miou_report(result);
    if (!a.json.empty()) {
      write_file_atomic(a.json, format_miou_json(result));
      log::info("wrote ", a.json);
    }
    return 0;
  };
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_tool<Args>(
      argc, argv,
      {"wsss-miou",
       "Scores a manifest's predictions against its ground truth: per-class IoU, precision, recall, IRN's FP/FN "
       "ratios and the mIoU, from one confusion matrix over the vocabulary's classes (GT 255 ignored). Predictions "
       "are label PNGs, or .npy score maps turned into labels with a background threshold (or swept over many "
       "thresholds in one pass). Per-shard --json results merge exactly with --merge.",
       "wsss-miou exp/eval/pairs.jsonl --pred pred --json exp/eval/miou.json",
       "wsss-data join, docs/evaluation.md"},
      setup);
}
