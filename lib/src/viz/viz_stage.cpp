#include "wsss/viz/viz_stage.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>

#include "wsss/core/error.hpp"
#include "wsss/core/parallel.hpp"
#include "wsss/core/progress.hpp"
#include "wsss/io/image.hpp"
#include "wsss/metrics/confusion.hpp"
#include "wsss/scores/score_map.hpp"
#include "wsss/viz/picture.hpp"

namespace wsss::viz {

namespace {

// zlib's best: pictures are written once and looked at often (about 40%
// smaller than OpenCV's fast default for these).
constexpr int kPngCompression = 9;

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string size_text(int w, int h) { return std::to_string(w) + "x" + std::to_string(h); }

Mask read_field_mask(const Record& r, const std::string& field, const fs::path& manifest, const cv::Mat& image,
                     fs::path* file_out = nullptr) {
  if (!r.contains(field) || r[field].is_null())
    throw InputError(manifest, "item '" + record_id(r) + "': no \"" + field + "\" mask");
  fs::path file = record_path(r, field, manifest);
  Mask m = read_mask(file);
  if (m.width != image.cols || m.height != image.rows)
    throw InputError(file, "mask size " + size_text(m.width, m.height) + " differs from the image's " +
                               size_text(image.cols, image.rows));
  if (file_out) *file_out = file;
  return m;
}

// splitmix64's finaliser: item_seed (FNV-1a) of ids that differ in their last
// character differs mostly in low bits, so ordering by it alone would pick runs
// of neighbouring ids.
std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::string percent(double fraction) {
  if (std::isnan(fraction)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", fraction * 100);
  return buf;
}

class VizProcessor : public ItemProcessor {
 public:
  VizProcessor(const Vocabulary& vocab, const fs::path& manifest, const fs::path& out_dir, const VizOptions& options)
      : vocab_(vocab), manifest_(manifest), out_dir_(out_dir), options_(options) {}

  std::vector<fs::path> outputs(const Record& r) const override {
    return {item_file(out_dir_, "viz", record_id(r), ".png")};
  }
  std::vector<std::string> fields() const override { return {"viz"}; }

  Record process(const Record& r, std::uint64_t) override {
    const fs::path file = outputs(r)[0];
    write_image_rgb(file, record_picture(r, vocab_, manifest_, options_), kPngCompression);
    Record out;
    out["viz"] = file.string();
    return out;
  }

 private:
  Vocabulary vocab_;
  fs::path manifest_, out_dir_;
  VizOptions options_;
};

}  // namespace

void resolve_fields(VizOptions& o, const Record& first) {
  if (o.auto_fields && o.scores.empty() && o.masks.empty() && o.errors.empty()) {
    for (auto it = first.begin(); it != first.end(); ++it) {
      const std::string& key = it.key();
      if (!is_path_field(key) || !it.value().is_string() || key == "image" || key == "viz") continue;
      const std::string path = it.value().get<std::string>();
      if (ends_with(path, ".npy") && first.contains(key + "_classes")) o.scores.push_back(key);
      if (ends_with(path, ".png")) o.masks.push_back(key);
    }
    if (first.contains(o.gt))
      for (const std::string& m : o.masks)
        if (m != o.gt) o.errors.push_back(m);
  }
  for (const std::string& e : o.errors)
    if (e == o.gt) throw UsageError("--errors: '" + e + "' is the GT field itself (--gt)");
}

double image_miou(const Mask& gt, const Mask& pred, int num_classes, int ignore, const fs::path& gt_file,
                  const fs::path& pred_file) {
  Confusion confusion(num_classes);
  accumulate_masks(confusion, gt, pred, PredIgnore::Wrong, ignore, gt_file, pred_file);
  return compute_scores(confusion).miou;
}

Manifest select_records(const Manifest& manifest, const Vocabulary& vocab, const VizSelection& sel,
                        const VizOptions& o, int threads) {
  if (int(!sel.ids.empty()) + int(sel.sample > 0) + int(sel.worst > 0) > 1)
    throw UsageError("--ids, --sample and --worst exclude each other");
  Manifest out;
  out.path = manifest.path;
  out.dir = manifest.dir;
  out.content_hash = manifest.content_hash;
  const std::vector<Record>& all = manifest.records;
  // (record index, rank) of the chosen records; miou per record for --worst.
  std::vector<std::pair<std::size_t, std::size_t>> chosen;
  std::vector<double> miou;
  if (!sel.ids.empty()) {
    std::map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < all.size(); ++i) index[record_id(all[i])] = i;
    for (const std::string& id : sel.ids) {
      auto it = index.find(id);
      if (it == index.end()) throw InputError(manifest.path, "--ids: no item '" + id + "'");
      if (std::any_of(chosen.begin(), chosen.end(), [&](const auto& c) { return c.first == it->second; }))
        throw UsageError("--ids: '" + id + "' given twice");
      chosen.emplace_back(it->second, chosen.size());
    }
  } else if (sel.sample > 0) {
    // The N ids with the smallest seeded hash: the same images whatever the
    // order of the manifest, and an image stays chosen when others are added.
    std::vector<std::pair<std::uint64_t, std::size_t>> keyed;
    for (std::size_t i = 0; i < all.size(); ++i) keyed.emplace_back(mix64(item_seed(sel.seed, record_id(all[i]))), i);
    std::sort(keyed.begin(), keyed.end());
    keyed.resize(std::min(keyed.size(), sel.sample));
    std::vector<std::size_t> picked;
    for (const auto& k : keyed) picked.push_back(k.second);
    // Ranked in id order.
    std::sort(picked.begin(), picked.end(),
              [&](std::size_t a, std::size_t b) { return record_id(all[a]) < record_id(all[b]); });
    for (std::size_t i : picked) chosen.emplace_back(i, chosen.size());
  } else if (sel.worst > 0) {
    const std::string field = !sel.worst_field.empty() ? sel.worst_field
                              : !o.errors.empty()      ? o.errors.front()
                                                       : std::string();
    if (field.empty()) throw UsageError("--worst needs a prediction to rank: --worst-field FIELD (or --errors)");
    miou.assign(all.size(), 0);
    Progress progress("ranking", all.size());
    parallel_for(all.size(), threads, [&](std::size_t i, int) {
      const Record& r = all[i];
      for (const std::string& f : {o.gt, field})
        if (!r.contains(f) || r[f].is_null())
          throw InputError(manifest.path, "item '" + record_id(r) + "': no \"" + f + "\" mask (--worst)");
      const fs::path gt_file = record_path(r, o.gt, manifest.path), pred_file = record_path(r, field, manifest.path);
      const Mask gt = read_mask(gt_file), pred = read_mask(pred_file);
      if (gt.width != pred.width || gt.height != pred.height)
        throw InputError(pred_file, "mask size " + size_text(pred.width, pred.height) + " differs from the GT's " +
                                        size_text(gt.width, gt.height));
      miou[i] = image_miou(gt, pred, vocab.size(), vocab.ignore, gt_file, pred_file);
      progress.add();
    });
    progress.finish();
    std::vector<std::size_t> order(all.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    // Lowest mIoU first (an image without any scored class last), ties in id order.
    auto key = [&](std::size_t i) { return std::isnan(miou[i]) ? std::numeric_limits<double>::infinity() : miou[i]; };
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return key(a) < key(b); });
    order.resize(std::min(order.size(), sel.worst));
    for (std::size_t i : order) chosen.emplace_back(i, chosen.size());
  } else {
    for (std::size_t i = 0; i < all.size(); ++i) chosen.emplace_back(i, i);
  }
  std::sort(chosen.begin(), chosen.end(), [&](const auto& a, const auto& b) {
    return record_id(all[a.first]) < record_id(all[b.first]);
  });
  for (const auto& [i, rank] : chosen) {
    Record r = all[i];
    r["viz_rank"] = rank;
    if (!miou.empty()) r["viz_miou"] = std::isnan(miou[i]) ? Record() : Record(miou[i]);
    out.records.push_back(std::move(r));
  }
  return out;
}

