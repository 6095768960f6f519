#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <numeric>
#include <opencv2/imgcodecs.hpp>
#include <random>

#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/prefetch.hpp"
#include "wsss/core/progress.hpp"
#include "wsss/data/transforms.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/meta.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/io/png.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/checkpoint.hpp"
#include "wsss/models/schedule.hpp"
#include "wsss/models/weights.hpp"
#include "wsss/models/threads.hpp"
#include "wsss/refine/irn.hpp"

namespace wsss::refine {

namespace F = torch::nn::functional;

// ---------------------------------------------------------------------------
// The network.

namespace {

constexpr std::int64_t kEdgeChannels = 32;  // per stage, as IRN
constexpr std::int64_t kEdgeGroups = 4;
constexpr std::uint8_t kUnsure = 255;

}  // namespace

IrnEdgeNetImpl::IrnEdgeNetImpl(models::ModelSpec spec) {
  spec.validate();
  backbone = register_module("backbone", models::ResNet(spec));
  backbone->set_frozen_batchnorm(true);
  for (auto& p : backbone->parameters()) p.set_requires_grad(false);
  const auto channels = spec.stage_channels();
  // Output strides of stem, layer1..layer4 (the max-pool halves, layer1 keeps).
  std::array<std::int64_t, 5> stride{};
  stride[0] = std::int64_t(spec.strides[0]) * 2;
  stride[1] = stride[0];
  for (int i = 2; i < 5; ++i) stride[i] = stride[i - 1] * spec.strides[i - 1];
  for (int i = 0; i < 5; ++i) {
    upsample_factor_[i] = stride[i] / stride[1];
    fc_edge[i] = register_module(
        "fc_edge" + std::to_string(i + 1),
        torch::nn::Sequential(
            torch::nn::Conv2d(torch::nn::Conv2dOptions(channels[i], kEdgeChannels, 1).bias(false)),
            torch::nn::GroupNorm(torch::nn::GroupNormOptions(kEdgeGroups, kEdgeChannels))));
  }
  fc_edge6 = register_module("fc_edge6",
                             torch::nn::Conv2d(torch::nn::Conv2dOptions(5 * kEdgeChannels, 1, 1).bias(true)));
  backbone->eval();
}

void IrnEdgeNetImpl::train(bool on) {
  torch::nn::Module::train(on);
  backbone->eval();
}

std::vector<torch::Tensor> IrnEdgeNetImpl::edge_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& p : named_parameters())
    if (p.key().rfind("backbone.", 0) != 0) out.push_back(p.value());
  return out;
}

torch::Tensor IrnEdgeNetImpl::forward(torch::Tensor x) { return fc_edge6->forward(features(x)); }

torch::Tensor IrnEdgeNetImpl::features(torch::Tensor x) {
  // IRN detaches every stage: running the backbone without autograd is the same
  // and keeps no activations for a backward pass.
  std::array<torch::Tensor, 5> stages;
  {
    torch::NoGradGuard no_grad;
    torch::Tensor h = x;
    for (int i = 0; i < 5; ++i) stages[i] = h = backbone->forward_stage(i, h);
  }
  const std::int64_t gh = stages[1].size(2), gw = stages[1].size(3);
  std::vector<torch::Tensor> edges;
  for (int i = 0; i < 5; ++i) {
    torch::Tensor e = fc_edge[i]->forward(stages[i]);
    const std::int64_t f = upsample_factor_[i];
    if (f > 1)  // IRN: nn.Upsample(scale_factor=f), then crop to layer1's grid
      e = F::interpolate(e, F::InterpolateFuncOptions()
                                .size(std::vector<std::int64_t>{e.size(2) * f, e.size(3) * f})
                                .mode(torch::kBilinear)
                                .align_corners(false));
    e = torch::relu(e);
    if (e.size(2) < gh || e.size(3) < gw)
      throw Error("IRN edge network: stage " + std::to_string(i + 1) + " output is smaller than the stride-4 grid");
    edges.push_back(e.slice(2, 0, gh).slice(3, 0, gw));
  }
  return torch::cat(edges, 1);
}

