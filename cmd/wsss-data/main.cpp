// wsss-data: dataset import and manifest utilities. Each subcommand lives in its
// own file in this folder and only wires options to lib/data.
#include "subcommands.hpp"

namespace {

void setup(CLI::App& app, wsss_data::Args& args, wsss::cli::Action& action) {
  app.require_subcommand(1);
  wsss_data::add_vocab(app, args.vocab, action);
  wsss_data::add_synth(app, args.synth, action);
  wsss_data::add_join(app, args.join, action);
  wsss_data::add_coco(app, args.coco, action);
  wsss_data::add_voc(app, args.voc, action);
  wsss_data::add_folder(app, args.folder, action);
  wsss_data::add_check(app, args.check, action);
  wsss_data::add_merge(app, args.merge, action);
  wsss_data::add_boxes(app, args.boxes, action);
}

}  // namespace

int main(int argc, char** argv) {
  return wsss::cli::run_tool<wsss_data::Args>(
      argc, argv,
      {"wsss-data",
       "Imports data sets into wsss manifests (synthetic, PASCAL VOC, COCO, plain folders) and checks, joins and "
       "merges manifests.",
       "wsss-data synth --count 1000 exp/synth", "wsss-miou(1), docs/formats.md"},
      setup);
}
