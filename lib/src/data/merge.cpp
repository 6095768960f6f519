#include "wsss/data/merge.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <unordered_map>

#include "wsss/core/error.hpp"
#include "wsss/core/hash.hpp"
#include "wsss/core/log.hpp"
#include "wsss/stage/stage.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/lock.hpp"
#include "wsss/io/manifest.hpp"
#include "wsss/io/meta.hpp"

namespace wsss {

bool parse_shard_name(const std::string& file_name, std::string& stem, int& j, int& n) {
  static const std::regex pattern(R"(^(.*)\.([0-9]{1,9})-of-([0-9]{1,9})\.jsonl$)");
  std::smatch m;
  if (!std::regex_match(file_name, m, pattern)) return false;
  stem = m[1];
  j = std::stoi(m[2]);
  n = std::stoi(m[3]);
  return true;
}

namespace {

struct Input {
  fs::path manifest;
  fs::path meta;  // provenance of the run that wrote it (may not exist)
  int j = 0, n = 0;
};

Input describe_input(const fs::path& manifest) {
  Input in;
  in.manifest = manifest;
  std::string stem;
  fs::path dir = manifest.parent_path();
  if (parse_shard_name(manifest.filename().string(), stem, in.j, in.n))
    in.meta = dir / ("meta." + std::to_string(in.j) + "-of-" + std::to_string(in.n) + ".json");
  else
    in.meta = dir / "meta.json";
  return in;
}

// When every input is shard J of the same N: each J once, all of 1..N present.
void check_complete(const std::vector<Input>& inputs, const fs::path& where) {
  if (inputs.empty() || std::any_of(inputs.begin(), inputs.end(), [](const Input& i) { return i.n == 0; })) return;
  int n = inputs.front().n;
  std::map<int, const Input*> by_j;
  for (const Input& in : inputs) {
    if (in.n != n)
      throw InputError(in.manifest, "shard of " + std::to_string(in.n) + " but " + inputs.front().manifest.string() +
                                        " is a shard of " + std::to_string(n));
    if (in.j < 1 || in.j > n)
      throw InputError(in.manifest, "shard " + std::to_string(in.j) + " is outside 1.." + std::to_string(n));
    if (!by_j.emplace(in.j, &in).second) throw InputError(in.manifest, "shard " + std::to_string(in.j) + " given twice");
  }
  std::string stem, name = inputs.front().manifest.filename().string();
  int unused_j, unused_n;
  parse_shard_name(name, stem, unused_j, unused_n);
  // What a stage run leaves when a shard did not finish (core/stage.cpp), so
  // that the message tells a killed shard from one whose items failed.
  fs::path dir = inputs.front().manifest.parent_path();
  auto why = [&](const std::string& suffix) -> std::string {
    std::error_code ec;
    if (fs::exists(dir / ("failed" + suffix + ".txt"), ec)) return " (items failed: failed" + suffix + ".txt)";
    if (fs::exists(dir / (".journal" + suffix + ".jsonl"), ec)) return " (interrupted: .journal" + suffix + ".jsonl)";
    return "";
  };
  std::string missing;
  int count = 0;
  for (int j = 1; j <= n; ++j) {
    if (by_j.count(j)) continue;
    std::string suffix = "." + std::to_string(j) + "-of-" + std::to_string(n);
    if (count++ < 20) missing += (missing.empty() ? "" : ", ") + stem + suffix + ".jsonl" + why(suffix);
  }
  if (count > 0)
    throw InputError(where, std::to_string(count) + " of " + std::to_string(n) + " shard manifests missing: " + missing +
                                (count > 20 ? ", ..." : "") + "; rerun those shards (--skip-existing resumes them)");
}

struct Merged {
  std::vector<Record> records;
  std::string hash_text;  // the inputs' hashes, for meta.json
  nlohmann::ordered_json items = {{"total", 0}, {"done", 0}, {"skipped", 0}, {"failed", 0}};
  bool counts_known = true;
  std::size_t expected = 0;
};

Merged merge_inputs(const std::vector<Input>& inputs, const MergeOptions& o) {
  Merged merged;
  std::unordered_map<std::string, std::size_t> owner;  // id -> input index
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const Input& in = inputs[k];
    ManifestReadOptions read;
    read.allow_empty = true;  // a shard of a small set may be empty
    Manifest m = read_manifest(in.manifest.string(), read);
    merged.hash_text += m.content_hash;
    for (Record& r : m.records) {
      auto [it, inserted] = owner.emplace(record_id(r), k);
      if (!inserted)
        throw InputError(in.manifest, "duplicate id " + quote_id(record_id(r)) + " (also in " +
                                          inputs[it->second].manifest.string() + ")");
      merged.records.push_back(std::move(r));
    }
    std::error_code ec;
    if (!fs::exists(in.meta, ec)) {
      merged.counts_known = false;
      if (o.min_success_frac_given) throw InputError(in.meta, "not found (--min-success-frac needs the input counts)");
      log::warn(in.meta.string(), ": not found; the success fraction of ", in.manifest.string(), " is not checked");
      continue;
    }
    try {
      auto meta = nlohmann::json::parse(read_file(in.meta));
      const auto& items = meta.at("items");
      for (const char* key : {"total", "done", "skipped", "failed"})
        merged.items[key] = merged.items[key].get<std::size_t>() + items.at(key).get<std::size_t>();
    } catch (const nlohmann::json::exception& e) {
      throw InputError(in.meta, std::string("no usable \"items\" counts: ") + e.what());
    }
  }
  if (merged.counts_known) {
    merged.expected = merged.items["total"].get<std::size_t>();
    if (merged.expected > 0) {
      double frac = double(merged.records.size()) / double(merged.expected);
      if (frac + 1e-12 < o.min_success_frac) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "merged %zu of %zu input items (%.4f) is below --min-success-frac %g",
                      merged.records.size(), merged.expected, frac, o.min_success_frac);
        throw Error(std::string(buf) + "; see the failed*.txt files");
      }
    }
  }
  return merged;
}

}  // namespace

