#include "wsss/eval/miou.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <cstdio>
#include <map>
#include <memory>
#include <set>

#include "wsss/core/error.hpp"
#include "wsss/core/hash.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/parallel.hpp"
#include "wsss/core/progress.hpp"
#include "wsss/io/atomic_file.hpp"

namespace wsss {

namespace {

enum ItemStatus : char { kEvaluated = 0, kSkipped = 1, kEmpty = 2 };

// A field's path, resolved against the manifest directory when the field is
// not one of the registered path fields (those are already absolute).
std::optional<fs::path> field_path(const Record& record, const std::string& field, const Manifest& manifest) {
  auto it = record.find(field);
  if (it == record.end() || it->is_null()) return std::nullopt;
  if (!it->is_string() || it->get_ref<const std::string&>().empty())
    throw InputError(manifest.path, "item " + quote_id(record_id(record)) + ": field \"" + field + "\" must be a path string");
  fs::path p = it->get<std::string>();
  if (p.is_relative()) p = manifest.dir / p;
  return p;
}

const char* pred_ignore_name(PredIgnore p) { return p == PredIgnore::Wrong ? "wrong" : "background"; }
const char* missing_name(MissingPrediction m) {
  return m == MissingPrediction::Strict ? "strict" : m == MissingPrediction::Skip ? "skip" : "empty";
}

nlohmann::ordered_json nan_to_null(double v) { return std::isnan(v) ? nlohmann::ordered_json() : nlohmann::ordered_json(v); }

}  // namespace

std::size_t MiouResult::best() const {
  std::size_t best = 0;
  double best_miou = -1;
  for (std::size_t i = 0; i < confusions.size(); ++i) {
    double m = compute_scores(confusions[i]).miou;
    if (!std::isnan(m) && m > best_miou) {
      best_miou = m;
      best = i;
    }
  }
  return best;
}

std::vector<double> widened_sweep(const std::vector<double>& sweep, std::size_t best, std::string* text) {
  if (sweep.size() < 2 || (best != 0 && best + 1 != sweep.size())) return {};
  const double step = sweep[1] - sweep[0], lo = sweep.front(), hi = sweep.back();
  double from = lo, to = hi;
  if (best + 1 == sweep.size() && hi + step <= 1 + 1e-9) to = hi + std::floor((1 - hi) / step + 1e-6) * step;
  else if (best == 0 && lo - step >= -1e-9) from = lo - std::floor(lo / step + 1e-6) * step;
  else return {};
  std::string t = format_shortest(std::round(from * 1e9) / 1e9) + ":" + format_shortest(std::round(to * 1e9) / 1e9) +
                  ":" + format_shortest(std::round(step * 1e9) / 1e9);
  if (text) *text = t;
  return parse_sweep(t);
}

namespace {
MiouResult evaluate_once(const Manifest& manifest, const Vocabulary& vocabulary, const MiouOptions& options);
}  // namespace

MiouResult evaluate_manifest(const Manifest& manifest, const Vocabulary& vocabulary, const MiouOptions& options) {
  MiouResult result = evaluate_once(manifest, vocabulary, options);
  if (!result.is_sweep() || result.thresholds.size() < 2) return result;
  const std::size_t best = result.best();
  std::string text;
  std::vector<double> wider = widened_sweep(result.thresholds, best, &text);
  if (wider.empty()) return result;
  const char* edge = best == 0 ? "lower" : "upper";
  // Shards are widened never: their merge needs one range, and the edge is the merged result's.
  if (!options.widen_sweep_at_edge || options.shard.sharded()) {
    log::warn("best threshold ", format_shortest(result.thresholds[best]), " is the ", edge, " end of the sweep ",
              options.sweep_text, ": the best may lie beyond it (try --bg-sweep ", text, ")");
    return result;
  }
  log::warn("best threshold ", format_shortest(result.thresholds[best]), " is the ", edge, " end of the sweep ",
            options.sweep_text, ": sweeping again over ", text);
  MiouOptions again = options;
  again.sweep = std::move(wider);
  again.sweep_text = text;
  return evaluate_once(manifest, vocabulary, again);
}

namespace {

MiouResult evaluate_once(const Manifest& manifest, const Vocabulary& vocabulary, const MiouOptions& options) {
  MiouResult result;
  result.classes = vocabulary.classes;
  result.ignore = vocabulary.ignore;
  result.shard = options.shard.str();
  nlohmann::ordered_json scores;
  if (!options.sweep.empty()) {
    scores["background"] = "sweep";
    scores["sweep"] = options.sweep_text;
  } else if (options.background.kind == BackgroundRule::Power) {
    scores["background"] = "power";
    scores["power"] = options.background.value;
  } else {
    scores["background"] = "threshold";
    scores["threshold"] = options.background.value;
  }
  if (options.drop_bg_channel) scores["bg_channel"] = "drop";
  result.settings = {{"pred", options.pred_field}, {"gt", options.gt_field},
                     {"pred_ignore", pred_ignore_name(options.pred_ignore)},
                     {"missing", missing_name(options.missing)}, {"scores", scores}};
  if (options.pred_field == options.gt_field) throw UsageError("--pred and --gt name the same field");

  const int k = vocabulary.size();
  const int ignore = vocabulary.ignore;
  // Plain variables: a lambda below uses begin, and C++17 lambdas cannot capture structured bindings (clang).
  const auto range = options.shard.range(manifest.records.size());
  const std::size_t begin = range.first, end = range.second;
  if (options.shard.sharded())
    log::info("shard ", options.shard.str(), ": items ", begin + 1, "..", end, " of ", manifest.records.size());
  const std::size_t n = end - begin;
  std::uint64_t items_hash = 0;
  for (std::size_t i = begin; i < end; ++i) items_hash += fnv1a64(record_id(manifest.records[i]));
  result.source = {{"manifest_hash", manifest.content_hash}, {"items", n}, {"items_hash", hex64(items_hash)},
                   {"parts", {hex64(items_hash)}}};
  const int workers = std::max(1, std::min<int>(options.threads, int(std::max<std::size_t>(n, 1))));
  const bool sweep = !options.sweep.empty();
  std::vector<Confusion> confusion(std::size_t(workers), Confusion{k});
  std::vector<std::unique_ptr<ThresholdSweep>> sweeps;
  if (sweep)
    for (int w = 0; w < workers; ++w) sweeps.push_back(std::make_unique<ThresholdSweep>(k, options.sweep));
  std::vector<char> status(n, kEvaluated);

  // The error reported is the one of the first bad item in id order, whatever
  // the scheduling: later items stop being read once an earlier one failed.
  std::atomic<std::size_t> first_bad{n};
  Progress progress("images", n);
  std::vector<std::exception_ptr> errors(n);
  auto evaluate_item = [&](std::size_t i, int w) {
    const Record& rec = manifest.records[begin + i];
    const std::string& id = record_id(rec);
    auto gt_file = field_path(rec, options.gt_field, manifest);
    if (!gt_file) throw InputError(manifest.path, "item " + quote_id(id) + ": no \"" + options.gt_field + "\" (GT) field");
    auto pred_file = field_path(rec, options.pred_field, manifest);
    if (!pred_file || !fs::exists(*pred_file)) {
      if (options.missing == MissingPrediction::Strict) {
        if (!pred_file)
          throw InputError(manifest.path, "item " + quote_id(id) + ": no \"" + options.pred_field +
                                              "\" field (see --missing)");
        throw InputError(manifest.path, "item " + quote_id(id) + ": prediction " + pred_file->string() +
                                            " does not exist (see --missing)");
      }
      if (options.missing == MissingPrediction::Skip) {
        status[i] = kSkipped;
        progress.add();
        return;
      }
      Mask gt = read_mask(*gt_file);
      if (sweep) sweeps[std::size_t(w)]->add_empty(gt, ignore, *gt_file);
      else accumulate_empty(confusion[std::size_t(w)], gt, ignore, *gt_file);
      status[i] = kEmpty;
      progress.add();
      return;
    }
    Mask gt = read_mask(*gt_file);
    if (pred_file->extension() == ".npy") {
      std::vector<int> classes = score_map_classes(rec, options.pred_field, manifest.path);
      ScoreMap map = read_npy(*pred_file);
      check_score_map(map, classes, k, gt.width, gt.height, *pred_file, "the GT mask " + gt_file->string());
      if (options.drop_bg_channel) drop_background_channel(map, classes);
      if (sweep && has_background_channel(classes))
        throw InputError(*pred_file, "score map has a background channel (class 0): evaluate it without --bg-sweep, or "
                                     "drop it with --drop-bg-channel");
      if (sweep) {
        sweeps[std::size_t(w)]->add_score_map(gt, map, classes, ignore, *gt_file);
      } else {
        Mask pred = score_map_to_mask(map, classes, options.background);
        accumulate_masks(confusion[std::size_t(w)], gt, pred, options.pred_ignore, ignore, *gt_file, *pred_file);
      }
    } else {
      if (sweep) throw InputError(*pred_file, "--bg-sweep needs .npy score maps, not a label mask");
      Mask pred = read_mask(*pred_file);
      accumulate_masks(confusion[std::size_t(w)], gt, pred, options.pred_ignore, ignore, *gt_file, *pred_file);
    }
    progress.add();
  };
  parallel_for(n, workers, [&](std::size_t i, int w) {
    if (i > first_bad.load()) return;
    try {
      evaluate_item(i, w);
    } catch (...) {
      errors[i] = std::current_exception();
      std::size_t seen = first_bad.load();
      while (i < seen && !first_bad.compare_exchange_weak(seen, i)) {
      }
    }
  });
  progress.finish();
  if (first_bad.load() < n) std::rethrow_exception(errors[first_bad.load()]);

  std::vector<std::string> skipped_ids;
  for (std::size_t i = 0; i < n; ++i) {
    if (status[i] == kEvaluated) ++result.evaluated;
    else if (status[i] == kEmpty) ++result.empty;
    else {
      ++result.skipped;
      if (skipped_ids.size() < 5) skipped_ids.push_back(record_id(manifest.records[begin + i]));
    }
  }
  if (result.skipped)
    log::warn(result.skipped, " image(s) without a prediction left out, e.g. '", skipped_ids.front(), "'");
  if (result.empty) log::warn(result.empty, " image(s) without a prediction scored as all background");

  if (sweep) {
    for (int w = 1; w < workers; ++w) sweeps[0]->add(*sweeps[std::size_t(w)]);
    result.thresholds = options.sweep;
    for (std::size_t t = 0; t < options.sweep.size(); ++t) result.confusions.push_back(sweeps[0]->confusion_at(t));
  } else {
    for (int w = 1; w < workers; ++w) confusion[0].add(confusion[std::size_t(w)]);
    result.confusions.push_back(std::move(confusion[0]));
  }
  return result;
}

nlohmann::ordered_json matrix_json(const Confusion& c) {
  auto rows = nlohmann::ordered_json::array();
  for (int g = 0; g < c.k; ++g) {
    auto row = nlohmann::ordered_json::array();
    for (int p = 0; p < c.k; ++p) row.push_back(c.at(g, p));
    rows.push_back(std::move(row));
  }
  return rows;
}

nlohmann::ordered_json ignored_json(const Confusion& c) {
  auto v = nlohmann::ordered_json::array();
  for (int g = 0; g < c.k; ++g) v.push_back(c.pred_ignored(g));
  return v;
}

Confusion confusion_from_json(const nlohmann::ordered_json& matrix, const nlohmann::ordered_json& ignored, int k, const fs::path& file) {
  Confusion c(k);
  if (!matrix.is_array() || int(matrix.size()) != k || !ignored.is_array() || int(ignored.size()) != k)
    throw InputError(file, "confusion matrix is not " + std::to_string(k) + "x" + std::to_string(k));
  for (int g = 0; g < k; ++g) {
    const auto& row = matrix[std::size_t(g)];
    if (!row.is_array() || int(row.size()) != k)
      throw InputError(file, "confusion matrix is not " + std::to_string(k) + "x" + std::to_string(k));
    for (int p = 0; p < k; ++p) {
      if (!row[std::size_t(p)].is_number_unsigned()) throw InputError(file, "confusion counts must be integers >= 0");
      c.at(g, p) = row[std::size_t(p)].get<std::uint64_t>();
    }
    if (!ignored[std::size_t(g)].is_number_unsigned()) throw InputError(file, "pred_ignored counts must be integers >= 0");
    c.pred_ignored(g) = ignored[std::size_t(g)].get<std::uint64_t>();
  }
  return c;
}

}  // namespace

nlohmann::ordered_json miou_to_json(const MiouResult& r) {
  nlohmann::ordered_json j;
  j["format"] = "wsss-miou";
  j["version"] = 1;
  j["classes"] = r.classes;
  j["ignore"] = r.ignore;
  j["settings"] = r.settings;
  j["shard"] = r.shard;
  if (!r.source.is_null()) j["source"] = r.source;
  j["images"] = {{"evaluated", r.evaluated}, {"skipped", r.skipped}, {"empty", r.empty}};
  const std::size_t best = r.best();
  if (r.is_sweep()) j["threshold"] = r.thresholds[best];
  const Confusion& c = r.confusions.at(best);
  Scores s = compute_scores(c);
  j["miou"] = nan_to_null(s.miou);
  j["valid_classes"] = s.valid;
  j["bg_fp"] = nan_to_null(s.bg_fp);
  j["bg_fn"] = nan_to_null(s.bg_fn);
  j["fg_fp_mean"] = nan_to_null(s.fg_fp_mean);
  j["fg_fn_mean"] = nan_to_null(s.fg_fn_mean);
  auto per_class = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < s.classes.size(); ++i) {
    const ClassScore& cs = s.classes[i];
    per_class.push_back({{"id", i}, {"class", r.classes[i]}, {"iou", nan_to_null(cs.iou)},
                         {"precision", nan_to_null(cs.precision)}, {"recall", nan_to_null(cs.recall)},
                         {"fp", nan_to_null(cs.fp)}, {"fn", nan_to_null(cs.fn)}, {"tp", cs.tp},
                         {"gt_pixels", cs.gt_pixels}, {"pred_pixels", cs.pred_pixels}});
  }
  j["per_class"] = per_class;
  if (!r.groups.empty()) j["groups"] = groups_to_json(s, r.groups, r.classes);
  j["confusion"] = matrix_json(c);
  j["pred_ignored"] = ignored_json(c);
  if (r.is_sweep()) {
    auto sweep = nlohmann::ordered_json::array();
    for (std::size_t t = 0; t < r.thresholds.size(); ++t)
      sweep.push_back({{"threshold", r.thresholds[t]}, {"miou", nan_to_null(compute_scores(r.confusions[t]).miou)},
                       {"confusion", matrix_json(r.confusions[t])}, {"pred_ignored", ignored_json(r.confusions[t])}});
    j["sweep"] = sweep;
  }
  return j;
}