IrnEdgeNet load_irn_edge_net(const fs::path& file) {
  auto meta = models::read_weight_metadata(file);
  auto kind = meta.find(models::kMetaModel);
  if (kind == meta.end() || kind->second != kModelIrnEdge)
    throw InputError(file, std::string("not an IRN edge network (wsss.model is ") +
                               (kind == meta.end() ? "absent" : "'" + kind->second + "'") +
                               "; train one with wsss-refine irn-train)");
  models::ModelSpec spec = models::read_backbone_spec(file);
  IrnEdgeNet net(spec);
  models::LoadOptions load;
  load.expected_spec = &spec;
  models::load_weights(*net, file, load);
  net->eval();
  return net;
}

torch::Tensor irn_edge_map(IrnEdgeNet& net, const torch::Tensor& image_and_flip, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  const std::int64_t batch = image_and_flip.size(0);
  const std::int64_t height = image_and_flip.size(2), width = image_and_flip.size(3);
  const std::int64_t gh = (height - 1) / 4 + 1, gw = (width - 1) / 4 + 1;
  torch::Tensor features = net->features(image_and_flip.to(device)).to(torch::kCPU).contiguous();
  const std::int64_t channels = features.size(1), fh = features.size(2), fw = features.size(3);
  if (fh < gh || fw < gw)
    throw Error("IRN edge network: output grid " + std::to_string(fh) + "x" + std::to_string(fw) +
                " is smaller than the stride-4 grid of the image");
  // fc_edge6 and the sigmoid as plain loops in a fixed order: ATen's 1x1
  // convolution with a single output channel gives last-bit differences between
  // intra-op thread counts, and the stage must be byte-identical for any -j.
  torch::Tensor weight = net->fc_edge6->weight.detach().to(torch::kCPU).contiguous();
  torch::Tensor bias = net->fc_edge6->bias.detach().to(torch::kCPU);
  const float* w = weight.data_ptr<float>();
  const float b = bias.item<float>();
  const float* f = features.data_ptr<float>();
  const std::size_t plane = std::size_t(fh) * fw;
  std::vector<float> logits(std::size_t(batch) * plane, b);
  for (std::int64_t n = 0; n < batch; ++n)
    for (std::int64_t c = 0; c < channels; ++c) {
      const float* src = f + (std::size_t(n) * channels + c) * plane;
      float* dst = logits.data() + std::size_t(n) * plane;
      for (std::size_t p = 0; p < plane; ++p) dst[p] += w[c] * src[p];
    }
  torch::Tensor edge = torch::empty({gh, gw}, torch::kFloat32);
  float* out = edge.data_ptr<float>();
  for (std::int64_t y = 0; y < gh; ++y)
    for (std::int64_t x = 0; x < gw; ++x) {
      float v = logits[std::size_t(y) * fw + x];
      // IRN: edge[0]/2 + edge[1].flip(-1)/2 over the full output width.
      if (batch > 1) v = v / 2 + logits[plane + std::size_t(y) * fw + (fw - 1 - x)] / 2;
      out[y * gw + x] = 1.0f / (1.0f + std::exp(-v));
    }
  return edge;
}

// ---------------------------------------------------------------------------
// Affinity labels, path-max affinity and the loss.

std::vector<std::uint8_t> reduce_labels_nearest(const std::uint8_t* labels, int height, int width, int out_h,
                                                int out_w) {
  std::vector<std::uint8_t> out(std::size_t(out_h) * out_w);
  for (int y = 0; y < out_h; ++y) {
    const int sy = std::min(height - 1, int(std::floor((y + 0.5) * height / out_h)));
    for (int x = 0; x < out_w; ++x) {
      const int sx = std::min(width - 1, int(std::floor((x + 0.5) * width / out_w)));
      out[std::size_t(y) * out_w + x] = labels[std::size_t(sy) * width + sx];
    }
  }
  return out;
}