MergeSummary merge_stage_dir(const fs::path& out_dir, const MergeOptions& o) {
  std::error_code ec;
  if (!fs::is_directory(out_dir, ec)) throw InputError(out_dir, "not a directory");
  // Shards still running hold OUT_DIR's lock shared: refused, naming them,
  // rather than a merge of whatever happens to be finished.
  OutputLock lock(out_dir, "", o.provenance.program.empty() ? "wsss-data" : o.provenance.program);
  std::vector<Input> inputs;
  for (const auto& entry : fs::directory_iterator(out_dir)) {
    std::string stem;
    int j, n;
    if (parse_shard_name(entry.path().filename().string(), stem, j, n) && stem == "manifest")
      inputs.push_back(describe_input(entry.path()));
  }
  if (inputs.empty()) throw InputError(out_dir, "no shard manifests (manifest.J-of-N.jsonl) to merge");
  std::sort(inputs.begin(), inputs.end(), [](const Input& a, const Input& b) { return std::tie(a.n, a.j) < std::tie(b.n, b.j); });
  check_complete(inputs, out_dir);
  fs::path output = out_dir / "manifest.jsonl";
  check_can_write(output, o.overwrite);
  Merged merged = merge_inputs(inputs, o);
  MergeSummary s;
  s.inputs = inputs.size();
  s.records = merged.records.size();
  s.expected = merged.expected;
  s.output = output;
  nlohmann::ordered_json extra;
  extra["merged_from"] = nlohmann::ordered_json::array();
  for (const Input& in : inputs) extra["merged_from"].push_back(in.manifest.filename().string());
  if (merged.counts_known) extra["items"] = merged.items;
  write_meta(out_dir / "meta.json", o.provenance, hex64(fnv1a64(merged.hash_text)), extra);
  write_manifest(output, std::move(merged.records));  // last: its existence means "stage done"
  return s;
}

MergeSummary merge_manifests(const std::vector<fs::path>& files, const fs::path& output, const MergeOptions& o) {
  if (files.empty()) throw UsageError("merge: no manifests given");
  std::vector<Input> inputs;
  for (const auto& f : files) inputs.push_back(describe_input(f));
  check_complete(inputs, inputs.front().manifest.parent_path());
  check_can_write(output, o.overwrite);
  Merged merged = merge_inputs(inputs, o);
  // The vocabulary travels with the data: carry it when all inputs agree on it.
  fs::path vocab_out = fs::absolute(output).parent_path() / kVocabularyFile;
  std::set<std::string> vocabularies;
  for (const Input& in : inputs) {
    fs::path v = fs::absolute(in.manifest).parent_path() / kVocabularyFile;
    vocabularies.insert(fs::exists(v) ? read_file(v) : std::string());
  }
  if (vocabularies.size() == 1 && !vocabularies.begin()->empty() && !fs::exists(vocab_out))
    write_file_atomic(vocab_out, *vocabularies.begin());
  MergeSummary s;
  s.inputs = inputs.size();
  s.records = merged.records.size();
  s.expected = merged.expected;
  s.output = output;
  write_manifest(output, std::move(merged.records));
  return s;
}

}  // namespace wsss
