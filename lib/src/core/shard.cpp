#include "wsss/core/shard.hpp"

#include <cstdlib>

#include "wsss/core/error.hpp"

namespace wsss {

Shard Shard::parse(const std::string& text) {
  auto slash = text.find('/');
  auto bad = [&](const std::string& why) {
    return UsageError("--shard " + text + ": " + why);
  };
  if (slash == std::string::npos) throw bad("expected J/N, e.g. 3/8");
  std::string j = text.substr(0, slash), n = text.substr(slash + 1);
  auto parse_int = [&](const std::string& s) {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 9)
      throw bad("expected J/N with positive integers");
    return std::atoi(s.c_str());
  };
  Shard shard{parse_int(j), parse_int(n)};
  if (shard.count < 1) throw bad("N must be at least 1");
  if (shard.index < 1 || shard.index > shard.count) throw bad("J must be within 1.." + n);
  return shard;
}

std::pair<std::size_t, std::size_t> Shard::range(std::size_t n) const {
  // Same block split as Kaldi's split_scp: sizes differ by at most one.
  std::size_t begin = n * std::size_t(index - 1) / std::size_t(count);
  std::size_t end = n * std::size_t(index) / std::size_t(count);
  return {begin, end};
}

std::string Shard::suffix() const {
  return sharded() ? "." + std::to_string(index) + "-of-" + std::to_string(count) : "";
}

std::string Shard::str() const { return std::to_string(index) + "/" + std::to_string(count); }

}  // namespace wsss
