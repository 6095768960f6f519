#include "wsss/pseudo/tags.hpp"

#include <algorithm>
#include <iterator>
#include <set>
#include <nlohmann/json.hpp>

#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/lock.hpp"
#include "wsss/io/meta.hpp"
#include "wsss/stage/stage.hpp"

namespace wsss::pseudo {

namespace {

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n";
  std::size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

}  // namespace

std::vector<std::string> split_tags(const std::string& text) {
  std::vector<std::string> tags;
  std::string cur;
  for (char c : text + "|") {
    if (c == '|' || c == ',') {
      std::string t = trim(cur);
      if (!t.empty()) tags.push_back(t);
      cur.clear();
    } else {
      cur += c;
    }
  }
  return tags;
}

std::vector<TaggedImage> read_tags(const fs::path& file) {
  std::string text = read_file(file);
  std::vector<TaggedImage> out;
  std::size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') {
    nlohmann::ordered_json j;
    try {
      j = nlohmann::ordered_json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      throw InputError(file, std::string("malformed JSON: ") + e.what());
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
      TaggedImage t;
      t.key = it.key();
      const auto& v = it.value();
      if (v.is_string()) {
        t.tags = split_tags(v.get<std::string>());
      } else if (v.is_array()) {
        for (const auto& tag : v) {
          if (!tag.is_string()) throw InputError(file, "image " + quote_id(t.key) + ": tag " + tag.dump() + " is not a string");
          std::string s = trim(tag.get<std::string>());
          if (!s.empty()) t.tags.push_back(s);
        }
      } else {
        throw InputError(file, "image " + quote_id(t.key) + ": expected a list of tags or a \"tag | tag\" string");
      }
      out.push_back(std::move(t));
    }
  } else {
    std::map<std::string, long> seen;
    long line_no = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(pos, end - pos);
      pos = end + 1;
      ++line_no;
      if (trim(line).empty()) continue;
      std::size_t tab = line.find('\t');
      if (tab == std::string::npos) throw InputError(file, line_no, "expected IMAGE<TAB>tag | tag | ...");
      TaggedImage t;
      t.key = trim(line.substr(0, tab));
      t.line = line_no;
      if (t.key.empty()) throw InputError(file, line_no, "empty image key");
      auto [it, fresh] = seen.emplace(t.key, line_no);
      if (!fresh) throw InputError(file, line_no, "image " + quote_id(t.key) + " again (first on line " + std::to_string(it->second) + ")");
      t.tags = split_tags(line.substr(tab + 1));
      out.push_back(std::move(t));
    }
  }
  return out;
}

TagLabels labels_from_tags(const std::vector<TaggedImage>& tags, const fs::path& tags_file, const Manifest& manifest,
                           const SynonymTable& synonyms, MissingTags missing) {
  RecordLookup lookup(manifest);
  std::vector<long> item_of(manifest.records.size(), -1);  // record -> tags item
  for (std::size_t i = 0; i < tags.size(); ++i) {
    const TaggedImage& t = tags[i];
    auto fail = [&](const std::string& message) -> InputError {
      return t.line ? InputError(tags_file, t.line, message) : InputError(tags_file, "image " + quote_id(t.key) + ": " + message);
    };
    long r = lookup.find(t.key, tags_file, "image " + quote_id(t.key));
    if (r < 0) throw fail(quote_id(t.key) + " is not an image of " + manifest.path.string());
    if (item_of[std::size_t(r)] >= 0)
      throw fail("record " + quote_id(record_id(manifest.records[std::size_t(r)])) + " is already tagged by " +
                 quote_id(tags[std::size_t(item_of[std::size_t(r)])].key));
    item_of[std::size_t(r)] = long(i);
  }

  TagLabels out;
  std::vector<std::string> untagged;
  for (std::size_t r = 0; r < manifest.records.size(); ++r) {
    const Record& in = manifest.records[r];
    const std::string& id = record_id(in);
    std::vector<std::string> image_tags;
    if (item_of[r] < 0) {
      ++out.missing;
      untagged.push_back(id);
      if (missing == MissingTags::Skip) continue;
    } else {
      image_tags = tags[std::size_t(item_of[r])].tags;
    }
    std::vector<int> labels;
    std::set<std::string> unmatched_here;
    for (const std::string& tag : image_tags) {
      std::vector<int> c = synonyms.classes_of(tag);
      ++out.tags;
      if (c.empty()) {
        unmatched_here.insert(normalize_phrase(tag));
        continue;
      }
      ++out.matched_tags;
      labels.insert(labels.end(), c.begin(), c.end());
    }
    for (const auto& u : unmatched_here) ++out.unmatched[u];
    std::sort(labels.begin(), labels.end());
    labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
    if (labels.empty() && item_of[r] >= 0) out.no_class.push_back(id);

    Record rec = in;
    // The old labels are the ground truth to compare with; a rerun on an output
    // keeps the first labels_gt rather than the previous run's tag labels.
    if (in.contains("labels") && !in.contains("labels_gt")) rec["labels_gt"] = in["labels"];
    if (rec.contains("labels_gt") && rec["labels_gt"].is_array()) {
      std::vector<int> gt;
      for (const auto& v : rec["labels_gt"])
        if (v.is_number_integer()) gt.push_back(v.get<int>());
      std::sort(gt.begin(), gt.end());
      std::vector<int> both;
      std::set_intersection(labels.begin(), labels.end(), gt.begin(), gt.end(), std::back_inserter(both));
      ++out.gt_images;
      out.tp += both.size();
      out.fp += labels.size() - both.size();
      out.fn += gt.size() - both.size();
      out.exact += labels == gt;
    }
    rec["labels"] = labels;
    rec["tags"] = image_tags;
    out.records.push_back(std::move(rec));
  }
  if (missing == MissingTags::Error && !untagged.empty())
    throw InputError(tags_file, "no tags for " + std::to_string(untagged.size()) + " record(s) of " +
                                    manifest.path.string() + ", e.g. '" + untagged.front() +
                                    "' (--missing empty gives them no labels, --missing skip leaves them out)");
  return out;
}

