// wsss-amn: AMN (CVPR'22), a label-conditioned segmentation network trained on
// IRN's IR labels whose softmax becomes the CAM: train, and compute its maps.
#include "per_image.hpp"
#include "tool.hpp"
#include "training.hpp"
#include "wsss/cam/amn.hpp"
#include "wsss/core/parse.hpp"

using namespace wsss;

namespace {

struct TrainArgs {
  cli::TrainArgs run;
  cam::AmnTrainOptions options;
};
struct CamArgs {
  cli::PerImageArgs stage;
  std::string model;
  cam::AmnStageOptions options;
};
struct Args {
  TrainArgs train;
  CamArgs cam;
};

void add_train(CLI::App& app, TrainArgs& a, cli::Action& action) {
  auto* t = app.add_subcommand("train", "Train AMN's label-conditioned segmentation network on IR labels");
  cli::describe(*t,
                "Trains AMN (gaviotas/AMN train_amn.py): a ResNet at output stride 16 (frozen BatchNorm statistics) "
                "initialised from --init, its feature multiplied by a linear encoding of the image's labels, "
                "dropout 0.1 and an ASPP to background + K logits, on IR labels (wsss-pseudo --ignore irn "
                "--out-field ir_label) with a balanced (background and foreground means averaged) cross-entropy "
                "on label-smoothed targets, Adam with one rate for the backbone and one for the new layers. "
                "Writes OUT_DIR/model.safetensors, checkpoints, classes.json and meta.json.",
                "wsss-amn train -j 8 --init resnet50.safetensors exp/ir/manifest.jsonl exp/amn-model",
                "wsss-amn cam, wsss-pseudo(1) --ignore irn, docs/amn.md");
  auto& o = a.options;
  cli::TrainFlagsHelp help;
  help.init = "Backbone weights: ImageNet (torchvision names) or a CAM classifier";
  help.width = "Base width (default: --init's, else 64)";
  help.lr = "Adam learning rate of the new layers (label encoder, ASPP); constant unless --poly-power > 0";
  cli::add_train_arguments(*t, a.run, o, "Training manifest (needs image, labels and ir_label)", "", help);
  t->remove_option(t->get_option("--momentum"));  // Adam
  t->get_option("--init")->required();
  t->add_option("--backbone-lr", o.backbone_lr, "Adam learning rate of the backbone")
      ->check(cli::at_least(0))->group("Training");
  t->add_option("--smoothing", o.smoothing, "Label smoothing e: targets 1 - e on the label, e / K elsewhere")
      ->check(cli::range(0, 0.99))->group("Training");
  t->add_option("--scale-range", "Random rescale factor LO:HI (default 0.5:1.5)")
      ->each([&o](const std::string& text) {
        std::tie(o.scale_min, o.scale_max) = parse_interval(text, "--scale-range", true);
      })->group("Training");
  t->add_option("--aspp-rates", o.aspp_rates, "ASPP dilation rates, comma-separated")->delimiter(',')->group("Training");
  t->add_option("--ir-field", o.ir_field, "Field of the IR label PNGs")->group("Training");
  t->add_option("--epochs", o.epochs, "Epochs")->check(cli::at_least(1));
  t->callback([&action, t, &a] {
    action = [t, &a] {
      return cli::run_training(*t, a.run, a.options, [&a](const Manifest& train, const Vocabulary& vocab, const Manifest*) {
        return cam::train_amn(train, vocab, a.run.out_dir, a.options);
      });
    };
  });
}

void add_cam(CLI::App& app, CamArgs& a, cli::Action& action) {
  auto* c = app.add_subcommand("cam", "AMN's score maps (make_amn_cam), background channel first");
  cli::describe(*c,
                "Computes AMN's maps per image (gaviotas/AMN make_amn_cam.py): the logits of each scale and its "
                "flip, averaged and resized to the image (and to the stride-4 grid), softmax over background + K "
                "classes, the background and the image's classes kept, and each channel min-max normalised where "
                "the IR label is not background. Writes OUT_DIR/cam/<id>.npy and cam_lowres/<id>.npy with "
                "cam_classes [0, labels...]: wsss-miou, wsss-pseudo and wsss-refine take the background channel as "
                "it is (plain argmax); --drop-bg-channel with --bg-threshold 0.25 evaluates as AMN's eval_amn_cam.",
                "wsss-amn cam -j 8 --model exp/amn-model/model.safetensors exp/ir/manifest.jsonl exp/amn",
                "wsss-amn train, wsss-miou(1), wsss-pseudo(1), wsss-refine(1) irn, docs/amn.md");
  cli::add_per_image_arguments(*c, a.stage, "Input manifest (needs image, labels and ir_label)",
                               cli::kDevice | cli::kClasses | cli::kSeed);
  auto& o = a.options;
  c->add_option("--model", a.model, "AMN model from wsss-amn train")->required();
  c->add_option("--scales", "Comma-separated input scales (default 1.0,0.5,1.5,2.0)")
      ->each([&o](const std::string& text) { o.scales = parse_scales(text, "--scales"); });
  c->add_flag("!--no-flip", o.flip, "Skip the horizontally flipped pass");
  c->add_flag("!--no-lowres", o.lowres, "Skip the stride-4 maps (cam_lowres, needed by the IRN random walk)");
  c->add_flag("--float16", o.float16, "Store score maps as float16 (half the disk)");
  c->add_option("--ir-field", o.ir_field, "Field of the IR label PNGs (the normalisation's mask)");
  c->add_flag("--reference-dropout", o.reference_dropout,
              "Keep dropout on at inference as the reference does (its Net.train() never switches it off); "
              "masks seeded per image from --seed");
  c->callback([&action, c, &a] {
    action = [c, &a] {
      return cli::run_per_image(*c, a.stage, [&a](const cli::PerImageInputs& in) {
        a.options.device = in.args.common.device;
        return cam::make_amn_processor(a.model, in.vocab, in.manifest.path, in.args.out_dir, a.options);
      });
    };
  });
}

void setup(CLI::App& app, Args& args, cli::Action& action) {
  app.require_subcommand(1);
  add_train(app, args.train, action);
  add_cam(app, args.cam, action);
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_tool<Args>(
      argc, argv,
      {"wsss-amn",
       "AMN (Lee, Kim & Shim, CVPR'22): trains a label-conditioned segmentation network on IRN's IR labels (train) "
       "and turns its softmax into score maps with a background channel (cam).",
       "wsss-amn train --init resnet50.safetensors exp/ir/manifest.jsonl exp/amn-model",
       "wsss-pseudo(1) --ignore irn, wsss-refine(1) irn, docs/amn.md"},
      setup);
}