std::string format_miou_json(const MiouResult& result) {
  // One key per line and one class / matrix row / threshold per line: readable,
  // diffable, and far shorter than dump(1) of a COCO-sized matrix.
  nlohmann::ordered_json j = miou_to_json(result);
  std::string out = "{\n";
  bool first = true;
  for (auto it = j.begin(); it != j.end(); ++it) {
    out += first ? "" : ",\n";
    first = false;
    out += " \"" + it.key() + "\": ";
    const auto& v = it.value();
    if (v.is_array() && !v.empty() && (v.front().is_array() || v.front().is_object())) {
      out += "[\n";
      for (std::size_t i = 0; i < v.size(); ++i) out += "  " + v[i].dump() + (i + 1 < v.size() ? ",\n" : "\n");
      out += " ]";
    } else {
      out += v.dump();
    }
  }
  return out + "\n}\n";
}

MiouResult miou_from_json(const nlohmann::ordered_json& j, const fs::path& file) {
  MiouResult r;
  try {
    if (j.value("format", "") != "wsss-miou") throw InputError(file, "not a wsss-miou result (format != wsss-miou)");
    if (!j.contains("version") || j["version"] != 1) throw InputError(file, "unsupported wsss-miou result version");
    r.classes = j.at("classes").get<std::vector<std::string>>();
    r.ignore = j.at("ignore").get<int>();
    r.settings = j.at("settings");
    r.shard = j.at("shard").get<std::string>();
    if (j.contains("source")) {
      const auto& s = j["source"];
      bool ok = s.is_object() && s.contains("items") && s["items"].is_number_unsigned() && s.contains("items_hash") &&
                s["items_hash"].is_string() && s.contains("parts") && s["parts"].is_array();
      for (std::size_t i = 0; ok && i < s["parts"].size(); ++i) ok = s["parts"][i].is_string();
      if (!ok) throw InputError(file, "bad wsss-miou result: \"source\" needs items, items_hash and parts");
      r.source = s;
    }
    const auto& images = j.at("images");
    r.evaluated = images.at("evaluated").get<std::size_t>();
    r.skipped = images.at("skipped").get<std::size_t>();
    r.empty = images.at("empty").get<std::size_t>();
    const int k = int(r.classes.size());
    if (j.contains("sweep")) {
      for (const auto& entry : j.at("sweep")) {
        r.thresholds.push_back(entry.at("threshold").get<double>());
        r.confusions.push_back(confusion_from_json(entry.at("confusion"), entry.at("pred_ignored"), k, file));
      }
      if (r.thresholds.empty()) throw InputError(file, "empty sweep");
    } else {
      r.confusions.push_back(confusion_from_json(j.at("confusion"), j.at("pred_ignored"), k, file));
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(file, std::string("bad wsss-miou result: ") + e.what());
  }
  return r;
}

MiouResult read_miou_json(const fs::path& file) {
  std::string text = read_file(file);
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(file, std::string("malformed JSON: ") + e.what());
  }
  return miou_from_json(j, file);
}

