// wsss-classify: train the multi-label CAM classifier (IRN's recipe by default)
// and predict image-level class scores.
#include <cmath>
#include <cstdio>
#include <iostream>

#include "tool.hpp"
#include "wsss/cam/classifier.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/progress.hpp"
#include "wsss/models/threads.hpp"

using namespace wsss;

namespace {

struct TrainArgs {
  std::string manifest, out_dir, val, resize_long = "320:640";
  cam::ClassifierTrainOptions options;
};
struct PredictArgs {
  std::string manifest, out_dir, model;
  float threshold = 0.5f;
  bool set_labels = false;
};

void print_validation(const nlohmann::json& v) {
  std::printf("%-20s %8s %8s\n", "class", "AP", "F1");
  for (const auto& c : v["per_class"]) {
    auto num = [](const nlohmann::json& x) {
      char buf[16];
      if (x.is_null()) return std::string("-");
      std::snprintf(buf, sizeof buf, "%.2f", x.get<double>() * 100);
      return std::string(buf);
    };
    std::printf("%-20s %8s %8s\n", c["class"].get<std::string>().c_str(), num(c["ap"]).c_str(), num(c["f1"]).c_str());
  }
  std::printf("mAP %.2f  micro-F1 %.2f  macro-F1 %.2f  (threshold %.2f)\n", v["mAP"].get<double>() * 100,
              v["micro_f1"].get<double>() * 100, v["macro_f1"].get<double>() * 100, v["threshold"].get<double>());
}

}  // namespace

