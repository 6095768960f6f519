#pragma once
// wsss-miou's engine: evaluates a manifest's prediction field against its GT
// field, in parallel over images, and turns the summed confusion matrices into
// tables and JSON. Per-shard JSON results merge exactly (integer sums).
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "wsss/core/shard.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/eval/sweep.hpp"
#include "wsss/metrics/confusion.hpp"
#include "wsss/scores/score_map.hpp"
#include "wsss/eval/groups.hpp"
#include "wsss/io/manifest.hpp"

namespace wsss {

enum class MissingPrediction {
  Strict,  // an error naming the item
  Skip,    // the image is left out
  Empty,   // scored as an all-background prediction
};

struct MiouOptions {
  std::string pred_field = "pred";
  std::string gt_field = "mask";
  PredIgnore pred_ignore = PredIgnore::Wrong;
  MissingPrediction missing = MissingPrediction::Strict;
  BackgroundRule background;            // for .npy score maps
  bool drop_bg_channel = false;         // drop a map's own background channel (class 0); `background` decides
  std::vector<double> sweep;            // non-empty: every threshold in one pass
  std::string sweep_text;               // as given, for the record
  // A best threshold on an edge of the sweep that is not 0 or 1 may not be the
  // best: sweep again with the range widened to that bound (a second pass).
  bool widen_sweep_at_edge = true;
  Shard shard;
  int threads = 1;
};

struct MiouResult {
  std::vector<std::string> classes;
  int ignore = 255;
  nlohmann::ordered_json settings;      // what was evaluated and how; merges require equal settings
  std::string shard = "1/1";
  // What was evaluated, so that a merge can refuse to count the same images
  // twice: {"manifest_hash", "items", "items_hash", "parts"}. items_hash is the
  // sum (mod 2^64) of the FNV-1a hashes of the evaluated ids, so the shards of
  // a split add up to the unsharded run's; parts lists the items_hash of every
  // result merged into this one. Null in results of older versions.
  nlohmann::ordered_json source;
  std::size_t evaluated = 0, skipped = 0, empty = 0;
  std::vector<double> thresholds;       // sweep only
  std::vector<Confusion> confusions;    // one, or one per sweep threshold
  std::vector<ClassGroup> groups;       // presentation only (not in settings): per-group IoU in report and JSON

  bool is_sweep() const { return !thresholds.empty(); }
  // The index of the best threshold (highest mIoU; the lowest threshold on ties), 0 without a sweep.
  std::size_t best() const;
};

// Evaluates the shard's records of `manifest`. A pred field ending in .npy is a
// score map whose channel classes are in the record's "<pred_field>_classes".
// A sweep whose best lies on an edge is widened (widen_sweep_at_edge) or warned of.
MiouResult evaluate_manifest(const Manifest& manifest, const Vocabulary& vocabulary, const MiouOptions& options);

// The thresholds of `sweep` continued past the edge `best` indexes, to 0 or 1 at
// the same step; empty when `best` is inside the range or the edge is 0 or 1.
std::vector<double> widened_sweep(const std::vector<double>& sweep, std::size_t best, std::string* text);

// The full result as JSON (format "wsss-miou", version 1): docs/evaluation.md.
nlohmann::ordered_json miou_to_json(const MiouResult& result);
// miou_to_json as text, one class, matrix row or sweep threshold per line.
std::string format_miou_json(const MiouResult& result);
MiouResult miou_from_json(const nlohmann::ordered_json& json, const fs::path& file);
MiouResult read_miou_json(const fs::path& file);

// Sums per-shard results. Inputs must share classes and settings; sharded
// inputs must be distinct shards of one split (one manifest) and cover all of
// it; no two inputs may hold a result over the same items (their "parts").
MiouResult merge_miou(const std::vector<MiouResult>& parts, const std::vector<fs::path>& files);
// Reads per-shard result files and merges them (wsss-miou --merge).
MiouResult merge_miou_files(const std::vector<fs::path>& files);

// Option values: "wrong" / "background"; "strict" / "skip" / "empty". UsageError otherwise.
PredIgnore parse_pred_ignore(const std::string& text);
MissingPrediction parse_missing_prediction(const std::string& text);

// The fixed-width report printed on stdout; the last line is "mIoU ...".
std::string format_miou_report(const MiouResult& result);

}  // namespace wsss
