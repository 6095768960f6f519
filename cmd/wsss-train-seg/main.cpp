// wsss-train-seg: train DeepLab-v2 on pseudo (or ground-truth) masks with the
// WSSS protocol, and predict segmentation masks with it.
#include <cstdio>
#include <optional>

#include "tool.hpp"
#include "wsss/core/parse.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/progress.hpp"
#include "wsss/models/resnet.hpp"
#include "wsss/models/threads.hpp"
#include "wsss/seg/train_seg.hpp"

using namespace wsss;

namespace {

struct TrainArgs {
  std::string manifest, out_dir, val, scales = "0.5,0.75,1.0,1.25,1.5", msc_scales = "0.5,0.75";
  seg::SegTrainOptions options;
};
struct PredictArgs {
  std::string manifest, out_dir, model, scales = "1.0,0.5,0.75";
  seg::SegPredictOptions options;
};

void print_validation(const nlohmann::json& v) {
  std::printf("%-20s %8s\n", "class", "IoU");
  for (const auto& c : v["per_class"]) {
    char iou[16] = "-";
    if (!c["iou"].is_null()) std::snprintf(iou, sizeof iou, "%.2f", c["iou"].get<double>() * 100);
    std::printf("%-20s %8s\n", c["class"].get<std::string>().c_str(), iou);
  }
  if (v["miou"].is_null()) std::printf("mIoU n/a (no class present)\n");
  else
    std::printf("mIoU %.2f over %d classes (iteration %d, single scale)\n", v["miou"].get<double>() * 100,
                v["valid_classes"].get<int>(), v["iteration"].get<int>());
}

}  // namespace

