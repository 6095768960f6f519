#pragma once
// What every trainer's main shares: `TRAIN.jsonl OUT_DIR`, an optional --val
// manifest, the training flags of train::TrainOptions with one wording for all
// trainers, and the tail after parsing (apply the options, read the manifests
// and the vocabulary, train, log the summary line).
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "options.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/io/manifest.hpp"
#include "wsss/train/options.hpp"

namespace wsss::cli {

struct TrainArgs {
  std::string manifest, out_dir, val;
  CommonOptions common;
  std::string unit = "epochs";  // set by add_train_arguments, for the summary line
  int nproc = 1;                // --nproc: data-parallel ranks launched on this machine
};

// The schedule's unit in help texts: "epochs" or "iterations".
struct TrainFlagsHelp {
  std::string unit = "epochs";
  std::string lr = "Base learning rate (poly decay)";
  std::string init = "Initial backbone weights (safetensors with torchvision names)";
  std::string width = "Base width (64 = torchvision; smaller for tests and demos)";
};

// Positionals, --val (when val_help is not empty), the shared training flags
// (--arch --width --init --lr --momentum --weight-decay --poly-power --batch
// --crop --loader-threads --resume --stop-after --save-every --nproc) and the
// common options (-j, --seed, --device, --classes, --overwrite).
void add_train_arguments(CLI::App& app, TrainArgs& args, train::TrainOptions& options,
                         const std::string& manifest_help, const std::string& val_help, const TrainFlagsHelp& help);

using TrainFunction =
    std::function<train::TrainResult(const Manifest& train, const Vocabulary& vocab, const Manifest* validation)>;

// Trains; `report` (optional) prints results to stdout before the summary line.
// Data-parallel (docs/scale-out.md): with --nproc N (N > 1) this process only
// launches N ranks of the same command on this machine and waits for them;
// a process started as a rank (torchrun's or an srun step's variables) trains
// its part, and only rank 0 reports.
int run_training(const CLI::App& app, TrainArgs& args, train::TrainOptions& options, const TrainFunction& train,
                 const std::function<void(const train::TrainResult&)>& report = nullptr);

}  // namespace wsss::cli
