#include "subcommands.hpp"

using namespace wsss;

namespace wsss_refine {

void add_irn(CLI::App& app, IrnArgs& a, cli::Action& action) {
  auto* sub = app.add_subcommand("irn", "IRN's semantic random walk of the stride-4 CAMs over learnt boundaries");
  cli::describe(*sub,
                "Computes the class boundary map of each image (and its flip) with the network from irn-train, "
                "propagates the stride-4 CAMs (cam_lowres) by IRN's random walk, upsamples them by 4 and divides "
                "by the global maximum. A background channel (AMN's maps) is not walked. Writes OUT_DIR/refined/<id>.npy "
                "([k,H,W], no background channel: choose it with wsss-pseudo --field refined --bg-threshold 0.25, "
                "IRN's sem_seg_bg_thres).",
                "wsss-refine irn -j 8 --model exp/irn/model.safetensors exp/cam/manifest.jsonl exp/rw",
                "wsss-refine irn-train, wsss-pseudo(1), wsss-miou(1) --pred refined --bg-sweep, docs/refinement.md");
  cli::add_per_image_arguments(*sub, a.stage, "Input manifest (needs image, cam_lowres and cam_classes)",
                               cli::kDevice | cli::kClasses);
  sub->add_option("--model", a.model, "Edge network from wsss-refine irn-train")->required();
  sub->add_option("--radius", a.options.walk.radius, "Random-walk neighbourhood radius on the stride-4 grid");
  sub->add_option("--beta", a.options.walk.beta, "Affinity exponent")->check(cli::positive());
  sub->add_option("--exp-times", a.options.walk.exp_times, "The walk takes 2^N steps");
  sub->add_option("--cam-power", a.options.cam_power,
                  "Raise the stride-4 maps to this power before the walk (AMN's make_sem_seg: 1.3)")
      ->check(cli::positive());
  sub->add_flag("--edges", a.options.edges, "Also write the boundary map as OUT_DIR/edge/<id>.png (8-bit grey)");
  sub->callback([&action, sub, &a] {
    action = [sub, &a] {
      return cli::run_per_image(*sub, a.stage, [&a](const cli::PerImageInputs& in) {
        a.options.device = in.args.common.device;
        refine::plan_irn_threads(in.args.common.resolved_threads(), in.stage, a.options);
        return refine::make_irn_processor(a.model, in.vocab, in.manifest.path, in.args.out_dir, a.options);
      });
    };
  });
}

}  // namespace wsss_refine
