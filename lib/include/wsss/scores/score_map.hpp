#pragma once
// Score maps of records: [k, H, W] float maps whose channels are the classes
// listed in the record's `<field>_classes` (docs/formats.md), and how their
// pixels become classes. One home for what evaluation (wsss-miou), pseudo
// labels (wsss-pseudo), refinement (wsss-refine) and prediction share:
//   background: a constant threshold t (IRN) or (1 - max)^A (PSA, CLIP-ES),
//   unless the map scores background itself (a leading class-0 channel);
//   argmax over [background, classes...], ties going to background.
#include <filesystem>
#include <string>
#include <vector>

#include "wsss/io/vocab.hpp"
#include "wsss/io/manifest.hpp"
#include "wsss/io/npy.hpp"
#include "wsss/io/png.hpp"

namespace wsss {

namespace fs = std::filesystem;

// The class ids a record lists for its score-map field `field` (the record's
// "<field>_classes" array); InputError naming the manifest and the item when it
// is absent or not a list of integers.
std::vector<int> score_map_classes(const Record& record, const std::string& field, const fs::path& manifest);

// How a score map's pixels become classes.
struct BackgroundRule {
  enum Kind { Threshold, Power } kind = Threshold;
  double value = 0.15;  // threshold t, or exponent A of bg = (1 - max)^A
};

// A score map whose first channel is class 0 scores background itself (e.g. CRF
// marginals): its label is the plain argmax and no background rule applies.
inline bool has_background_channel(const std::vector<int>& classes) { return !classes.empty() && classes[0] == 0; }

// Removes a leading background channel (class 0) from a score map and its
// classes, so that a background rule decides background from the class channels
// alone (--drop-bg-channel: AMN's reference evaluates its maps so, cams[1:]).
// A map without one is left as it is.
void drop_background_channel(ScoreMap& map, std::vector<int>& classes);

// Checks a score map against its classes (ascending ids below num_classes, a
// leading 0 allowed) and against the size of `against` (what has that size,
// with its file: "the image /data/a.jpg"), naming `file`.
void check_score_map(const ScoreMap& map, const std::vector<int>& classes, int num_classes, int width, int height,
                     const fs::path& file, const std::string& against = "the image");

// Per pixel: the maximum score and the class of the first channel reaching it
// (np.argmax keeps the first maximum). Pixels of a map without channels get
// class 0 and -inf.
void max_and_argmax(const ScoreMap& map, const std::vector<int>& classes, std::vector<float>& best,
                    std::vector<std::uint8_t>& cls);

// Labels of a [k,H,W] score map whose channels are `classes` (ascending ids):
// the max channel's class where it beats the background score, else 0 (ties
// go to background, as argmax over [bg, scores...] does).
Mask score_map_to_mask(const ScoreMap& map, const std::vector<int>& classes, const BackgroundRule& rule);

// A record's score map with the checks every consumer needs: the channel classes
// are ascending ids of the vocabulary (a leading 0 is a background channel),
// among the record's labels when it has labels, and the map is width x height,
// the size of `against` (named in the message: "the image /data/a.jpg").
struct RecordScores {
  ScoreMap map;
  std::vector<int> classes;
};
RecordScores load_scores(const Record& record, const std::string& field, const Vocabulary& vocab,
                         const fs::path& manifest, int width, int height, const std::string& against = "the image");
void drop_background_channel(RecordScores& scores);  // the same on a loaded map

// Probabilities over [background, classes...], label-major (k+1) x H x W, and the
// class id of each channel. A map with its own background channel is used as is.
struct ChannelScores {
  std::vector<float> prob;
  std::vector<int> ids;
  int width = 0, height = 0;
  int channels() const { return int(ids.size()); }
};
ChannelScores with_background(const RecordScores& scores, const BackgroundRule& rule);

// Index of the largest channel per pixel of label-major scores (channels x n);
// the first maximum wins, so channel 0 (background) wins ties, as np.argmax over
// [bg, cams] does.
std::vector<std::uint8_t> argmax(const float* prob, int channels, std::size_t n);

}  // namespace wsss
