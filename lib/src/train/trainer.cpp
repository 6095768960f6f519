#include "wsss/train/trainer.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <numeric>

#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/prefetch.hpp"
#include "wsss/core/progress.hpp"
#include "wsss/data/transforms.hpp"
#include "wsss/io/meta.hpp"
#include "wsss/models/checkpoint.hpp"
#include "wsss/models/schedule.hpp"
#include "wsss/models/threads.hpp"
#include "wsss/models/weights.hpp"

namespace wsss::train {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

const char* unit_name(Unit unit) { return unit == Unit::Epoch ? "epoch" : "iteration"; }

}  // namespace

// The files of a finished or interrupted run must not be replaced by accident:
// a finished model needs --overwrite, an interrupted one --resume (or
// --overwrite to start again).
void check_can_train(const TrainOptions& o, const fs::path& out_dir) {
  if (!o.overwrite && fs::exists(model_file(out_dir))) throw OutputExistsError(model_file(out_dir));
  if (!o.overwrite && !o.resume && fs::exists(checkpoint_file(out_dir)))
    throw Error(checkpoint_file(out_dir).string() +
                ": a checkpoint exists (use --resume to continue or --overwrite to restart)");
  if (o.resume && !(fs::exists(checkpoint_file(out_dir)) && fs::exists(resume_state_file(out_dir))))
    throw Error(out_dir.string() + ": --resume but no checkpoint.safetensors/checkpoint.state there");
}

namespace {

// "loss 0.1234 (bg 0.010 fg 0.020 neg 0.030) lr 0.0123"
std::string progress_note(double value, const StepLoss& loss, double lr) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "loss %.4f", value);
  std::string note = buf;
  if (!loss.parts.empty()) {
    note += " (";
    for (std::size_t i = 0; i < loss.parts.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%s%s %.3f", i ? " " : "", loss.parts[i].first.c_str(),
                    loss.parts[i].second.item<double>());
      note += buf;
    }
    note += ")";
  }
  std::snprintf(buf, sizeof buf, " lr %.3g", lr);
  return note + buf;
}

}  // namespace

EpochSampler::EpochSampler(std::size_t records, int batch, std::uint64_t seed)
    : records_(records), batch_(std::size_t(std::max(1, batch))), steps_per_epoch_(records / batch_), seed_(seed) {
  if (steps_per_epoch_ == 0)
    throw UsageError("--batch " + std::to_string(batch) + " is larger than the " + std::to_string(records) +
                     " training images");
}

std::vector<EpochSampler::Item> EpochSampler::batch(std::size_t index) const {
  const std::uint64_t epoch = index / steps_per_epoch_;
  const std::size_t first = (index % steps_per_epoch_) * batch_;
  std::vector<Item> items;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = orders_.find(epoch);
  if (it == orders_.end()) {
    // Loaders run at most a few batches ahead: two epochs cover any window.
    while (orders_.size() >= 2) orders_.erase(orders_.begin());
    it = orders_.emplace(epoch, epoch_order(records_, seed_, epoch)).first;
  }
  for (std::size_t i = 0; i < batch_; ++i) items.push_back({epoch, it->second[first + i]});
  return items;
}

Schedule epoch_schedule(int epochs, const EpochSampler& sampler) {
  Schedule s;
  s.unit = Unit::Epoch;
  s.total = epochs;
  s.steps_per_unit = sampler.steps_per_epoch();
  return s;
}

double lr_factor(std::size_t step, const Schedule& s, double power) {
  const std::size_t every = std::size_t(std::max(1, s.lr_decay_every));
  const std::size_t decayed_at = step - step % every;
  return models::poly_factor(double(decayed_at), double(s.steps_per_unit * std::size_t(s.total)), power);
}

void begin_training(const TrainOptions& o, const fs::path& out_dir) {
  check_can_train(o, out_dir);
  models::set_torch_threads(o.threads);
}

fs::path model_file(const fs::path& out_dir) { return out_dir / "model.safetensors"; }
fs::path checkpoint_file(const fs::path& out_dir) { return out_dir / "checkpoint.safetensors"; }
fs::path resume_state_file(const fs::path& out_dir) { return out_dir / "checkpoint.state"; }

void TrainOptions::validate_common(int total, const char* unit_option) const {
  const std::string units = unit_option;
  if (total < 1) throw UsageError(units + " must be at least 1");
  if (batch < 1) throw UsageError("--batch must be at least 1");
  if (crop < 16) throw UsageError("--crop must be at least 16");
  if (!(lr > 0)) throw UsageError("--lr must be positive");
  if (!(momentum >= 0 && momentum < 1)) throw UsageError("--momentum must be within [0, 1)");
  if (!(weight_decay >= 0)) throw UsageError("--weight-decay must not be negative");
  if (!(poly_power >= 0)) throw UsageError("--poly-power must not be negative");
  if (loader_threads < 1) throw UsageError("--loader-threads must be at least 1");
  if (stop_after < 0 || stop_after > total) throw UsageError("--stop-after must be within 0.." + units);
  if (save_every < 1) throw UsageError("--save-every must be at least 1");
}