namespace {

// Padding that keeps every offset of the directions (and their paths, which lie in
// the same bounding boxes) inside the padded grid.
struct Margins {
  std::int64_t top = 0, bottom = 0, left = 0, right = 0;
};

Margins margins_of(const std::vector<GridOffset>& directions) {
  Margins m;
  for (const GridOffset& d : directions) {
    m.top = std::max<std::int64_t>(m.top, -d.dy);
    m.bottom = std::max<std::int64_t>(m.bottom, d.dy);
    m.left = std::max<std::int64_t>(m.left, -d.dx);
    m.right = std::max<std::int64_t>(m.right, d.dx);
  }
  return m;
}

torch::Tensor pad(const torch::Tensor& t, const Margins& m, double value) {
  return torch::constant_pad_nd(t, {m.left, m.right, m.top, m.bottom}, value);
}

// The [B, h, w] window of a padded [B, h+.., w+..] tensor shifted by `o`.
torch::Tensor shifted(const torch::Tensor& padded, const Margins& m, GridOffset o, std::int64_t h, std::int64_t w) {
  return padded.slice(1, m.top + o.dy, m.top + o.dy + h).slice(2, m.left + o.dx, m.left + o.dx + w);
}

}  // namespace

AffinityLabels affinity_labels(const torch::Tensor& labels, const std::vector<GridOffset>& directions) {
  if (labels.dim() != 3) throw Error("affinity_labels: labels must be [B, h, w]");
  const std::int64_t h = labels.size(1), w = labels.size(2);
  const Margins m = margins_of(directions);
  torch::Tensor source = labels.to(torch::kInt32);
  torch::Tensor padded = pad(source, m, kUnsure);  // targets outside are unsure: no pair
  const torch::Tensor source_valid = source < kUnsure;
  std::vector<torch::Tensor> bg, fg, neg;
  for (const GridOffset& d : directions) {
    torch::Tensor target = shifted(padded, m, d, h, w);
    torch::Tensor valid = source_valid & (target < kUnsure);
    torch::Tensor equal = source == target;
    bg.push_back(valid & equal & (source == 0));
    fg.push_back(valid & equal & (source > 0));
    neg.push_back(valid & ~equal);
  }
  return {torch::stack(bg, 1), torch::stack(fg, 1), torch::stack(neg, 1)};
}

torch::Tensor path_max_affinity(const torch::Tensor& boundary, const std::vector<GridOffset>& directions) {
  if (boundary.dim() != 3) throw Error("path_max_affinity: boundary must be [B, h, w]");
  const std::int64_t batch = boundary.size(0), h = boundary.size(1), w = boundary.size(2);
  const Margins m = margins_of(directions);
  torch::Tensor padded = pad(boundary, m, 1.0);
  const std::int64_t padded_w = w + m.left + m.right;
  torch::Tensor flat = padded.reshape({batch, -1});
  const auto long_options = torch::TensorOptions().dtype(torch::kLong).device(boundary.device());
  // Flat index of (y, x) in the padded grid, before the shift.
  const torch::Tensor base = (torch::arange(h, long_options) * padded_w).view({h, 1}) +
                             torch::arange(w, long_options).view({1, w});
  std::vector<torch::Tensor> affinities;
  affinities.reserve(directions.size());
  for (const GridOffset& d : directions) {
    // Find where the maximum lies without autograd, then gather it with autograd:
    // the backward keeps one index per pair instead of every path value.
    torch::Tensor index;
    {
      torch::NoGradGuard no_grad;
      torch::Tensor best;
      for (const GridOffset& o : random_walk_path(d)) {
        torch::Tensor value = shifted(padded, m, o, h, w);
        torch::Tensor at = (base + ((m.top + o.dy) * padded_w + m.left + o.dx)).expand({batch, h, w});
        if (!best.defined()) {
          best = value.clone();
          index = at.clone();
        } else {
          torch::Tensor greater = value > best;
          best = torch::where(greater, value, best);
          index = torch::where(greater, at, index);
        }
      }
    }
    affinities.push_back(1 - flat.gather(1, index.reshape({batch, -1})).view({batch, h, w}));
  }
  return torch::stack(affinities, 1);
}

