#include "wsss/report/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>

#include "wsss/core/error.hpp"
#include "wsss/core/parallel.hpp"
#include "wsss/core/progress.hpp"
#include "wsss/core/provenance.hpp"
#include "wsss/core/version.hpp"
#include "wsss/eval/groups.hpp"
#include "wsss/eval/miou.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/manifest.hpp"
#include "wsss/io/train_log.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/metrics/confusion.hpp"
#include "wsss/report/svg.hpp"
#include "wsss/scores/score_map.hpp"
#include "wsss/viz/picture.hpp"
#include "wsss/viz/viz_stage.hpp"

namespace wsss::report {

namespace {

using json = nlohmann::ordered_json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string esc(const std::string& s) { return xml_escape(s); }

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string base64(const std::string& bytes) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (unsigned(std::uint8_t(bytes[i])) << 16) | (unsigned(std::uint8_t(bytes[i + 1])) << 8) |
                       unsigned(std::uint8_t(bytes[i + 2]));
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = unsigned(std::uint8_t(bytes[i])) << 16;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const unsigned v = (unsigned(std::uint8_t(bytes[i])) << 16) | (unsigned(std::uint8_t(bytes[i + 1])) << 8);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string data_uri(const cv::Mat& rgb, bool photo) {
  return photo ? "data:image/jpeg;base64," + base64(encode_image_rgb(rgb, ".jpg", 85))
               : "data:image/png;base64," + base64(encode_image_rgb(rgb, ".png", 9));
}

std::string note(const std::string& text) { return "<p class=\"note\">" + esc(text) + "</p>\n"; }

fs::path resolve(const fs::path& dir, const json& entry, const char* key, const fs::path& fallback,
                 const fs::path& file, const std::string& where) {
  if (!entry.contains(key)) return fallback;
  if (entry[key].is_null()) return {};  // the experiment has none (a row without segmentation): nothing to read
  if (!entry[key].is_string() || entry[key].get<std::string>().empty())
    throw InputError(file, where + ": \"" + key + "\" must be a non-empty path string or null");
  fs::path p = entry[key].get<std::string>();
  return p.is_relative() ? dir / p : p;
}

std::string field_of(const json& entry, const char* key, const std::string& fallback, const fs::path& file,
                     const std::string& where) {
  if (!entry.contains(key)) return fallback;
  if (!entry[key].is_string() || entry[key].get<std::string>().empty())
    throw InputError(file, where + ": \"" + key + "\" must be a non-empty string");
  return entry[key].get<std::string>();
}

// A manifest when it exists (nullptr otherwise); malformed ones throw.
std::unique_ptr<Manifest> maybe_manifest(const fs::path& file) {
  if (!fs::exists(file)) return nullptr;
  return std::make_unique<Manifest>(read_manifest(file.string(), {true}));
}

std::map<std::string, const Record*> by_id(const Manifest* m) {
  std::map<std::string, const Record*> out;
  if (m)
    for (const Record& r : m->records) out[record_id(r)] = &r;
  return out;
}

// The wsss-miou result of a file when it exists.
std::unique_ptr<MiouResult> maybe_miou(const fs::path& file) {
  if (!fs::exists(file)) return nullptr;
  return std::make_unique<MiouResult>(read_miou_json(file));
}

// ---------------------------------------------------------------------------
// Table 1

const std::set<std::string>& non_figure_keys() {
  static const std::set<std::string> keys = {"row",         "label",         "stages",       "pseudo_manifest",
                                             "pseudo_field", "pred_manifest", "pred_field",   "pseudo_eval",
                                             "seg_eval",    "figures"};
  return keys;
}

std::string column_title(const std::string& key) {
  static const std::map<std::string, std::string> known = {
      {"pseudo_miou_train", "pseudo-mask mIoU (train)"},
      {"seg_miou_val", "segmentation mIoU (val)"},
      {"seconds_pseudo", "time: pseudo masks"},
      {"seconds_seg", "time: segmentation"}};
  auto it = known.find(key);
  if (it != known.end()) return it->second;
  std::string t = key;
  std::replace(t.begin(), t.end(), '_', ' ');
  return t;
}

bool is_time_key(const std::string& key) { return key.rfind("seconds", 0) == 0 || key.rfind("time", 0) == 0; }

std::string figure_text(const std::string& key, const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (!v.is_number()) return v.dump();
  const double d = v.get<double>();
  if (is_time_key(key)) return fmt("%.0f", d) + "s";
  if (d == std::floor(d) && std::abs(d) < 1e15) return fmt("%.0f", d);
  return fmt("%.2f", d);
}

// The row's figures: its scalar keys and those of its "figures" object, in order.
json row_figures(const json& entry) {
  json figures = json::object();
  for (auto it = entry.begin(); it != entry.end(); ++it)
    if (!non_figure_keys().count(it.key()) && !it.value().is_structured()) figures[it.key()] = it.value();
  if (entry.contains("figures") && entry["figures"].is_object())
    for (auto it = entry["figures"].begin(); it != entry["figures"].end(); ++it)
      if (!it.value().is_structured()) figures[it.key()] = it.value();
  return figures;
}

std::string table_section(const Experiment& e) {
  std::vector<std::string> columns;
  std::set<std::string> seen;
  for (const RowSources& r : e.rows) {
    const json f = row_figures(r.entry);
    for (auto it = f.begin(); it != f.end(); ++it)
      if (seen.insert(it.key()).second) columns.push_back(it.key());
  }
  std::string s = "<section id=\"table\"><h2>Results (Table 1)</h2>\n<table id=\"table1\" class=\"results\">\n<thead><tr><th>pseudo masks</th>";
  for (const std::string& c : columns) s += "<th>" + esc(column_title(c)) + "</th>";
  s += "</tr></thead>\n<tbody>\n";
  if (e.results.contains("baseline_miou_train") && e.results["baseline_miou_train"].is_number()) {
    s += "<tr class=\"baseline\"><td>all background (baseline)</td>";
    for (const std::string& c : columns)
      s += "<td>" + (c == "pseudo_miou_train" ? figure_text(c, e.results["baseline_miou_train"]) : "-") + "</td>";
    s += "</tr>\n";
  }
  for (const RowSources& r : e.rows) {
    const json f = row_figures(r.entry);
    s += "<tr data-row=\"" + esc(r.name) + "\"><td>" + esc(r.label) + "</td>";
    for (const std::string& c : columns) s += "<td>" + (f.contains(c) ? esc(figure_text(c, f[c])) : "-") + "</td>";
    s += "</tr>\n";
  }
  s += "</tbody></table>\n";
  if (e.results.contains("experiment") && e.results["experiment"].is_string())
    s += note("Experiment " + e.results["experiment"].get<std::string>() + "; rows from results.json.");
  return s + "</section>\n";
}

// ---------------------------------------------------------------------------
// Per-class IoU and confusion matrices

struct RowEval {
  std::string row, label;
  std::unique_ptr<MiouResult> pseudo, seg;
};

double iou_percent(const Scores& s, int c) {
  const ClassScore& cs = s.classes[std::size_t(c)];
  return cs.valid ? cs.iou * 100 : kNaN;
}

std::string per_class_chart(const std::vector<RowEval>& evals, bool seg, const std::string& title,
                            std::string& notes) {
  const std::vector<std::string>* classes = nullptr;
  for (const RowEval& r : evals) {
    const MiouResult* m = seg ? r.seg.get() : r.pseudo.get();
    if (m) {
      classes = &m->classes;
      break;
    }
  }
  if (!classes) return note(title + ": no evaluation found.");
  const std::vector<ClassGroup> groups = class_groups("auto", *classes);
  std::vector<int> order;
  BarChart chart;
  chart.title = title;
  chart.y_label = "IoU (%)";
  chart.y_max = 100;
  order.push_back(0);
  if (groups.empty()) {
    for (int c = 1; c < int(classes->size()); ++c) order.push_back(c);
  } else {
    for (const ClassGroup& g : groups) {
      chart.bands.push_back({g.name, order.size(), g.ids.size()});
      order.insert(order.end(), g.ids.begin(), g.ids.end());
    }
  }
  for (int c : order) chart.categories.push_back((*classes)[std::size_t(c)]);
  std::string group_table;
  if (!groups.empty()) {
    group_table = "<table class=\"groups\"><thead><tr><th>row</th>";
    for (const ClassGroup& g : groups) group_table += "<th>" + esc(g.name) + "</th>";
    group_table += "</tr></thead><tbody>\n";
  }
  for (const RowEval& r : evals) {
    const MiouResult* m = seg ? r.seg.get() : r.pseudo.get();
    if (!m) continue;
    if (m->classes != *classes) {
      notes += note(r.label + ": other classes than the first evaluation; left out of " + title + ".");
      continue;
    }
    const Scores s = compute_scores(m->confusions[m->best()]);
    chart.series.push_back(r.label);
    std::vector<double> v;
    for (int c : order) v.push_back(iou_percent(s, c));
    chart.values.push_back(v);
    if (!groups.empty()) {
      group_table += "<tr><td>" + esc(r.label) + "</td>";
      for (const ClassGroup& g : groups) {
        const double gm = group_miou(s, g);
        group_table += "<td>" + (std::isnan(gm) ? std::string("-") : fmt("%.2f", gm * 100)) + "</td>";
      }
      group_table += "</tr>\n";
    }
  }
  std::string out = "<div class=\"scroll\">" + bar_chart_svg(chart) + "</div>\n";
  if (!groups.empty()) out += "<p>Group mIoU (%), the survey's Table 2 groups:</p>\n" + group_table + "</tbody></table>\n";
  return out;
}

std::string matrix_for(const MiouResult& m, const std::string& title) {
  const Confusion& c = m.confusions[m.best()];
  MatrixChart chart;
  chart.title = title;
  chart.labels = m.classes;
  chart.counts.assign(std::size_t(c.k), std::vector<double>(std::size_t(c.k), 0));
  for (int g = 0; g < c.k; ++g)
    for (int p = 0; p < c.k; ++p) chart.counts[std::size_t(g)][std::size_t(p)] = double(c.at(g, p));
  return matrix_svg(chart);
}

std::string evaluation_sections(const Experiment& e) {
  std::vector<RowEval> evals;
  for (const RowSources& r : e.rows) {
    RowEval ev;
    ev.row = r.name;
    ev.label = r.label;
    ev.pseudo = maybe_miou(r.pseudo_eval);
    ev.seg = maybe_miou(r.seg_eval);
    evals.push_back(std::move(ev));
  }
  std::string notes;
  std::string s = "<section id=\"per-class\"><h2>Per-class IoU</h2>\n";
  s += per_class_chart(evals, false, "pseudo masks (train)", notes);
  s += per_class_chart(evals, true, "segmentation (val)", notes);
  s += notes + "</section>\n";
  s += "<section id=\"confusion\"><h2>Confusion matrices</h2>\n";
  s += note("Rows: ground truth, columns: prediction; colour: the share of the row's pixels (hover for counts). "
            "A predicted 255 counts against the GT class and is not a column.");
  bool any = false;
  for (const RowEval& r : evals) {
    if (!r.pseudo && !r.seg) continue;
    any = true;
    s += "<div class=\"row-matrices\" data-row=\"" + esc(r.row) + "\"><h3>" + esc(r.label) + "</h3>\n<div class=\"flex\">";
    if (r.pseudo) s += "<div>" + matrix_for(*r.pseudo, "pseudo masks (train)") + "</div>";
    if (r.seg) s += "<div>" + matrix_for(*r.seg, "segmentation (val)") + "</div>";
    s += "</div></div>\n";
  }
  if (!any) s += note("No evaluation found (EXP/eval/pseudo-<row>.json, seg-<row>.json).");
  return s + "</section>\n";
}

// ---------------------------------------------------------------------------
// Threshold sweeps

std::string sweep_section(const Experiment& e) {
  std::string s = "<section id=\"sweeps\"><h2>Background threshold</h2>\n";
  const fs::path eval_dir = e.dir / "eval";
  std::vector<fs::path> files;
  if (fs::is_directory(eval_dir))
    for (const auto& entry : fs::directory_iterator(eval_dir)) {
      const std::string name = entry.path().filename().string();
      if (entry.is_regular_file() && name.size() > 11 && name.compare(name.size() - 11, 11, "-sweep.json") == 0)
        files.push_back(entry.path());
    }
  std::sort(files.begin(), files.end());
  if (files.empty()) s += note("No sweep (EXP/eval/<name>-sweep.json from wsss-miou --bg-sweep --json).");
  for (const fs::path& file : files) {
    const MiouResult m = read_miou_json(file);
    if (!m.is_sweep()) throw InputError(file, "not a sweep (no \"sweep\" list)");
    const std::string name = file.stem().string().substr(0, file.stem().string().size() - 6);
    LineChart chart;
    chart.title = name + ": mIoU against the background threshold";
    chart.x_label = "background threshold";
    chart.y_label = "mIoU (%)";
    LineSeries series;
    series.name = name;
    for (std::size_t i = 0; i < m.thresholds.size(); ++i) {
      series.x.push_back(m.thresholds[i]);
      const double miou = compute_scores(m.confusions[i]).miou;
      series.y.push_back(std::isnan(miou) ? kNaN : miou * 100);
    }
    chart.series.push_back(series);
    double chosen = m.thresholds[m.best()];
    std::string how = "best";
    const fs::path chosen_file = eval_dir / (name + "-threshold.txt");
    if (fs::exists(chosen_file)) {
      const std::string text = read_file(chosen_file);
      try {
        std::size_t used = 0;
        chosen = std::stod(text, &used);
        if (text.find_first_not_of(" \t\r\n", used) != std::string::npos) throw std::invalid_argument("trailing text");
      } catch (const std::exception&) {
        throw InputError(chosen_file, "expected one number, the chosen threshold");
      }
      how = "chosen";
    }
    double at = kNaN;
    for (std::size_t i = 0; i < m.thresholds.size(); ++i)
      if (std::abs(m.thresholds[i] - chosen) < 1e-9) at = series.y[i];
    chart.marker_x = chosen;
    chart.marker_label = how + " " + fmt("%g", chosen) + (std::isnan(at) ? "" : " (" + fmt("%.2f", at) + ")");
    s += line_chart_svg(chart);
  }
  return s + "</section>\n";
}

// ---------------------------------------------------------------------------
// Grids

struct Cell {
  std::string uri, caption;
};

cv::Mat mask_picture(const Record& r, const std::string& field, const fs::path& manifest, const Vocabulary& vocab,
                     int panel) {
  return viz::fit(viz::mask_colors(read_mask(record_path(r, field, manifest)), vocab.palette), panel, true);
}

cv::Mat cam_picture(const cv::Mat& image, const Record& r, const std::string& field, const fs::path& manifest,
                    const Vocabulary& vocab, std::string& classes) {
  const RecordScores s = load_scores(r, field, vocab, manifest, image.cols, image.rows);
  std::vector<float> top(std::size_t(image.cols) * std::size_t(image.rows), 0.f);
  for (std::size_t c = 0; c < s.classes.size(); ++c) {
    if (s.classes[c] == 0) continue;  // a background channel is not a class's map
    const float* ch = s.map.channel(std::int64_t(c));
    for (std::size_t i = 0; i < top.size(); ++i) top[i] = std::max(top[i], ch[i]);
    classes += (classes.empty() ? "" : ", ") + vocab.classes[std::size_t(s.classes[c])];
  }
  return viz::heat_overlay(image, top.data(), image.cols, image.rows, 0.5);
}

struct GridColumn {
  std::string title;
  const Manifest* manifest;
  std::string field;
  enum Kind { Image, Cam, Mask } kind;
};

std::string grid_table(const char* id, const std::vector<Record>& chosen, const std::vector<GridColumn>& columns,
                       const Vocabulary& vocab, const ReportOptions& o) {
  std::vector<std::map<std::string, const Record*>> lookup;
  for (const GridColumn& c : columns) lookup.push_back(by_id(c.manifest));
  std::vector<std::vector<Cell>> cells(chosen.size(), std::vector<Cell>(columns.size()));
  Progress progress(std::string("grid ") + id, chosen.size());
  parallel_for(chosen.size(), o.threads, [&](std::size_t i, int) {
    const std::string& rid = record_id(chosen[i]);
    cv::Mat image;
    for (std::size_t k = 0; k < columns.size(); ++k) {
      auto it = lookup[k].find(rid);
      if (it == lookup[k].end()) continue;
      const Record& r = *it->second;
      const fs::path& mpath = columns[k].manifest->path;
      Cell& cell = cells[i][k];
      switch (columns[k].kind) {
        case GridColumn::Image:
          image = read_image_rgb(record_path(r, columns[k].field, mpath));
          cell.uri = data_uri(viz::fit(image, o.panel), true);
          break;
        case GridColumn::Cam: {
          if (image.empty()) image = read_image_rgb(record_path(r, "image", mpath));
          cell.uri = data_uri(viz::fit(cam_picture(image, r, columns[k].field, mpath, vocab, cell.caption), o.panel),
                              true);
          break;
        }
        case GridColumn::Mask:
          if (r.contains(columns[k].field) && !r[columns[k].field].is_null())
            cell.uri = data_uri(mask_picture(r, columns[k].field, mpath, vocab, o.panel), false);
          break;
      }
    }
    progress.add();
  });
  progress.finish();
  std::string s = "<table class=\"grid\" id=\"" + std::string(id) + "\">\n<thead><tr><th>id</th>";
  for (const GridColumn& c : columns) s += "<th>" + esc(c.title) + "</th>";
  s += "</tr></thead>\n<tbody>\n";
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    s += "<tr><th class=\"id\">" + esc(record_id(chosen[i])) + "</th>";
    for (const Cell& c : cells[i]) {
      if (c.uri.empty()) {
        s += "<td class=\"missing\">-</td>";
        continue;
      }
      s += "<td><img alt=\"\" src=\"" + c.uri + "\">";
      if (!c.caption.empty()) s += "<div class=\"caption\">" + esc(c.caption) + "</div>";
      s += "</td>";
    }
    s += "</tr>\n";
  }
  return s + "</tbody></table>\n";
}

std::string grids_section(const Experiment& e, const ReportOptions& o) {
  std::string s = "<section id=\"grids\"><h2>Sample images</h2>\n";
  s += note("A fixed sample of " + std::to_string(o.sample) + " images (seed " + std::to_string(o.seed) +
            "; wsss-viz --sample chooses the same), masks in the vocabulary's palette (255 in its own colour), the "
            "CAM as the maximum over the image's classes.");
  std::unique_ptr<Manifest> train = maybe_manifest(e.train_manifest), val = maybe_manifest(e.val_manifest),
                            cam = maybe_manifest(e.cam_manifest);
  std::vector<std::unique_ptr<Manifest>> pseudo, pred;
  for (const RowSources& r : e.rows) {
    pseudo.push_back(maybe_manifest(r.pseudo_manifest));
    pred.push_back(maybe_manifest(r.pred_manifest));
  }
  auto chosen = [&](const Manifest& m) {
    viz::VizSelection sel;
    sel.sample = o.sample;
    sel.seed = o.seed;
    return viz::select_records(m, Vocabulary(), sel, viz::VizOptions(), 1).records;
  };
  // One grid: the split's image, the CAM (train), each row's masks, the GT.
  auto grid = [&](const Manifest* split, const Manifest* cams, const std::vector<std::unique_ptr<Manifest>>& rows,
                  bool pseudo_masks, const char* id, const std::string& heading, const fs::path& expected) {
    if (!split) return note("No " + std::string(pseudo_masks ? "training" : "validation") + " manifest (" +
                            expected.string() + ").");
    std::vector<GridColumn> columns = {{"image", split, "image", GridColumn::Image}};
    if (cams) columns.push_back({"CAM", cams, e.cam_field, GridColumn::Cam});
    for (std::size_t i = 0; i < e.rows.size(); ++i)
      if (rows[i])
        columns.push_back({e.rows[i].label, rows[i].get(),
                           pseudo_masks ? e.rows[i].pseudo_field : e.rows[i].pred_field, GridColumn::Mask});
    columns.push_back({"ground truth", split, e.gt_field, GridColumn::Mask});
    return "<h3>" + heading + "</h3>\n<div class=\"scroll\">" +
           grid_table(id, chosen(*split), columns, vocabulary_for(split->dir, ""), o) + "</div>\n";
  };
  s += grid(train.get(), cam.get(), pseudo, true, "grid-train", "Training images: CAM and pseudo masks",
            e.train_manifest);
  s += grid(val.get(), nullptr, pred, false, "grid-val", "Validation images: each row's segmentation",
            e.val_manifest);
  return s + "</section>\n";
}

// ---------------------------------------------------------------------------
// Training curves

struct Trainer {
  std::string name, program;
  json meta;                  // meta.json (null when absent)
  std::vector<json> log;      // train_log.jsonl (empty when absent)
  bool has_log = false;
};

json maybe_json(const fs::path& file) {
  if (!fs::exists(file)) return nullptr;
  try {
    return json::parse(read_file(file));
  } catch (const json::parse_error& err) {
    throw InputError(file, std::string("malformed JSON: ") + err.what());
  }
}

// The experiment's output directories, by name.
std::vector<fs::path> subdirectories(const fs::path& dir) {
  std::vector<fs::path> subdirs;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_directory()) subdirs.push_back(entry.path());
  std::sort(subdirs.begin(), subdirs.end());
  return subdirs;
}

