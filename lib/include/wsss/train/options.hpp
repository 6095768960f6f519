#pragma once
// The options and the result every trainer shares (train/trainer.hpp runs the
// loop). Plain structs, without LibTorch, so that the CLI registers and reports
// them (cli/training.hpp) without its headers.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "wsss/core/provenance.hpp"
#include "wsss/core/ranks.hpp"

namespace wsss::train {

// The options every trainer shares, registered once by cli::add_train_options.
// A trainer's own options struct derives from this one and sets its defaults
// (the reference recipe's) in its constructor.
struct TrainOptions {
  std::string arch = "resnet50";
  int width = 64;            // base width (64 = torchvision)
  std::string init;          // initial backbone weights (safetensors, torchvision names)
  double lr = 0.1;
  double momentum = 0.9;
  double weight_decay = 1e-4;
  double poly_power = 0.9;
  int batch = 16;
  int crop = 512;
  int loader_threads = 2;
  // Stop after this many units (epochs or iterations) of the schedule, keeping
  // the checkpoint for --resume (0 = run them all). The poly schedule spans the
  // whole run, so stopping and resuming gives the model an uninterrupted run
  // gives, which a shorter schedule would not.
  int stop_after = 0;
  int save_every = 1;        // units between checkpoints (and after the last unit run)
  bool resume = false;
  bool overwrite = false;
  std::uint64_t seed = 0;
  std::string device = "cpu";
  int threads = 0;           // LibTorch's and OpenBLAS's threads (-j; 0 = all cores)
  Provenance provenance;     // recorded in meta.json
  Ranks ranks;               // this process in a data-parallel run (one process by default)

  // UsageError naming the option; `total` is the schedule's length in units.
  void validate_common(int total, const char* unit_option) const;
};

struct TrainResult {
  int units_run = 0;
  bool stopped = false;             // --stop-after ended the run before the schedule's end (no model yet)
  double final_loss = 0;            // mean over the schedule's loss window
  double seconds = 0;
  double steps_per_second = 0;
  double data_wait_seconds = 0;     // the loop waiting for the loader
  double loading_seconds = 0;       // the loader threads busy
  double checkpoint_seconds = 0;
  int ranks = 1;                    // processes of a data-parallel run
  double allreduce_seconds = 0;     // averaging the gradients over the ranks
  double rank_wait_seconds = 0;     // the other collectives, mostly waiting for the slowest rank
  nlohmann::json validations = nlohmann::json::array();
};

}  // namespace wsss::train