AffinityLoss affinity_loss(const torch::Tensor& affinity, const AffinityLabels& labels) {
  torch::Tensor pos = -torch::log(affinity + 1e-5);
  torch::Tensor neg = -torch::log(1 + 1e-5 - affinity);
  auto masked_mean = [](const torch::Tensor& loss, const torch::Tensor& mask) {
    torch::Tensor m = mask.to(loss.dtype());
    return (loss * m).sum() / (m.sum() + 1e-5);
  };
  AffinityLoss out;
  out.bg_pos = masked_mean(pos, labels.bg_pos);
  out.fg_pos = masked_mean(pos, labels.fg_pos);
  out.neg = masked_mean(neg, labels.neg);
  out.total = (out.bg_pos / 2 + out.fg_pos / 2 + out.neg) / 2;
  return out;
}

// ---------------------------------------------------------------------------
// Training.

namespace {

struct Batch {
  torch::Tensor images, labels;  // [B, 3, c, c] float, [B, g, g] uint8
};

// The backbone spec: the init file's when it has one (a CAM classifier), else the
// options' (torchvision files carry no spec), IRN's ResNet-50 by default.
models::ModelSpec backbone_spec(const IrnTrainOptions& o) {
  std::string arch = o.arch;
  int width = o.base_width;
  auto meta = models::read_weight_metadata(o.init);
  if (meta.count(models::kMetaBackbone)) {
    models::ModelSpec stored = models::read_backbone_spec(o.init);
    if (!arch.empty() && arch != stored.arch)
      throw UsageError("--arch " + arch + " but " + o.init + " holds a " + stored.arch);
    if (width != 0 && width != stored.base_width)
      throw UsageError("--width " + std::to_string(width) + " but " + o.init + " holds width " +
                       std::to_string(stored.base_width));
    arch = stored.arch;
    width = stored.base_width;
  }
  return models::ModelSpec::irn(arch.empty() ? "resnet50" : arch, width == 0 ? 64 : width);
}

// The IR label of a record, checked against its image and the vocabulary.
cv::Mat read_ir_label(const Record& r, const fs::path& manifest, int num_foreground, cv::Size image_size) {
  fs::path file = record_path(r, "ir_label", manifest);
  Mask mask = read_mask(file);
  if (mask.width != image_size.width || mask.height != image_size.height)
    throw InputError(file, "item '" + record_id(r) + "': IR label is " + std::to_string(mask.width) + "x" +
                               std::to_string(mask.height) + " but the image is " + std::to_string(image_size.width) +
                               "x" + std::to_string(image_size.height));
  for (std::size_t i = 0; i < mask.data.size(); ++i) {
    const int v = mask.data[i];
    if (v != kUnsure && v > num_foreground)
      throw InputError(file, "item '" + record_id(r) + "': label " + std::to_string(v) + " at (x=" +
                                 std::to_string(i % std::size_t(mask.width)) + ", y=" +
                                 std::to_string(i / std::size_t(mask.width)) + ") is outside 0.." +
                                 std::to_string(num_foreground) + " and not 255 (unsure)");
  }
  return cv::Mat(mask.height, mask.width, CV_8UC1, mask.data.data()).clone();
}

// IRN's VOC12AffinityDataset: random rescale (bicubic image, nearest label), ImageNet
// normalisation, random flip, random crop (image padded with 0, label with 255),
// label sampled to the stride-4 grid.
std::pair<torch::Tensor, torch::Tensor> augment(const cv::Mat& rgb, const cv::Mat& label, const IrnTrainOptions& o,
                                                std::mt19937_64& rng) {
  const double scale = std::uniform_real_distribution<double>(o.scale_min, o.scale_max)(rng);
  const cv::Size size = scaled_size(rgb.size(), scale);
  ChwImage chw = normalize(resize_image(rgb, size));
  cv::Mat lab = resize_labels(label, size);
  // The label rides along as a 4th channel holding label - 255, so the crop's fill
  // of 0 means "unsure" there while the colour channels get IRN's 0.
  ChwImage joint;
  joint.channels = 4;
  joint.height = chw.height;
  joint.width = chw.width;
  joint.data = std::move(chw.data);
  joint.data.resize(std::size_t(4) * joint.height * joint.width);
  float* lp = joint.plane(3);
  for (int y = 0; y < lab.rows; ++y)
    for (int x = 0; x < lab.cols; ++x) lp[std::size_t(y) * lab.cols + x] = float(lab.at<std::uint8_t>(y, x)) - 255.f;
  if (rng() & 1) joint = flip_horizontal(joint);
  ChwImage crop = random_crop(joint, o.crop, 0.0f, rng);
  std::vector<std::uint8_t> full(std::size_t(o.crop) * o.crop);
  const float* cl = crop.plane(3);
  for (std::size_t i = 0; i < full.size(); ++i) full[i] = static_cast<std::uint8_t>(std::lround(cl[i] + 255.f));
  const int grid = (o.crop - 1) / 4 + 1;
  std::vector<std::uint8_t> reduced = reduce_labels_nearest(full.data(), o.crop, o.crop, grid, grid);
  torch::Tensor image = torch::from_blob(crop.data.data(), {4, o.crop, o.crop}, torch::kFloat32).slice(0, 0, 3).clone();
  torch::Tensor labels = torch::from_blob(reduced.data(), {grid, grid}, torch::kUInt8).clone();
  return {image, labels};
}

}  // namespace

