// wsss-data: dataset import and manifest utilities. Each subcommand lives in its
// own file in this folder and only wires options to lib/data.
#include <iostream>

#include "subcommands.hpp"
#include "tool.hpp"
#include "wsss/data/vocab.hpp"

using namespace wsss;

int main(int argc, char** argv) {
  cli::ToolInfo info{"wsss-data",
                     "Imports data sets into wsss manifests (synthetic, PASCAL VOC, COCO, plain folders) and "
                     "checks, joins and merges manifests.",
                     "wsss-data synth --count 1000 exp/synth",
                     "wsss-miou(1), docs/formats.md"};
  return cli::run_tool(argc, argv, info, [](CLI::App& app, cli::Action& action) {
    app.require_subcommand(1);
    wsss_data::add_vocab(app, action);
    wsss_data::add_synth(app, action);
    wsss_data::add_join(app, action);
    wsss_data::add_coco(app, action);
    wsss_data::add_voc(app, action);
    wsss_data::add_folder(app, action);
    wsss_data::add_check(app, action);
    wsss_data::add_merge(app, action);
    wsss_data::add_boxes(app, action);
  });
}
