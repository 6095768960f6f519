#include <algorithm>
#include <cstdlib>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "subcommands.hpp"
#include "wsss/core/log.hpp"
#include "wsss/models/resnet.hpp"
#include "wsss/models/threads.hpp"
#include "wsss/refine/irn.hpp"

using namespace wsss;

namespace wsss_refine {

void add_irn(CLI::App& app, cli::Action& action) {
  static cli::CommonOptions common;
  static refine::IrnStageOptions options;
  static std::string manifest, out_dir, model;
  auto* sub = app.add_subcommand("irn", "IRN's semantic random walk of the stride-4 CAMs over learnt boundaries");
  cli::describe(*sub,
                "Computes the class boundary map of each image (and its flip) with the network from irn-train, "
                "propagates the stride-4 CAMs (cam_lowres) by IRN's random walk, upsamples them by 4 and divides "
                "by the global maximum. Writes OUT_DIR/refined/<id>.npy ([k,H,W], no background channel: choose "
                "it with wsss-pseudo --field refined --bg-threshold 0.25, IRN's sem_seg_bg_thres).",
                "wsss-refine irn -j 8 --model exp/irn/model.safetensors exp/cam/manifest.jsonl exp/rw",
                "wsss-refine irn-train, wsss-pseudo(1), wsss-miou(1) --pred refined --bg-sweep, docs/refinement.md");
  sub->add_option("manifest", manifest, "Input manifest (needs image, cam_lowres and cam_classes)")->required();
  sub->add_option("out_dir", out_dir, "Output directory")->required();
  sub->add_option("--model", model, "Edge network from wsss-refine irn-train")->required();
  sub->add_option("--radius", options.walk.radius, "Random-walk neighbourhood radius on the stride-4 grid");
  sub->add_option("--beta", options.walk.beta, "Affinity exponent")->check(wsss::cli::positive());
  sub->add_option("--exp-times", options.walk.exp_times, "The walk takes 2^N steps");
  sub->add_flag("--edges", options.edges, "Also write the boundary map as OUT_DIR/edge/<id>.png (8-bit grey)");
  cli::add_common_options(*sub, common, cli::kPerImage | cli::kDevice | cli::kClasses);
  sub->callback([&action, sub] {
    action = [sub] {
      cli::apply_common_options(*sub, common);
      const int threads = common.resolved_threads();
      models::set_torch_threads(threads);
#ifdef __GLIBC__
      // The forward pass's large buffers, once freed, stay in glibc's per-thread
      // arenas after its dynamic mmap threshold has grown past them; a fixed 1 MiB
      // threshold returns them. 640x640 with ResNet-50 at -j2: ~1.05 GB -> 0.54 GB
      // peak RSS for more system time (docs/refinement.md). A threshold set in
      // the environment (MALLOC_MMAP_THRESHOLD_) is left alone.
      if (!std::getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
      options.device = common.device;
      StageOptions stage = common.stage_options(out_dir);
      stage.threads = std::min(2, stage.threads);  // one decodes and walks while the other runs the network
      options.walk_threads = std::max(1, threads / stage.threads);
      Manifest m = read_manifest(manifest, {common.allow_empty});
      Vocabulary vocab = vocabulary_for(m.dir, common.classes);
      auto processor = refine::make_irn_processor(model, vocab, m.path, out_dir, options);
      StageSummary s = run_stage(*processor, m, stage, &vocab);
      log::info(summary_line(s));
      return s.ok ? 0 : 1;
    };
  });
}

}  // namespace wsss_refine
