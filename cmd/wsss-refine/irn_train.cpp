#include "subcommands.hpp"
#include "wsss/core/parse.hpp"

using namespace wsss;

namespace wsss_refine {

void add_irn_train(CLI::App& app, IrnTrainArgs& a, cli::Action& action) {
  auto* sub = app.add_subcommand("irn-train", "Train IRN's inter-pixel relation (class boundary) network");
  cli::describe(*sub,
                "Trains the edge branch of IRN on IR labels (0 background, 1..K classes, 255 unsure) over a frozen "
                "ResNet initialised from --init: ImageNet backbone weights (torchvision names) or the CAM "
                "classifier from wsss-classify train. Writes OUT_DIR/model.safetensors, a checkpoint every epoch, "
                "classes.json and meta.json.",
                "wsss-refine irn-train -j 8 --init exp/cls/model.safetensors exp/ir_label/manifest.jsonl exp/irn",
                "wsss-pseudo(1) --out-field ir_label, wsss-refine irn, docs/refinement.md");
  cli::TrainFlagsHelp help;
  help.init = "Backbone weights: ImageNet (torchvision names) or a CAM classifier";
  help.width = "Base width (default: --init's, else 64)";
  help.lr = "Learning rate of the edge layers (poly decay)";
  cli::add_train_arguments(*sub, a.run, a.options, "Training manifest (needs image and ir_label)", "", help);
  sub->get_option("--init")->required();
  sub->add_option("--scale-range", "Random rescale factor LO:HI (default 0.5:1.5)")
      ->each([&a](const std::string& text) {
        std::tie(a.options.scale_min, a.options.scale_max) = parse_interval(text, "--scale-range", true);
      });
  sub->add_option("--radius", a.options.radius, "Affinity radius on the stride-4 grid (10: IRN's 152 directions)");
  sub->add_option("--epochs", a.options.epochs, "Epochs");
  sub->callback([&action, sub, &a] {
    action = [sub, &a] {
      return cli::run_training(*sub, a.run, a.options,
                               [&a](const Manifest& train, const Vocabulary& vocab, const Manifest*) {
                                 return refine::train_irn(train, vocab, a.run.out_dir, a.options);
                               });
    };
  });
}

}  // namespace wsss_refine
