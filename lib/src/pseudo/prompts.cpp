#include "wsss/pseudo/prompts.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/png.hpp"

namespace wsss::pseudo {

using json = nlohmann::json;

std::string normalize_phrase(const std::string& text) {
  std::string out;
  bool gap = false;
  for (unsigned char c : text) {
    if (std::isalnum(c) && c < 128) {
      if (gap && !out.empty()) out += ' ';
      gap = false;
      out += char(std::tolower(c));
    } else {
      gap = true;
    }
  }
  return out;
}

namespace {

json parse_json_file(const fs::path& file) {
  std::string text = read_file(file);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw InputError(file, std::string("malformed JSON: ") + e.what());
  }
}

// Checks "format" and "version" of a shipped table.
void check_format(const json& j, const fs::path& file, const std::string& format) {
  if (!j.is_object() || j.value("format", "") != format)
    throw InputError(file, "not a " + format + " file (\"format\": \"" + format + "\" expected)");
  if (!j.contains("version") || j["version"] != 1) throw InputError(file, "unsupported " + format + " version");
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() <= 18 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

template <class Map, class Key>
void add_key(Map& map, const Key& key, long index) {
  auto [it, fresh] = map.emplace(key, index);
  if (!fresh && it->second != index) it->second = -2;
}

}  // namespace

// ---------------------------------------------------------------------------
// RecordLookup

RecordLookup::RecordLookup(const Manifest& manifest) {
  for (std::size_t i = 0; i < manifest.records.size(); ++i) {
    const Record& r = manifest.records[i];
    const std::string& id = record_id(r);
    ids_.emplace(id, long(i));
    if (all_digits(id)) add_key(numbers_, std::stoll(id), long(i));
    auto image = r.find("image");
    if (image != r.end() && image->is_string()) {
      fs::path p = image->get<std::string>();
      add_key(names_, p.filename().string(), long(i));
      add_key(names_, p.stem().string(), long(i));
    }
  }
}

long RecordLookup::find(const std::string& key, const fs::path& file, const std::string& what) const {
  if (auto it = ids_.find(key); it != ids_.end()) return it->second;
  if (auto it = names_.find(key); it != names_.end()) {
    if (it->second == -2) throw InputError(file, what + ": " + quote_id(key) + " names the images of several records");
    return it->second;
  }
  if (all_digits(key)) return find_number(std::stoll(key), file, what);
  return -1;
}

long RecordLookup::find_number(long long value, const fs::path& file, const std::string& what) const {
  if (auto it = ids_.find(std::to_string(value)); it != ids_.end()) return it->second;
  auto it = numbers_.find(value);
  if (it == numbers_.end()) return -1;
  if (it->second == -2) throw InputError(file, what + ": " + std::to_string(value) + " matches several record ids");
  return it->second;
}

// ---------------------------------------------------------------------------
// PromptNames

PromptNames PromptNames::defaults(const Vocabulary& vocab) {
  PromptNames n;
  n.by_class = vocab.classes;
  n.class_names = vocab.classes;
  return n;
}

PromptNames PromptNames::load(const fs::path& file, const Vocabulary& vocab) {
  json j = parse_json_file(file);
  check_format(j, file, "wsss-prompts");
  if (!j.contains("prompts") || !j["prompts"].is_object()) throw InputError(file, "needs a \"prompts\" object");
  PromptNames n = defaults(vocab);
  for (const auto& [key, value] : j["prompts"].items()) {
    int c = vocab.id_of(key);
    if (c < 1) throw InputError(file, "prompts: " + quote_id(key) + " is not a class of vocabulary '" + vocab.name + "'");
    if (!value.is_string() || normalize_phrase(value.get<std::string>()).empty())
      throw InputError(file, "prompts: " + quote_id(key) + " needs a non-empty text");
    n.by_class[std::size_t(c)] = value.get<std::string>();
  }
  // class_of must be a function: no two classes may answer to the same text.
  std::map<std::string, int> owner;
  for (int c = 1; c < vocab.size(); ++c)
    for (const std::string& text : {n.class_names[std::size_t(c)], n.by_class[std::size_t(c)]}) {
      auto [it, fresh] = owner.emplace(normalize_phrase(text), c);
      if (!fresh && it->second != c)
        throw InputError(file, "prompts: '" + text + "' would name both '" + vocab.classes[std::size_t(it->second)] +
                                   "' and '" + vocab.classes[std::size_t(c)] + "'");
    }
  return n;
}

PromptNames PromptNames::for_vocabulary(const Vocabulary& vocab) {
  fs::path file = find_data_manifest(vocab.name + "/prompts.json");
  return file.empty() ? defaults(vocab) : load(file, vocab);
}

int PromptNames::class_of(const std::string& text) const {
  std::string key = normalize_phrase(text);
  if (key.empty()) return -1;
  for (std::size_t c = 1; c < class_names.size(); ++c)
    if (normalize_phrase(class_names[c]) == key) return int(c);
  for (std::size_t c = 1; c < by_class.size(); ++c)
    if (normalize_phrase(by_class[c]) == key) return int(c);
  return -1;
}

// ---------------------------------------------------------------------------
// Category ids

const std::vector<int>& coco_category_ids() {
  // COCO 2014/2017 instances: ids 1..90 without 12 26 29 30 45 66 68 69 71 83.
  static const std::vector<int> ids = [] {
    std::vector<int> v;
    const std::set<int> unused = {12, 26, 29, 30, 45, 66, 68, 69, 71, 83};
    for (int i = 1; i <= 90; ++i)
      if (!unused.count(i)) v.push_back(i);
    return v;
  }();
  return ids;
}

CategoryIds parse_category_ids(const std::string& text) {
  if (text == "auto") return CategoryIds::Auto;
  if (text == "vocab") return CategoryIds::Vocabulary;
  if (text == "coco") return CategoryIds::Coco;
  throw UsageError("category ids '" + text + "': expected auto, vocab or coco");
}

std::vector<long long> category_ids(const Vocabulary& vocab, CategoryIds rule) {
  const bool standard_coco = vocab.classes == builtin_vocabulary("coco").classes;
  if (rule == CategoryIds::Coco && !standard_coco)
    throw UsageError("COCO category ids need the standard 80-class COCO vocabulary, not '" + vocab.name + "'");
  std::vector<long long> ids(std::size_t(vocab.size()), 0);
  for (int c = 1; c < vocab.size(); ++c)
    ids[std::size_t(c)] = rule != CategoryIds::Vocabulary && standard_coco ? coco_category_ids()[std::size_t(c - 1)] : c;
  return ids;
}

// ---------------------------------------------------------------------------
// Detections

namespace {

std::string box_text(const json& bbox) { return bbox.dump(); }

}  // namespace

UnknownImages parse_unknown_images(const std::string& text) {
  if (text == "warn") return UnknownImages::Warn;
  if (text == "error") return UnknownImages::Error;
  throw UsageError("unknown images '" + text + "': expected warn or error");
}

Detections read_detections(const fs::path& file, const Manifest& manifest, const Vocabulary& vocab,
                           const PromptNames& names, const DetectionOptions& options) {
  json j = parse_json_file(file);
  if (!j.is_array()) throw InputError(file, "not a COCO results file (a JSON array of detections)");
  RecordLookup lookup(manifest);
  std::map<long long, int> class_of_id;
  {
    std::vector<long long> ids = category_ids(vocab, options.category_ids);
    for (int c = 1; c < vocab.size(); ++c) class_of_id[ids[std::size_t(c)]] = c;
  }
  std::map<long, std::pair<int, int>> sizes;            // record index -> (width, height)
  std::map<long, std::vector<int>> labels;              // record index -> labels (when present)
  Detections out;
  DetectionStats& stats = out.stats;
  stats.items = j.size();
  std::map<std::string, std::size_t> more_bad;  // record id -> bad entries after its first
  std::set<std::string> unknown_seen;
  std::vector<std::size_t> unknown_items;       // the first few, for the message
  bool all_unit = !j.empty();
  for (std::size_t i = 0; i < j.size(); ++i) {
    const json& d = j[i];
    const std::string what = "item " + std::to_string(i);
    if (!d.is_object()) throw InputError(file, what + ": not an object");

    // Image: an entry whose image cannot be told makes the whole file suspect.
    auto im = d.find("image_id");
    if (im == d.end()) throw InputError(file, what + ": missing \"image_id\"");
    long index = -1;
    std::string key;
    if (im->is_number_integer()) {
      key = std::to_string(im->get<long long>());
      index = lookup.find_number(im->get<long long>(), file, what);
    } else if (im->is_string()) {
      key = im->get<std::string>();
      index = lookup.find(key, file, what);
    } else {
      throw InputError(file, what + ": \"image_id\" must be an integer or a string");
    }
    if (index < 0) {
      ++stats.unknown_image;
      if (unknown_items.size() < 3) unknown_items.push_back(i);
      if (unknown_seen.insert(key).second) out.unknown_images.push_back(key);
      continue;
    }
    const Record& record = manifest.records[std::size_t(index)];
    const std::string& id = record_id(record);

    // The rest of an entry is its image's business: a bad one fails that image only.
    try {
      // Category.
      int class_id = -1;
      auto cid = d.find("category_id"), cname = d.find("category_name");
      if (cname != d.end()) {
        if (!cname->is_string()) throw InputError(file, what + ": \"category_name\" must be a string");
        class_id = names.class_of(cname->get<std::string>());
        if (class_id < 1)
          throw InputError(file, what + ": unknown category name '" + cname->get<std::string>() +
                                     "' (neither a class nor a prompt name of vocabulary '" + vocab.name + "')");
      }
      if (cid != d.end()) {
        if (!cid->is_number_integer()) throw InputError(file, what + ": \"category_id\" must be an integer");
        auto it = class_of_id.find(cid->get<long long>());
        if (it == class_of_id.end())
          throw InputError(file, what + ": unknown category_id " + cid->dump() + " (vocabulary '" + vocab.name + "'" +
                                     (options.category_ids == CategoryIds::Vocabulary ? ", ids 1.." + std::to_string(vocab.num_foreground()) : "") + ")");
        if (class_id > 0 && class_id != it->second)
          throw InputError(file, what + ": category_id " + cid->dump() + " and category_name disagree");
        class_id = it->second;
      }
      if (class_id < 1) throw InputError(file, what + ": needs \"category_id\" or \"category_name\"");

      // Score.
      float score = 1.0f;
      if (auto s = d.find("score"); s != d.end()) {
        if (!s->is_number() || !std::isfinite(s->get<double>())) throw InputError(file, what + ": \"score\" must be a finite number");
        score = s->get<float>();
      }

      // Box: COCO's [x, y, w, h] in pixels of the original image.
      auto b = d.find("bbox");
      if (b == d.end() || !b->is_array() || b->size() != 4)
        throw InputError(file, what + ": \"bbox\" must be [x, y, width, height]");
      double v[4];
      for (int k = 0; k < 4; ++k) {
        if (!(*b)[std::size_t(k)].is_number() || !std::isfinite((*b)[std::size_t(k)].get<double>()))
          throw InputError(file, what + ": bbox " + box_text(*b) + " holds a non-finite or non-number value");
        v[k] = (*b)[std::size_t(k)].get<double>();
        if (std::fabs(v[k]) > 1.0) all_unit = false;
      }
      if (v[2] <= 0 || v[3] <= 0) throw InputError(file, what + ": bbox " + box_text(*b) + " has zero area");
      auto size_it = sizes.find(index);
      if (size_it == sizes.end())
        size_it = sizes.emplace(index, image_size(record_path(record, "image", manifest.path))).first;
      const auto [width, height] = size_it->second;
      double x0 = std::max(0.0, v[0]), y0 = std::max(0.0, v[1]);
      double x1 = std::min(double(width), v[0] + v[2]), y1 = std::min(double(height), v[1] + v[3]);
      if (x1 <= x0 || y1 <= y0)
        throw InputError(file, what + ": bbox " + box_text(*b) + " lies outside the " + std::to_string(width) + "x" +
                                   std::to_string(height) + " image of " + quote_id(id));
      bool clipped = x0 != v[0] || y0 != v[1] || x1 != v[0] + v[2] || y1 != v[1] + v[3];

      // Filters, after validation so that every entry is checked.
      if (!(score > options.score_threshold)) {
        ++stats.below_threshold;
        continue;
      }
      if (options.restrict_to_labels && record.contains("labels")) {
        auto lab = labels.find(index);
        if (lab == labels.end())
          lab = labels.emplace(index, record_labels(record, vocab.num_foreground(), manifest.path)).first;
        if (std::find(lab->second.begin(), lab->second.end(), class_id) == lab->second.end()) {
          ++stats.not_in_labels;
          continue;
        }
      }
      stats.clipped += clipped;
      Prompt p;
      p.class_id = class_id;
      p.score = score;
      p.box = Box{float(x0), float(y0), float(x1), float(y1)};
      p.origin = file.string() + " " + what;
      out.prompts[id].push_back(std::move(p));
      ++stats.kept;
    } catch (const Error& e) {  // InputErrors above, and an unreadable image or labels field
      ++stats.bad;
      if (!out.failed.emplace(id, first_line(e.what())).second) ++more_bad[id];
    }
  }
  // A failing image gets no prompts at all: it is not half-prompted.
  for (const auto& [id, message] : out.failed) {
    auto p = out.prompts.find(id);
    if (p != out.prompts.end()) {
      stats.kept -= p->second.size();
      out.prompts.erase(p);
    }
  }
  for (const auto& [id, n] : more_bad)
    out.failed[id] += " (and " + std::to_string(n) + " more bad entr" + (n == 1 ? "y" : "ies") + " of this image)";
  stats.images = out.prompts.size();

  if (!out.unknown_images.empty()) {
    std::string items, ids;
    for (std::size_t k = 0; k < unknown_items.size(); ++k) items += (k ? ", " : "") + std::to_string(unknown_items[k]);
    if (stats.unknown_image > unknown_items.size()) items += ", ...";
    for (std::size_t k = 0; k < std::min<std::size_t>(3, out.unknown_images.size()); ++k)
      ids += (k ? ", " : "") + quote_id(out.unknown_images[k]);
    if (out.unknown_images.size() > 3) ids += ", ...";
    const std::string message = std::to_string(stats.unknown_image) + " detection(s) (item" +
                                (stats.unknown_image == 1 ? " " : "s ") + items + ") of " +
                                std::to_string(out.unknown_images.size()) + " image(s) not in " +
                                manifest.path.string() + ": " + ids;
    if (options.unknown_images == UnknownImages::Error)
      throw InputError(file, message + " (--unknown-images warn ignores them)");
    log::warn(file.string(), ": ", message, "; ignored (--unknown-images error stops instead)");
  }
  if (all_unit)
    log::warn(file.string(), ": every bbox value lies within [-1, 1]; COCO results boxes are [x, y, w, h] in pixels, "
              "not normalised coordinates");
  if (!out.failed.empty())
    log::warn(file.string(), ": ", stats.bad, " bad detection(s) on ", out.failed.size(),
              " image(s), which will fail; e.g. '", out.failed.begin()->first, "': ", out.failed.begin()->second);
  log::info(file.string(), ": ", stats.items, " detections, kept ", stats.kept, " on ", stats.images, " images (",
            stats.below_threshold, " with score <= ", options.score_threshold, ", ", stats.not_in_labels,
            " of classes not in the image's labels; ", stats.clipped, " boxes clipped to the image; ", stats.bad,
            " bad, ", stats.unknown_image, " of unknown images)");
  return out;
}

// ---------------------------------------------------------------------------
// Synonyms

SynonymTable SynonymTable::from_entries(std::vector<std::pair<std::string, int>> entries) {
  SynonymTable t;
  for (auto& [phrase, c] : entries) {
    std::string key = normalize_phrase(phrase);
    if (!key.empty()) t.entries.emplace_back(std::move(key), c);
  }
  std::sort(t.entries.begin(), t.entries.end());
  t.entries.erase(std::unique(t.entries.begin(), t.entries.end()), t.entries.end());
  return t;
}

SynonymTable SynonymTable::load(const fs::path& file, const Vocabulary& vocab) {
  json j = parse_json_file(file);
  check_format(j, file, "wsss-synonyms");
  if (!j.contains("classes") || !j["classes"].is_object()) throw InputError(file, "needs a \"classes\" object");
  std::vector<std::pair<std::string, int>> entries;
  auto add = [&](const std::string& key, const json& list, int c) {
    if (!list.is_array()) throw InputError(file, quote_id(key) + ": expected a list of phrases");
    for (const auto& p : list) {
      if (!p.is_string() || normalize_phrase(p.get<std::string>()).empty())
        throw InputError(file, quote_id(key) + ": phrase " + p.dump() + " has no letters or digits");
      entries.emplace_back(p.get<std::string>(), c);
    }
  };
  for (const auto& [key, list] : j["classes"].items()) {
    int c = vocab.id_of(key);
    if (c < 1) throw InputError(file, "classes: " + quote_id(key) + " is not a class of vocabulary '" + vocab.name + "'");
    add(key, list, c);
  }
  if (j.contains("none")) add("none", j["none"], 0);
  SynonymTable t = from_entries(std::move(entries));
  // A "none" phrase must not also name a class: the table would contradict itself.
  for (std::size_t i = 0; i + 1 < t.entries.size(); ++i)
    if (t.entries[i].second == 0 && t.entries[i + 1].first == t.entries[i].first)
      throw InputError(file, "'" + t.entries[i].first + "' is listed under \"none\" and under '" +
                                 vocab.classes[std::size_t(t.entries[i + 1].second)] + "'");
  return t;
}

SynonymTable SynonymTable::for_vocabulary(const Vocabulary& vocab) {
  fs::path file = find_data_manifest(vocab.name + "/synonyms.json");
  if (file.empty())
    throw UsageError("no synonym table shipped for vocabulary '" + vocab.name +
                     "' (data_manifests/<name>/synonyms.json; set WSSS_DATA_MANIFESTS or give one)");
  return load(file, vocab);
}

namespace {

// The classes of the longest phrase that is the whole of `words` or its last
// words; nullopt when none is.
std::optional<std::vector<int>> longest_suffix_match(const std::vector<std::pair<std::string, int>>& entries,
                                                     const std::vector<std::string>& words) {
  for (std::size_t start = 0; start < words.size(); ++start) {
    std::string phrase;
    for (std::size_t k = start; k < words.size(); ++k) phrase += (k > start ? " " : "") + words[k];
    auto lo = std::lower_bound(entries.begin(), entries.end(), std::make_pair(phrase, -1));
    if (lo == entries.end() || lo->first != phrase) continue;
    std::vector<int> classes;
    for (auto it = lo; it != entries.end() && it->first == phrase; ++it)
      if (it->second > 0) classes.push_back(it->second);
    return classes;
  }
  return std::nullopt;
}

// Singular candidates of an English noun, most likely first.
std::vector<std::string> singulars(const std::string& w) {
  auto ends = [&w](const char* s) {
    std::size_t n = std::char_traits<char>::length(s);
    return w.size() > n && w.compare(w.size() - n, n, s) == 0;
  };
  std::vector<std::string> out;
  if (ends("ies")) out.push_back(w.substr(0, w.size() - 3) + "y");
  if (ends("s") && !ends("ss") && !ends("us") && !ends("is")) out.push_back(w.substr(0, w.size() - 1));
  if (ends("es")) out.push_back(w.substr(0, w.size() - 2));
  return out;
}

std::vector<std::string> split_words(const std::string& normalized) {
  std::vector<std::string> words;
  std::size_t pos = 0;
  while (pos < normalized.size()) {
    std::size_t sp = normalized.find(' ', pos);
    if (sp == std::string::npos) sp = normalized.size();
    words.push_back(normalized.substr(pos, sp - pos));
    pos = sp + 1;
  }
  return words;
}

}  // namespace

std::vector<int> SynonymTable::classes_of(const std::string& tag) const {
  std::vector<std::string> words = split_words(normalize_phrase(tag));
  if (words.empty()) return {};
  auto match = longest_suffix_match(entries, words);
  if (!match) {
    const std::string last = words.back();
    for (const std::string& s : singulars(last)) {
      words.back() = s;
      if ((match = longest_suffix_match(entries, words))) break;
    }
  }
  if (!match) return {};
  std::sort(match->begin(), match->end());
  match->erase(std::unique(match->begin(), match->end()), match->end());
  return *match;
}

}  // namespace wsss::pseudo
