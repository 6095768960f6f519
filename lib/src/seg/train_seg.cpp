#include "wsss/seg/train_seg.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <deque>
#include <mutex>
#include <numeric>
#include <opencv2/imgproc.hpp>
#include <random>

#include "wsss/cam/cam.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/prefetch.hpp"
#include "wsss/core/progress.hpp"
#include "wsss/data/transforms.hpp"
#include "wsss/eval/confusion.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/meta.hpp"
#include "wsss/io/png.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/checkpoint.hpp"
#include "wsss/models/schedule.hpp"
#include "wsss/models/weights.hpp"
#include "wsss/models/threads.hpp"
#include "wsss/pseudo/pseudo.hpp"

namespace wsss::seg {

namespace F = torch::nn::functional;

// ---------------------------------------------------------------------------
// Options

void SegTrainOptions::validate() const {
  auto bad = [](const std::string& what) { return UsageError(what); };
  if (iters < 1) throw bad("--iters must be at least 1");
  if (stop_after < 0 || stop_after > iters) throw bad("--stop-after must be within 0..--iters");
  if (batch < 1) throw bad("--batch must be at least 1");
  if (iter_size < 1) throw bad("--iter-size must be at least 1");
  if (crop < 16) throw bad("--crop must be at least 16");
  if (scales.empty()) throw bad("--scales: no scale given");
  for (double s : scales)
    if (!(s > 0)) throw bad("--scales: scales must be positive");
  for (double s : msc_scales)
    if (!(s > 0)) throw bad("--msc-scales: scales must be positive");
  if (aspp_rates.empty()) throw bad("--aspp-rates: no rate given");
  for (int r : aspp_rates)
    if (r < 1) throw bad("--aspp-rates: rates must be positive");
  if (!(lr > 0)) throw bad("--lr must be positive");
  if (momentum < 0 || momentum >= 1) throw bad("--momentum must be within [0, 1)");
  if (weight_decay < 0) throw bad("--weight-decay must not be negative");
  if (poly_power < 0) throw bad("--poly-power must not be negative");
  if (lr_decay_every < 1) throw bad("--lr-decay-every must be at least 1");
  if (loss != "ce" && loss != "balanced") throw bad("--loss " + loss + ": expected ce or balanced");
  if (save_every < 1) throw bad("--save-every must be at least 1");
  if (val_every < 0) throw bad("--val-every must not be negative");
  if (field.empty()) throw bad("--field must not be empty");
}

nlohmann::json SegTrainOptions::to_json() const {
  return {{"arch", arch}, {"base_width", base_width}, {"init", init}, {"aspp_rates", aspp_rates},
          {"msc", msc}, {"msc_scales", msc_scales}, {"field", field}, {"scales", scales}, {"crop", crop},
          {"flip", flip}, {"iters", iters}, {"batch", batch}, {"iter_size", iter_size}, {"lr", lr},
          {"momentum", momentum}, {"weight_decay", weight_decay}, {"poly_power", poly_power},
          {"lr_decay_every", lr_decay_every}, {"aspp_weight_lr_mult", aspp_weight_lr_mult},
          {"aspp_bias_lr_mult", aspp_bias_lr_mult}, {"loss", loss}, {"seed", seed}};
}

namespace {

// ---------------------------------------------------------------------------
// Data: deeplab-pytorch's _augmentation on one image and its mask.

struct MicroBatch {
  torch::Tensor images;  // [B,3,crop,crop] float32, normalised
  torch::Tensor labels;  // [B,crop,crop] int64, 255 = ignore
};

// Source index of each output index under PIL's NEAREST (see resize_labels_nearest).
std::vector<int> nearest_index(int in, int out) {
  std::vector<int> idx(static_cast<std::size_t>(out));
  for (int i = 0; i < out; ++i) idx[std::size_t(i)] = std::min(in - 1, int((double(i) + 0.5) * in / out));
  return idx;
}

Mask read_labels(const Record& r, const std::string& field, const fs::path& manifest, const Vocabulary& vocab,
                 int width, int height) {
  fs::path file = record_path(r, field, manifest);
  Mask mask = read_mask(file);
  if (mask.width != width || mask.height != height)
    throw InputError(file, "mask is " + std::to_string(mask.width) + "x" + std::to_string(mask.height) +
                               " but its image is " + std::to_string(width) + "x" + std::to_string(height));
  for (std::uint8_t v : mask.data)
    if (int(v) >= vocab.size() && int(v) != vocab.ignore)
      throw InputError(file, "label " + std::to_string(int(v)) + " is neither a class id (0.." +
                                 std::to_string(vocab.size() - 1) + ") nor the ignore id " + std::to_string(vocab.ignore));
  return mask;
}

}  // namespace

void augment_sample(const cv::Mat& rgb, const Mask& mask, const SegTrainOptions& o, int ignore, std::mt19937_64& rng,
                    float* image, std::int64_t* labels) {
  // The size truncates as Python's int() does in deeplab-pytorch.
  double s = o.scales[std::uniform_int_distribution<std::size_t>(0, o.scales.size() - 1)(rng)];
  const int h = std::max(1, int(rgb.rows * s)), w = std::max(1, int(rgb.cols * s));
  cv::Mat f;
  rgb.convertTo(f, CV_32FC3);
  if (h != rgb.rows || w != rgb.cols) cv::resize(f, f, cv::Size(w, h), 0, 0, cv::INTER_LINEAR);
  std::vector<int> ry = nearest_index(mask.height, h), rx = nearest_index(mask.width, w);
  const int crop = o.crop;
  const int y0 = std::uniform_int_distribution<int>(0, std::max(h, crop) - crop)(rng);
  const int x0 = std::uniform_int_distribution<int>(0, std::max(w, crop) - crop)(rng);
  const bool flip = o.flip && (rng() >> 63) != 0;
  Normalization norm;
  float scale[3], shift[3];
  for (int c = 0; c < 3; ++c) {
    scale[c] = 1.0f / (255.0f * norm.std[c]);
    shift[c] = -norm.mean[c] / norm.std[c];
  }
  const std::size_t plane = std::size_t(crop) * crop;
  for (int cy = 0; cy < crop; ++cy) {
    const int sy = y0 + cy;
    const float* row = sy < h ? f.ptr<float>(sy) : nullptr;
    for (int cx = 0; cx < crop; ++cx) {
      const int sx = x0 + (flip ? crop - 1 - cx : cx);
      const std::size_t o_idx = std::size_t(cy) * crop + cx;
      if (row && sx < w) {
        for (int c = 0; c < 3; ++c) image[c * plane + o_idx] = row[3 * sx + c] * scale[c] + shift[c];
        labels[o_idx] = mask.at(ry[std::size_t(sy)], rx[std::size_t(sx)]);
      } else {
        for (int c = 0; c < 3; ++c) image[c * plane + o_idx] = 0.0f;
        labels[o_idx] = ignore;
      }
    }
  }
}

namespace {

// The record of the n-th sample drawn: epochs of shuffled order one after the
// other, each order depending only on (seed, epoch), so that any iteration's
// data is a function of (seed, iteration) and a resumed run sees the same data.
class SampleOrder {
 public:
  SampleOrder(std::size_t count, std::uint64_t seed) : count_(count), seed_(seed) {}
  std::size_t record(std::uint64_t n) {
    std::uint64_t epoch = n / count_;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find_if(cache_.begin(), cache_.end(), [&](const auto& e) { return e.first == epoch; });
    if (it == cache_.end()) {
      cache_.emplace_back(epoch, epoch_order(count_, seed_, epoch));
      if (cache_.size() > 3) cache_.pop_front();
      it = std::prev(cache_.end());
    }
    return it->second[std::size_t(n % count_)];
  }

