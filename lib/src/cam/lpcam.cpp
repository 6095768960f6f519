#include "wsss/cam/lpcam.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>

#include "wsss/cam/classifier.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/hash.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/parallel.hpp"
#include "wsss/core/prefetch.hpp"
#include "wsss/core/progress.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/meta.hpp"
#include "wsss/io/safetensors.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/models/threads.hpp"
#include "wsss/models/weights.hpp"
#include "wsss/scores/score_map.hpp"
#include "wsss/stage/stage.hpp"

namespace wsss::cam {

namespace F = torch::nn::functional;
namespace st = wsss::safetensors;

namespace {

constexpr double kCosineEps = 1e-8;  // F.cosine_similarity's eps

// A uniform integer in [0, m) from one 64-bit draw (Lemire's multiply-shift;
// the bias, below m / 2^64, is irrelevant here and the result is exact and portable).
std::uint64_t bounded(std::uint64_t draw, std::uint64_t m) {
  return std::uint64_t((static_cast<unsigned __int128>(draw) * m) >> 64);
}

torch::Tensor normalise_rows(const torch::Tensor& x) {
  return x / x.norm(2, {1}, /*keepdim=*/true).clamp_min(kCosineEps);
}

}  // namespace

// --- k-means -------------------------------------------------------------------

std::vector<std::int64_t> kmeans_initial_rows(std::int64_t n, int k, std::uint64_t seed) {
  if (k < 0 || k > n) throw Error("k-means: cannot choose " + std::to_string(k) + " of " + std::to_string(n) + " rows");
  std::mt19937_64 rng(seed);
  std::vector<std::int64_t> rows(static_cast<std::size_t>(n));
  std::iota(rows.begin(), rows.end(), std::int64_t(0));
  for (std::int64_t i = 0; i < k; ++i) {
    std::int64_t j = i + std::int64_t(bounded(rng(), std::uint64_t(n - i)));
    std::swap(rows[std::size_t(i)], rows[std::size_t(j)]);
  }
  rows.resize(std::size_t(k));
  return rows;
}

KMeansResult kmeans_cosine(const torch::Tensor& points, const torch::Tensor& initial, const KMeansOptions& o) {
  torch::NoGradGuard no_grad;
  const torch::Tensor x = points.to(torch::kFloat32).contiguous();
  const torch::Tensor xn = normalise_rows(x);
  const std::int64_t k = initial.size(0);
  KMeansResult r;
  r.centres = initial.to(torch::kFloat32).clone();
  torch::Tensor previous;
  for (int it = 1; it <= o.max_iter; ++it) {
    torch::Tensor sim = xn.mm(normalise_rows(r.centres).t());  // [n, k]
    auto [best, choice] = sim.max(1);
    torch::Tensor before = r.centres.clone();
    torch::Tensor sums = torch::zeros_like(r.centres).index_add_(0, choice, x);
    torch::Tensor counts = torch::bincount(choice, {}, k);
    auto count = counts.accessor<std::int64_t, 1>();
    torch::Tensor own = best.clone();  // each point's similarity to its own centre
    for (std::int64_t c = 0; c < k; ++c) {
      if (count[c] > 0) {
        r.centres[c] = sums[c] / double(count[c]);
      } else {
        // An empty cluster takes the point least similar to its centre (kmeans_pytorch
        // takes a random point: unseeded, so unrepeatable).
        std::int64_t far = own.argmin().item<std::int64_t>();
        r.centres[c] = x[far];
        own[far] = std::numeric_limits<float>::infinity();
        ++r.refills;
      }
    }
    r.assignment = choice;
    r.iterations = it;
    const double shift = (r.centres - before).pow(2).sum(1).sqrt().sum().item<double>();
    // Unchanged assignments give unchanged centres (shift 0): the same stop as tol > 0, and one for tol = 0.
    const bool unchanged = previous.defined() && torch::equal(previous, choice);
    if (shift * shift < o.tol || unchanged) {
      r.converged = true;
      break;
    }
    previous = choice;
  }
  return r;
}

PointSample::PointSample(std::int64_t channels, std::int64_t capacity, std::uint64_t seed)
    : channels_(channels), capacity_(capacity), rng_(seed) {}

void PointSample::add(const torch::Tensor& rows) {
  const torch::Tensor r = rows.to(torch::kCPU, torch::kFloat32).contiguous();
  if (r.numel() == 0) return;
  if (r.dim() != 2 || r.size(1) != channels_) throw Error("PointSample: rows of the wrong width");
  const float* p = r.data_ptr<float>();
  for (std::int64_t i = 0; i < r.size(0); ++i, ++offered_) {
    const float* row = p + i * channels_;
    if (capacity_ == 0 || size() < capacity_) {
      data_.insert(data_.end(), row, row + channels_);
      continue;
    }
    const std::uint64_t j = bounded(rng_(), std::uint64_t(offered_) + 1);
    if (j < std::uint64_t(capacity_)) std::copy(row, row + channels_, data_.begin() + std::ptrdiff_t(j) * channels_);
  }
}

torch::Tensor PointSample::points() const {
  return torch::from_blob(const_cast<float*>(data_.data()), {size(), channels_}, torch::kFloat32).clone();
}

// --- options and files -------------------------------------------------------------

void ClusterOptions::validate() const {
  if (kmeans.clusters < 1) throw UsageError("--clusters must be at least 1");
  if (kmeans.max_iter < 1) throw UsageError("--max-iter must be at least 1");
  if (!(kmeans.tol >= 0)) throw UsageError("--tol must not be negative");
  if (!(cam_threshold >= 0 && cam_threshold <= 1)) throw UsageError("--cam-threshold must be within [0, 1]");
  if (!(class_prob >= 0 && class_prob <= 1)) throw UsageError("--class-prob must be within [0, 1]");
  if (!(context_low >= 0 && context_low <= context_high && context_high <= 1))
    throw UsageError("--context-prob must be LO:HI with 0 <= LO <= HI <= 1");
  if (max_points < 0) throw UsageError("--max-points must not be negative");
  if (max_points > 0 && max_points < kmeans.clusters) throw UsageError("--max-points must be at least --clusters");
  if (cam_field.empty()) throw UsageError("--cam-field must not be empty");
}

nlohmann::json ClusterOptions::to_json() const {
  return {{"clusters", kmeans.clusters}, {"tol", kmeans.tol}, {"max_iter", kmeans.max_iter},
          {"cam_threshold", cam_threshold}, {"class_prob", class_prob},
          {"context_prob", {context_low, context_high}}, {"max_points", max_points}, {"cam_field", cam_field},
          {"seed", seed}};
}

fs::path prototypes_file(const fs::path& out_dir) { return out_dir / "prototypes.safetensors"; }

std::string weight_file_hash(const fs::path& model) {
  std::ifstream in(model, std::ios::binary);
  if (!in) throw InputError(model, "cannot read");
  std::uint64_t h = 1469598103934665603ULL;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), std::streamsize(buffer.size()));
    const std::streamsize got = in.gcount();
    if (got > 0) h = fnv1a64(std::string_view(buffer.data(), std::size_t(got)), h);
  }
  return hex64(h);
}