MiouResult merge_miou(const std::vector<MiouResult>& parts, const std::vector<fs::path>& files) {
  if (parts.empty()) throw UsageError("--merge needs at least one result file");
  MiouResult out = parts[0];
  std::map<int, std::size_t> seen;  // shard index -> input
  std::map<std::string, std::size_t> seen_parts;  // items_hash of a merged result -> input
  bool sources = true;
  int shard_count = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const MiouResult& p = parts[i];
    const fs::path& file = files.at(i);
    if (p.classes != out.classes || p.ignore != out.ignore)
      throw InputError(file, "class vocabulary differs from " + files[0].string() + "'s");
    if (p.settings != out.settings)
      throw InputError(file, "settings " + nlohmann::json(p.settings).dump() + " differ from " + files[0].string() +
                                 "'s " + nlohmann::json(out.settings).dump());
    if (p.thresholds != out.thresholds) throw InputError(file, "sweep thresholds differ from " + files[0].string() + "'s");
    Shard s = Shard::parse(p.shard);
    if (i == 0) shard_count = s.count;
    if ((s.count == 1) != (shard_count == 1) || (s.count > 1 && s.count != shard_count))
      throw InputError(file, "shard " + p.shard + " does not belong to the same split as " + files[0].string() +
                                 "'s " + parts[0].shard);
    if (s.count > 1) {
      auto [it, fresh] = seen.emplace(s.index, i);
      if (!fresh) throw InputError(file, "shard " + p.shard + " was already given in " + files[it->second].string());
    }
    // The same images twice (the same file given twice, a merged result and
    // one of its parts, two runs on one manifest) would be counted twice.
    if (p.source.is_null()) {
      sources = false;
    } else {
      if (s.count > 1 && !parts[0].source.is_null() &&
          p.source.value("manifest_hash", std::string()) != parts[0].source.value("manifest_hash", std::string()))
        throw InputError(file, "shard " + p.shard + " is of another manifest (hash " +
                                   p.source.value("manifest_hash", std::string("?")) + ") than " + files[0].string() +
                                   "'s (hash " + parts[0].source.value("manifest_hash", std::string("?")) + ")");
      if (p.source["items"].get<std::size_t>() > 0)
        for (const auto& part : p.source["parts"]) {
          auto [it, fresh] = seen_parts.emplace(part.get<std::string>(), i);
          if (!fresh)
            throw InputError(file, "holds a result over the same " + std::to_string(p.source["items"].get<std::size_t>()) +
                                       " item(s) as " + files[it->second].string() + " (items hash " +
                                       part.get<std::string>() + "): merging would count them twice");
        }
    }
    if (i == 0) continue;
    out.evaluated += p.evaluated;
    out.skipped += p.skipped;
    out.empty += p.empty;
    for (std::size_t t = 0; t < out.confusions.size(); ++t) out.confusions[t].add(p.confusions[t]);
  }
  if (shard_count > 1) {
    std::string missing;
    for (int j = 1; j <= shard_count; ++j)
      if (!seen.count(j)) missing += (missing.empty() ? "" : ", ") + std::to_string(j) + "/" + std::to_string(shard_count);
    if (!missing.empty()) throw UsageError("--merge: missing shard(s) " + missing);
  }
  out.shard = "1/1";
  out.source = nlohmann::ordered_json();
  if (sources) {
    // A complete set of shards is the unsharded run over its manifest; results
    // of different manifests keep the list of what they hold.
    std::uint64_t sum = 0;
    std::size_t items = 0;
    std::vector<std::string> all_parts;
    for (const MiouResult& p : parts) {
      sum += std::stoull(p.source["items_hash"].get<std::string>(), nullptr, 16);
      items += p.source["items"].get<std::size_t>();
      for (const auto& part : p.source["parts"]) all_parts.push_back(part.get<std::string>());
    }
    std::sort(all_parts.begin(), all_parts.end());
    if (shard_count > 1) {
      out.source = {{"manifest_hash", parts[0].source.value("manifest_hash", std::string())}, {"items", items},
                    {"items_hash", hex64(sum)}, {"parts", {hex64(sum)}}};
    } else {
      out.source = {{"items", items}, {"items_hash", hex64(sum)}, {"parts", all_parts}};
    }
  }
  return out;
}