cv::Mat record_picture(const Record& r, const Vocabulary& vocab, const fs::path& manifest, const VizOptions& o) {
  const cv::Mat image = read_image_rgb(record_path(r, "image", manifest));
  std::vector<Panel> panels = {{record_id(r), fit(image, o.size)}};
  for (const std::string& field : o.scores) {
    if (!r.contains(field) || r[field].is_null())
      throw InputError(manifest, "item '" + record_id(r) + "': no \"" + field + "\" score map");
    const RecordScores s = load_scores(r, field, vocab, manifest, image.cols, image.rows);
    for (std::size_t c = 0; c < s.classes.size(); ++c)
      panels.push_back({field + ": " + vocab.classes[std::size_t(s.classes[c])],
                        fit(heat_overlay(image, s.map.channel(std::int64_t(c)), image.cols, image.rows, o.alpha),
                            o.size)});
  }
  for (const std::string& field : o.masks)
    panels.push_back({field, fit(mask_overlay(image, read_field_mask(r, field, manifest, image), vocab.palette,
                                              vocab.ignore, o.alpha),
                                 o.size)});
  if (!o.errors.empty()) {
    fs::path gt_file, pred_file;
    const Mask gt = read_field_mask(r, o.gt, manifest, image, &gt_file);
    for (const std::string& field : o.errors) {
      const Mask pred = read_field_mask(r, field, manifest, image, &pred_file);
      const double m = image_miou(gt, pred, vocab.size(), vocab.ignore, gt_file, pred_file);
      panels.push_back({field + " " + percent(m) + "%", fit(error_map(gt, pred, vocab.ignore), o.size, true)});
    }
  }
  return panel_row(panels);
}

std::unique_ptr<ItemProcessor> make_viz_processor(const Vocabulary& vocab, const fs::path& manifest,
                                                  const fs::path& out_dir, const VizOptions& options) {
  return std::make_unique<VizProcessor>(vocab, manifest, out_dir, options);
}

fs::path grid_file(const fs::path& out_dir) { return out_dir / "grid.png"; }

bool write_grid(const fs::path& out_dir, const Manifest& output, const VizOptions& o) {
  if (output.records.size() > o.grid_max) return false;
  std::vector<const Record*> order;
  for (const Record& r : output.records) order.push_back(&r);
  auto rank = [](const Record* r) {
    return r->contains("viz_rank") && (*r)["viz_rank"].is_number_integer() ? (*r)["viz_rank"].get<long long>()
                                                                            : std::numeric_limits<long long>::max();
  };
  std::stable_sort(order.begin(), order.end(), [&](const Record* a, const Record* b) { return rank(a) < rank(b); });
  std::vector<cv::Mat> rows;
  for (const Record* r : order) rows.push_back(read_image_rgb(record_path(*r, "viz", output.path)));
  if (rows.empty()) return false;
  if (!o.errors.empty()) {
    int width = 0;
    for (const cv::Mat& m : rows) width = std::max(width, m.cols);
    rows.push_back(error_legend(width));
  }
  write_image_rgb(grid_file(out_dir), stack_rows(rows), kPngCompression);
  return true;
}

}  // namespace wsss::viz
