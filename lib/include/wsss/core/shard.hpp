#pragma once
// --shard J/N: 1-based, a contiguous block of the sorted ids (Kaldi split_scp),
// so that scheduler array task ids map directly onto shards.
#include <cstddef>
#include <string>
#include <utility>

namespace wsss {

struct Shard {
  int index = 1;  // J, 1-based
  int count = 1;  // N

  // Parses "J/N"; throws UsageError when malformed or J is outside 1..N.
  static Shard parse(const std::string& text);
  bool sharded() const { return count > 1; }
  // Half-open range [begin, end) of the items of this shard among n sorted items.
  std::pair<std::size_t, std::size_t> range(std::size_t n) const;
  // "manifest.jsonl" or "manifest.3-of-8.jsonl" style suffix: "" or ".3-of-8".
  std::string suffix() const;
  std::string str() const;
};

}  // namespace wsss
