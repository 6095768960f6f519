// wsss-refine: pixel-level refinement of score maps (dense CRF, IRN random walk).
#include "subcommands.hpp"

int main(int argc, char** argv) {
  wsss::cli::ToolInfo info{"wsss-refine",
                           "Refines score maps: a fully connected CRF (crf), or IRN's inter-pixel relation "
                           "network (irn-train) and semantic random walk (irn).",
                           "wsss-refine crf -j 8 --preset deeplab exp/cam/manifest.jsonl exp/crf",
                           "wsss-cam(1), wsss-pseudo(1), docs/refinement.md"};
  return wsss::cli::run_tool(argc, argv, info, [](CLI::App& app, wsss::cli::Action& action) {
    app.require_subcommand(1);
    wsss_refine::add_crf(app, action);
    wsss_refine::add_irn_train(app, action);
    wsss_refine::add_irn(app, action);
  });
}
