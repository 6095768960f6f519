// wsss-train-seg: train DeepLab-v2 on pseudo (or ground-truth) masks with the
// WSSS protocol, and predict segmentation masks with it.
#include <cstdio>

#include "per_image.hpp"
#include "tool.hpp"
#include "training.hpp"
#include "wsss/core/parse.hpp"
#include "wsss/seg/predict.hpp"
#include "wsss/seg/train.hpp"

using namespace wsss;

namespace {

struct TrainArgs {
  cli::TrainArgs run;
  seg::SegTrainOptions options;
};
struct PredictArgs {
  cli::PerImageArgs stage;
  std::string model;
  seg::SegPredictOptions options;
};
struct Args {
  TrainArgs train;
  PredictArgs predict;
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

void add_train(CLI::App& app, TrainArgs& a, cli::Action& action) {
  auto* t = app.add_subcommand("train", "Train DeepLab-v2 on a manifest's images and masks");
  cli::describe(*t, "Trains DeepLab-v2 on the masks in --field (pseudo masks by default). Writes "
                    "OUT_DIR/model.safetensors, checkpoints every --save-every iterations, classes.json and "
                    "meta.json.",
                "wsss-train-seg train -j 8 --init resnet101.safetensors --val val.jsonl pseudo/manifest.jsonl exp/seg",
                "wsss-train-seg predict, wsss-pseudo(1)");
  auto& o = a.options;
  cli::TrainFlagsHelp help;
  help.unit = "iterations";
  help.lr = "Backbone learning rate (poly decay; the ASPP's is multiplied)";
  cli::add_train_arguments(*t, a.run, o, "Training manifest (needs image and the --field mask)",
                           "Validation manifest: single-scale mIoU every --val-every iterations and at the end", help);
  t->add_option("--field", o.field, "Mask field to train on (mask = ground truth, the fully supervised bound)");
  t->add_option("--val-field", o.val_field, "Ground-truth mask field of --val");
  t->add_option("--val-every", o.val_every, "Validate every N iterations (0 = only at the end)")->check(cli::at_least(0));
  t->add_option("--aspp-rates", o.aspp_rates, "ASPP dilation rates, comma-separated")->delimiter(',');
  t->add_flag("--msc", o.msc, "Multi-scale inputs: loss on logits at 1.0, each --msc-scales and their max");
  t->add_option("--msc-scales", "Extra input scales of --msc (default 0.5,0.75)")
      ->each([&o](const std::string& text) { o.msc_scales = parse_scales(text, "--msc-scales"); });
  t->add_option("--scales", "Random rescaling choices of the augmentation (default 0.5,0.75,1.0,1.25,1.5)")
      ->each([&o](const std::string& text) { o.scales = parse_scales(text, "--scales"); });
  t->add_flag("!--no-flip", o.flip, "No random horizontal flip");
  t->add_option("--iters", o.iters, "Iterations (optimiser steps)");
  t->add_option("--iter-size", o.iter_size, "Forward passes accumulated per step (effective batch = batch x iter-size)");
  t->add_option("--lr-decay-every", o.lr_decay_every, "Update the poly learning rate every N iterations");
  t->add_option("--aspp-weight-lr-mult", o.aspp_weight_lr_mult, "Learning-rate multiplier of the ASPP weights")
      ->check(cli::at_least(0));
  t->add_option("--aspp-bias-lr-mult", o.aspp_bias_lr_mult, "Learning-rate multiplier of the ASPP biases")
      ->check(cli::at_least(0));
  t->add_option("--loss", o.loss, "ce (cross-entropy) or balanced (mean of background and foreground CE)")
      ->check(CLI::IsMember({"ce", "balanced"}));
  t->callback([&action, t, &a] {
    action = [t, &a] {
      return cli::run_training(
          *t, a.run, a.options,
          [&a](const Manifest& train, const Vocabulary& vocab, const Manifest* val) {
            return seg::train_deeplab(train, vocab, a.run.out_dir, a.options, val);
          },
          [](const train::TrainResult& r) {
            if (!r.validations.empty()) print_validation(r.validations.back());
          });
    };
  });
}

void add_predict(CLI::App& app, PredictArgs& a, cli::Action& action) {
  auto* p = app.add_subcommand("predict", "Predict segmentation masks into OUT_DIR/pred");
  cli::describe(*p, "Writes OUT_DIR/pred/<id>.png (palette PNG of class ids) and adds \"pred\" to every record: "
                    "multi-scale logits fused by max (deeplab-pytorch's MSC test), optionally averaged with the "
                    "flipped image, softmax, optional dense CRF, argmax.",
                "wsss-train-seg predict --model exp/seg/model.safetensors --crf val.jsonl exp/pred",
                "wsss-train-seg train, wsss-miou(1) --pred pred");
  cli::add_per_image_arguments(*p, a.stage, "Input manifest (needs image)", cli::kDevice | cli::kClasses);
  p->add_option("--model", a.model, "DeepLab-v2 model from wsss-train-seg train")->required();
  p->add_option("--scales", "Input scales; the first sets the grid the logits are fused on (default 1.0,0.5,0.75)")
      ->each([&a](const std::string& text) { a.options.scales = parse_scales(text, "--scales"); });
  p->add_option("--fuse", a.options.fuse, "How scales are fused: max or mean")->check(CLI::IsMember({"max", "mean"}));
  p->add_flag("--flip", a.options.flip, "Average the logits with those of the flipped image");
  p->add_flag("--crf", a.options.crf, "Dense CRF (deeplab preset) on the softmax before the argmax");
  p->add_flag("--voc-server", a.options.voc_server,
              "Write the PNGs in the PASCAL VOC evaluation server's layout, OUT_DIR/" + std::string(seg::kVocServerDir) +
                  "/<id>.png, for the test split (archive with: tar -czf results.tgz -C OUT_DIR results)");
  p->callback([&action, p, &a] {
    action = [p, &a] {
      return cli::run_per_image(*p, a.stage, [&a](const cli::PerImageInputs& in) {
        a.options.device = in.args.common.device;
        return seg::make_seg_predict_processor(a.model, in.vocab, in.manifest.path, in.args.out_dir, a.options);
      });
    };
  });
}

void setup(CLI::App& app, Args& args, cli::Action& action) {
  app.require_subcommand(1);
  add_train(app, args.train, action);
  add_predict(app, args.predict, action);
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_tool<Args>(argc, argv,
                             {"wsss-train-seg",
                              "Trains DeepLab-v2 (dilated ResNet, ASPP 6/12/18/24, output stride 8) on the masks of a "
                              "manifest with the WSSS protocol of deeplab-pytorch, and predicts segmentation masks.",
                              "wsss-train-seg train --init resnet101.safetensors pseudo/manifest.jsonl exp/seg",
                              "wsss-pseudo(1), wsss-miou(1), docs/segmentation.md"},
                             setup);
}
