#include "wsss/data/coco.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <unordered_map>

#include "wsss/core/error.hpp"
#include "wsss/core/hash.hpp"
#include "wsss/core/log.hpp"
#include "wsss/data/import.hpp"
#include "wsss/io/atomic_file.hpp"

namespace wsss::coco {

using json = nlohmann::json;

std::vector<std::uint32_t> decode_rle_counts(const std::string& text) {
  // Mirrors pycocotools' maskApi.c rleFrString, including its quirk that the
  // differential coding only starts at the fourth count (m > 2).
  std::vector<std::uint32_t> counts;
  std::size_t p = 0;
  const std::size_t n = text.size();
  while (p < n) {
    std::int64_t x = 0;
    int k = 0;
    bool more = true;
    while (more) {
      if (p >= n) throw Error("compressed RLE string ends inside a count");
      int c = static_cast<unsigned char>(text[p]) - 48;
      if (c < 0 || c > 63) throw Error("compressed RLE string has an invalid character at offset " + std::to_string(p));
      if (k >= 12) throw Error("compressed RLE string has a count longer than 12 characters");
      x |= std::int64_t(c & 0x1f) << (5 * k);
      more = (c & 0x20) != 0;
      ++p;
      ++k;
      // Sign extension of the last 5-bit group (written as x |= -1 << 5*k).
      if (!more && (c & 0x10)) x |= ~((std::int64_t(1) << (5 * k)) - 1);
    }
    if (counts.size() > 2) x += std::int64_t(counts[counts.size() - 2]);
    if (x < 0 || x > std::int64_t(std::numeric_limits<std::uint32_t>::max()))
      throw Error("compressed RLE string decodes to a run length out of range (" + std::to_string(x) + ")");
    counts.push_back(std::uint32_t(x));
  }
  return counts;
}

void check_rle_runs(const Rle& rle) {
  const std::uint64_t total = std::uint64_t(rle.height) * std::uint64_t(rle.width);
  std::uint64_t sum = 0;
  for (std::uint32_t c : rle.counts) sum += c;
  if (sum != total)
    throw Error("RLE runs cover " + std::to_string(sum) + " pixels, the mask has " + std::to_string(total));
}

void check_polygons(const std::vector<std::vector<double>>& polygons) {
  for (std::size_t k = 0; k < polygons.size(); ++k) {
    const std::size_t n = polygons[k].size();
    const std::string which = "polygon " + std::to_string(k);
    if (n % 2 != 0) throw Error(which + " has an odd number of coordinates (" + std::to_string(n) + ")");
    // pycocotools would paint a line or a point for these, and detectron2
    // drops them: either way they are not a region, and a tool that wrote them
    // has a bug worth hearing about.
    if (n == 0) throw Error(which + " is empty");
    if (n < 6) throw Error(which + " has " + std::to_string(n / 2) + " point(s); a polygon needs at least 3");
    for (std::size_t i = 0; i < n; ++i)
      if (!(std::fabs(polygons[k][i]) <= 1e7))  // vertices become ints; far outside any image is a bug
        throw Error(which + ": coordinate " + std::to_string(i) + " (" + std::to_string(polygons[k][i]) +
                    ") is out of range");
  }
}

void paint_rle(Mask& label, const Rle& rle, std::uint8_t value) {
  if (rle.height != label.height || rle.width != label.width)
    throw Error("RLE size " + std::to_string(rle.height) + "x" + std::to_string(rle.width) + " differs from image " +
                std::to_string(label.height) + "x" + std::to_string(label.width) + " (height x width)");
  check_rle_runs(rle);
  const std::uint64_t h = std::uint64_t(rle.height);
  std::uint64_t pos = 0;
  for (std::size_t i = 0; i < rle.counts.size(); ++i) {
    std::uint64_t end = pos + rle.counts[i];
    if (i % 2 == 1)  // odd runs are foreground; positions run down columns
      for (std::uint64_t q = pos; q < end; ++q) label.at(int(q % h), int(q / h)) = value;
    pos = end;
  }
}

void paint_polygons(Mask& label, const std::vector<std::vector<double>>& polygons, std::uint8_t value) {
  check_polygons(polygons);
  std::vector<std::vector<cv::Point>> points;
  for (const auto& poly : polygons) {
    std::vector<cv::Point> pts;
    pts.reserve(poly.size() / 2);
    // Round half to even, as numpy's round does.
    for (std::size_t i = 0; i < poly.size(); i += 2)
      pts.emplace_back(int(std::nearbyint(poly[i])), int(std::nearbyint(poly[i + 1])));
    points.push_back(std::move(pts));
  }
  if (points.empty()) return;
  cv::Mat view(label.height, label.width, CV_8UC1, label.data.data());
  cv::fillPoly(view, points, cv::Scalar(value));
}

std::string image_key(std::int64_t image_id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%012lld", static_cast<long long>(image_id));
  return buf;
}

namespace {

std::int64_t get_int(const json& j, const char* key, const fs::path& file, const std::string& what) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer())
    throw InputError(file, what + ": missing or non-integer \"" + key + "\"");
  return it->get<std::int64_t>();
}