void IrnTrainOptions::validate() const {
  if (init.empty()) throw UsageError("--init is required (backbone weights: ImageNet or a CAM classifier)");
  if (epochs < 1) throw UsageError("--epochs must be at least 1");
  if (stop_after < 0 || stop_after > epochs) throw UsageError("--stop-after must be within 0..--epochs");
  if (batch < 1) throw UsageError("--batch must be at least 1");
  if (crop < 16) throw UsageError("--crop must be at least 16");
  if (!(scale_min > 0) || !(scale_max >= scale_min))
    throw UsageError("--scale-range must be LO:HI with 0 < LO <= HI");
  if (radius < 2 || radius > 32) throw UsageError("--radius must be within 2..32");
  if (!(lr > 0)) throw UsageError("--lr must be positive");
  if (weight_decay < 0) throw UsageError("--weight-decay must not be negative");
  if (momentum < 0 || momentum >= 1) throw UsageError("--momentum must be within [0, 1)");
  if (!(poly_power >= 0)) throw UsageError("--poly-power must not be negative");
}

nlohmann::json IrnTrainOptions::to_json() const {
  return {{"init", init}, {"arch", arch}, {"base_width", base_width}, {"scale_range", {scale_min, scale_max}},
          {"crop", crop}, {"radius", radius}, {"epochs", epochs}, {"batch", batch}, {"lr", lr},
          {"weight_decay", weight_decay}, {"momentum", momentum}, {"poly_power", poly_power}, {"seed", seed}};
}

