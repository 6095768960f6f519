#pragma once
// Resume state shared by every training loop: the optimiser's buffers and how far
// training got, saved beside the checkpoint weights; and the check that a resumed
// run continues the same schedule.
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "wsss/models/resnet.hpp"

namespace wsss::models {

namespace fs = std::filesystem;

// Writes the optimiser state and `progress` (epochs or iterations done)
// atomically, and with `net` also the network's parameters and buffers and
// the weight file's `metadata` (the training options): one file that is a
// whole resume point by itself. Trainers write it before checkpoint.safetensors,
// so a kill between the two writes never pairs weights and optimiser state of
// different steps.
void save_resume_state(torch::optim::Optimizer& optimizer, std::int64_t progress, const fs::path& file,
                       const torch::nn::Module* net = nullptr,
                       const std::map<std::string, std::string>& metadata = {});
// Restores the optimiser state and returns the progress; InputError naming the file if unreadable.
std::int64_t load_resume_state(torch::optim::Optimizer& optimizer, const fs::path& file);

// A resumed run must continue the same schedule (poly decay over the whole run,
// data order from the seed), else it would give a model no uninterrupted run
// gives. Compares `current` with the training options stored in the checkpoint's
// metadata and throws Error listing the differences. Options that do not shape
// the schedule (e.g. the initial weights, which the checkpoint replaces) go in `ignored`.
void check_resume_options(const fs::path& checkpoint, const nlohmann::json& current,
                          const std::vector<std::string>& ignored = {"init"});

// Continues an interrupted run, as every trainer's --resume does: checks the
// options (check_resume_options with `ignored`; those stored in the state file
// when it has them, else the checkpoint's), loads the weights into `net` (from
// the state file when it holds them, else from the checkpoint, which must then
// have the architecture `spec`) and the optimiser state, and returns the
// progress saved with it (epochs or iterations done), an InputError naming the
// state file when it is outside [0, max_progress].
std::int64_t resume_training(torch::nn::Module& net, const ModelSpec& spec, torch::optim::Optimizer& optimizer,
                             const fs::path& checkpoint, const fs::path& state, const nlohmann::json& current,
                             std::int64_t max_progress, const std::vector<std::string>& ignored);

}  // namespace wsss::models
