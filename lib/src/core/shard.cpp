#include "wsss/core/shard.hpp"

#include <cstdlib>

#include "wsss/core/error.hpp"

namespace wsss {

Shard Shard::parse(const std::string& text) {
  if (text == "auto") return from_array_task([](const char* name) { return std::getenv(name); });
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

Shard Shard::from_array_task(const std::function<const char*(const char*)>& getenv) {
  auto bad = [](const std::string& why) { return UsageError("--shard auto: " + why); };
  auto get = [&](const char* name, bool required) -> long {
    const char* value = getenv(name);
    if (!value) {
      if (required)
        throw bad(std::string(name) +
                  " is not set: not a Slurm array task (submit with sbatch --array=1-N, or give --shard J/N)");
      return -1;
    }
    std::string s = value;
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 9)
      throw bad(std::string(name) + "='" + s + "' is not a whole number");
    return std::atol(s.c_str());
  };
  long id = get("SLURM_ARRAY_TASK_ID", true), count = get("SLURM_ARRAY_TASK_COUNT", true);
  long min = get("SLURM_ARRAY_TASK_MIN", true), max = get("SLURM_ARRAY_TASK_MAX", true);
  long step = get("SLURM_ARRAY_TASK_STEP", false);
  std::string ids = "array tasks " + std::to_string(min) + ".." + std::to_string(max) + " (" +
                    std::to_string(count) + " tasks)";
  if (count < 1 || id < min || id > max) throw bad(ids + " do not contain task " + std::to_string(id));
  if (max - min + 1 != count || (step != -1 && step != 1 && count > 1))
    throw bad(ids + " are not contiguous; use --array=1-N, or give --shard J/N");
  if (min > 1)
    throw bad(ids + " start at " + std::to_string(min) +
              ", not 1 or 0, so the shard count is unknown; to rerun some shards of N give --shard J/N");
  return Shard{int(id - min + 1), int(count)};
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