namespace {

std::string pct(double v) {
  if (std::isnan(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", 100.0 * v);
  return buf;
}
std::string ratio(double v) {
  if (std::isnan(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

}  // namespace

std::string format_miou_report(const MiouResult& r) {
  std::string out;
  char line[512];
  const std::size_t best = r.best();
  if (r.is_sweep()) {
    std::snprintf(line, sizeof line, "%-10s %8s\n", "threshold", "mIoU");
    out += line;
    for (std::size_t t = 0; t < r.thresholds.size(); ++t) {
      std::snprintf(line, sizeof line, "%-10s %8s\n", format_shortest(r.thresholds[t]).c_str(),
                    pct(compute_scores(r.confusions[t]).miou).c_str());
      out += line;
    }
    out += "best threshold " + format_shortest(r.thresholds[best]) + "\n\n";
  }
  const Confusion& c = r.confusions.at(best);
  Scores s = compute_scores(c);
  int name_width = 12;
  for (const auto& n : r.classes) name_width = std::max(name_width, int(n.size()));
  std::snprintf(line, sizeof line, "%-*s %8s %9s %8s %8s %8s %14s\n", name_width, "class", "IoU", "precision", "recall",
                "FP", "FN", "pixels");
  out += line;
  std::uint64_t ignored = 0;
  for (std::size_t i = 0; i < s.classes.size(); ++i) {
    const ClassScore& cs = s.classes[i];
    std::snprintf(line, sizeof line, "%-*s %8s %9s %8s %8s %8s %14llu\n", name_width, r.classes[i].c_str(),
                  pct(cs.iou).c_str(), pct(cs.precision).c_str(), pct(cs.recall).c_str(), ratio(cs.fp).c_str(),
                  ratio(cs.fn).c_str(), static_cast<unsigned long long>(cs.gt_pixels));
    out += line;
    ignored += c.pred_ignored(int(i));
  }
  out += "bg fp " + ratio(s.bg_fp) + " fn " + ratio(s.bg_fn) + "; mean fg fp " + ratio(s.fg_fp_mean) + " fn " +
         ratio(s.fg_fn_mean) + "\n";
  if (ignored) out += "predicted 255 (ignore) counted as misses: " + std::to_string(ignored) + " pixels\n";
  if (!r.groups.empty()) out += format_groups(s, r.groups, r.classes);
  out += "images " + std::to_string(r.evaluated + r.empty) + " (" + std::to_string(r.empty) +
         " scored as empty), skipped " + std::to_string(r.skipped) + "\n";
  out += "mIoU " + pct(s.miou) + " over " + std::to_string(s.valid) + " classes" +
         (r.is_sweep() ? " at threshold " + format_shortest(r.thresholds[best]) : std::string()) + "\n";
  return out;
}

MiouResult merge_miou_files(const std::vector<fs::path>& files) {
  std::vector<MiouResult> parts;
  for (const auto& f : files) parts.push_back(read_miou_json(f));
  return merge_miou(parts, files);
}

PredIgnore parse_pred_ignore(const std::string& text) {
  if (text == "wrong") return PredIgnore::Wrong;
  if (text == "background") return PredIgnore::Background;
  throw UsageError("--pred-ignore " + text + ": expected wrong or background");
}

MissingPrediction parse_missing_prediction(const std::string& text) {
  if (text == "strict") return MissingPrediction::Strict;
  if (text == "skip") return MissingPrediction::Skip;
  if (text == "empty") return MissingPrediction::Empty;
  throw UsageError("--missing " + text + ": expected strict, skip or empty");
}

}  // namespace wsss