namespace {

std::string tensor_name(const char* set, int id) { return std::string(set) + "." + std::to_string(id); }

}  // namespace

Prototypes read_prototypes(const fs::path& file) {
  const st::File f = st::File::read(file);
  const auto& meta = f.metadata();
  auto kind = meta.find(models::kMetaModel);
  if (kind == meta.end() || kind->second != kModelLpcamPrototypes)
    throw InputError(file, "not an LPCAM prototypes file (wsss.model = '" +
                               (kind == meta.end() ? std::string() : kind->second) +
                               "'; make one with wsss-lpcam cluster)");
  Prototypes p;
  p.class_names = models::read_class_names(meta, file);
  if (p.class_names.empty()) throw InputError(file, "no class names in the metadata");
  auto hash = meta.find("lpcam.classifier");
  if (hash == meta.end()) throw InputError(file, "no lpcam.classifier in the metadata");
  p.classifier_hash = hash->second;
  auto channels = meta.find("lpcam.channels");
  try {
    p.channels = channels == meta.end() ? 0 : std::stoll(channels->second);
  } catch (const std::exception&) {
    p.channels = 0;
  }
  if (p.channels < 1) throw InputError(file, "no valid lpcam.channels in the metadata");
  for (int id = 1; id <= int(p.class_names.size()); ++id) {
    for (const char* set : {"class", "context"}) {
      const std::string name = tensor_name(set, id);
      const st::TensorInfo* t = f.find(name);
      if (!t) throw InputError(file, "tensor '" + name + "' missing");
      if (t->dtype != st::DType::F32 || t->shape.size() != 2 || t->shape[1] != p.channels)
        throw InputError(file, "tensor '" + name + "': expected float32 [n, " + std::to_string(p.channels) + "]");
      std::vector<float> values = f.to_float(*t);
      for (float v : values)
        if (!std::isfinite(v)) throw InputError(file, "tensor '" + name + "' has NaN or infinite values");
      torch::Tensor x = torch::from_blob(values.data(), {t->shape[0], p.channels}, torch::kFloat32).clone();
      (std::string(set) == "class" ? p.fg : p.context).push_back(x);
    }
  }
  return p;
}

