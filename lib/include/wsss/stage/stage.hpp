#pragma once
// The per-image stage runner shared by every per-image binary. It owns the
// behaviour a cluster user relies on: sharding, refusing to clobber, resuming
// with --skip-existing, per-item failure accounting, progress, provenance, and
// writing the output manifest last so that "manifest exists" means "stage done".
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wsss/core/provenance.hpp"
#include "wsss/core/shard.hpp"
#include "wsss/io/manifest.hpp"

namespace wsss {

namespace fs = std::filesystem;
struct Vocabulary;

struct StageOptions {
  fs::path out_dir;
  Shard shard;
  bool overwrite = false;
  bool skip_existing = false;
  int threads = 1;        // item-level workers
  int max_failed = 0;
  bool allow_empty = false;
  std::uint64_t seed = 0;
  std::string progress_label = "images";
  Provenance provenance;  // recorded in meta.json
};

// What one stage does to one image. Implementations must be safe to call from
// several workers at once (or serialise internally).
class ItemProcessor {
 public:
  virtual ~ItemProcessor() = default;
  // The files this item writes. Used to refuse clobbering and to decide skips.
  virtual std::vector<fs::path> outputs(const Record& input) const = 0;
  // Names of the record fields this stage adds (reused on --skip-existing).
  virtual std::vector<std::string> fields() const = 0;
  // Computes the item, writes its outputs atomically and returns the fields to
  // add to the record (absolute paths for path fields). Throw to fail the item.
  virtual Record process(const Record& input, std::uint64_t item_seed) = 0;
};

struct StageSummary {
  std::size_t total = 0, done = 0, skipped = 0, failed = 0;
  double seconds = 0;
  std::vector<std::string> failed_ids;
  fs::path manifest;  // written output manifest (empty when the stage failed)
  bool ok = false;    // failures within --max-failed
};

// Paths of a stage's bookkeeping files in out_dir for a shard.
fs::path stage_manifest_path(const fs::path& out_dir, const Shard& shard);

// Runs `processor` over the shard's records of `input`. Throws OutputExistsError
// before doing anything when outputs exist and neither overwrite nor
// skip_existing is set. `vocabulary` (optional) is written as classes.json.
StageSummary run_stage(ItemProcessor& processor, const Manifest& input, const StageOptions& options,
                       const Vocabulary* vocabulary);

// The last log line of every binary: "done D, skipped S, failed F of T in Xs".
std::string summary_line(const StageSummary& summary);

// A per-item seed that depends only on the run seed and the item id, so that
// results do not depend on thread count or sharding.
std::uint64_t item_seed(std::uint64_t run_seed, const std::string& id);

// The file of an item's output: OUT_DIR/<subdir>/<id><ext>. Ids may contain '/'
// (sub-folders) but no "." or ".." segments and no leading '/'.
fs::path item_file(const fs::path& out_dir, const std::string& subdir, const std::string& id, const std::string& ext);

// Refuses to replace `file` unless allowed; used by stages that write one result.
void check_can_write(const fs::path& file, bool overwrite);

}  // namespace wsss
