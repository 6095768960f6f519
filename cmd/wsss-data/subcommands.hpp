#pragma once
// Each wsss-data subcommand registers itself on the app and sets the action.
#include "tool.hpp"

namespace wsss_data {
void add_vocab(CLI::App& app, wsss::cli::Action& action);
}  // namespace wsss_data
