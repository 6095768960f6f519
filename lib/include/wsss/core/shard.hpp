#pragma once
// --shard J/N: 1-based, a contiguous block of the sorted ids (Kaldi split_scp),
// so that scheduler array task ids map directly onto shards.
#include <cstddef>
#include <functional>
#include <string>
#include <utility>

namespace wsss {

struct Shard {
  int index = 1;  // J, 1-based
  int count = 1;  // N

  // Parses "J/N", or "auto" (from_array_task with the process environment);
  // throws UsageError when malformed or J is outside 1..N.
  static Shard parse(const std::string& text);
  // The shard of a Slurm array task: J = SLURM_ARRAY_TASK_ID - MIN + 1 and
  // N = SLURM_ARRAY_TASK_COUNT, for a contiguous array that starts at 1 or 0
  // (--array=1-N or 0-(N-1)). Any other array is refused: from its variables
  // alone, `--array=3` (shard 3 of 4 run again) would look like shard 1 of 1.
  // `getenv` returns nullptr for an unset variable.
  static Shard from_array_task(const std::function<const char*(const char*)>& getenv);
  bool sharded() const { return count > 1; }
  // Half-open range [begin, end) of the items of this shard among n sorted items.
  std::pair<std::size_t, std::size_t> range(std::size_t n) const;
  // "manifest.jsonl" or "manifest.3-of-8.jsonl" style suffix: "" or ".3-of-8".
  std::string suffix() const;
  std::string str() const;
};

}  // namespace wsss
