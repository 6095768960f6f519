#pragma once
// Each wsss-data subcommand registers itself on the app and sets the action.
#include "tool.hpp"

namespace wsss_data {
void add_vocab(CLI::App& app, wsss::cli::Action& action);
void add_synth(CLI::App& app, wsss::cli::Action& action);
void add_join(CLI::App& app, wsss::cli::Action& action);
void add_coco(CLI::App& app, wsss::cli::Action& action);
void add_voc(CLI::App& app, wsss::cli::Action& action);
void add_folder(CLI::App& app, wsss::cli::Action& action);
void add_check(CLI::App& app, wsss::cli::Action& action);
void add_merge(CLI::App& app, wsss::cli::Action& action);
void add_boxes(CLI::App& app, wsss::cli::Action& action);
}  // namespace wsss_data
