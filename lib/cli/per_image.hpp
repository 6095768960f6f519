#pragma once
// What every per-image stage's main shares: the arguments `IN.jsonl OUT_DIR`
// with the common options, and the tail after parsing (apply the options, read
// the manifest and its vocabulary, make the processor, run the stage, log the
// summary line, return the exit code).
#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

#include "options.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/io/manifest.hpp"
#include "wsss/stage/stage.hpp"

namespace wsss::cli {

struct PerImageArgs {
  std::string manifest, out_dir;
  CommonOptions common;
};

// The positionals (manifest, out_dir) and the common options: the per-image
// group plus `extra_groups` (kDevice, kClasses, kSeed).
void add_per_image_arguments(CLI::App& app, PerImageArgs& args, const std::string& manifest_help,
                             unsigned extra_groups);

struct PerImageInputs {
  const Manifest& manifest;
  const Vocabulary& vocab;
  const PerImageArgs& args;
  StageOptions& stage;  // a stage may plan its workers (e.g. refine::plan_irn_threads)
};
using ProcessorFactory = std::function<std::unique_ptr<ItemProcessor>(const PerImageInputs&)>;

// Runs the stage; `after` (optional) may log a stage-specific line before the
// summary. Returns 0 when the stage succeeded (failures within --max-failed), else 1.
int run_per_image(const CLI::App& app, PerImageArgs& args, const ProcessorFactory& make,
                  const std::function<void()>& after = nullptr);

// For a stage that runs on a choice of the manifest's images or makes something
// of the whole result (wsss-viz: a selection, then a grid).
struct PerImageHooks {
  // The records to run on, from the manifest read (before the processor is made).
  std::function<Manifest(const Manifest&, const Vocabulary&, const StageOptions&)> select;
  // After the stage, before the summary line, whether or not it succeeded.
  std::function<void(const StageSummary&, const StageOptions&)> finish;
};
int run_per_image(const CLI::App& app, PerImageArgs& args, const ProcessorFactory& make, const PerImageHooks& hooks);

}  // namespace wsss::cli
