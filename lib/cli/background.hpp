#pragma once
// --bg-threshold / --bg-power: how score maps get a background score. Shared by
// wsss-pseudo and wsss-refine (wsss-miou has its own sweep variants).
#include <CLI/CLI.hpp>

#include "wsss/scores/score_map.hpp"

namespace wsss::cli {

struct BackgroundOptions {
  double threshold = -1;  // unset
  double power = -1;      // unset
  bool drop_channel = false;  // --drop-bg-channel
  // The rule given on the command line, or `fallback` when neither option was given.
  BackgroundRule rule(const BackgroundRule& fallback) const;
  bool given() const { return threshold >= 0 || power >= 0; }
};

void add_background_options(CLI::App& app, BackgroundOptions& options, const std::string& default_text);

}  // namespace wsss::cli
