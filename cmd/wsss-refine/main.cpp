// wsss-refine: pixel-level refinement of score maps (dense CRF, IRN random walk).
#include "subcommands.hpp"

namespace {

void setup(CLI::App& app, wsss_refine::Args& args, wsss::cli::Action& action) {
  app.require_subcommand(1);
  wsss_refine::add_crf(app, args.crf, action);
  wsss_refine::add_irn_train(app, args.irn_train, action);
  wsss_refine::add_irn(app, args.irn, action);
}

}  // namespace

int main(int argc, char** argv) {
  return wsss::cli::run_tool<wsss_refine::Args>(
      argc, argv,
      {"wsss-refine",
       "Refines score maps: a fully connected CRF (crf), or IRN's inter-pixel relation network (irn-train) and "
       "semantic random walk (irn).",
       "wsss-refine crf -j 8 --preset deeplab exp/cam/manifest.jsonl exp/crf",
       "wsss-cam(1), wsss-pseudo(1), docs/refinement.md"},
      setup);
}