void check_prototypes_match(const Prototypes& p, const fs::path& file, const fs::path& model,
                            const std::vector<std::string>& class_names, std::int64_t channels) {
  if (p.class_names != class_names)
    throw InputError(file, "prototypes of " + std::to_string(p.class_names.size()) + " classes (" +
                               (p.class_names.empty() ? "" : p.class_names.front()) + ", ...) but the classifier " +
                               model.string() + " has " + std::to_string(class_names.size()) + " (" +
                               (class_names.empty() ? "" : class_names.front()) + ", ...)");
  if (p.channels != channels)
    throw InputError(file, "prototypes of " + std::to_string(p.channels) + " channels but the classifier " +
                               model.string() + " has " + std::to_string(channels) + " feature channels");
  const std::string hash = weight_file_hash(model);
  if (p.classifier_hash != hash)
    throw InputError(file, "made with another classifier (file hash " + p.classifier_hash + ") than " +
                               model.string() + " (" + hash + ")");
}

// --- cluster -------------------------------------------------------------------------

namespace {

// One image's contribution: per label, its foreground and context feature rows.
struct ImageSplit {
  struct Part {
    int id;
    torch::Tensor fg, context;  // [n, C]
  };
  std::vector<Part> parts;
};

struct SetResult {
  std::int64_t points = 0, clustered = 0;
  std::vector<std::int64_t> initial_rows;
  KMeansResult kmeans;
  std::vector<double> probability;  // softmax(centre . W^T)[c] of each centre
  torch::Tensor kept;               // [n, C]
};

nlohmann::json describe(const SetResult& s) {
  nlohmann::json j = {{"points", s.points}, {"clustered", s.clustered}, {"initial_rows", s.initial_rows},
                      {"iterations", s.kmeans.iterations}, {"converged", s.kmeans.converged},
                      {"refills", s.kmeans.refills}, {"probability", s.probability},
                      {"kept", s.kept.defined() ? s.kept.size(0) : 0}};
  return j;
}

}  // namespace

