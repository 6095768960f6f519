#pragma once
// Options shared by every binary, defined once here so that each flag keeps one
// name, one meaning and one default across the toolkit (samtools' rule).
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "wsss/core/stage.hpp"

namespace wsss::cli {

struct CommonOptions {
  int threads = 0;            // 0 = all cores
  bool quiet = false;
  int verbose = 0;
  std::string shard = "1/1";
  bool overwrite = false;
  bool skip_existing = false;
  int max_failed = 0;
  bool allow_empty = false;
  std::uint64_t seed = 0;
  std::string device = "cpu";
  std::string classes;        // overrides classes.json beside the manifest

  int resolved_threads() const;
  StageOptions stage_options(const std::string& out_dir) const;
};

// Option groups a binary (or subcommand) asks for.
enum OptionGroup : unsigned {
  kPerImage = 1u << 0,   // --shard --overwrite --skip-existing --max-failed --allow-empty
  kSeed = 1u << 1,       // --seed
  kDevice = 1u << 2,     // --device
  kClasses = 1u << 3,    // --classes
  kOverwrite = 1u << 4,  // --overwrite only (single-output tools)
};

// Adds -j -q -v always, plus the requested groups.
void add_common_options(CLI::App& app, CommonOptions& options, unsigned groups);

// Applies logging level and thread settings after parsing; records resolved
// options in the run context for meta.json.
void apply_common_options(const CLI::App& app, const CommonOptions& options);

}  // namespace wsss::cli