Rle parse_rle(const json& seg) {
  Rle rle;
  const json& size = seg.at("size");
  if (!size.is_array() || size.size() != 2) throw Error("RLE \"size\" must be [height, width]");
  rle.height = size[0].get<int>();
  rle.width = size[1].get<int>();
  const json& counts = seg.at("counts");
  if (counts.is_string()) {
    rle.counts = decode_rle_counts(counts.get<std::string>());
  } else if (counts.is_array()) {
    rle.counts.reserve(counts.size());
    for (const auto& c : counts) {
      if (!c.is_number_unsigned() || c.get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max())
        throw Error("RLE counts must be integers in 0.." + std::to_string(std::numeric_limits<std::uint32_t>::max()) +
                    ", not " + c.dump());
      rle.counts.push_back(c.get<std::uint32_t>());
    }
  } else {
    throw Error("RLE \"counts\" must be a list or a compressed string");
  }
  return rle;
}

// Keys whose values the importer never reads: dropped while parsing, which
// matters for the 450 MB train2014 file.
bool unused_key(const std::string& key) {
  static const char* unused[] = {"bbox", "area", "info", "licenses", "license", "coco_url", "flickr_url",
                                 "date_captured"};
  for (const char* u : unused)
    if (key == u) return true;
  return false;
}

}  // namespace

