#include "wsss/stage/stage.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "wsss/core/error.hpp"
#include "wsss/core/hash.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/parallel.hpp"
#include "wsss/core/progress.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/lock.hpp"
#include "wsss/io/meta.hpp"

namespace wsss {

namespace {

fs::path journal_path(const fs::path& out_dir, const Shard& shard) {
  return out_dir / (".journal" + shard.suffix() + ".jsonl");
}

// Added fields of earlier runs, by id: from a finished manifest and from the
// journal an interrupted run leaves behind (a torn last line is ignored).
std::unordered_map<std::string, Record> load_prior_fields(const fs::path& manifest, const fs::path& journal,
                                                          const std::vector<std::string>& fields) {
  std::unordered_map<std::string, Record> prior;
  auto take = [&](const Record& r) {
    Record f = Record::object();
    for (const auto& name : fields)
      if (r.contains(name)) f[name] = r[name];
    prior[record_id(r)] = std::move(f);
  };
  if (fs::exists(manifest)) {
    ManifestReadOptions opt;
    opt.allow_empty = true;
    for (const auto& r : read_manifest(manifest.string(), opt).records) take(r);
  }
  if (fs::exists(journal)) {
    std::ifstream in(journal);
    std::string line;
    // Paths in the journal are relative to OUT_DIR; records hold absolute ones.
    // (A relative OUT_DIR once gave OUT_DIR/OUT_DIR/... paths in the manifest.)
    fs::path dir = fs::absolute(journal).parent_path();
    while (std::getline(in, line)) {
      try {
        Manifest one = parse_manifest(line, journal, dir);
        take(one.records.front());
      } catch (const std::exception&) {
        // A line torn by a kill: that item is simply recomputed.
      }
    }
  }
  return prior;
}

bool all_exist(const std::vector<fs::path>& files) {
  for (const auto& f : files)
    if (!fs::exists(f)) return false;
  return true;
}

}  // namespace

fs::path stage_manifest_path(const fs::path& out_dir, const Shard& shard) {
  return out_dir / ("manifest" + shard.suffix() + ".jsonl");
}

std::uint64_t item_seed(std::uint64_t run_seed, const std::string& id) {
  return fnv1a64(id, 1469598103934665603ULL ^ (run_seed * 0x9E3779B97F4A7C15ULL));
}

std::string summary_line(const StageSummary& s) {
  std::ostringstream os;
  os << "done " << s.done << ", skipped " << s.skipped << ", failed " << s.failed << " of " << s.total << " in ";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", s.seconds);
  os << buf;
  return os.str();
}

fs::path item_file(const fs::path& out_dir, const std::string& subdir, const std::string& id, const std::string& ext) {
  fs::path rel(id);
  bool safe = !id.empty() && rel.is_relative();
  std::size_t longest = 0;
  for (const auto& part : rel) {
    safe = safe && part != ".." && part != "." && !part.empty();
    longest = std::max(longest, part.native().size());
  }
  if (!safe) throw Error("item " + quote_id(id) + ": id cannot be used as a file name (it would leave " +
                         (out_dir / subdir).string() + ")");
  // NAME_MAX of every common file system; the extension and the temporary
  // name's prefix and suffix need room too.
  if (longest + ext.size() > 200)
    throw Error("item " + quote_id(id) + ": id cannot be used as a file name (a part of it is " +
                std::to_string(longest) + " bytes; at most " + std::to_string(200 - ext.size()) + ")");
  return out_dir / subdir / (id + ext);
}

void check_can_write(const fs::path& file, bool overwrite) {
  if (!overwrite && fs::exists(file)) throw OutputExistsError(file);
}

StageSummary run_stage(ItemProcessor& processor, const Manifest& input, const StageOptions& options,
                       const Vocabulary* vocabulary) {
  auto start = std::chrono::steady_clock::now();
  const fs::path& out = options.out_dir;
  const Shard& shard = options.shard;
  auto [begin, end] = shard.range(input.records.size());
  std::vector<const Record*> items;
  for (std::size_t i = begin; i < end; ++i) items.push_back(&input.records[i]);
  if (shard.sharded())
    log::info("shard ", shard.str(), ": items ", begin + 1, "..", end, " of ", input.records.size());

  fs::path manifest_file = stage_manifest_path(out, shard);
  fs::path journal_file = journal_path(out, shard);
  fs::path failed_file = out / ("failed" + shard.suffix() + ".txt");
  fs::path meta_file = out / ("meta" + shard.suffix() + ".json");

  // Held to the end of the run: a second run on OUT_DIR (or on this shard of
  // it) is refused, naming this one, instead of mixing its outputs with ours.
  OutputLock lock(out, shard.suffix(), options.provenance.program.empty() ? "wsss" : options.provenance.program);
  if (!options.overwrite && !options.skip_existing) {
    if (fs::exists(manifest_file)) throw OutputExistsError(manifest_file);
    if (fs::exists(journal_file)) throw OutputExistsError(journal_file);
    for (const Record* r : items) {
      std::vector<fs::path> files;
      try {
        files = processor.outputs(*r);
      } catch (const Error&) {
        continue;  // an id that makes no file name: that item fails when it is processed
      }
      for (const auto& f : files)
        if (fs::exists(f)) throw OutputExistsError(f);
    }
  }
  std::error_code ec;

  // A killed run leaves the temporaries of the files it was writing; remove
  // those of this shard's files (other shards may be writing theirs now).
  {
    std::vector<fs::path> mine = {manifest_file, failed_file, meta_file};
    if (!shard.sharded()) mine.push_back(out / kVocabularyFile);
    for (const Record* r : items) {
      try {
        for (const auto& f : processor.outputs(*r)) mine.push_back(f);
      } catch (const Error&) {
        // an id that makes no file name has no temporaries either
      }
    }
    if (std::size_t n = remove_stale_temporaries(mine))
      log::info("removed ", n, " temporary file(s) left by an interrupted run");
  }

  std::unordered_map<std::string, Record> prior;
  if (options.overwrite) {
    // The old manifest would claim "done" for a run that is now being redone.
    fs::remove(manifest_file, ec);
    fs::remove(journal_file, ec);
  } else if (options.skip_existing) {
    prior = load_prior_fields(manifest_file, journal_file, processor.fields());
  }

  std::vector<Record> added(items.size());
  std::vector<char> status(items.size(), 0);  // 0 failed, 1 done, 2 skipped
  std::vector<std::string> errors(items.size());
  std::mutex journal_mutex;
  // A kill can tear the journal's last line; the next line must not be glued to it.
  bool torn = false;
  if (std::ifstream previous{journal_file, std::ios::binary}) {
    previous.seekg(0, std::ios::end);
    if (previous.tellg() > 0) {
      previous.seekg(-1, std::ios::end);
      torn = previous.get() != '\n';
    }
  }
  std::ofstream journal(journal_file, std::ios::app);
  if (!journal) throw Error(journal_file.string() + ": cannot open for writing");
  if (torn) journal << '\n';

  // A full disk stops the run at the first item it hits (every later item
  // would fail the same way); the items done so far stay for --skip-existing.
  std::atomic<bool> disk_full{false};
  std::string disk_full_message;
  std::mutex disk_full_mutex;
  Progress progress(options.progress_label, items.size());
  parallel_for(items.size(), options.threads, [&](std::size_t i, int) {
    const Record& rec = *items[i];
    const std::string& id = record_id(rec);
    if (disk_full) return;
    try {
      if (options.skip_existing) {
        auto it = prior.find(id);
        bool complete = it != prior.end();
        if (complete)
          for (const auto& name : processor.fields()) complete = complete && it->second.contains(name);
        if (complete && all_exist(processor.outputs(rec))) {
          added[i] = it->second;
          status[i] = 2;
          progress.add();
          return;
        }
      }
      added[i] = processor.process(rec, item_seed(options.seed, id));
      // Processors may name their files relative to the working directory;
      // records hold absolute paths until they are written.
      for (auto it = added[i].begin(); it != added[i].end(); ++it)
        if (is_path_field(it.key()) && it.value().is_string())
          it.value() = fs::absolute(it.value().get<std::string>()).lexically_normal().string();
      status[i] = 1;
      Record line = added[i];
      line["id"] = id;
      std::string text = format_record(line, out) + "\n";
      std::lock_guard<std::mutex> lock(journal_mutex);
      journal << text << std::flush;
    } catch (const DiskFullError& e) {
      std::lock_guard<std::mutex> lock(disk_full_mutex);
      if (!disk_full.exchange(true)) disk_full_message = first_line(e.what());
      return;
    } catch (const std::exception& e) {
      errors[i] = first_line(e.what());
      log::warn("item ", quote_id(id), " failed: ", errors[i]);
    }
    progress.add();
  });
  progress.finish();
  journal.close();
  if (disk_full)
    throw DiskFullError(disk_full_message + "; stopped (items done so far are kept: free space and rerun with "
                                            "--skip-existing)");

  StageSummary summary;
  summary.total = items.size();
  std::vector<Record> records;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (status[i] == 0) {
      ++summary.failed;
      summary.failed_ids.push_back(record_id(*items[i]));
      continue;
    }
    (status[i] == 1 ? summary.done : summary.skipped)++;
    Record r = *items[i];
    for (auto it = added[i].begin(); it != added[i].end(); ++it) r[it.key()] = it.value();
    records.push_back(std::move(r));
  }

  if (!summary.failed_ids.empty()) {
    std::string text;
    for (std::size_t i = 0; i < items.size(); ++i)
      if (status[i] == 0) text += record_id(*items[i]) + "\t" + errors[i] + "\n";
    write_file_atomic(failed_file, text);
  } else {
    fs::remove(failed_file, ec);
  }
  summary.ok = summary.failed <= std::size_t(std::max(0, options.max_failed));
  if (summary.ok) {
    if (vocabulary) vocabulary->save(out / kVocabularyFile);
    nlohmann::ordered_json extra;
    extra["shard"] = shard.str();
    extra["items"] = {{"total", summary.total}, {"done", summary.done}, {"skipped", summary.skipped},
                      {"failed", summary.failed}};
    write_meta(meta_file, options.provenance, input.content_hash, extra);
    write_manifest(manifest_file, std::move(records));  // last: "manifest exists" means "stage done"
    summary.manifest = manifest_file;
    fs::remove(journal_file, ec);
  } else {
    log::error(summary.failed, " item(s) failed (more than --max-failed ", options.max_failed, "); see ",
               failed_file.string(), "; rerun with --skip-existing to resume");
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace wsss
