#include "wsss/train/trainer.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <numeric>
#include <optional>

#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/prefetch.hpp"
#include "wsss/core/progress.hpp"
#include "wsss/data/transforms.hpp"
#include "wsss/io/lock.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/meta.hpp"
#include "wsss/io/train_log.hpp"
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
  for (const fs::path& f : {checkpoint_file(out_dir), resume_state_file(out_dir)})
    if (!o.overwrite && !o.resume && fs::exists(f))
      throw Error(f.string() + ": a checkpoint exists (use --resume to continue or --overwrite to restart)");
  // checkpoint.state is the resume point (it holds the weights too); the
  // first checkpoint.safetensors follows it, so a kill may leave it alone.
  if (o.resume && !fs::exists(resume_state_file(out_dir)))
    throw Error(out_dir.string() + ": --resume but no checkpoint.state (checkpoint) there");
}

namespace {

using LossParts = std::vector<std::pair<std::string, double>>;

LossParts part_values(const StepLoss& loss) {
  LossParts parts;
  for (const auto& [name, value] : loss.parts) parts.emplace_back(name, value.item<double>());
  return parts;
}

// "loss 0.1234 (bg 0.010 fg 0.020 neg 0.030) lr 0.0123"
std::string progress_note(double value, const LossParts& parts, double lr) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "loss %.4f", value);
  std::string note = buf;
  if (!parts.empty()) {
    note += " (";
    for (std::size_t i = 0; i < parts.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%s%s %.3f", i ? " " : "", parts[i].first.c_str(), parts[i].second);
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

std::vector<EpochSampler::Item> EpochSampler::batch(std::size_t index) const { return batch(index, 0, 1); }

std::vector<EpochSampler::Item> EpochSampler::batch(std::size_t index, int part, int parts) const {
  const std::uint64_t epoch = index / steps_per_epoch_;
  const std::size_t first = (index % steps_per_epoch_) * batch_;
  const std::size_t begin = batch_ * std::size_t(part) / std::size_t(parts);
  const std::size_t end = batch_ * std::size_t(part + 1) / std::size_t(parts);
  std::vector<Item> items;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = orders_.find(epoch);
  if (it == orders_.end()) {
    // Loaders run at most a few batches ahead: two epochs cover any window.
    while (orders_.size() >= 2) orders_.erase(orders_.begin());
    it = orders_.emplace(epoch, epoch_order(records_, seed_, epoch)).first;
  }
  for (std::size_t i = begin; i < end; ++i) items.push_back({epoch, it->second[first + i]});
  return items;
}

Schedule epoch_schedule(int epochs, const EpochSampler& sampler) {
  Schedule s;
  s.unit = Unit::Epoch;
  s.total = epochs;
  s.steps_per_unit = sampler.steps_per_epoch();
  return s;
}

Batch TrainTask::load_part(std::size_t index, int part, int parts) {
  Batch batch = load(index);
  if (parts == 1) return batch;
  for (torch::Tensor& t : batch) {
    const std::int64_t n = t.size(0);
    t = t.slice(0, n * part / parts, n * (part + 1) / parts).clone();
  }
  return batch;
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
  if (batch % ranks.world != 0)
    throw UsageError("--batch " + std::to_string(batch) + " does not split evenly over the " +
                     std::to_string(ranks.world) + " ranks of this data-parallel run");
}

namespace {

// The data-parallel side of run_training, as DistributedDataParallel does it:
// rank 0's parameters and buffers broadcast at the start and its buffers (the
// BatchNorm statistics) before every step, the ranks' gradients averaged by a
// bucketed allreduce after the backward passes.
class DataParallel {
 public:
  DataParallel(const Ranks& ranks, torch::nn::Module& net) : group_(ranks), net_(net) {}
  ProcessGroup& group() { return group_; }

  void start() {
    const auto t0 = Clock::now();
    std::vector<torch::Tensor> state = net_.parameters();
    for (const torch::Tensor& b : net_.buffers()) state.push_back(b);
    group_.broadcast(state);
    wait_seconds += seconds_since(t0);
  }
  void before_step() {
    const auto t0 = Clock::now();
    std::vector<torch::Tensor> buffers = net_.buffers();
    if (!buffers.empty()) group_.broadcast(buffers);
    wait_seconds += seconds_since(t0);
  }
  // Averages the gradients over the ranks; returns the ranks' mean of `loss`.
  double after_backward(double loss) {
    auto t0 = Clock::now();
    // In reverse order, as DDP's buckets: the last layers' gradients are ready first.
    std::vector<torch::Tensor> grads;
    std::vector<torch::Tensor> params = net_.parameters();
    for (auto p = params.rbegin(); p != params.rend(); ++p)
      if (p->requires_grad() && p->grad().defined()) grads.push_back(p->grad());
    // Every rank must bring the same gradients (a parameter unused on one rank
    // only would pair different buckets): sum(k)^2 == world * sum(k^2) exactly
    // when every rank's count k is the same. The first collective of the step:
    // its time is mostly waiting for the slowest rank.
    const double k = double(grads.size());
    torch::Tensor stats = group_.sum(torch::tensor({loss, k, k * k}, torch::kFloat64));
    wait_seconds += seconds_since(t0);
    t0 = Clock::now();
    const double sum_k = stats[1].item<double>(), sum_k2 = stats[2].item<double>();
    if (sum_k * sum_k != double(group_.size()) * sum_k2)
      throw Error("data-parallel training: the ranks have gradients for different numbers of parameters (" +
                  std::to_string(grads.size()) + " here, " + std::to_string(sum_k / group_.size()) +
                  " on average); every rank must use the same parameters in every step");
    group_.average(grads);
    gradient_bytes = 0;
    for (const torch::Tensor& g : grads) gradient_bytes += double(g.numel()) * double(g.element_size());
    allreduce_seconds += seconds_since(t0);
    return stats[0].item<double>() / double(group_.size());
  }
  double allreduce_seconds = 0;  // averaging the gradients
  double wait_seconds = 0;       // in the other collectives: mostly waiting for the other ranks
  double gradient_bytes = 0;     // allreduced in the last step

 private:
  ProcessGroup group_;
  torch::nn::Module& net_;
};

// Whether a BatchNorm of `net` normalises with batch statistics (is trained).
bool trains_batchnorm(torch::nn::Module& net) {
  for (const auto& m : net.modules(/*include_self=*/false))
    if (m->is_training() && (m->as<torch::nn::BatchNorm1d>() || m->as<torch::nn::BatchNorm2d>() ||
                             m->as<torch::nn::BatchNorm3d>()))
      return true;
  return false;
}

std::string megabytes(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  return buf;
}

}  // namespace

TrainResult run_training(TrainTask& task, const TrainOptions& o, const fs::path& out_dir, const Vocabulary& vocab,
                         const std::string& input_hash, const DescribeResult& describe) {
  const auto start_time = Clock::now();
  // A second training run into OUT_DIR is refused while this one runs. Of a
  // data-parallel run only rank 0 holds the lock: it alone writes there.
  std::optional<OutputLock> lock;
  if (o.ranks.rank == 0) lock.emplace(out_dir, "", o.provenance.program.empty() ? "wsss" : o.provenance.program);
  check_can_train(o, out_dir);
  const Schedule s = task.schedule();
  const int micro = std::max(1, s.micro_per_step);
  torch::nn::Module& net = task.network();
  torch::optim::Optimizer& optimizer = task.optimizer();
  models::LrScaler lr_schedule(optimizer);  // before a resume state (which holds decayed rates) is loaded

  // A data-parallel rank joins its process group before anything is trained;
  // only rank 0 (the lead) writes files and validates.
  std::unique_ptr<DataParallel> parallel;
  if (o.ranks.distributed()) {
    parallel = std::make_unique<DataParallel>(o.ranks, net);
    task.global_batch_ = GlobalBatch{&parallel->group()};
  }
  const bool lead = o.ranks.rank == 0;
  const int rank = o.ranks.rank, ranks = o.ranks.world;

  int start = 0;
  if (o.resume) {
    start = int(models::resume_training(net, task.backbone_spec(), optimizer, checkpoint_file(out_dir),
                                        resume_state_file(out_dir), task.options_json(), s.total,
                                        task.resume_ignored()));
    log::info("resuming after ", unit_name(s.unit), " ", start, " of ", s.total);
  }
  if (parallel) {
    parallel->start();
    log::info("data-parallel: ", o.ranks.describe(), "; each rank trains on 1/", ranks, " of every batch");
  }
  const int last = o.stop_after > 0 ? std::max(start, o.stop_after) : s.total;
  if (lead) {
    fs::create_directories(out_dir);
    // Temporaries of a killed run (this directory is this run's alone).
    if (std::size_t n = remove_stale_temporaries({model_file(out_dir), checkpoint_file(out_dir),
                                                  resume_state_file(out_dir), out_dir / "meta.json",
                                                  out_dir / kVocabularyFile, out_dir / kTrainLogFile}))
      log::info("removed ", n, " temporary file(s) left by an interrupted run");
  }
  // The log keeps what the checkpoint holds: a resumed run drops the entries of
  // the steps it runs again (docs/training.md, "The training log"). Only the
  // lead rank writes it (the ranks' losses are averaged before it is logged).
  std::optional<TrainLogWriter> log_file;
  if (lead)
    log_file.emplace(out_dir / kTrainLogFile,
                     o.resume ? static_cast<long long>(std::size_t(start) * s.steps_per_unit) : -1);
  // One log entry: kind, iteration, epoch (epoch schedules), then `fields`, then seconds.
  auto log_entry = [&](const char* kind, std::size_t iteration, int epoch, const nlohmann::ordered_json& fields) {
    if (!log_file) return;
    nlohmann::ordered_json entry;
    entry["kind"] = kind;
    entry["iteration"] = iteration;
    if (s.unit == Unit::Epoch) entry["epoch"] = epoch;
    for (auto it = fields.begin(); it != fields.end(); ++it)
      if (!entry.contains(it.key())) entry[it.key()] = it.value();
    entry["seconds"] = std::round((log_file->seconds_before() + seconds_since(start_time)) * 1000) / 1000;
    log_file->append(entry);
  };

  // One loader over every batch of the run, in order: a batch depends only on
  // its index, so a resumed run sees exactly the batches of an uninterrupted one.
  const std::size_t first_micro = std::size_t(start) * s.steps_per_unit * std::size_t(micro);
  const std::size_t micro_count = std::size_t(last - start) * s.steps_per_unit * std::size_t(micro);
  std::atomic<std::int64_t> loading_ns{0};
  Prefetcher<Batch> loader(micro_count, o.loader_threads, 2 * std::size_t(std::max(1, o.loader_threads)),
                           [&](std::size_t i) {
                             const auto t0 = Clock::now();
                             Batch batch = task.load_part(first_micro + i, rank, ranks);
                             loading_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
                             return batch;
                           });

  TrainResult result;
  const std::size_t window = s.loss_window > 0 ? s.loss_window : s.steps_per_unit;
  std::deque<double> recent;
  auto checkpoint = [&](int done) {
    const auto t0 = Clock::now();
    // The state (weights included) first: it is the resume point, and a kill
    // before the weight file is replaced leaves a consistent pair behind.
    models::save_resume_state(optimizer, done, resume_state_file(out_dir), &net, task.model_metadata());
    models::save_weights(net, checkpoint_file(out_dir), task.model_metadata());
    result.checkpoint_seconds += seconds_since(t0);
  };
  auto run_validation = [&](int done) {
    net.eval();
    result.validations.push_back(task.validate(done));
    net.train();
    const nlohmann::json& v = result.validations.back();
    if (v.is_object()) log_entry("validation", std::size_t(done) * s.steps_per_unit, done, nlohmann::ordered_json(v));
  };

  net.train();
  if (parallel && lead && trains_batchnorm(net))
    log::warn("BatchNorm is trained: each rank normalises by the statistics of its own slice of the batch (no "
              "SyncBN), so the result differs from one process's (docs/scale-out.md)");
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
      if (parallel) parallel->before_step();
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
      if (parallel) value = parallel->after_backward(value);
      optimizer.step();
      if (!std::isfinite(value))
        throw Error("training diverged (loss " + std::to_string(value) + " at " + unit_name(Unit::Iteration) + " " +
                    std::to_string(step + 1) + "); " + task.divergence_hint());
      unit_loss += value;
      recent.push_back(value);
      if (recent.size() > window) recent.pop_front();
      ++steps_run;
      const LossParts parts = part_values(last_loss);
      const double lr = lr_schedule.base(0) * factor;
      nlohmann::ordered_json fields;
      fields["loss"] = value;
      if (!parts.empty()) {
        fields["parts"] = nlohmann::ordered_json::object();
        for (const auto& [name, v] : parts) fields["parts"][name] = v;
      }
      fields["lr"] = lr;
      log_entry("step", step + 1, unit + 1, fields);
      progress->set_note(progress_note(value, parts, lr));
      progress->add();
    }
    const int done = unit + 1;
    if (s.unit == Unit::Epoch) {
      progress->finish();
      const double mean = unit_loss / double(s.steps_per_unit);
      log::info("epoch ", done, "/", s.total, ": mean loss ", mean);
      log_entry("epoch", std::size_t(done) * s.steps_per_unit, done, {{"mean_loss", mean}});
    }
    ++result.units_run;
    if (lead && (done % o.save_every == 0 || done == last)) checkpoint(done);
    if (lead && task.validates_at(done, done == s.total)) run_validation(done);
  }
  if (parallel) {
    parallel->group().barrier();  // nothing left in flight: rank 0 may finish alone
    result.ranks = ranks;
    result.allreduce_seconds = parallel->allreduce_seconds;
    result.rank_wait_seconds = parallel->wait_seconds;
  }
  if (progress && s.unit == Unit::Iteration) progress->finish();
  const double loop_seconds = seconds_since(loop_start);
  result.steps_per_second = loop_seconds > 0 ? double(steps_run) / loop_seconds : 0;
  result.loading_seconds = double(loading_ns.load()) * 1e-9;
  result.final_loss = recent.empty() ? 0 : std::accumulate(recent.begin(), recent.end(), 0.0) / double(recent.size());
  char times[200];
  std::snprintf(times, sizeof times,
                "%.2fs waiting for data (loader threads busy %.2fs), %.2fs writing checkpoints, of %.2fs",
                result.data_wait_seconds, result.loading_seconds, result.checkpoint_seconds, loop_seconds);
  std::string communication;
  if (parallel) {
    // "; 1.20s in collectives (3.4% of the loop): 0.80s allreducing 88.2 MB of
    // gradients per step, 0.40s waiting for the other ranks"
    const double all = result.allreduce_seconds + result.rank_wait_seconds;
    char head[64], tail[64];
    std::snprintf(head, sizeof head, "; %.2fs in collectives (%.1f%% of the loop): %.2fs allreducing ", all,
                  loop_seconds > 0 ? 100 * all / loop_seconds : 0.0, result.allreduce_seconds);
    std::snprintf(tail, sizeof tail, " of gradients per step, %.2fs waiting for the other ranks",
                  result.rank_wait_seconds);
    communication = head + megabytes(parallel->gradient_bytes) + tail;
  }
  log::info("training loop: ", times, communication);

  const int reached = std::max(start, last);
  if (reached < s.total) {
    log::info("stopped after ", unit_name(s.unit), " ", reached, " of ", s.total, " (--stop-after); continue with --resume");
    result.stopped = true;
    result.seconds = seconds_since(start_time);
    return result;
  }
  if (!lead) {
    result.seconds = seconds_since(start_time);
    return result;
  }
  net.eval();
  vocab.save(out_dir / kVocabularyFile);
  nlohmann::ordered_json extra;
  extra["final_loss"] = result.final_loss;
  if (parallel) {
    extra["ranks"] = ranks;
    extra["allreduce_seconds"] = result.allreduce_seconds;
    extra["rank_wait_seconds"] = result.rank_wait_seconds;
  }
  if (describe) describe(result, extra);
  write_meta(out_dir / "meta.json", o.provenance, input_hash, extra);
  models::save_weights(net, model_file(out_dir), task.model_metadata());  // last: "model exists" = "training done"
  result.seconds = seconds_since(start_time);
  return result;
}

}  // namespace wsss::train