std::string detector_prompts(const std::vector<Record>& records, const fs::path& manifest, const Vocabulary& vocab,
                             const PromptNames& names, CategoryIds ids_rule, const fs::path& out_file,
                             std::size_t* lines) {
  const std::vector<long long> ids = category_ids(vocab, ids_rule);
  const fs::path dir = fs::absolute(out_file).parent_path();
  std::string text;
  std::size_t n = 0;
  for (const Record& r : records) {
    std::vector<int> labels = record_labels(r, vocab.num_foreground(), manifest);
    if (labels.empty()) continue;
    Record line;
    line["id"] = record_id(r);
    if (r.contains("image")) line["image"] = r["image"];
    std::string caption;
    std::vector<std::string> prompts;
    std::vector<long long> cats;
    for (int c : labels) {
      const std::string& p = names.by_class.at(std::size_t(c));
      prompts.push_back(p);
      cats.push_back(ids[std::size_t(c)]);
      caption += (caption.empty() ? "" : " ") + p + " .";
    }
    line["text"] = caption;
    line["prompts"] = prompts;
    line["category_ids"] = cats;
    text += format_record(line, dir) + "\n";
    ++n;
  }
  if (lines) *lines = n;
  return text;
}

TagLabels run_tags_stage(const fs::path& tags_file, const Manifest& manifest, const Vocabulary& vocab,
                         const SynonymTable& synonyms, const PromptNames& names, const TagsStageOptions& options) {
  const fs::path& out = options.out_dir;
  const fs::path manifest_out = out / "manifest.jsonl", prompts_out = out / "detector_prompts.jsonl",
                 unmatched_out = out / "unmatched_tags.tsv", no_class_out = out / "no_class.txt";
  for (const fs::path& f : {manifest_out, prompts_out}) check_can_write(f, options.overwrite);

  TagLabels result = labels_from_tags(read_tags(tags_file), tags_file, manifest, synonyms, options.missing);
  if (result.records.empty()) throw Error(tags_file.string() + ": no record left to write");
  std::size_t prompt_lines = 0;
  std::string prompts = detector_prompts(result.records, manifest.path, vocab, names, options.category_ids,
                                         prompts_out, &prompt_lines);

  // From here on OUT_DIR is written: a second run on it is refused.
  OutputLock lock(out, "", options.provenance.program.empty() ? "wsss-tags" : options.provenance.program);
  for (const fs::path& f : {manifest_out, prompts_out}) check_can_write(f, options.overwrite);
  // A killed run leaves the temporaries of the files it was writing.
  if (std::size_t n = remove_stale_temporaries(
          {manifest_out, prompts_out, unmatched_out, no_class_out, out / "meta.json", out / kVocabularyFile}))
    log::info("removed ", n, " temporary file(s) left by an interrupted run");
  // With --overwrite a previous run's manifest goes first, so that an
  // interruption never leaves an old "done" marker beside new files.
  std::error_code ec;
  fs::remove(manifest_out, ec);
  vocab.save(out / kVocabularyFile);
  write_file_atomic(prompts_out, prompts);
  // Sorted by how many images carry the tag: the synonyms most worth adding first.
  std::vector<std::pair<std::string, std::size_t>> unmatched(result.unmatched.begin(), result.unmatched.end());
  std::stable_sort(unmatched.begin(), unmatched.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  if (unmatched.empty()) {
    fs::remove(unmatched_out, ec);
  } else {
    std::string t;
    for (const auto& [tag, count] : unmatched) t += tag + "\t" + std::to_string(count) + "\n";
    write_file_atomic(unmatched_out, t);
  }
  if (result.no_class.empty()) {
    fs::remove(no_class_out, ec);
  } else {
    std::map<std::string, const Record*> by_id;
    for (const Record& r : result.records) by_id[record_id(r)] = &r;
    std::string t;
    for (const std::string& id : result.no_class) {
      std::string tags;
      for (const auto& tag : (*by_id.at(id))["tags"]) tags += (tags.empty() ? "" : " | ") + tag.get<std::string>();
      t += id + "\t" + tags + "\n";
    }
    write_file_atomic(no_class_out, t);
  }
  nlohmann::ordered_json extra;
  extra["tags_file"] = fs::absolute(tags_file).lexically_normal().string();
  extra["counts"] = {{"records", result.records.size()},       {"untagged", result.missing},
                     {"tags", result.tags},                     {"matched_tags", result.matched_tags},
                     {"no_class", result.no_class.size()},      {"detector_prompt_lines", prompt_lines}};
  write_meta(out / "meta.json", options.provenance, manifest.content_hash, extra);
  write_manifest(manifest_out, result.records);
  return result;
}

}  // namespace wsss::pseudo
