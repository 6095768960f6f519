#pragma once
// Each wsss-refine subcommand registers itself on the app and sets the action.
#include "tool.hpp"

namespace wsss_refine {
void add_crf(CLI::App& app, wsss::cli::Action& action);
void add_irn_train(CLI::App& app, wsss::cli::Action& action);
void add_irn(CLI::App& app, wsss::cli::Action& action);
}  // namespace wsss_refine
