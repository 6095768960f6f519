#pragma once
// The one training loop of the toolkit. Every trainer (the CAM classifier, IRN's
// edge network, DeepLab, and the methods built on them) supplies only its
// network, its optimiser, its loss and its data as a TrainTask; run_training
// owns everything else, so that resume, clobber checks, checkpoints, progress,
// --stop-after, --save-every, validation and the final atomic save behave the
// same for all of them (docs/training.md).
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "wsss/io/vocab.hpp"
#include "wsss/train/distributed.hpp"
#include "wsss/train/options.hpp"
#include "wsss/models/resnet.hpp"

namespace wsss::train {

namespace fs = std::filesystem;

enum class Unit { Epoch, Iteration };

// How the optimiser steps are grouped and the learning rate decays.
struct Schedule {
  Unit unit = Unit::Epoch;
  int total = 1;                   // epochs or iterations
  std::size_t steps_per_unit = 1;  // optimiser steps per epoch (1 for iteration schedules)
  int micro_per_step = 1;          // loader batches accumulated into one step (iter_size)
  int lr_decay_every = 1;          // steps between updates of the poly rate (deeplab-pytorch's LR_DECAY)
  std::size_t loss_window = 0;     // steps averaged into the final loss (0 = one unit)
};

// The poly factor of optimiser step `step` (0-based): (1 - d / steps)^power with
// d = step rounded down to a multiple of lr_decay_every, steps = the schedule's
// total. Every parameter group's rate is its initial rate times this factor.
double lr_factor(std::size_t step, const Schedule& schedule, double power);

using Batch = std::vector<torch::Tensor>;

struct StepLoss {
  torch::Tensor total;                                        // what is minimised
  std::vector<std::pair<std::string, torch::Tensor>> parts;   // shown beside it in the progress line
};

// Extra meta.json fields of a finished run, given its result.
using DescribeResult = std::function<void(const TrainResult&, nlohmann::ordered_json& extra)>;

// One model's part of training.
class TrainTask {
 public:
  virtual ~TrainTask() = default;
  virtual Schedule schedule() const = 0;
  virtual torch::nn::Module& network() = 0;
  virtual const models::ModelSpec& backbone_spec() const = 0;
  virtual torch::optim::Optimizer& optimizer() = 0;
  // The training options recorded in checkpoints; --resume requires them equal,
  // except for the names in resume_ignored().
  virtual nlohmann::json options_json() const = 0;
  virtual std::vector<std::string> resume_ignored() const { return {}; }
  // Metadata of checkpoint.safetensors and model.safetensors.
  virtual std::map<std::string, std::string> model_metadata() const = 0;
  // Loader batch `index`, counted from the first of the schedule. Called from
  // the loader threads: it must depend only on the index (and the seed).
  virtual Batch load(std::size_t index) = 0;
  // Rank `part`'s slice of loader batch `index` in a data-parallel run of
  // `parts` ranks: samples [B*part/parts, B*(part+1)/parts) of load(index). The
  // default loads the whole batch and slices the first dimension of each of its
  // tensors; a task overrides it to load only its slice.
  virtual Batch load_part(std::size_t index, int part, int parts);
  // This rank's loss on its slice. A loss that divides by a count of the whole
  // batch (a masked mean) takes the count and the quotient from global_batch().
  virtual StepLoss loss(const Batch& batch) = 0;
  // The advice after a non-finite loss.
  virtual std::string divergence_hint() const { return "lower --lr"; }
  // Validation: whether to run it after `done` units (`last`: the schedule's
  // end), and the run itself (in eval mode), which returns one record of
  // meta.json's history and may log a line.
  virtual bool validates_at(int /*done*/, bool /*last*/) const { return false; }
  virtual nlohmann::json validate(int /*done*/) { return nullptr; }

 protected:
  // The global batch of a data-parallel run (one process: plain quotients).
  const GlobalBatch& global_batch() const { return global_batch_; }

 private:
  friend TrainResult run_training(TrainTask&, const TrainOptions&, const fs::path&, const Vocabulary&,
                                  const std::string&, const DescribeResult&);
  GlobalBatch global_batch_;
};

// Trains `task` into out_dir: refuses to clobber a model or a checkpoint
// (unless options.overwrite; options.resume continues from the checkpoint),
// writes checkpoint.safetensors + checkpoint.state every save_every units and
// after the last one run, and at the end classes.json, meta.json and
// model.safetensors (last: "model exists" means "training done").
// With options.ranks.distributed(), this process is one rank of a data-parallel
// run (docs/scale-out.md): it joins the process group, takes rank 0's weights,
// trains on its slice of every batch with gradients averaged over the ranks,
// and only rank 0 writes files or validates.
TrainResult run_training(TrainTask& task, const TrainOptions& options, const fs::path& out_dir,
                         const Vocabulary& vocab, const std::string& input_hash,
                         const DescribeResult& describe = nullptr);

// IRN's data order (ReCAM's, AMN's): every epoch a seeded permutation of the
// records cut into batches, the last partial batch dropped. Batch i of the run
// is batch i mod steps_per_epoch of epoch i / steps_per_epoch, so it depends
// only on (seed, i): a resumed run sees the batches of an uninterrupted one.
class EpochSampler {
 public:
  // UsageError when `batch` exceeds the number of records.
  EpochSampler(std::size_t records, int batch, std::uint64_t seed);
  std::size_t steps_per_epoch() const { return steps_per_epoch_; }
  struct Item {
    std::uint64_t epoch;
    std::size_t record;
  };
  std::vector<Item> batch(std::size_t index) const;  // safe to call from several threads
  // Part `part` of `parts` of batch(index) (data-parallel ranks: train/trainer.hpp's load_part).
  std::vector<Item> batch(std::size_t index, int part, int parts) const;

 private:
  std::size_t records_, batch_, steps_per_epoch_;
  std::uint64_t seed_;
  mutable std::mutex mu_;
  mutable std::map<std::uint64_t, std::vector<std::size_t>> orders_;  // the epochs in flight
};

// The schedule of an epoch-based trainer (the classifier, IRN, AMN): `epochs`
// units of the sampler's steps, one loader batch per step.
Schedule epoch_schedule(int epochs, const EpochSampler& sampler);

// What every trainer does before it loads anything: refuses to start when
// out_dir holds a finished model (without --overwrite) or a checkpoint (without
// --resume or --overwrite), or when --resume finds no checkpoint; then sets
// LibTorch's and OpenBLAS's threads to options.threads (models/threads.hpp).
void begin_training(const TrainOptions& options, const fs::path& out_dir);

// The files of a training run in out_dir.
fs::path model_file(const fs::path& out_dir);
fs::path checkpoint_file(const fs::path& out_dir);
fs::path resume_state_file(const fs::path& out_dir);

}  // namespace wsss::train
