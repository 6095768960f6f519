#pragma once
// The experiment report (wsss-report): one self-contained HTML file built from
// an experiment directory (docs/viz.md, "The experiment report"). It holds the
// Table-1 table, per-class IoU bar charts (with the survey's Table-2 groups for
// VOC's classes), each row's confusion matrices, the background-threshold
// sweeps, Fig-4-style grids of sample images, the training curves from the
// trainers' train_log.jsonl, stage times and the resolved configuration. Charts
// are inline SVG, pictures inline PNG/JPEG; the page has no script and loads
// nothing.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace wsss::report {

namespace fs = std::filesystem;

// Where one row of the table takes its data from. Defaults follow the layout
// of scripts/pipeline.sh; a row's entry in results.json may override each path
// (relative to the experiment directory) and field.
struct RowSources {
  std::string name;                  // "row"
  std::string label;                 // "label" (default: the name)
  nlohmann::ordered_json entry;      // the row's object in results.json
  fs::path pseudo_manifest;          // "pseudo_manifest": EXP/pseudo-<row>/manifest.jsonl
  std::string pseudo_field = "pseudo";  // "pseudo_field"
  fs::path pred_manifest;            // "pred_manifest": EXP/pred-<row>/manifest.jsonl
  std::string pred_field = "pred";   // "pred_field"
  fs::path pseudo_eval;              // "pseudo_eval": EXP/eval/pseudo-<row>.json (wsss-miou --json)
  fs::path seg_eval;                 // "seg_eval": EXP/eval/seg-<row>.json
};

struct Experiment {
  fs::path dir;
  nlohmann::ordered_json results;    // results.json
  std::vector<RowSources> rows;
  // Top-level keys of results.json may override these as the rows' keys do.
  fs::path train_manifest;           // "train_manifest": EXP/train/manifest.jsonl
  fs::path val_manifest;             // "val_manifest": EXP/val/manifest.jsonl
  fs::path cam_manifest;             // "cam_manifest": EXP/cam/manifest.jsonl
  std::string cam_field = "cam";     // "cam_field"
  std::string gt_field = "mask";     // "gt_field"
};

// Reads EXP/results.json (InputError naming the file: missing, malformed, no
// "rows" list, a row without a string "row", a row given twice, an override
// that is not a string) and resolves every row's sources.
Experiment read_experiment(const fs::path& dir);

struct ReportOptions {
  std::size_t sample = 8;   // images in each grid (train and val)
  std::uint64_t seed = 0;   // which ones (wsss-viz --sample's choice)
  int panel = 128;          // longer side of each grid picture, pixels
  int threads = 1;
};

// The HTML text. Missing sources leave a note in their section; malformed
// ones are an InputError naming the file.
std::string build_report(const Experiment& experiment, const ReportOptions& options);

// The default output, EXP/report.html.
fs::path report_file(const fs::path& dir);

}  // namespace wsss::report