int main(int argc, char** argv) {
  cli::ToolInfo info{"wsss-train-seg",
                     "Trains DeepLab-v2 (dilated ResNet, ASPP 6/12/18/24, output stride 8) on the masks of a "
                     "manifest with the WSSS protocol of deeplab-pytorch, and predicts segmentation masks.",
                     "wsss-train-seg train --init resnet101.safetensors pseudo/manifest.jsonl exp/seg",
                     "wsss-pseudo(1), wsss-miou(1), docs/segmentation.md"};
  static cli::CommonOptions common;
  static TrainArgs train;
  static PredictArgs predict;
  return cli::run_tool(argc, argv, info, [](CLI::App& app, cli::Action& action) {
    app.require_subcommand(1);

    auto* t = app.add_subcommand("train", "Train DeepLab-v2 on a manifest's images and masks");
    cli::describe(*t, "Trains DeepLab-v2 on the masks in --field (pseudo masks by default). Writes "
                      "OUT_DIR/model.safetensors, checkpoints every --save-every iterations, classes.json and "
                      "meta.json.",
                  "wsss-train-seg train -j 8 --init resnet101.safetensors --val val.jsonl pseudo/manifest.jsonl exp/seg",
                  "wsss-train-seg predict, wsss-pseudo(1)");
    auto& o = train.options;
    t->add_option("manifest", train.manifest, "Training manifest (needs image and the --field mask)")->required();
    t->add_option("out_dir", train.out_dir, "Output directory")->required();
    t->add_option("--field", o.field, "Mask field to train on (mask = ground truth, the fully supervised bound)")
        ->capture_default_str();
    t->add_option("--val", train.val, "Validation manifest: single-scale mIoU every --val-every iterations and at the end");
    t->add_option("--val-field", o.val_field, "Ground-truth mask field of --val")->capture_default_str();
    t->add_option("--val-every", o.val_every, "Validate every N iterations (0 = only at the end)")->capture_default_str();
    t->add_option("--arch", o.arch, "resnet18, resnet34, resnet50 or resnet101")->capture_default_str();
    t->add_option("--width", o.base_width, "Base width (64 = torchvision; smaller for tests and demos)")->capture_default_str();
    t->add_option("--init", o.init, "ImageNet backbone weights (safetensors with torchvision names)");
    t->add_option("--aspp-rates", o.aspp_rates, "ASPP dilation rates, comma-separated")->delimiter(',')->capture_default_str();
    t->add_flag("--msc", o.msc, "Multi-scale inputs: loss on logits at 1.0, each --msc-scales and their max");
    t->add_option("--msc-scales", train.msc_scales, "Extra input scales of --msc")->capture_default_str();
    t->add_option("--scales", train.scales, "Random rescaling choices of the augmentation")->capture_default_str();
    t->add_option("--crop", o.crop, "Random crop size (padded with the mean and ignore)")->capture_default_str();
    t->add_flag("!--no-flip", o.flip, "No random horizontal flip");
    t->add_option("--iters", o.iters, "Iterations (optimiser steps)")->capture_default_str();
    t->add_option("--stop-after", o.stop_after,
                  "Stop after N iterations of the --iters schedule, keeping the checkpoint for --resume (0 = all)")
        ->capture_default_str();
    t->add_option("--batch", o.batch, "Images per forward pass")->capture_default_str();
    t->add_option("--iter-size", o.iter_size, "Forward passes accumulated per step (effective batch = batch x iter-size)")
        ->capture_default_str();
    t->add_option("--lr", o.lr, "Backbone learning rate (poly decay)")->capture_default_str()->check(wsss::cli::positive());
    t->add_option("--momentum", o.momentum, "SGD momentum")->capture_default_str()->check(wsss::cli::range(0, 1));
    t->add_option("--weight-decay", o.weight_decay, "Weight decay (none on the ASPP biases)")->capture_default_str()->check(wsss::cli::at_least(0));
    t->add_option("--poly-power", o.poly_power, "Poly learning-rate decay power")->capture_default_str()->check(wsss::cli::at_least(0));
    t->add_option("--lr-decay-every", o.lr_decay_every, "Update the poly learning rate every N iterations")
        ->capture_default_str();
    t->add_option("--aspp-weight-lr-mult", o.aspp_weight_lr_mult, "Learning-rate multiplier of the ASPP weights")
        ->capture_default_str()->check(wsss::cli::at_least(0));
    t->add_option("--aspp-bias-lr-mult", o.aspp_bias_lr_mult, "Learning-rate multiplier of the ASPP biases")
        ->capture_default_str()->check(wsss::cli::at_least(0));
    t->add_option("--loss", o.loss, "ce (cross-entropy) or balanced (mean of background and foreground CE)")
        ->check(CLI::IsMember({"ce", "balanced"}))->capture_default_str();
    t->add_option("--save-every", o.save_every, "Checkpoint every N iterations")->capture_default_str();
    t->add_option("--loader-threads", o.loader_threads, "Background image-loading threads")->capture_default_str();
    t->add_flag("--resume", o.resume, "Continue from OUT_DIR/checkpoint.* (same options as the first run)");
    cli::add_common_options(*t, common, cli::kSeed | cli::kDevice | cli::kClasses | cli::kOverwrite);
    t->callback([&action, t] {
      action = [t] {
        cli::apply_common_options(*t, common);
        models::set_torch_threads(common.resolved_threads());
        auto& o = train.options;
        o.seed = common.seed;
        o.device = common.device;
        o.overwrite = common.overwrite;
        o.scales = parse_scales(train.scales, "--scales");
        o.msc_scales = parse_scales(train.msc_scales, "--msc-scales");
        o.validate();
        Manifest m = read_manifest(train.manifest);
        Vocabulary vocab = vocabulary_for(m.dir, common.classes);
        std::optional<Manifest> val;
        if (!train.val.empty()) val = read_manifest(train.val);
        seg::SegTrainSummary s = seg::train_deeplab(m, vocab, train.out_dir, o, val ? &*val : nullptr);
        char rate[32];
        std::snprintf(rate, sizeof rate, "%.3g it/s", s.iterations_per_second);
        if (s.stopped) {
          log::info("trained ", s.iterations_run, " iteration(s) at ", rate,
                    " (stopped early, no model yet); done 0, skipped 0, failed 0 of 1 in ", format_duration(s.seconds));
          return 0;
        }
        if (val && !s.validation.empty()) print_validation(s.validation.back());
        log::info("trained ", s.iterations_run, " iteration(s) at ", rate, ", final loss ", s.final_loss,
                  "; done 1, skipped 0, failed 0 of 1 in ", format_duration(s.seconds));
        return 0;
      };
    });

    auto* p = app.add_subcommand("predict", "Predict segmentation masks into OUT_DIR/pred");
    cli::describe(*p, "Writes OUT_DIR/pred/<id>.png (palette PNG of class ids) and adds \"pred\" to every record: "
                      "multi-scale logits fused by max (deeplab-pytorch's MSC test), optionally averaged with the "
                      "flipped image, softmax, optional dense CRF, argmax.",
                  "wsss-train-seg predict --model exp/seg/model.safetensors --crf val.jsonl exp/pred",
                  "wsss-train-seg train, wsss-miou(1) --pred pred");
    p->add_option("manifest", predict.manifest, "Input manifest (needs image)")->required();
    p->add_option("out_dir", predict.out_dir, "Output directory")->required();
    p->add_option("--model", predict.model, "DeepLab-v2 model from wsss-train-seg train")->required();
    p->add_option("--scales", predict.scales, "Input scales; the first sets the grid the logits are fused on")
        ->capture_default_str();
    p->add_option("--fuse", predict.options.fuse, "How scales are fused: max or mean")
        ->check(CLI::IsMember({"max", "mean"}))->capture_default_str();
    p->add_flag("--flip", predict.options.flip, "Average the logits with those of the flipped image");
    p->add_flag("--crf", predict.options.crf, "Dense CRF (deeplab preset) on the softmax before the argmax");
    cli::add_common_options(*p, common, cli::kPerImage | cli::kDevice | cli::kClasses);
    p->callback([&action, p] {
      action = [p] {
        cli::apply_common_options(*p, common);
        // One single-threaded network per worker keeps the masks identical for any -j.
        models::set_torch_threads(1);
        predict.options.scales = parse_scales(predict.scales, "--scales");
        predict.options.device = common.device;
        StageOptions stage = common.stage_options(predict.out_dir);
        Manifest m = read_manifest(predict.manifest, {common.allow_empty});
        Vocabulary vocab = vocabulary_for(m.dir, common.classes);
        auto processor = seg::make_seg_predict_processor(predict.model, vocab, m.path, predict.out_dir, predict.options);
        StageSummary s = run_stage(*processor, m, stage, &vocab);
        log::info(summary_line(s));
        return s.ok ? 0 : 1;
      };
    });
  });
}
