#pragma once
// The built-in synthetic WSSS data set (wsss-data synth): textured shapes of six
// classes on textured backgrounds, with pixel-exact ground truth. It is small
// enough to generate in seconds and hard enough that CAMs show the usual WSSS
// failure modes: "train" always stands on rails (background that co-occurs with
// one class, like VOC's trains on railroads), so its CAMs leak onto the rails.
// See docs/synthetic-data.md.
#include <cstdint>
#include <filesystem>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "wsss/stage/stage.hpp"
#include "wsss/io/png.hpp"

namespace wsss {

namespace fs = std::filesystem;

// Class ids of the builtin "synth" vocabulary (lib/src/data/vocab.cpp).
enum SynthClass : int { kSynthBall = 1, kSynthBox, kSynthKite, kSynthStar, kSynthRing, kSynthTrain, kSynthClasses };

struct SynthSample {
  cv::Mat image;            // CV_8UC3 RGB
  Mask mask;                // class ids; 0 = background (rails included)
  std::vector<int> labels;  // sorted set of the non-zero ids in `mask`
  bool rails = false;       // whether rails were drawn (always when a train is present)
};

// One image of the data set; depends only on (seed, index, width, height).
// Without `with_image` only the mask and labels are made (the same ones).
SynthSample generate_synth_sample(std::uint64_t seed, std::uint64_t index, int width, int height,
                                  bool with_image = true);

// A stand-in for an off-the-shelf saliency model's output (8-bit greyscale, the
// mask's size): the union of the objects at a per-class strength in [0.6, 1],
// with seeded errors (a missed part of an object, salient false-positive blobs,
// pixel noise), blurred. Depends only on (seed, index) and the mask.
// docs/synthetic-data.md ("Saliency").
cv::Mat synth_saliency(const Mask& mask, std::uint64_t seed, std::uint64_t index);

struct SynthOptions {
  std::size_t count = 1000;
  int width = 128, height = 128;
  std::string prefix = "s";
  bool masks_only = false;  // skip the RGB images (e.g. for evaluation benchmarks)
  bool saliency = false;    // also saliency/<id>.png (synth_saliency) and the "saliency" field
};

// The id of item `index`: prefix plus a zero-padded index, so that id order is index order.
std::string synth_id(const std::string& prefix, std::size_t index, std::size_t count);

// Writes images/, masks/, classes.json, meta.json and manifest.jsonl (last) under
// stage.out_dir through the stage runner (sharding, --overwrite, resume).
// Item i is seeded from (stage.seed, i), so output does not depend on -j or shards.
StageSummary write_synth_dataset(const SynthOptions& options, const StageOptions& stage);

// Parses "WxH" (e.g. "500x375"); throws UsageError.
std::pair<int, int> parse_size(const std::string& text);

}  // namespace wsss
