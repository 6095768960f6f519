#include "background.hpp"

#include "validators.hpp"
#include "wsss/core/error.hpp"

namespace wsss::cli {

BackgroundRule BackgroundOptions::rule(const BackgroundRule& fallback) const {
  if (threshold >= 0 && power >= 0) throw UsageError("--bg-threshold and --bg-power exclude each other");
  if (threshold >= 0) return {BackgroundRule::Threshold, threshold};
  if (power >= 0) return {BackgroundRule::Power, power};
  return fallback;
}

void add_background_options(CLI::App& app, BackgroundOptions& o, const std::string& default_text) {
  app.add_option("--bg-threshold", o.threshold, "Constant background score t (IRN); " + default_text)
      ->check(range(0, 1))->capture_default_str()->default_str("");
  app.add_option("--bg-power", o.power, "Background score (1 - max)^A (PSA, CLIP-ES)")
      ->check(positive())->default_str("");
  app.add_flag("--drop-bg-channel", o.drop_channel,
               "Score maps with a background channel (classes starting with 0, e.g. AMN's): drop it and decide "
               "background by the rule above from the class channels (AMN's reference does)");
}

}  // namespace wsss::cli