TrainResult run_training(TrainTask& task, const TrainOptions& o, const fs::path& out_dir, const Vocabulary& vocab,
                         const std::string& input_hash, const DescribeResult& describe) {
  const auto start_time = Clock::now();
  check_can_train(o, out_dir);
  const Schedule s = task.schedule();
  const int micro = std::max(1, s.micro_per_step);
  torch::nn::Module& net = task.network();
  torch::optim::Optimizer& optimizer = task.optimizer();
  models::LrScaler lr_schedule(optimizer);  // before a resume state (which holds decayed rates) is loaded

  int start = 0;
  if (o.resume) {
    start = int(models::resume_training(net, task.backbone_spec(), optimizer, checkpoint_file(out_dir),
                                        resume_state_file(out_dir), task.options_json(), s.total,
                                        task.resume_ignored()));
    log::info("resuming after ", unit_name(s.unit), " ", start, " of ", s.total);
  }
  const int last = o.stop_after > 0 ? std::max(start, o.stop_after) : s.total;
  fs::create_directories(out_dir);

  // One loader over every batch of the run, in order: a batch depends only on
  // its index, so a resumed run sees exactly the batches of an uninterrupted one.
  const std::size_t first_micro = std::size_t(start) * s.steps_per_unit * std::size_t(micro);
  const std::size_t micro_count = std::size_t(last - start) * s.steps_per_unit * std::size_t(micro);
  std::atomic<std::int64_t> loading_ns{0};
  Prefetcher<Batch> loader(micro_count, o.loader_threads, 2 * std::size_t(std::max(1, o.loader_threads)),
                           [&](std::size_t i) {
                             const auto t0 = Clock::now();
                             Batch batch = task.load(first_micro + i);
                             loading_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
                             return batch;
                           });

  TrainResult result;
  const std::size_t window = s.loss_window > 0 ? s.loss_window : s.steps_per_unit;
  std::deque<double> recent;
  auto checkpoint = [&](int done) {
    const auto t0 = Clock::now();
    models::save_weights(net, checkpoint_file(out_dir), task.model_metadata());
    models::save_resume_state(optimizer, done, resume_state_file(out_dir));
    result.checkpoint_seconds += seconds_since(t0);
  };
  auto run_validation = [&](int done) {
    net.eval();
    result.validations.push_back(task.validate(done));
    net.train();
  };

  net.train();
  const auto loop_start = Clock::now();
  std::size_t steps_run = 0;
  std::unique_ptr<Progress> progress;
  for (int unit = start; unit < last; ++unit) {
    if (s.unit == Unit::Epoch) {
      progress = std::make_unique<Progress>("epoch " + std::to_string(unit + 1) + "/" + std::to_string(s.total),
                                            s.steps_per_unit, "it");
    } else if (!progress) {
      progress = std::make_unique<Progress>("train", std::size_t(last - start), "it");
    }
    double unit_loss = 0;
    for (std::size_t k = 0; k < s.steps_per_unit; ++k) {
      const std::size_t step = std::size_t(unit) * s.steps_per_unit + k;
      const double factor = lr_factor(step, s, o.poly_power);
      lr_schedule.scale(factor);
      optimizer.zero_grad();
      double value = 0;
      StepLoss last_loss;
      for (int m = 0; m < micro; ++m) {
        const auto t0 = Clock::now();
        Batch batch = *loader.next();
        result.data_wait_seconds += seconds_since(t0);
        last_loss = task.loss(batch);
        torch::Tensor total = micro > 1 ? last_loss.total / double(micro) : last_loss.total;
        total.backward();
        value += total.item<double>();
      }
      optimizer.step();
      if (!std::isfinite(value))
        throw Error("training diverged (loss " + std::to_string(value) + " at " + unit_name(Unit::Iteration) + " " +
                    std::to_string(step + 1) + "); " + task.divergence_hint());
      unit_loss += value;
      recent.push_back(value);
      if (recent.size() > window) recent.pop_front();
      ++steps_run;
      progress->set_note(progress_note(value, last_loss, lr_schedule.base(0) * factor));
      progress->add();
    }
    const int done = unit + 1;
    if (s.unit == Unit::Epoch) {
      progress->finish();
      log::info("epoch ", done, "/", s.total, ": mean loss ", unit_loss / double(s.steps_per_unit));
    }
    ++result.units_run;
    if (done % o.save_every == 0 || done == last) checkpoint(done);
    if (task.validates_at(done, done == s.total)) run_validation(done);
  }
  if (progress && s.unit == Unit::Iteration) progress->finish();
  const double loop_seconds = seconds_since(loop_start);
  result.steps_per_second = loop_seconds > 0 ? double(steps_run) / loop_seconds : 0;
  result.loading_seconds = double(loading_ns.load()) * 1e-9;
  result.final_loss = recent.empty() ? 0 : std::accumulate(recent.begin(), recent.end(), 0.0) / double(recent.size());
  char times[160];
  std::snprintf(times, sizeof times,
                "%.2fs waiting for data (loader threads busy %.2fs), %.2fs writing checkpoints, of %.2fs",
                result.data_wait_seconds, result.loading_seconds, result.checkpoint_seconds, loop_seconds);
  log::info("training loop: ", times);

  const int reached = std::max(start, last);
  if (reached < s.total) {
    log::info("stopped after ", unit_name(s.unit), " ", reached, " of ", s.total, " (--stop-after); continue with --resume");
    result.stopped = true;
    result.seconds = seconds_since(start_time);
    return result;
  }
  net.eval();
  vocab.save(out_dir / kVocabularyFile);
  nlohmann::ordered_json extra;
  extra["final_loss"] = result.final_loss;
  if (describe) describe(result, extra);
  write_meta(out_dir / "meta.json", o.provenance, input_hash, extra);
  models::save_weights(net, model_file(out_dir), task.model_metadata());  // last: "model exists" = "training done"
  result.seconds = seconds_since(start_time);
  return result;
}

}  // namespace wsss::train