IrnTrainSummary train_irn(const Manifest& train, const Vocabulary& vocab, const fs::path& out_dir,
                          const IrnTrainOptions& o) {
  o.validate();
  auto start_time = std::chrono::steady_clock::now();
  const models::ModelSpec spec = backbone_spec(o);
  fs::path model_file = out_dir / "model.safetensors";
  fs::path ckpt_file = out_dir / "checkpoint.safetensors";
  fs::path state_file = out_dir / "checkpoint.state";
  if (!o.overwrite && fs::exists(model_file)) throw OutputExistsError(model_file);
  if (!o.overwrite && !o.resume && fs::exists(ckpt_file))
    throw Error(ckpt_file.string() + ": a checkpoint exists (use --resume to continue or --overwrite to restart)");
  if (o.resume && !(fs::exists(ckpt_file) && fs::exists(state_file)))
    throw Error(out_dir.string() + ": --resume but no checkpoint.safetensors/checkpoint.state there");
  for (const Record& r : train.records) {
    record_path(r, "image", train.path);  // fail before training, naming the item
    record_path(r, "ir_label", train.path);
  }
  const std::size_t steps_per_epoch = train.records.size() / std::size_t(o.batch);  // drop_last, as IRN
  if (steps_per_epoch == 0)
    throw UsageError("--batch " + std::to_string(o.batch) + " is larger than the " +
                     std::to_string(train.records.size()) + " training images");
  fs::create_directories(out_dir);

  torch::manual_seed(o.seed);
  torch::Device device = models::resolve_device(o.device);
  IrnEdgeNet net(spec);
  {
    // A torchvision file loads without the prefix, a CAM classifier with it.
    models::LoadOptions load;
    load.prefix = "backbone.";
    load.expected_spec = &spec;
    models::load_weights(*net->backbone, o.init, load);
  }
  net->to(device);
  const std::vector<GridOffset> directions = random_walk_directions(o.radius);

  using torch::optim::SGDOptions;
  torch::optim::SGD optimizer(net->edge_parameters(),
                              SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay));
  models::LrScaler lr_schedule(optimizer);
  int start_epoch = 0;
  if (o.resume) {
    start_epoch = int(models::resume_training(*net, spec, optimizer, ckpt_file, state_file, o.to_json(), o.epochs,
                                              /*ignored=*/{}));
    log::info("resuming after epoch ", start_epoch, " of ", o.epochs);
  }
  const std::size_t max_step = steps_per_epoch * std::size_t(o.epochs);
  const int num_foreground = vocab.num_foreground();
  IrnTrainSummary summary;
  net->train();
  const int last_epoch = o.stop_after > 0 ? o.stop_after : o.epochs;
  for (int epoch = start_epoch; epoch < last_epoch; ++epoch) {
    // Order and augmentation depend only on (seed, epoch, id): a resumed run sees
    // the batches of an uninterrupted one.
    const std::vector<std::size_t> order = epoch_order(train.records.size(), o.seed, std::uint64_t(epoch));
    Prefetcher<Batch> loader(steps_per_epoch, o.loader_threads, 2 * std::size_t(o.loader_threads),
                             [&](std::size_t b) {
      std::vector<torch::Tensor> images, labels;
      for (int i = 0; i < o.batch; ++i) {
        const Record& r = train.records[order[b * std::size_t(o.batch) + std::size_t(i)]];
        std::mt19937_64 rng = augmentation_rng(o.seed, std::uint64_t(epoch), record_id(r));
        cv::Mat rgb = read_image_rgb(record_path(r, "image", train.path));
        cv::Mat label = read_ir_label(r, train.path, num_foreground, rgb.size());
        auto [image, reduced] = augment(rgb, label, o, rng);
        images.push_back(image);
        labels.push_back(reduced);
      }
      return Batch{torch::stack(images), torch::stack(labels)};
    });
    Progress progress("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs), steps_per_epoch, "it");
    double loss_sum = 0;
    for (std::size_t step = 0; step < steps_per_epoch; ++step) {
      Batch batch = *loader.next();
      const std::size_t global_step = std::size_t(epoch) * steps_per_epoch + step;
      const double factor = models::poly_factor(double(global_step), double(max_step), o.poly_power);
      lr_schedule.scale(factor);
      torch::Tensor logits = net->forward(batch.images.to(device));
      torch::Tensor labels = batch.labels.to(device);
      if (logits.size(2) != labels.size(1) || logits.size(3) != labels.size(2))
        throw Error("IRN edge network: output grid " + std::to_string(logits.size(2)) + "x" +
                    std::to_string(logits.size(3)) + " differs from the label grid " +
                    std::to_string(labels.size(1)) + "x" + std::to_string(labels.size(2)));
      torch::Tensor affinity = path_max_affinity(torch::sigmoid(logits.select(1, 0)), directions);
      AffinityLoss loss = affinity_loss(affinity, affinity_labels(labels, directions));
      optimizer.zero_grad();
      loss.total.backward();
      optimizer.step();
      const double value = loss.total.item<double>();
      if (!std::isfinite(value))
        throw Error("training diverged (loss " + std::to_string(value) + " at step " + std::to_string(global_step) +
                    "); lower --lr");
      loss_sum += value;
      char note[128];
      std::snprintf(note, sizeof note, "loss %.4f (bg %.3f fg %.3f neg %.3f) lr %.3g", value,
                    loss.bg_pos.item<double>(), loss.fg_pos.item<double>(), loss.neg.item<double>(), o.lr * factor);
      progress.set_note(note);
      progress.add();
    }
    progress.finish();
    summary.final_loss = loss_sum / double(steps_per_epoch);
    summary.epochs_run++;
    log::info("epoch ", epoch + 1, "/", o.epochs, ": mean loss ", summary.final_loss);
    auto metadata = models::make_metadata(spec, {}, o.to_json());
    metadata[models::kMetaModel] = kModelIrnEdge;
    net->to(torch::kCPU);
    models::save_weights(*net, ckpt_file, metadata);
    net->to(device);
    models::save_resume_state(optimizer, epoch + 1, state_file);
  }
  if (std::max(start_epoch, last_epoch) < o.epochs) {
    log::info("stopped after epoch ", std::max(start_epoch, last_epoch), " of ", o.epochs,
              " (--stop-after); continue with --resume");
    summary.stopped = true;
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
    return summary;
  }
  net->to(torch::kCPU);
  vocab.save(out_dir / kVocabularyFile);
  nlohmann::ordered_json extra;
  extra["final_loss"] = summary.final_loss;
  write_meta(out_dir / "meta.json", train.content_hash, extra);
  auto metadata = models::make_metadata(spec, {}, o.to_json());
  metadata[models::kMetaModel] = kModelIrnEdge;
  models::save_weights(*net, model_file, metadata);  // last: "model exists" means "training done"
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  return summary;
}