void cluster_prototypes(const Manifest& data, const Vocabulary& vocab, const fs::path& model, const fs::path& out_dir,
                        const ClusterOptions& o) {
  o.validate();
  const fs::path out = prototypes_file(out_dir);
  check_can_write(out, o.overwrite);
  const int k = vocab.num_foreground();
  const std::string classes_field = o.cam_field + "_classes";
  // Every record is checked before any work: a manifest without CAMs fails at once, with no output.
  for (const Record& r : data.records) {
    if (!r.contains("labels"))
      throw InputError(data.path, "item '" + record_id(r) + "': no \"labels\" (clustering needs image-level labels)");
    record_labels(r, k, data.path);
    if (!r.contains(o.cam_field) || !r.contains(classes_field))
      throw InputError(data.path, "item '" + record_id(r) + "': no \"" + o.cam_field + "\" score map (cluster needs the "
                                  "CAMs of wsss-cam; see --cam-field)");
  }
  if (data.records.empty()) throw InputError(data.path, "no records to cluster");

  models::use_single_threaded_torch();
  const torch::Device device = models::resolve_device(o.device);
  models::LoadedCamNet loaded = load_for_vocabulary(model, vocab);
  loaded.net->to(device);
  const torch::Tensor weight = loaded.net->classifier->weight.detach().to(torch::kCPU).flatten(1);  // [K, C]
  const std::int64_t channels = weight.size(1);
  const std::string classifier_hash = weight_file_hash(model);
  const int threads = std::max(1, o.threads);

  std::vector<PointSample> fg, context;
  for (int id = 1; id <= k; ++id) {
    fg.emplace_back(channels, o.max_points, item_seed(o.seed, "lpcam/class/" + std::to_string(id)));
    context.emplace_back(channels, o.max_points, item_seed(o.seed, "lpcam/context/" + std::to_string(id)));
  }
  std::vector<int> images(std::size_t(k), 0);

  models::DeviceGate gate(device);
  auto split = [&](std::size_t i) {
    models::use_single_threaded_torch();
    torch::NoGradGuard no_grad;
    const Record& r = data.records[i];
    cv::Mat rgb = read_image_rgb(record_path(r, "image", data.path));
    torch::Tensor x = scale_batch(rgb, 1.0, false);
    torch::Tensor feat;
    {
      auto lock = gate.enter();
      feat = loaded.net->features(x.to(device)).to(torch::kCPU)[0];  // [C, h, w]
    }
    const std::int64_t h = feat.size(1), w = feat.size(2);
    const torch::Tensor rows = feat.flatten(1).t().contiguous();  // [h*w, C]
    RecordScores scores = load_scores(r, o.cam_field, vocab, data.path, rgb.cols, rgb.rows);
    ImageSplit result;
    for (int id : record_labels(r, k, data.path)) {
      auto at = std::find(scores.classes.begin(), scores.classes.end(), id);
      if (at == scores.classes.end())
        throw InputError(data.path, "item '" + record_id(r) + "': its " + o.cam_field + " has no map of label " +
                                        std::to_string(id) + " (" + vocab.classes[std::size_t(id)] + ")");
      const std::int64_t c = at - scores.classes.begin();
      torch::Tensor cam = torch::from_blob(const_cast<float*>(scores.map.channel(c)),
                                           {1, 1, scores.map.height(), scores.map.width()}, torch::kFloat32);
      // LPCAM: F.interpolate(high_res, feature size), mode 'nearest' by default.
      torch::Tensor mask = F::interpolate(cam, F::InterpolateFuncOptions().size(std::vector<std::int64_t>{h, w})
                                                   .mode(torch::kNearest)).flatten();
      const double t = o.cam_threshold;
      result.parts.push_back({id, rows.index_select(0, torch::nonzero(mask > t).flatten()),
                              rows.index_select(0, torch::nonzero(mask < t).flatten())});
    }
    return result;
  };
  {
    Prefetcher<ImageSplit> loader(data.records.size(), threads, 2 * std::size_t(threads), split);
    Progress progress("features", data.records.size());
    for (std::size_t i = 0; i < data.records.size(); ++i) {
      ImageSplit s = *loader.next();  // in manifest order: the samples do not depend on -j
      for (const auto& part : s.parts) {
        fg[std::size_t(part.id - 1)].add(part.fg);
        context[std::size_t(part.id - 1)].add(part.context);
        ++images[std::size_t(part.id - 1)];
      }
      progress.add();
    }
    progress.finish();
  }

  // K-means on every class's two sets, one single-threaded job each.
  std::vector<SetResult> results(2 * std::size_t(k));
  Progress progress("k-means", results.size(), "set");
  parallel_for(results.size(), threads, [&](std::size_t j, int) {
    models::use_single_threaded_torch();
    torch::NoGradGuard no_grad;
    const int id = int(j / 2) + 1;
    const bool is_context = j % 2 == 1;
    const PointSample& sample = (is_context ? context : fg)[std::size_t(id - 1)];
    SetResult& s = results[j];
    s.points = sample.offered();
    s.clustered = sample.size();
    if (s.clustered > 0) {
      torch::Tensor x = sample.points();
      const int clusters = int(std::min<std::int64_t>(o.kmeans.clusters, s.clustered));
      s.initial_rows = kmeans_initial_rows(s.clustered, clusters,
                                           item_seed(o.seed, std::string("lpcam/init/") +
                                                                 (is_context ? "context/" : "class/") +
                                                                 std::to_string(id)));
      s.kmeans = kmeans_cosine(x, x.index_select(0, torch::tensor(s.initial_rows, torch::kLong)), o.kmeans);
      torch::Tensor p = torch::softmax(s.kmeans.centres.mm(weight.t()), 1).select(1, id - 1).contiguous();
      torch::Tensor keep = is_context ? (p > o.context_low).logical_and(p < o.context_high) : p > o.class_prob;
      s.probability.assign(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
      s.kept = s.kmeans.centres.index_select(0, torch::nonzero(keep).flatten()).contiguous();
    } else {
      s.kept = torch::zeros({0, channels});
    }
    progress.add();
  });
  progress.finish();

  nlohmann::json per_class = nlohmann::json::array();
  std::vector<st::TensorView> views;
  const float dummy = 0;
  for (int id = 1; id <= k; ++id) {
    const SetResult& a = results[2 * std::size_t(id - 1)];
    const SetResult& b = results[2 * std::size_t(id - 1) + 1];
    per_class.push_back({{"id", id}, {"class", vocab.classes[std::size_t(id)]}, {"images", images[std::size_t(id - 1)]},
                         {"class_set", describe(a)}, {"context_set", describe(b)}});
    log::info("class ", id, " '", vocab.classes[std::size_t(id)], "': ", images[std::size_t(id - 1)], " images; ",
              a.points, " foreground points (", a.clustered, " clustered, ", a.kmeans.iterations, " iterations",
              a.kmeans.converged || a.clustered == 0 ? "" : ", NOT converged", ") -> ", a.kept.size(0),
              " class prototypes; ", b.points, " context points (", b.clustered, " clustered, ", b.kmeans.iterations,
              " iterations", b.kmeans.converged || b.clustered == 0 ? "" : ", NOT converged", ") -> ",
              b.kept.size(0), " context prototypes");
    if (a.kept.size(0) == 0)
      log::warn("class ", id, " '", vocab.classes[std::size_t(id)],
                "' has no class prototype: its LPCAM will be all zero (lower --class-prob?)");
    for (const auto* s : {&a, &b}) {
      const void* ptr = s->kept.numel() ? s->kept.data_ptr<float>() : static_cast<const void*>(&dummy);
      views.push_back({tensor_name(s == &a ? "class" : "context", id), st::DType::F32,
                       {s->kept.size(0), channels}, ptr});
    }
  }
  st::Metadata metadata = models::make_metadata(loaded.net->backbone->spec(), {vocab.classes.begin() + 1,
                                                                               vocab.classes.end()});
  metadata[models::kMetaFormat] = models::kMetaFormatValue;
  metadata[models::kMetaModel] = kModelLpcamPrototypes;
  metadata["lpcam.classifier"] = classifier_hash;
  metadata["lpcam.channels"] = std::to_string(channels);
  metadata["lpcam.settings"] = o.to_json().dump();
  metadata["lpcam.classes"] = per_class.dump();
  fs::create_directories(out_dir);
  vocab.save(out_dir / kVocabularyFile);
  nlohmann::ordered_json extra;
  extra["classifier"] = model.string();
  extra["classes"] = nlohmann::ordered_json::parse(per_class.dump());
  write_meta(out_dir / "meta.json", o.provenance, data.content_hash, extra);
  st::write(out, std::move(views), metadata);  // last: "prototypes exist" means "clustering done"
}

// --- per-image maps ---------------------------------------------------------------------

torch::Tensor flip_sum(const torch::Tensor& features) {
  return features.size(0) > 1 ? features[0] + features[1].flip({2}) : features[0];
}

LpcamMaps::LpcamMaps(const Prototypes& p, const torch::Device& device) {
  const std::int64_t k = std::int64_t(p.fg.size());
  fg_mean_ = torch::zeros({k, p.channels});
  context_mean_ = torch::zeros({k, p.channels});
  for (std::int64_t c = 0; c < k; ++c) {
    has_fg_.push_back(p.fg[std::size_t(c)].size(0) > 0);
    has_context_.push_back(p.context[std::size_t(c)].size(0) > 0);
    // mean_j cos(f, p_j) = f/|f| . mean_j p_j/|p_j|
    if (has_fg_.back()) fg_mean_[c] = normalise_rows(p.fg[std::size_t(c)]).mean(0);
    if (has_context_.back()) context_mean_[c] = normalise_rows(p.context[std::size_t(c)]).mean(0);
  }
  fg_mean_ = fg_mean_.to(device);
  context_mean_ = context_mean_.to(device);
}

CamResult LpcamMaps::compute(const std::vector<torch::Tensor>& features, int height, int width,
                             const std::vector<std::int64_t>& index, bool lowres) const {
  torch::NoGradGuard no_grad;
  const std::int64_t k = std::int64_t(index.size());
  if (k == 0 || features.empty()) {
    CamResult none;
    none.high_res = torch::zeros({k, height, width});
    if (lowres) none.low_res = torch::zeros({k, (height - 1) / 4 + 1, (width - 1) / 4 + 1});
    return none;
  }
  const torch::Device device = fg_mean_.device();
  std::vector<float> fg_on, context_on;
  for (std::int64_t c : index) {
    fg_on.push_back(has_fg_.at(std::size_t(c)) ? 1.0f : 0.0f);
    context_on.push_back(has_context_.at(std::size_t(c)) ? 1.0f : 0.0f);
  }
  const torch::Tensor idx = torch::tensor(index, torch::kLong).to(device);
  const torch::Tensor fg = fg_mean_.index_select(0, idx);
  const torch::Tensor context = context_mean_.index_select(0, idx);
  const torch::Tensor fg_mask = torch::tensor(fg_on).to(device).view({k, 1});
  const torch::Tensor context_mask = torch::tensor(context_on).to(device).view({k, 1}) > 0;
  const bool any_context = std::find(context_on.begin(), context_on.end(), 1.0f) != context_on.end();
  ScaleSum sum(height, width, lowres);
  for (const torch::Tensor& f : features) {
    const std::int64_t h = f.size(1), w = f.size(2);
    torch::Tensor unit = normalise_rows(f.to(device).flatten(1).t()).t();  // [C, h*w]: features / |features|
    torch::Tensor a = fg.mm(unit);                                          // [k, h*w]
    if (any_context) a = torch::where(context_mask, torch::relu(a - context.mm(unit)), a);
    a = a * fg_mask;  // no class prototype: no map
    sum.add(a.view({1, k, h, w}));
  }
  auto normalise = [&](const torch::Tensor& t) {
    torch::Tensor mean = t / double(sum.count());
    torch::Tensor max = std::get<0>(mean.flatten(1).max(1)).view({-1, 1, 1});
    return torch::where(max > 0, mean / max.clamp_min(std::numeric_limits<float>::min()), torch::zeros_like(mean));
  };
  CamResult result;
  result.high_res = normalise(sum.high_res()).to(torch::kCPU).contiguous();
  if (lowres) result.low_res = normalise(sum.low_res()).to(torch::kCPU).contiguous();
  return result;
}

}  // namespace wsss::cam
