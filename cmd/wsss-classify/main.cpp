// wsss-classify: train the multi-label CAM classifier (IRN's recipe by default)
// and predict image-level class scores.
#include <cstdio>

#include "per_image.hpp"
#include "tool.hpp"
#include "training.hpp"
#include "wsss/cam/classifier.hpp"
#include "wsss/cam/recam.hpp"
#include "wsss/core/parse.hpp"

using namespace wsss;

namespace {

struct TrainArgs {
  cli::TrainArgs run;
  cam::ClassifierTrainOptions options;
};
struct PredictArgs {
  cli::PerImageArgs stage;
  std::string model;
  float threshold = 0.5f;
  bool set_labels = false;
};
struct RecamArgs {
  cli::TrainArgs run;
  cam::RecamTrainOptions options;
};
struct Args {
  TrainArgs train;
  PredictArgs predict;
  RecamArgs recam;
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

void add_train(CLI::App& app, TrainArgs& a, cli::Action& action) {
  auto* t = app.add_subcommand("train", "Train the classifier on a manifest's images and labels");
  cli::describe(*t, "Trains the CAM classifier. Writes OUT_DIR/model.safetensors, a checkpoint every epoch, "
                    "classes.json and meta.json.",
                "wsss-classify train -j 8 --init resnet50.safetensors train.jsonl exp/cls",
                "wsss-classify predict, wsss-cam(1)");
  auto& o = a.options;
  cli::TrainFlagsHelp help;
  help.lr = "Backbone learning rate (poly decay)";
  cli::add_train_arguments(*t, a.run, o, "Training manifest (needs image and labels)",
                           "Validation manifest: per-class AP, mAP and F1 after training", help);
  t->add_option("--frozen-stages", o.frozen_stages, "Leading stages that get no gradient (IRN 3: stem..layer2; ReCAM 1)");
  t->add_flag("!--train-bn", o.freeze_bn, "Train BatchNorm (default: frozen, running statistics)");
  t->add_option("--resize-long", "Random long side LO:HI (default 320:640)")->each([&o](const std::string& text) {
    auto [lo, hi] = parse_interval(text, "--resize-long", true);
    o.resize_min = int(lo);
    o.resize_max = int(hi);
  });
  t->add_option("--epochs", o.epochs, "Epochs");
  t->add_option("--classifier-lr-mult", o.classifier_lr_mult, "Classifier learning-rate multiplier")
      ->check(cli::at_least(0));
  t->add_option("--threshold", o.threshold, "Score threshold for F1 on --val")->check(cli::range(0, 1));
  t->callback([&action, t, &a] {
    action = [t, &a] {
      return cli::run_training(
          *t, a.run, a.options,
          [&a](const Manifest& train, const Vocabulary& vocab, const Manifest* val) {
            return cam::train_classifier(train, vocab, a.run.out_dir, a.options, val);
          },
          [](const train::TrainResult& r) {
            if (!r.validations.empty()) print_validation(r.validations.back());
          });
    };
  });
}

void add_predict(CLI::App& app, PredictArgs& a, cli::Action& action) {
  auto* p = app.add_subcommand("predict", "Predict image-level class scores into the manifest");
  cli::describe(*p, "Adds \"scores\" (probabilities for ids 1..K) and \"pred_labels\" (ids at or above the "
                    "threshold) to every record; --set-labels also fills \"labels\" where absent.",
                "wsss-classify predict --model exp/cls/model.safetensors unlabelled.jsonl exp/pred",
                "wsss-classify train, wsss-cam(1)");
  cli::add_per_image_arguments(*p, a.stage, "Input manifest", cli::kDevice | cli::kClasses);
  p->add_option("--model", a.model, "Classifier from wsss-classify train")->required();
  p->add_option("--threshold", a.threshold, "Score threshold for pred_labels")->check(cli::range(0, 1));
  p->add_flag("--set-labels", a.set_labels, "Also set \"labels\" from the prediction where absent");
  p->callback([&action, p, &a] {
    action = [p, &a] {
      return cli::run_per_image(*p, a.stage, [&a](const cli::PerImageInputs& in) {
        return cam::make_predict_processor(a.model, in.vocab, in.manifest.path, a.threshold, a.set_labels,
                                           in.args.common.device);
      });
    };
  });
}

void add_recam(CLI::App& app, RecamArgs& a, cli::Action& action) {
  auto* t = app.add_subcommand("recam", "Fine-tune a trained classifier with ReCAM's class-feature cross-entropy");
  cli::describe(*t, "ReCAM (Chen et al., CVPR 2022): starting from the CAM classifier --init, trains the backbone "
                    "(after conv1/bn1), the classifier and a new 1x1 predictor on BCE + --loss-weight x the "
                    "cross-entropy of the predictor on each GT class's CAM-weighted feature. Writes "
                    "OUT_DIR/model.safetensors (a ReCAM model for wsss-cam --recam), a checkpoint every epoch, "
                    "classes.json and meta.json. Defaults are ReCAM's VOC recipe (docs/recam.md).",
                "wsss-classify recam -j 8 --init exp/cls/model.safetensors train.jsonl exp/recam",
                "wsss-classify train, wsss-cam(1) --recam, docs/recam.md");
  auto& o = a.options;
  cli::TrainFlagsHelp help;
  help.lr = "Predictor learning rate (backbone and classifier: x --backbone-lr-mult; poly decay)";
  help.init = "The trained CAM classifier to start from (wsss-classify train's model.safetensors; required)";
  help.width = "Base width (default: the classifier's; another value is refused)";
  cli::add_train_arguments(*t, a.run, o, "Training manifest (needs image and labels)", "", help);
  t->add_option("--frozen-stages", o.frozen_stages,
                "Leading stages that get no gradient (ReCAM 1: the stem; conv1/bn1 never train)");
  t->add_flag("!--train-bn", o.freeze_bn, "Train BatchNorm (default: frozen, running statistics)");
  t->add_option("--resize-long", "Random long side LO:HI (default 320:640)")->each([&o](const std::string& text) {
    auto [lo, hi] = parse_interval(text, "--resize-long", true);
    o.resize_min = int(lo);
    o.resize_max = int(hi);
  });
  t->add_option("--epochs", o.epochs, "Epochs (ReCAM: 4)");
  t->add_option("--backbone-lr-mult", o.backbone_lr_mult, "Backbone and classifier rate = --lr x this (ReCAM: 0.1)")
      ->check(cli::at_least(0));
  t->add_option("--loss-weight", o.loss_weight, "Weight of the ReCAM cross-entropy (ReCAM: 1 for VOC, 0.1 for COCO)")
      ->check(cli::at_least(0));
  t->callback([&action, t, &a] {
    action = [t, &a] {
      return cli::run_training(*t, a.run, a.options,
                               [&a](const Manifest& train, const Vocabulary& vocab, const Manifest*) {
                                 return cam::train_recam(train, vocab, a.run.out_dir, a.options);
                               });
    };
  });
}

void setup(CLI::App& app, Args& args, cli::Action& action) {
  app.require_subcommand(1);
  add_train(app, args.train, action);
  add_predict(app, args.predict, action);
  add_recam(app, args.recam, action);
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_tool<Args>(argc, argv,
                             {"wsss-classify",
                              "Trains the multi-label classifier whose class activation maps seed the pipeline "
                              "(IRN's recipe by default), predicts image-level class scores, and fine-tunes a "
                              "trained classifier with ReCAM.",
                              "wsss-classify train --init resnet50.safetensors data/train.jsonl exp/cls",
                              "wsss-cam(1), docs/classify.md, docs/recam.md"},
                             setup);
}
