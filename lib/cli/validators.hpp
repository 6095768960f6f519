#pragma once
// Checks for numeric options, one home for every binary. Each rejects NaN and
// the infinities: CLI11's own Range lets "nan" through (every comparison with
// NaN is false), and a NaN threshold once gave a wrong mIoU with exit 0.
// The help text shows the range ("FLOAT in [0, 1]"), and a CLI test requires
// one on every floating-point option of every binary.
#include <CLI/CLI.hpp>

namespace wsss::cli {

CLI::Validator range(double lo, double hi);  // lo <= x <= hi
CLI::Validator positive();                   // x > 0, finite
CLI::Validator at_least(double lo);          // x >= lo, finite

// Adds a finiteness check to every floating-point option of `app` and its
// subcommands that has none of the checks above (run_tool calls it).
void require_finite_floats(CLI::App& app);

}  // namespace wsss::cli
