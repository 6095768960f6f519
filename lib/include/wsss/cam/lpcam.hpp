#pragma once
// LPCAM (Chen & Sun, CVPR 2023; zhaozhengChen/LPCAM, step/make_lpcam.py): class
// maps from local prototypes of the CAM classifier's features (docs/lpcam.md).
//
// cluster: for each class, the layer-4 feature positions (scale 1, no flip) of
// the images carrying it are split by their CAM (nearest-resized to the feature
// grid): > cam_threshold is foreground, < cam_threshold context. K-means with
// cosine distance (centre = plain mean of its members) runs on each set; class
// prototypes are the foreground centres with softmax(centre . W^T)[c] >
// class_prob, context prototypes the context centres with context_low < p <
// context_high.
// maps: per scale, feature = feat(img) + flip-back(feat(flipped img)); A_c =
// mean cosine similarity to class c's prototypes, minus (then ReLU) the mean
// cosine similarity to its context prototypes where it has any; the maps are
// averaged over the scales and divided by their max.
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "wsss/cam/cam.hpp"
#include "wsss/core/provenance.hpp"
#include "wsss/io/manifest.hpp"
#include "wsss/io/vocab.hpp"

namespace wsss::cam {

namespace fs = std::filesystem;

inline constexpr const char* kModelLpcamPrototypes = "lpcam-prototypes";

// --- k-means with cosine distance (the reference's kmeans_pytorch, fixed) -----

struct KMeansOptions {
  int clusters = 12;
  double tol = 5.0;    // stop when (sum over centres of their shift)^2 < tol (kmeans_pytorch's rule; LPCAM: 5)
  int max_iter = 100;  // the reference has no cap
};

struct KMeansResult {
  torch::Tensor centres;     // [k, C]: the plain means of the members
  torch::Tensor assignment;  // [n] int64: each point's centre at the last assignment step
  int iterations = 0;
  bool converged = false;    // stopped by tol (or unchanged assignments), not by max_iter
  int refills = 0;           // empty clusters refilled
};

// k distinct rows of n, chosen from the seed (a partial Fisher-Yates shuffle on
// std::mt19937_64, whose output the C++ standard fixes).
std::vector<std::int64_t> kmeans_initial_rows(std::int64_t n, int k, std::uint64_t seed);

// Lloyd's iterations from `initial` [k, C]: assign each point to the centre of
// largest cosine similarity (a normalised matrix product; ties to the lower
// index), move each centre to the mean of its members. An empty cluster is
// refilled with the point least similar to its own centre (not yet used for a
// refill in that step). Single-threaded callers get identical results.
KMeansResult kmeans_cosine(const torch::Tensor& points, const torch::Tensor& initial, const KMeansOptions& options);

// A seeded reservoir sample (Algorithm R) of at most `capacity` rows (0 = keep
// all): rows offered in the same order with the same seed give the same sample;
// while fewer than capacity rows were offered it holds them all, in order.
class PointSample {
 public:
  PointSample(std::int64_t channels, std::int64_t capacity, std::uint64_t seed);
  void add(const torch::Tensor& rows);  // [n, C] float32
  std::int64_t offered() const { return offered_; }
  std::int64_t size() const { return std::int64_t(data_.size()) / channels_; }
  torch::Tensor points() const;  // [size, C], a copy

 private:
  std::int64_t channels_, capacity_, offered_ = 0;
  std::mt19937_64 rng_;  // drawn from only once the sample is full
  std::vector<float> data_;
};

// --- prototypes ----------------------------------------------------------------

struct ClusterOptions {
  KMeansOptions kmeans;
  double cam_threshold = 0.1;   // CAM > t: foreground, < t: context
  double class_prob = 0.9;      // foreground centre kept when p > this
  double context_low = 0.05;    // context centre kept when low < p < high
  double context_high = 0.9;
  std::int64_t max_points = 20000;  // per class and set, seeded sample (0 = all)
  std::string cam_field = "cam";
  std::uint64_t seed = 0;
  std::string device = "cpu";
  int threads = 1;
  bool overwrite = false;
  Provenance provenance;
  void validate() const;  // UsageError naming the option
  nlohmann::json to_json() const;
};

// Per class id - 1: class and context prototypes [n, C] (n may be 0).
struct Prototypes {
  std::vector<std::string> class_names;
  std::int64_t channels = 0;
  std::string classifier_hash;  // of the classifier file they were made with
  std::vector<torch::Tensor> fg, context;
};

// The prototypes file of `out_dir`.
fs::path prototypes_file(const fs::path& out_dir);

// Clusters the features of `data` (image, labels and the score-map field
// options.cam_field with its classes; every record checked before any work)
// with the CAM classifier `model`, and writes out_dir/prototypes.safetensors
// (last; settings and per-class statistics in its metadata), classes.json and
// meta.json. Features stream through a seeded sample of at most max_points
// rows per class and set, so memory is bounded by 2 * classes * max_points * C
// floats, not by the data set. Byte-identical for any threads.
void cluster_prototypes(const Manifest& data, const Vocabulary& vocab, const fs::path& model, const fs::path& out_dir,
                        const ClusterOptions& options);

// Reads a prototypes file (InputError naming it when malformed).
Prototypes read_prototypes(const fs::path& file);

// A stable hash of a weight file's bytes, tying prototypes to their classifier.
std::string weight_file_hash(const fs::path& model);

// InputError naming `file` when the prototypes were made with another
// classifier than `model` (another file content, class list or channel count).
void check_prototypes_match(const Prototypes& prototypes, const fs::path& file, const fs::path& model,
                            const std::vector<std::string>& class_names, std::int64_t channels);

// --- per-image maps --------------------------------------------------------------

class LpcamMaps {
 public:
  LpcamMaps(const Prototypes& prototypes, const torch::Device& device);
  // `features`: one flip-summed [C, h, w] map per scale. `index`: 0-based
  // classes (ascending). A class without prototypes, or whose averaged map has
  // no positive value, gets an all-zero map (the reference divides 0 by 0).
  CamResult compute(const std::vector<torch::Tensor>& features, int height, int width,
                    const std::vector<std::int64_t>& index, bool lowres) const;

 private:
  torch::Tensor fg_mean_, context_mean_;  // [K, C]: mean of the normalised prototypes
  std::vector<bool> has_fg_, has_context_;
};

// The flip-summed feature of one scale's batch of features [B, C, h, w]:
// feat[0] + feat[1] flipped back (B = 2), or feat[0].
torch::Tensor flip_sum(const torch::Tensor& features);

}  // namespace wsss::cam
