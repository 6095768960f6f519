#include <cstdio>

#include "subcommands.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/progress.hpp"
#include "wsss/models/resnet.hpp"
#include "wsss/models/threads.hpp"
#include "wsss/refine/irn.hpp"

using namespace wsss;

namespace wsss_refine {

void add_irn_train(CLI::App& app, cli::Action& action) {
  static cli::CommonOptions common;
  static refine::IrnTrainOptions options;
  static std::string manifest, out_dir, scale_range = "0.5:1.5";
  auto* sub = app.add_subcommand("irn-train", "Train IRN's inter-pixel relation (class boundary) network");
  cli::describe(*sub,
                "Trains the edge branch of IRN on IR labels (0 background, 1..K classes, 255 unsure) over a frozen "
                "ResNet initialised from --init: ImageNet backbone weights (torchvision names) or the CAM "
                "classifier from wsss-classify train. Writes OUT_DIR/model.safetensors, a checkpoint every epoch, "
                "classes.json and meta.json.",
                "wsss-refine irn-train -j 8 --init exp/cls/model.safetensors exp/ir_label/manifest.jsonl exp/irn",
                "wsss-pseudo(1) --out-field ir_label, wsss-refine irn, docs/refinement.md");
  auto& o = options;
  sub->add_option("manifest", manifest, "Training manifest (needs image and ir_label)")->required();
  sub->add_option("out_dir", out_dir, "Output directory")->required();
  sub->add_option("--init", o.init, "Backbone weights: ImageNet (torchvision names) or a CAM classifier")->required();
  sub->add_option("--arch", o.arch, "resnet18, resnet34, resnet50 or resnet101 (default: --init's, else resnet50)");
  sub->add_option("--width", o.base_width, "Base width (default: --init's, else 64)");
  sub->add_option("--scale-range", scale_range, "Random rescale factor LO:HI");
  sub->add_option("--crop", o.crop, "Random crop size (image padded with 0, label with 255)");
  sub->add_option("--radius", o.radius, "Affinity radius on the stride-4 grid (10: IRN's 152 directions)");
  sub->add_option("--epochs", o.epochs, "Epochs");
  sub->add_option("--batch", o.batch, "Batch size");
  sub->add_option("--lr", o.lr, "Learning rate of the edge layers (poly decay)")->check(wsss::cli::positive());
  sub->add_option("--weight-decay", o.weight_decay, "Weight decay")->check(wsss::cli::at_least(0));
  sub->add_option("--momentum", o.momentum, "SGD momentum (IRN's effective 1e-4: its PolyOptimizer passes the weight decay as momentum)")->check(wsss::cli::range(0, 1));
  sub->add_option("--poly-power", o.poly_power, "Poly learning-rate decay power")->check(wsss::cli::at_least(0));
  sub->add_option("--loader-threads", o.loader_threads, "Background image-loading threads");
  sub->add_flag("--resume", o.resume, "Continue from OUT_DIR/checkpoint.* (same options as the first run)");
  sub->add_option("--stop-after", o.stop_after,
                  "Stop after N epochs of the --epochs schedule, keeping the checkpoint for --resume (0 = all)");
  cli::add_common_options(*sub, common, cli::kSeed | cli::kDevice | cli::kClasses | cli::kOverwrite);
  sub->callback([&action, sub] {
    action = [sub] {
      cli::apply_common_options(*sub, common);
      models::set_torch_threads(common.resolved_threads());
      auto& o = options;
      o.seed = common.seed;
      o.device = common.device;
      o.overwrite = common.overwrite;
      if (std::sscanf(scale_range.c_str(), "%lf:%lf", &o.scale_min, &o.scale_max) != 2)
        throw UsageError("--scale-range " + scale_range + ": expected LO:HI");
      Manifest m = read_manifest(manifest);
      Vocabulary vocab = vocabulary_for(m.dir, common.classes);
      refine::IrnTrainSummary s = refine::train_irn(m, vocab, out_dir, o);
      if (s.stopped) {
        log::info("trained ", s.epochs_run, " epoch(s) (stopped early, no model yet); done 0, skipped 0, failed 0 of 1 in ",
                  format_duration(s.seconds));
        return 0;
      }
      log::info("trained ", s.epochs_run, " epoch(s), final loss ", s.final_loss,
                "; done 1, skipped 0, failed 0 of 1 in ", format_duration(s.seconds));
      return 0;
    };
  });
}

}  // namespace wsss_refine