std::vector<Trainer> find_trainers(const fs::path& dir) {
  std::vector<Trainer> out;
  for (const fs::path& d : subdirectories(dir)) {
    Trainer t;
    t.name = d.filename().string();
    t.meta = maybe_json(d / "meta.json");
    t.has_log = fs::exists(d / kTrainLogFile);
    if (!t.has_log && !(t.meta.is_object() && t.meta.contains("final_loss"))) continue;
    if (t.has_log) t.log = read_train_log(d / kTrainLogFile);
    t.program = t.name;
    if (t.meta.is_object() && t.meta.contains("program") && t.meta["program"].is_string()) {
      t.program = t.meta["program"].get<std::string>();
      // The trainers are subcommands ("wsss-classify train"): name them so.
      const json& argv = t.meta.contains("argv") ? t.meta["argv"] : json();
      if (argv.is_array() && argv.size() > 1 && argv[1].is_string()) {
        const std::string sub = argv[1].get<std::string>();
        if (!sub.empty() && sub.find_first_not_of("abcdefghijklmnopqrstuvwxyz-") == std::string::npos && sub[0] != '-')
          t.program += " " + sub;
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

bool is_metric_key(const std::string& k) {
  static const std::set<std::string> not_metrics = {"kind", "iteration", "epoch", "seconds", "threshold",
                                                     "valid_classes"};
  return !not_metrics.count(k);
}

std::string training_section(const Experiment& e) {
  std::string s = "<section id=\"training\"><h2>Training</h2>\n";
  const std::vector<Trainer> trainers = find_trainers(e.dir);
  if (trainers.empty()) {
    s += note("No trainer output (a directory with train_log.jsonl or a finished meta.json).");
    return s + "</section>\n";
  }
  s += "<table class=\"trainers\"><thead><tr><th>directory</th><th>program</th><th>steps</th><th>final loss</th>"
       "<th>last validation</th><th>seconds</th></tr></thead><tbody>\n";
  std::vector<std::string> programs;
  for (const Trainer& t : trainers) {
    if (std::find(programs.begin(), programs.end(), t.program) == programs.end()) programs.push_back(t.program);
    std::size_t steps = 0;
    double seconds = kNaN;
    std::string last_val = "-";
    for (const json& entry : t.log) {
      const std::string kind = entry.value("kind", "");
      if (kind == "step") ++steps;
      if (entry.contains("seconds") && entry["seconds"].is_number()) seconds = entry["seconds"].get<double>();
      if (kind == "validation") {
        last_val.clear();
        for (auto it = entry.begin(); it != entry.end(); ++it)
          if (is_metric_key(it.key()) && it.value().is_number())
            last_val += (last_val.empty() ? "" : ", ") + it.key() + " " + fmt("%.4g", it.value().get<double>());
      }
    }
    const std::string loss = t.meta.is_object() && t.meta.contains("final_loss") && t.meta["final_loss"].is_number()
                                 ? fmt("%.4g", t.meta["final_loss"].get<double>())
                                 : "-";
    s += "<tr><td>" + esc(t.name) + "</td><td>" + esc(t.program) + "</td><td>" +
         (t.has_log ? std::to_string(steps) : std::string("no train_log.jsonl")) + "</td><td>" + loss + "</td><td>" +
         esc(last_val) + "</td><td>" + (std::isnan(seconds) ? std::string("-") : fmt("%.1f", seconds)) +
         "</td></tr>\n";
  }
  s += "</tbody></table>\n";
  for (const std::string& program : programs) {
    LineChart loss;
    loss.title = program + ": training loss";
    loss.x_label = "iteration";
    loss.y_label = "loss";
    loss.integer_x = true;
    LineChart val;
    val.title = program + ": validation";
    val.x_label = "iteration";
    val.integer_x = true;
    std::size_t k = 0;
    for (const Trainer& t : trainers) {
      if (t.program != program || !t.has_log) continue;
      const std::size_t colour = k++;
      LineSeries raw;
      raw.colour = colour;
      std::map<std::string, LineSeries> metrics;
      for (const json& entry : t.log) {
        const std::string kind = entry.value("kind", "");
        const double it = entry["iteration"].get<double>();
        if (kind == "step" && entry.contains("loss") && entry["loss"].is_number()) {
          raw.x.push_back(it);
          raw.y.push_back(entry["loss"].get<double>());
        }
        if (kind == "validation")
          for (auto f = entry.begin(); f != entry.end(); ++f)
            if (is_metric_key(f.key()) && f.value().is_number()) {
              LineSeries& m = metrics[f.key()];
              m.x.push_back(it);
              m.y.push_back(f.value().get<double>());
            }
      }
      // Many steps: the raw curve faint, a running mean over 1/50 of them on top.
      const std::size_t window = raw.x.size() / 50;
      if (window > 1) {
        LineSeries smooth;
        smooth.name = t.name + " (mean of " + std::to_string(window) + ")";
        smooth.colour = colour;
        double sum = 0;
        for (std::size_t i = 0; i < raw.y.size(); ++i) {
          sum += raw.y[i];
          if (i >= window) sum -= raw.y[i - window];
          smooth.x.push_back(raw.x[i]);
          smooth.y.push_back(i + 1 >= window ? sum / double(window) : kNaN);
        }
        raw.opacity = 0.3;
        loss.series.push_back(raw);
        loss.series.push_back(smooth);
      } else {
        raw.name = t.name;
        loss.series.push_back(raw);
      }
      std::size_t m_index = 0;
      for (auto& [metric, series] : metrics) {
        series.name = t.name + ": " + metric;
        series.points = true;
        series.colour = colour * 3 + m_index++;
        val.series.push_back(series);
      }
    }
    if (loss.series.empty()) continue;
    s += "<div class=\"flex\" data-program=\"" + esc(program) + "\"><div>" + line_chart_svg(loss) + "</div>";
    if (!val.series.empty()) s += "<div>" + line_chart_svg(val) + "</div>";
    s += "</div>\n";
  }
  return s + "</section>\n";
}

// ---------------------------------------------------------------------------
// Stage times, configuration, commands

std::string times_section(const Experiment& e) {
  std::string s = "<section id=\"times\"><h2>Stage times</h2>\n";
  const fs::path dir = e.dir / "times";
  std::vector<std::pair<std::string, double>> times;
  if (fs::is_directory(dir)) {
    std::vector<std::pair<fs::file_time_type, fs::path>> files;
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.is_regular_file() && entry.path().filename().string()[0] != '.')
        files.emplace_back(entry.last_write_time(), entry.path());
    std::sort(files.begin(), files.end());  // the order the stages finished in
    for (const auto& [when, file] : files) {
      const std::string text = read_file(file);
      std::size_t used = 0;
      double v = kNaN;
      try {
        v = std::stod(text, &used);
      } catch (const std::exception&) {
      }
      if (!std::isfinite(v) || text.find_first_not_of(" \t\r\n", used) != std::string::npos)
        throw InputError(file, "expected one number, the stage's wall seconds");
      times.emplace_back(file.filename().string(), v);
    }
  }
  if (times.empty()) return s + note("No stage times (EXP/times/<stage>).") + "</section>\n";
  BarChart chart;
  chart.title = "wall seconds per stage";
  chart.y_label = "seconds";
  chart.series = {"seconds"};
  chart.values.emplace_back();
  chart.value_format = "%.1f s";
  double total = 0;
  for (const auto& [name, v] : times) {
    chart.categories.push_back(name);
    chart.values[0].push_back(v);
    total += v;
  }
  s += "<div class=\"scroll\">" + bar_chart_svg(chart) + "</div>\n";
  s += note("Total " + format_duration(total) + " over " + std::to_string(times.size()) +
            " stages (stages that ran side by side overlap).");
  return s + "</section>\n";
}

std::string config_section(const Experiment& e) {
  std::string s = "<section id=\"config\"><h2>Configuration</h2>\n";
  const json config = maybe_json(e.dir / "config.json");
  if (config.is_null())
    s += note("No config.json in the experiment directory.");
  else
    s += "<pre class=\"config\">" + esc(config.dump(2)) + "</pre>\n";
  std::vector<std::pair<std::string, json>> metas;
  for (const fs::path& d : subdirectories(e.dir)) {
    json meta = maybe_json(d / "meta.json");
    if (meta.is_object() && meta.contains("argv") && meta["argv"].is_array()) metas.emplace_back(d.filename().string(), meta);
  }
  if (!metas.empty()) {
    s += "<details><summary>Commands (" + std::to_string(metas.size()) + " output directories)</summary>\n"
         "<table class=\"commands\"><thead><tr><th>directory</th><th>command</th><th>version</th></tr></thead><tbody>\n";
    for (const auto& [name, meta] : metas) {
      std::vector<std::string> argv;
      for (const auto& a : meta["argv"])
        if (a.is_string()) argv.push_back(a.get<std::string>());
      s += "<tr><td>" + esc(name) + "</td><td><code>" + esc(quoted_command_line(argv)) + "</code></td><td>" +
           esc(meta.value("git", meta.value("version", ""))) + "</td></tr>\n";
    }
    s += "</tbody></table></details>\n";
  }
  return s + "</section>\n";
}

const char* kStyle = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#222}
h1{font-size:1.5em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:2em}h3{font-size:1.05em}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;font-size:0.9em}
table.results td:not(:first-child),table.groups td:not(:first-child){text-align:right;font-variant-numeric:tabular-nums}
tr.baseline{color:#666}.note{color:#666;font-size:0.9em}
table.grid td,table.grid th{padding:2px;text-align:center;vertical-align:top}table.grid img{display:block;image-rendering:pixelated}
table.grid th{max-width:150px}table.grid th.id{font-weight:normal;font-size:0.8em}.caption{font-size:0.75em;color:#555;max-width:140px}
.flex{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}.scroll{overflow-x:auto}
svg.chart{font-size:11px;background:#fff}svg .title{font-size:13px;font-weight:600}
svg .grid{stroke:#eee}svg .axis{stroke:#888}svg .band{stroke:#888;fill:#444}svg .marker{stroke:#d62728;fill:#d62728;stroke-dasharray:4 3}
svg text.marker{stroke:none}svg .frame{stroke:#888}svg .series{stroke-width:1.6}
pre.config{background:#f6f8fa;padding:8px;overflow-x:auto;font-size:0.85em}code{font-size:0.85em}
nav a{margin-right:12px}
)";

}  // namespace

fs::path report_file(const fs::path& dir) { return dir / "report.html"; }

Experiment read_experiment(const fs::path& dir) {
  Experiment e;
  e.dir = dir;
  const fs::path file = dir / "results.json";
  if (!fs::exists(file))
    throw InputError(file, "no results.json: not an experiment directory, or its table stage has not run");
  try {
    e.results = json::parse(read_file(file));
  } catch (const json::parse_error& err) {
    throw InputError(file, std::string("malformed JSON: ") + err.what());
  }
  if (!e.results.is_object() || !e.results.contains("rows") || !e.results["rows"].is_array())
    throw InputError(file, "expected an object with a \"rows\" list");
  e.train_manifest = resolve(dir, e.results, "train_manifest", dir / "train" / "manifest.jsonl", file, "results");
  e.val_manifest = resolve(dir, e.results, "val_manifest", dir / "val" / "manifest.jsonl", file, "results");
  e.cam_manifest = resolve(dir, e.results, "cam_manifest", dir / "cam" / "manifest.jsonl", file, "results");
  e.cam_field = field_of(e.results, "cam_field", "cam", file, "results");
  e.gt_field = field_of(e.results, "gt_field", "mask", file, "results");
  std::set<std::string> names;
  std::size_t index = 0;
  for (const json& entry : e.results["rows"]) {
    const std::string where = "rows[" + std::to_string(index++) + "]";
    if (!entry.is_object() || !entry.contains("row") || !entry["row"].is_string() ||
        entry["row"].get<std::string>().empty())
      throw InputError(file, where + ": expected an object with a non-empty string \"row\"");
    RowSources r;
    r.name = entry["row"].get<std::string>();
    if (!names.insert(r.name).second) throw InputError(file, where + ": row '" + r.name + "' given twice");
    r.label = entry.contains("label") && entry["label"].is_string() ? entry["label"].get<std::string>() : r.name;
    r.entry = entry;
    r.pseudo_manifest = resolve(dir, entry, "pseudo_manifest", dir / ("pseudo-" + r.name) / "manifest.jsonl", file, where);
    r.pred_manifest = resolve(dir, entry, "pred_manifest", dir / ("pred-" + r.name) / "manifest.jsonl", file, where);
    r.pseudo_eval = resolve(dir, entry, "pseudo_eval", dir / "eval" / ("pseudo-" + r.name + ".json"), file, where);
    r.seg_eval = resolve(dir, entry, "seg_eval", dir / "eval" / ("seg-" + r.name + ".json"), file, where);
    r.pseudo_field = field_of(entry, "pseudo_field", "pseudo", file, where);
    r.pred_field = field_of(entry, "pred_field", "pred", file, where);
    e.rows.push_back(std::move(r));
  }
  return e;
}

std::string build_report(const Experiment& e, const ReportOptions& o) {
  std::string body;
  body += table_section(e);
  body += evaluation_sections(e);
  body += sweep_section(e);
  body += grids_section(e, o);
  body += training_section(e);
  body += times_section(e);
  body += config_section(e);
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                     "<title>wsss report: " + esc(e.dir.filename().string()) + "</title>\n<style>" + kStyle +
                     "</style>\n</head>\n<body>\n";
  html += "<h1>wsss experiment report</h1>\n<p>Experiment directory <code>" + esc(e.dir.string()) + "</code>, " +
          std::to_string(e.rows.size()) + " rows. Made by wsss-report " + esc(project_version()) + " (" +
          esc(git_describe()) + ").</p>\n";
  html += "<nav><a href=\"#table\">table</a><a href=\"#per-class\">per-class IoU</a><a href=\"#confusion\">confusion</a>"
          "<a href=\"#sweeps\">threshold</a><a href=\"#grids\">images</a><a href=\"#training\">training</a>"
          "<a href=\"#times\">times</a><a href=\"#config\">configuration</a></nav>\n";
  return html + body + "</body>\n</html>\n";
}

}  // namespace wsss::report