Dataset load_instances(const fs::path& json_file) {
  Dataset ds;
  ds.source = json_file;
  json doc;
  {
    std::string text = read_file(json_file);
    ds.content_hash = hex64(fnv1a64(text));
    json::parser_callback_t drop_unused = [](int depth, json::parse_event_t event, json& parsed) {
      return !(event == json::parse_event_t::key && depth <= 3 && unused_key(parsed.get<std::string>()));
    };
    try {
      doc = json::parse(text, drop_unused);
    } catch (const json::exception& e) {
      throw InputError(json_file, std::string("malformed JSON: ") + e.what());
    }
  }
  if (!doc.is_object() || !doc.contains("images") || !doc.contains("annotations") || !doc.contains("categories"))
    throw InputError(json_file, "not a COCO instances file (needs \"images\", \"annotations\" and \"categories\")");

  // Categories in id order map to 1..K.
  std::map<std::int64_t, std::string> categories;
  for (const auto& c : doc["categories"]) {
    std::int64_t id = get_int(c, "id", json_file, "category");
    if (!c.contains("name") || !c["name"].is_string())
      throw InputError(json_file, "category " + std::to_string(id) + ": missing \"name\"");
    if (!categories.emplace(id, c["name"].get<std::string>()).second)
      throw InputError(json_file, "duplicate category id " + std::to_string(id));
  }
  if (categories.empty()) throw InputError(json_file, "no categories");
  if (categories.size() > 254) throw InputError(json_file, std::to_string(categories.size()) + " categories: masks hold at most 254");
  std::unordered_map<std::int64_t, int> class_of;
  std::vector<std::string> names = {"background"};
  for (const auto& [id, name] : categories) {
    class_of[id] = int(names.size());
    names.push_back(name);
  }
  Vocabulary coco = builtin_vocabulary("coco");
  if (names == coco.classes) {
    ds.vocabulary = coco;
  } else {
    ds.vocabulary.name = json_file.stem().string();
    ds.vocabulary.classes = names;
    log::info(json_file.string(), ": ", categories.size(), " categories differ from the standard 80; "
              "classes.json lists them in category-id order");
  }

  std::unordered_map<std::int64_t, std::size_t> image_index;
  for (const auto& im : doc["images"]) {
    Image image;
    image.id = get_int(im, "id", json_file, "image");
    std::string what = "image " + std::to_string(image.id);
    if (!im.contains("file_name") || !im["file_name"].is_string())
      throw InputError(json_file, what + ": missing \"file_name\"");
    image.file_name = im["file_name"].get<std::string>();
    image.width = int(get_int(im, "width", json_file, what));
    image.height = int(get_int(im, "height", json_file, what));
    if (image.width <= 0 || image.height <= 0 || image.width > 65535 || image.height > 65535)
      throw InputError(json_file, what + ": bad size " + std::to_string(image.width) + "x" + std::to_string(image.height));
    if (!image_index.emplace(image.id, ds.images.size()).second)
      throw InputError(json_file, "duplicate image id " + std::to_string(image.id));
    ds.images.push_back(std::move(image));
  }
  doc["images"] = json();

  json& anns = doc["annotations"];
  for (auto& a : anns) {
    Annotation ann;
    ann.id = get_int(a, "id", json_file, "annotation");
    std::string what = "annotation " + std::to_string(ann.id);
    std::int64_t image_id = get_int(a, "image_id", json_file, what);
    std::int64_t category = get_int(a, "category_id", json_file, what);
    auto img = image_index.find(image_id);
    if (img == image_index.end()) throw InputError(json_file, what + ": unknown image_id " + std::to_string(image_id));
    auto cls = class_of.find(category);
    if (cls == class_of.end()) throw InputError(json_file, what + ": unknown category_id " + std::to_string(category));
    ann.class_id = cls->second;
    ann.crowd = a.contains("iscrowd") && a["iscrowd"].is_number() && a["iscrowd"].get<int>() != 0;
    try {
      if (a.contains("segmentation")) {
        const json& seg = a["segmentation"];
        if (seg.is_object()) {
          ann.is_rle = true;
          ann.rle = parse_rle(seg);
          const Image& image = ds.images[img->second];
          if (ann.rle.height != image.height || ann.rle.width != image.width)
            throw Error("RLE size differs from the image's");
          // Checked here, not only when painting: crowd regions are never
          // painted, and a broken one would pass unnoticed.
          check_rle_runs(ann.rle);
        } else if (seg.is_array()) {
          for (const auto& poly : seg) ann.polygons.push_back(poly.get<std::vector<double>>());
          check_polygons(ann.polygons);
        } else if (!seg.is_null()) {
          throw Error("\"segmentation\" must be polygons or an RLE object");
        }
      }
    } catch (const json::exception& e) {
      throw InputError(json_file, what + ": bad segmentation: " + e.what());
    } catch (const Error& e) {
      throw InputError(json_file, what + ": bad segmentation: " + e.what());
    }
    a = json();  // free as we go
    ds.images[img->second].annotations.push_back(std::move(ann));
  }
  std::sort(ds.images.begin(), ds.images.end(), [](const Image& x, const Image& y) { return x.id < y.id; });
  return ds;
}