// ---------------------------------------------------------------------------
// The per-image random walk stage.

namespace {

class IrnProcessor : public ItemProcessor {
 public:
  IrnProcessor(const fs::path& model, const Vocabulary& vocab, const fs::path& manifest, const fs::path& out_dir,
               const IrnStageOptions& options)
      : net_(load_irn_edge_net(model)), device_(models::resolve_device(options.device)),
        num_foreground_(vocab.num_foreground()), manifest_(manifest), out_dir_(out_dir), options_(options) {
    random_walk_directions(options.walk.radius);  // UsageError now rather than per item
    net_->to(device_);
  }

  std::vector<fs::path> outputs(const Record& r) const override {
    std::vector<fs::path> files = {item_file(out_dir_, "refined", record_id(r), ".npy")};
    if (options_.edges) files.push_back(item_file(out_dir_, "edge", record_id(r), ".png"));
    return files;
  }
  std::vector<std::string> fields() const override {
    if (options_.edges) return {"refined", "refined_classes", "edge"};
    return {"refined", "refined_classes"};
  }

  Record process(const Record& r, std::uint64_t) override {
    // One single-threaded network per worker: byte-identical results for any -j.
    models::use_single_threaded_torch();
    const std::string& id = record_id(r);
    const std::vector<int> classes = cam_classes(r);
    cv::Mat rgb = read_image_rgb(record_path(r, "image", manifest_));
    const int height = rgb.rows, width = rgb.cols;
    const int gh = (height - 1) / 4 + 1, gw = (width - 1) / 4 + 1;
    const fs::path cam_file = record_path(r, "cam_lowres", manifest_);
    ScoreMap cams = read_npy(cam_file);
    if (cams.shape.size() != 3)
      throw InputError(cam_file, "item '" + id + "': score map must be [k, H, W], got " +
                                     std::to_string(cams.shape.size()) + " dimensions");
    if (cams.channels() != std::int64_t(classes.size()))
      throw InputError(cam_file, "item '" + id + "': " + std::to_string(cams.channels()) + " channels but " +
                                     std::to_string(classes.size()) + " cam_classes");
    if (cams.height() != gh || cams.width() != gw)
      throw InputError(cam_file, "item '" + id + "': score map is " + std::to_string(cams.height()) + "x" +
                                     std::to_string(cams.width()) + " but the " + std::to_string(height) + "x" +
                                     std::to_string(width) + " image's stride-4 grid is " + std::to_string(gh) +
                                     "x" + std::to_string(gw) + " (cam_lowres from wsss-cam is needed)");
    const std::int64_t k = std::int64_t(classes.size());
    std::vector<float> edge;
    if (k > 0 || options_.edges) {
      // Decoding and normalising happen outside the lock, overlapping another item's forward.
      ChwImage chw = normalize(rgb);
      torch::Tensor x = torch::from_blob(chw.data.data(), {1, 3, height, width}, torch::kFloat32);
      torch::Tensor pair = torch::cat({x, x.flip({3})}, 0);
      torch::Tensor e;
      {
        std::lock_guard<std::mutex> lock(mu_);
        e = irn_edge_map(net_, pair, device_);
      }
      edge.assign(e.data_ptr<float>(), e.data_ptr<float>() + e.numel());
    }
    const auto files = outputs(r);
    std::vector<float> refined(std::size_t(k) * height * width);
    if (k > 0) {
      std::vector<float> rw = random_walk_propagate(edge.data(), gh, gw, cams.data.data(), int(k), options_.walk,
                                                    options_.walk_threads);
      std::vector<float> up = upsample_bilinear(rw.data(), int(k), gh, gw, 4);
      const std::size_t uw = std::size_t(gw) * 4, un = std::size_t(gh) * 4 * uw;
      float mx = 0.f;
      for (std::int64_t c = 0; c < k; ++c)
        for (int y = 0; y < height; ++y)
          for (int x = 0; x < width; ++x) {
            const float v = up[std::size_t(c) * un + std::size_t(y) * uw + x];
            refined[(std::size_t(c) * height + y) * width + x] = v;
            mx = std::max(mx, v);
          }
      // IRN divides by the global maximum; an all-zero walk (no CAM anywhere) stays 0.
      if (mx > 0)
        for (float& v : refined) v /= mx;
    }
    write_npy(files[0], refined.data(), {k, height, width});
    Record out;
    out["refined"] = files[0].string();
    out["refined_classes"] = classes;
    if (options_.edges) {
      std::vector<float> up = upsample_bilinear(edge.data(), 1, gh, gw, 4);
      cv::Mat picture(height, width, CV_8UC1);
      for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
          picture.at<std::uint8_t>(y, x) = static_cast<std::uint8_t>(
              std::lround(std::clamp(up[std::size_t(y) * gw * 4 + x], 0.f, 1.f) * 255.f));
      std::vector<std::uint8_t> bytes;
      if (!cv::imencode(".png", picture, bytes)) throw Error(files[1].string() + ": PNG encoding failed");
      write_file_atomic(files[1], std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
      out["edge"] = files[1].string();
    }
    return out;
  }

 private:
  std::vector<int> cam_classes(const Record& r) const {
    const std::string& id = record_id(r);
    auto it = r.find("cam_classes");
    if (it == r.end()) throw InputError(manifest_, "item '" + id + "': no \"cam_classes\" (run wsss-cam first)");
    if (!it->is_array()) throw InputError(manifest_, "item '" + id + "': \"cam_classes\" must be an array of class ids");
    std::vector<int> classes;
    for (const auto& v : *it) {
      if (!v.is_number_integer() || v.get<int>() < 1 || v.get<int>() > num_foreground_)
        throw InputError(manifest_, "item '" + id + "': cam_classes entry " + v.dump() +
                                        " is not a class id of the vocabulary (1.." + std::to_string(num_foreground_) +
                                        ")");
      if (!classes.empty() && v.get<int>() <= classes.back())
        throw InputError(manifest_, "item '" + id + "': cam_classes must be ascending without repeats");
      classes.push_back(v.get<int>());
    }
    return classes;
  }

  IrnEdgeNet net_;
  torch::Device device_;
  int num_foreground_;
  fs::path manifest_, out_dir_;
  IrnStageOptions options_;
  std::mutex mu_;
};

}  // namespace

std::unique_ptr<ItemProcessor> make_irn_processor(const fs::path& model, const Vocabulary& vocab,
                                                  const fs::path& manifest, const fs::path& out_dir,
                                                  const IrnStageOptions& options) {
  return std::make_unique<IrnProcessor>(model, vocab, manifest, out_dir, options);
}

}  // namespace wsss::refine