 private:
  std::size_t count_;
  std::uint64_t seed_;
  std::mutex mu_;
  std::deque<std::pair<std::uint64_t, std::vector<std::size_t>>> cache_;
};

std::mt19937_64 sample_rng(std::uint64_t seed, std::uint64_t n) {
  std::seed_seq seq{std::uint32_t(seed), std::uint32_t(seed >> 32), std::uint32_t(n), std::uint32_t(n >> 32),
                    0x5e9u};
  return std::mt19937_64(seq);
}

// ---------------------------------------------------------------------------
// Checkpoints

std::map<std::string, std::string> model_metadata(const DeepLabV2Impl& net, const Vocabulary& vocab,
                                                  const SegTrainOptions& o) {
  auto meta = models::make_metadata(net.backbone->spec(), vocab.classes, o.to_json());
  meta[models::kMetaModel] = kModelDeepLabV2;
  meta[kMetaHead] = nlohmann::json{{"aspp_rates", net.aspp_rates()}}.dump();
  return meta;
}

torch::Tensor image_tensor(const cv::Mat& rgb) {
  ChwImage chw = normalize(rgb);
  return torch::from_blob(chw.data.data(), {1, 3, chw.height, chw.width}, torch::kFloat32).clone();
}

// Single-scale mIoU of the network on the validation manifest's `field` masks.
nlohmann::json evaluate(DeepLabV2Impl& net, const Manifest& val, const Vocabulary& vocab, const std::string& field,
                        const torch::Device& device, int iteration) {
  torch::NoGradGuard no_grad;
  net.eval();
  SegPredictOptions single;
  single.scales = {1.0};
  Confusion confusion(vocab.size());
  Progress progress("validation", val.records.size());
  for (const Record& r : val.records) {
    fs::path image_file = record_path(r, "image", val.path);
    cv::Mat rgb = read_image_rgb(image_file);
    if (!r.contains(field))
      throw InputError(val.path, "item '" + record_id(r) + "': no \"" + field + "\" mask to validate against");
    fs::path gt_file = record_path(r, field, val.path);
    Mask gt = read_mask(gt_file);
    torch::Tensor logits = predict_logits(net, rgb, single, device);
    std::vector<std::uint8_t> labels = predict_labels(logits, rgb, single);
    Mask pred(rgb.cols, rgb.rows);
    pred.data = std::move(labels);
    accumulate_masks(confusion, gt, pred, PredIgnore::Wrong, vocab.ignore, gt_file, image_file);
    progress.add();
  }
  progress.finish();
  net.train();
  Scores s = compute_scores(confusion);
  nlohmann::json per_class = nlohmann::json::array();
  for (int c = 0; c < vocab.size(); ++c)
    per_class.push_back({{"id", c}, {"class", vocab.classes[std::size_t(c)]},
                         {"iou", s.classes[std::size_t(c)].valid ? nlohmann::json(s.classes[std::size_t(c)].iou)
                                                                  : nlohmann::json()}});
  return {{"iteration", iteration}, {"miou", std::isnan(s.miou) ? nlohmann::json() : nlohmann::json(s.miou)},
          {"valid_classes", s.valid}, {"per_class", per_class}};
}

}  // namespace

// ---------------------------------------------------------------------------
// Training

std::unique_ptr<torch::optim::SGD> make_optimizer(DeepLabV2Impl& net, const SegTrainOptions& o) {
  ParameterGroups params = parameter_groups(net);
  using torch::optim::SGDOptions;
  auto group = [&](double lr, double wd) {
    return std::make_unique<SGDOptions>(SGDOptions(lr).momentum(o.momentum).weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(params.backbone_weights, group(o.lr, o.weight_decay));
  groups.emplace_back(params.aspp_weights, group(o.lr * o.aspp_weight_lr_mult, o.weight_decay));
  groups.emplace_back(params.aspp_biases, group(o.lr * o.aspp_bias_lr_mult, 0.0));
  return std::make_unique<torch::optim::SGD>(groups, SGDOptions(o.lr));
}

double poly_lr_factor(int iteration, const SegTrainOptions& o) {
  // PolynomialLR changes the rate only when its step count is a multiple of
  // LR_DECAY, and main.py steps it after each iteration.
  const int decayed_at = iteration - iteration % o.lr_decay_every;
  return models::poly_factor(double(decayed_at), double(o.iters), o.poly_power);
}

SegTrainSummary train_deeplab(const Manifest& train, const Vocabulary& vocab, const fs::path& out_dir,
                              const SegTrainOptions& o, const Manifest* validation) {
  o.validate();
  auto start_time = std::chrono::steady_clock::now();
  fs::path model_file = out_dir / "model.safetensors";
  fs::path ckpt_file = out_dir / "checkpoint.safetensors";
  fs::path state_file = out_dir / "checkpoint.state";
  if (!o.overwrite && fs::exists(model_file)) throw OutputExistsError(model_file);
  if (!o.overwrite && !o.resume && fs::exists(ckpt_file))
    throw Error(ckpt_file.string() + ": a checkpoint exists (use --resume to continue or --overwrite to restart)");
  if (o.resume && !(fs::exists(ckpt_file) && fs::exists(state_file)))
    throw Error(out_dir.string() + ": --resume but no checkpoint.safetensors/checkpoint.state there");
  if (vocab.size() > 255) throw Error("the vocabulary has " + std::to_string(vocab.size()) + " classes; masks hold at most 255");

  // Every record needs its mask: better to refuse now than at iteration 10,000.
  for (const Record& r : train.records)
    if (!r.contains(o.field))
      throw InputError(train.path, "item '" + record_id(r) + "': no \"" + o.field + "\" mask (--field " + o.field +
                                       (o.field == "mask" ? "" : "; --field mask trains on ground truth") + ")");
  if (validation)
    for (const Record& r : validation->records)
      if (!r.contains(o.val_field))
        throw InputError(validation->path, "item '" + record_id(r) + "': no \"" + o.val_field +
                                               "\" mask to validate against (--val-field " + o.val_field + ")");

  torch::manual_seed(o.seed);
  torch::Device device = models::resolve_device(o.device);
  models::ModelSpec spec = models::ModelSpec::deeplab(o.arch, o.base_width);
  DeepLabV2 net(spec, vocab.size(), o.aspp_rates);
  if (!o.init.empty()) {
    models::LoadOptions load;
    load.prefix = "backbone.";
    load.expected_spec = &spec;
    models::load_weights(*net->backbone, o.init, load);
  }
  net->to(device);

  std::unique_ptr<torch::optim::SGD> optimizer_ptr = make_optimizer(*net, o);
  torch::optim::SGD& optimizer = *optimizer_ptr;
  models::LrScaler lr_schedule(optimizer);

  int start = 0;
  if (o.resume) {
    start = int(models::resume_training(*net, spec, optimizer, ckpt_file, state_file, o.to_json(), o.iters,
                                        /*ignored=*/{}));
    log::info("resuming after iteration ", start, " of ", o.iters);
  }
  const int last = o.stop_after > 0 ? std::max(start, o.stop_after) : o.iters;

  SampleOrder order(train.records.size(), o.seed);
  const std::size_t micro_batches = std::size_t(last - start) * std::size_t(o.iter_size);
  const std::size_t first_micro = std::size_t(start) * std::size_t(o.iter_size);
  const int ignore = vocab.ignore;
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  std::atomic<std::int64_t> loading_ns{0};
  Prefetcher<MicroBatch> loader(micro_batches, o.loader_threads, 2 * std::size_t(std::max(1, o.loader_threads)),
                                [&](std::size_t i) {
    const std::size_t micro = first_micro + i;
    auto t0 = Clock::now();
    MicroBatch mb;
    mb.images = torch::empty({o.batch, 3, o.crop, o.crop}, torch::kFloat32);
    mb.labels = torch::empty({o.batch, o.crop, o.crop}, torch::kLong);
    for (int b = 0; b < o.batch; ++b) {
      const std::uint64_t n = std::uint64_t(micro) * std::uint64_t(o.batch) + std::uint64_t(b);
      const Record& r = train.records[order.record(n)];
      cv::Mat rgb = read_image_rgb(record_path(r, "image", train.path));
      Mask mask = read_labels(r, o.field, train.path, vocab, rgb.cols, rgb.rows);
      std::mt19937_64 rng = sample_rng(o.seed, n);
      augment_sample(rgb, mask, o, ignore, rng, mb.images[b].data_ptr<float>(), mb.labels[b].data_ptr<std::int64_t>());
    }
    loading_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
    return mb;
  });

  SegTrainSummary summary;
  nlohmann::json history = nlohmann::json::array();
  std::deque<double> recent;
  auto loss_fn = [&](const torch::Tensor& logits, const torch::Tensor& labels) {
    torch::Tensor l = resize_labels_nearest(labels, logits.size(2), logits.size(3));
    return o.loss == "balanced" ? balanced_cross_entropy(logits, l, ignore) : cross_entropy(logits, l, ignore);
  };
  auto checkpoint = [&](int done) {
    auto t0 = Clock::now();
    models::save_weights(*net, ckpt_file, model_metadata(*net, vocab, o));
    models::save_resume_state(optimizer, done, state_file);
    summary.checkpoint_seconds += since(t0);
  };
  net->train();
  Progress progress("train", std::size_t(last - start), "it");
  auto loop_start = std::chrono::steady_clock::now();
  for (int it = start; it < last; ++it) {
    const double factor = poly_lr_factor(it, o);
    lr_schedule.scale(factor);
    optimizer.zero_grad();
    double value = 0;
    for (int a = 0; a < o.iter_size; ++a) {
      auto t0 = Clock::now();
      MicroBatch mb = *loader.next();
      summary.data_wait_seconds += since(t0);
      torch::Tensor x = mb.images.to(device), y = mb.labels.to(device);
      std::vector<torch::Tensor> outputs = o.msc ? net->forward_msc(x, o.msc_scales) : std::vector<torch::Tensor>{net->forward(x)};
      torch::Tensor loss = loss_fn(outputs[0], y);
      for (std::size_t k = 1; k < outputs.size(); ++k) loss = loss + loss_fn(outputs[k], y);
      loss = loss / double(o.iter_size);
      loss.backward();
      value += loss.item<double>();
    }
    optimizer.step();
    if (!std::isfinite(value))
      throw Error("training diverged (loss " + std::to_string(value) + " at iteration " + std::to_string(it + 1) + "); " +
                  (o.init.empty() ? "a random backbone under frozen BatchNorm is unstable: give --init ImageNet weights"
                                  : "lower --lr"));
    recent.push_back(value);
    if (recent.size() > 20) recent.pop_front();
    summary.iterations_run++;
    char note[64];
    std::snprintf(note, sizeof note, "loss %.4f lr %.3g", value, lr_schedule.base(0) * factor);
    progress.set_note(note);
    progress.add();
    const int done = it + 1;
    if (done % o.save_every == 0 || done == last) checkpoint(done);
    if (validation && ((o.val_every > 0 && done % o.val_every == 0) || done == o.iters)) {
      nlohmann::json v = evaluate(*net, *validation, vocab, o.val_field, device, done);
      char miou[32] = "n/a";
      if (!v["miou"].is_null()) std::snprintf(miou, sizeof miou, "%.2f", v["miou"].get<double>() * 100);
      log::info("iteration ", done, ": validation mIoU ", miou);
      history.push_back(v);
    }
  }
  progress.finish();
  double loop_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - loop_start).count();
  summary.iterations_per_second = loop_seconds > 0 ? summary.iterations_run / loop_seconds : 0;
  summary.loading_seconds = double(loading_ns.load()) * 1e-9;
  char times[160];
  std::snprintf(times, sizeof times, "%.2fs waiting for data (loader threads busy %.2fs), %.2fs writing checkpoints, of %.2fs",
                summary.data_wait_seconds, summary.loading_seconds, summary.checkpoint_seconds, loop_seconds);
  log::info("training loop: ", times);
  summary.final_loss = recent.empty() ? 0 : std::accumulate(recent.begin(), recent.end(), 0.0) / double(recent.size());
  if (validation) summary.validation = history;
  if (last < o.iters) {
    log::info("stopped after iteration ", last, " of ", o.iters, " (--stop-after); continue with --resume");
    summary.stopped = true;
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
    return summary;
  }

  net->eval();
  vocab.save(out_dir / kVocabularyFile);
  nlohmann::ordered_json extra;
  extra["iterations"] = o.iters;
  extra["final_loss"] = summary.final_loss;
  extra["iterations_per_second"] = summary.iterations_per_second;
  extra["data_wait_seconds"] = summary.data_wait_seconds;
  extra["loading_seconds"] = summary.loading_seconds;
  extra["checkpoint_seconds"] = summary.checkpoint_seconds;
  if (validation) extra["validation"] = history;
  write_meta(out_dir / "meta.json", train.content_hash, extra);
  models::save_weights(*net, model_file, model_metadata(*net, vocab, o));  // last: "model exists" = "training done"
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  return summary;
}

// ---------------------------------------------------------------------------
// Prediction

torch::Tensor predict_logits(DeepLabV2Impl& net, const cv::Mat& rgb, const SegPredictOptions& o,
                             const torch::Device& device) {
  torch::NoGradGuard no_grad;
  const std::vector<std::int64_t> image_size = {rgb.rows, rgb.cols};
  auto bilinear = [](const torch::Tensor& t, const std::vector<std::int64_t>& size) {
    return F::interpolate(t, F::InterpolateFuncOptions().size(size).mode(torch::kBilinear).align_corners(false));
  };
  auto fused_pass = [&](const torch::Tensor& x) {
    std::vector<torch::Tensor> logits;
    std::vector<std::int64_t> grid;
    for (double s : o.scales) {
      torch::Tensor input = x;
      if (s != 1.0) {
        if (std::int64_t(std::floor(double(rgb.rows) * s)) < 1 || std::int64_t(std::floor(double(rgb.cols) * s)) < 1)
          throw Error("image of " + std::to_string(rgb.cols) + "x" + std::to_string(rgb.rows) +
                      " is too small for scale " + std::to_string(s));
        input = F::interpolate(x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{s, s}).recompute_scale_factor(false)
                                      .mode(torch::kBilinear).align_corners(false));
      }
      torch::Tensor l = net.forward(input);
      if (grid.empty()) grid = {l.size(2), l.size(3)};
      else l = bilinear(l, grid);
      logits.push_back(l);
    }
    torch::Tensor stacked = torch::stack(logits);
    torch::Tensor fused = o.fuse == "mean" ? stacked.mean(0) : std::get<0>(stacked.max(0));
    return bilinear(fused, image_size);
  };
  torch::Tensor x = image_tensor(rgb).to(device);
  torch::Tensor logits = fused_pass(x);
  if (o.flip) logits = (logits + fused_pass(x.flip({3})).flip({3})) / 2;
  return logits[0].to(torch::kCPU).contiguous();
}

std::vector<std::uint8_t> predict_labels(const torch::Tensor& logits, const cv::Mat& rgb, const SegPredictOptions& o) {
  const int channels = int(logits.size(0));
  const std::size_t n = std::size_t(logits.size(1)) * std::size_t(logits.size(2));
  torch::Tensor prob = torch::softmax(logits, 0).contiguous();
  if (!o.crf) return pseudo::argmax(prob.data_ptr<float>(), channels, n);
  pseudo::ChannelScores scores;
  scores.prob.assign(prob.data_ptr<float>(), prob.data_ptr<float>() + prob.numel());
  for (int c = 0; c < channels; ++c) scores.ids.push_back(c);
  scores.width = int(logits.size(2));
  scores.height = int(logits.size(1));
  std::vector<float> q = pseudo::crf_marginals(rgb, scores, "deeplab", 1);
  return pseudo::argmax(q.data(), channels, n);
}

LoadedDeepLab load_for_vocabulary(const fs::path& model, const Vocabulary& vocab) {
  LoadedDeepLab loaded = load_deeplab(model);
  if (loaded.class_names.size() != vocab.classes.size())
    throw InputError(model, "model has " + std::to_string(loaded.class_names.size()) +
                                " classes (background included) but the data's vocabulary '" + vocab.name + "' has " +
                                std::to_string(vocab.classes.size()));
  if (loaded.class_names != vocab.classes)
    throw InputError(model, "model's class names differ from the data's vocabulary '" + vocab.name + "'");
  return loaded;
}

namespace {

class SegPredictProcessor : public ItemProcessor {
 public:
  SegPredictProcessor(const fs::path& model, const Vocabulary& vocab, const fs::path& manifest, const fs::path& out_dir,
                      const SegPredictOptions& options)
      : loaded_(load_for_vocabulary(model, vocab)), device_(models::resolve_device(options.device)), vocab_(vocab),
        manifest_(manifest), out_dir_(out_dir), options_(options) {
    if (options.scales.empty()) throw UsageError("--scales: no scale given");
    if (options.fuse != "max" && options.fuse != "mean") throw UsageError("--fuse " + options.fuse + ": expected max or mean");
    loaded_.net->to(device_);
  }
  std::vector<fs::path> outputs(const Record& r) const override { return {item_file(out_dir_, "pred", record_id(r), ".png")}; }
  std::vector<std::string> fields() const override { return {"pred"}; }
  Record process(const Record& r, std::uint64_t) override {
    models::use_single_threaded_torch();
    cv::Mat rgb = read_image_rgb(record_path(r, "image", manifest_));
    torch::Tensor logits;
    {
      auto lock = gate_.enter();
      logits = predict_logits(*loaded_.net, rgb, options_, device_);
    }
    Mask pred(rgb.cols, rgb.rows);
    pred.data = predict_labels(logits, rgb, options_);
    fs::path file = outputs(r)[0];
    write_mask(file, pred, vocab_.palette);
    Record out;
    out["pred"] = file.string();
    return out;
  }

 private:
  LoadedDeepLab loaded_;
  torch::Device device_;
  Vocabulary vocab_;
  fs::path manifest_, out_dir_;
  SegPredictOptions options_;
  models::DeviceGate gate_{device_};
};

}  // namespace

std::unique_ptr<ItemProcessor> make_seg_predict_processor(const fs::path& model, const Vocabulary& vocab,
                                                          const fs::path& manifest, const fs::path& out_dir,
                                                          const SegPredictOptions& options) {
  return std::make_unique<SegPredictProcessor>(model, vocab, manifest, out_dir, options);
}

}  // namespace wsss::seg
