#pragma once
// Options shared by every binary, defined once here so that each flag keeps one
// name, one meaning and one default across the toolkit (samtools' rule).
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "wsss/core/provenance.hpp"
#include "wsss/stage/stage.hpp"

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

  Provenance provenance;      // filled by apply_common_options

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

// Applies the logging level and OpenCV's thread setting after parsing, and fills
// options.provenance (program, command line and every resolved option value of
// the whole command, for meta.json).
void apply_common_options(const CLI::App& app, CommonOptions& options);

// The command line of this process, recorded by run_tool.
const std::vector<std::string>& command_line();

}  // namespace wsss::cli