int main(int argc, char** argv) {
  cli::ToolInfo info{"wsss-classify",
                     "Trains the multi-label classifier whose class activation maps seed the pipeline "
                     "(IRN's recipe by default) and predicts image-level class scores.",
                     "wsss-classify train --init resnet50.safetensors data/train.jsonl exp/cls",
                     "wsss-cam(1), docs/classify.md"};
  static cli::CommonOptions common;
  static TrainArgs train;
  static PredictArgs predict;
  return cli::run_tool(argc, argv, info, [](CLI::App& app, cli::Action& action) {
    app.require_subcommand(1);

    auto* t = app.add_subcommand("train", "Train the classifier on a manifest's images and labels");
    cli::describe(*t, "Trains the CAM classifier. Writes OUT_DIR/model.safetensors, a checkpoint every epoch, "
                      "classes.json and meta.json.",
                  "wsss-classify train -j 8 --init resnet50.safetensors train.jsonl exp/cls",
                  "wsss-classify predict, wsss-cam(1)");
    auto& o = train.options;
    t->add_option("manifest", train.manifest, "Training manifest (needs image and labels)")->required();
    t->add_option("out_dir", train.out_dir, "Output directory")->required();
    t->add_option("--val", train.val, "Validation manifest: per-class AP, mAP and F1 after training");
    t->add_option("--arch", o.arch, "resnet18, resnet34, resnet50 or resnet101");
    t->add_option("--width", o.base_width, "Base width (64 = torchvision; smaller for tests and demos)");
    t->add_option("--init", o.init, "ImageNet backbone weights (safetensors with torchvision names)");
    t->add_option("--frozen-stages", o.frozen_stages, "Leading stages that get no gradient (IRN 3: stem..layer2; ReCAM 1)");
    t->add_flag("!--train-bn", o.freeze_bn, "Train BatchNorm (default: frozen, running statistics)");
    t->add_option("--resize-long", train.resize_long, "Random long side LO:HI");
    t->add_option("--crop", o.crop, "Random crop size (padded with 0 after normalisation)");
    t->add_option("--epochs", o.epochs, "Epochs");
    t->add_option("--batch", o.batch, "Batch size");
    t->add_option("--lr", o.lr, "Backbone learning rate (poly decay)")->check(wsss::cli::positive());
    t->add_option("--classifier-lr-mult", o.classifier_lr_mult, "Classifier learning-rate multiplier")->check(wsss::cli::at_least(0));
    t->add_option("--weight-decay", o.weight_decay, "Weight decay")->check(wsss::cli::at_least(0));
    t->add_option("--momentum", o.momentum, "SGD momentum (IRN's effective value is 1e-4; see docs/classify.md)")->check(wsss::cli::range(0, 1));
    t->add_option("--poly-power", o.poly_power, "Poly learning-rate decay power")->check(wsss::cli::at_least(0));
    t->add_option("--loader-threads", o.loader_threads, "Background image-loading threads");
    t->add_option("--threshold", o.threshold, "Score threshold for F1 on --val")->check(wsss::cli::range(0, 1));
    t->add_flag("--resume", o.resume, "Continue from OUT_DIR/checkpoint.* (same options as the first run)");
    t->add_option("--stop-after", o.stop_after,
                  "Stop after N epochs of the --epochs schedule, keeping the checkpoint for --resume (0 = all)");
    cli::add_common_options(*t, common, cli::kSeed | cli::kDevice | cli::kClasses | cli::kOverwrite);
    t->callback([&action, t] {
      action = [t] {
        cli::apply_common_options(*t, common);
        models::set_torch_threads(common.resolved_threads());
        auto& o = train.options;
        o.seed = common.seed;
        o.device = common.device;
        o.overwrite = common.overwrite;
        if (std::sscanf(train.resize_long.c_str(), "%d:%d", &o.resize_min, &o.resize_max) != 2)
          throw UsageError("--resize-long " + train.resize_long + ": expected LO:HI");
        Manifest m = read_manifest(train.manifest);
        Vocabulary vocab = vocabulary_for(m.dir, common.classes);
        std::optional<Manifest> val;
        if (!train.val.empty()) val = read_manifest(train.val);
        cam::TrainSummary s = cam::train_classifier(m, vocab, train.out_dir, o, val ? &*val : nullptr);
        if (s.stopped) {
          log::info("trained ", s.epochs_run, " epoch(s) (stopped early, no model yet); done 0, skipped 0, failed 0 of 1 in ",
                    format_duration(s.seconds));
          return 0;
        }
        if (val) print_validation(s.validation);
        log::info("trained ", s.epochs_run, " epoch(s), final loss ", s.final_loss, "; done 1, skipped 0, failed 0 of 1 in ",
                  format_duration(s.seconds));
        return 0;
      };
    });

    auto* p = app.add_subcommand("predict", "Predict image-level class scores into the manifest");
    cli::describe(*p, "Adds \"scores\" (probabilities for ids 1..K) and \"pred_labels\" (ids at or above the "
                      "threshold) to every record; --set-labels also fills \"labels\" where absent.",
                  "wsss-classify predict --model exp/cls/model.safetensors unlabelled.jsonl exp/pred",
                  "wsss-classify train, wsss-cam(1)");
    p->add_option("manifest", predict.manifest, "Input manifest")->required();
    p->add_option("out_dir", predict.out_dir, "Output directory")->required();
    p->add_option("--model", predict.model, "Classifier from wsss-classify train")->required();
    p->add_option("--threshold", predict.threshold, "Score threshold for pred_labels")->check(wsss::cli::range(0, 1));
    p->add_flag("--set-labels", predict.set_labels, "Also set \"labels\" from the prediction where absent");
    cli::add_common_options(*p, common, cli::kPerImage | cli::kDevice | cli::kClasses);
    p->callback([&action, p] {
      action = [p] {
        cli::apply_common_options(*p, common);
        // One single-threaded network per worker keeps the scores identical for any -j.
        models::set_torch_threads(1);
        StageOptions stage = common.stage_options(predict.out_dir);
        Manifest m = read_manifest(predict.manifest, {common.allow_empty});
        Vocabulary vocab = vocabulary_for(m.dir, common.classes);
        auto processor = cam::make_predict_processor(predict.model, vocab, m.path, predict.threshold,
                                                     predict.set_labels, common.device);
        StageSummary s = run_stage(*processor, m, stage, &vocab);
        log::info(summary_line(s));
        return s.ok ? 0 : 1;
      };
    });
  });
}