Mask paint_semantic(const Image& image, const fs::path& json_file) {
  Mask label(image.width, image.height, 0);
  for (const Annotation& ann : image.annotations) {
    if (ann.crowd) continue;  // crowd regions stay background, as in annToMask.py
    try {
      if (ann.is_rle) paint_rle(label, ann.rle, std::uint8_t(ann.class_id));
      else paint_polygons(label, ann.polygons, std::uint8_t(ann.class_id));
    } catch (const InputError&) {
      throw;
    } catch (const Error& e) {
      throw InputError(json_file, "annotation " + std::to_string(ann.id) + ": " + e.what());
    }
  }
  return label;
}

std::vector<int> image_labels(const Image& image) {
  std::vector<int> labels;
  for (const Annotation& ann : image.annotations) labels.push_back(ann.class_id);
  std::sort(labels.begin(), labels.end());
  labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
  return labels;
}

namespace {

class CocoMaskPainter : public ItemProcessor {
 public:
  CocoMaskPainter(const Dataset& ds, fs::path out_dir) : ds_(ds), out_dir_(std::move(out_dir)) {
    for (const Image& im : ds.images) by_key_[image_key(im.id)] = &im;
  }
  std::vector<fs::path> outputs(const Record& input) const override { return {mask_file(record_id(input))}; }
  std::vector<std::string> fields() const override { return {"mask"}; }
  Record process(const Record& input, std::uint64_t) override {
    const std::string& key = record_id(input);
    const Image& image = *by_key_.at(key);
    const fs::path image_file = input.at("image").get<std::string>();
    require_file(image_file, "image", ds_.source.string() + ": image " + std::to_string(image.id));
    // The mask is painted at the JSON's size; a JSON from another tool (or a
    // resized copy of the images) can disagree with the file, and the mask
    // would not fit its image. The header holds the stored size (as
    // pycocotools, which ignores EXIF orientation).
    const auto [file_width, file_height] = image_size(image_file);
    if (file_width != image.width || file_height != image.height)
      throw InputError(ds_.source, "image " + std::to_string(image.id) + " (" + image_file.string() + "): the JSON says " +
                                       std::to_string(image.width) + "x" + std::to_string(image.height) +
                                       " but the file is " + std::to_string(file_width) + "x" +
                                       std::to_string(file_height) + " (width x height)");
    fs::path file = mask_file(key);
    write_mask(file, paint_semantic(image, ds_.source), ds_.vocabulary.palette);
    Record added;
    added["mask"] = fs::absolute(file).lexically_normal().string();
    return added;
  }

 private:
  fs::path mask_file(const std::string& key) const { return item_file(out_dir_, "masks", key, ".png"); }
  const Dataset& ds_;
  fs::path out_dir_;
  std::unordered_map<std::string, const Image*> by_key_;
};

}  // namespace

StageSummary import_coco(const fs::path& instances_json, const fs::path& image_dir, const StageOptions& options) {
  Dataset ds = load_instances(instances_json);
  std::size_t crowd = 0, annotations = 0;
  std::vector<Record> records;
  records.reserve(ds.images.size());
  fs::path images = fs::absolute(image_dir).lexically_normal();
  for (const Image& im : ds.images) {
    Record r;
    r["id"] = image_key(im.id);
    r["image"] = (images / im.file_name).lexically_normal().string();
    r["labels"] = image_labels(im);
    records.push_back(std::move(r));
    annotations += im.annotations.size();
    for (const auto& a : im.annotations) crowd += a.crowd;
  }
  log::info(instances_json.string(), ": ", ds.images.size(), " images, ", annotations, " annotations (", crowd,
            " crowd), ", ds.vocabulary.num_foreground(), " categories");
  Manifest input = in_memory_manifest(std::move(records), instances_json, "", options.allow_empty);
  input.content_hash = ds.content_hash;
  CocoMaskPainter painter(ds, options.out_dir);
  return run_stage(painter, input, options, &ds.vocabulary);
}

}  // namespace wsss::coco
