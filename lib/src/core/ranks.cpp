#include "wsss/core/ranks.hpp"

#include <cstdlib>

#include "wsss/core/error.hpp"

namespace wsss {

namespace {

using Getenv = std::function<const char*(const char*)>;

// A whole number in [lo, hi] from variable `name`; `fallback` when unset.
long env_number(const Getenv& getenv, const char* name, long lo, long hi, long fallback) {
  const char* value = getenv(name);
  if (value == nullptr) return fallback;
  const std::string s = value;
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 9)
    throw UsageError(std::string(name) + "='" + s + "' is not a whole number");
  const long n = std::atol(s.c_str());
  if (n < lo || n > hi)
    throw UsageError(std::string(name) + "=" + s + " is outside " + std::to_string(lo) + ".." + std::to_string(hi));
  return n;
}

std::string env_text(const Getenv& getenv, const char* name, const std::string& fallback) {
  const char* value = getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

constexpr long kMaxRanks = 1 << 20;

}  // namespace

std::string first_slurm_host(const std::string& nodelist) {
  // The first entry at bracket depth 0, then the first number (range start) inside its brackets.
  std::string entry;
  int depth = 0;
  for (char c : nodelist) {
    if (c == ',' && depth == 0) break;
    if (c == '[') ++depth;
    if (c == ']') --depth;
    entry += c;
  }
  std::string host;
  for (std::size_t i = 0; i < entry.size(); ++i) {
    if (entry[i] != '[') {
      host += entry[i];
      continue;
    }
    const std::size_t close = entry.find(']', i);
    if (close == std::string::npos) return "";
    const std::string inside = entry.substr(i + 1, close - i - 1);
    host += inside.substr(0, inside.find_first_of(",-"));
    i = close;
  }
  return host;
}

int slurm_tasks_on_node(const std::string& list, int node) {
  // "2(x3),1": 2 tasks on each of nodes 0..2, then 1 on node 3.
  int first = 0;
  std::size_t pos = 0;
  while (pos < list.size()) {
    const std::size_t end = std::min(list.find(',', pos), list.size());
    const std::string item = list.substr(pos, end - pos);
    const std::size_t paren = item.find("(x");
    const std::string count_text = item.substr(0, paren);
    if (count_text.empty() || count_text.find_first_not_of("0123456789") != std::string::npos) return 0;
    int repeat = 1;
    if (paren != std::string::npos) {
      const std::string r = item.substr(paren + 2, item.size() - paren - 3);
      if (r.empty() || r.find_first_not_of("0123456789") != std::string::npos || item.back() != ')') return 0;
      repeat = std::atoi(r.c_str());
    }
    if (node < first + repeat) return std::atoi(count_text.c_str());
    first += repeat;
    pos = end + 1;
  }
  return 0;
}

std::string Ranks::describe() const {
  if (!distributed()) return "one process";
  return "rank " + std::to_string(rank) + " of " + std::to_string(world) + " (" + source + ", rendezvous at " +
         master_addr + ":" + std::to_string(master_port) + ")";
}

Ranks Ranks::from_environment(const Getenv& getenv) {
  Ranks r;
  r.interface = env_text(getenv, "GLOO_SOCKET_IFNAME", "");
  if (getenv("WORLD_SIZE") != nullptr) {
    r.source = "torchrun";
    r.world = int(env_number(getenv, "WORLD_SIZE", 1, kMaxRanks, 1));
    r.rank = int(env_number(getenv, "RANK", 0, r.world - 1, -1));
    if (r.rank < 0) throw UsageError("WORLD_SIZE is set but RANK is not");
    r.local_rank = int(env_number(getenv, "LOCAL_RANK", 0, r.world - 1, r.rank));
    r.local_world = int(env_number(getenv, "LOCAL_WORLD_SIZE", 1, r.world, r.world));
    r.master_addr = env_text(getenv, "MASTER_ADDR", "127.0.0.1");
    r.master_port = int(env_number(getenv, "MASTER_PORT", 1, 65535, 0));
    if (r.world > 1 && r.master_port == 0) throw UsageError("WORLD_SIZE=" + std::to_string(r.world) + " but MASTER_PORT is not set");
    if (env_text(getenv, "TORCHELASTIC_USE_AGENT_STORE", "") == "True") {
      r.store_served = true;
      r.store_prefix = "/worker/attempt_" + env_text(getenv, "TORCHELASTIC_RESTART_COUNT", "0");
    }
    if (r.local_rank >= r.local_world) throw UsageError("LOCAL_RANK must be below LOCAL_WORLD_SIZE");
    return r;
  }
  // A batch script runs as task 0 with SLURM_NTASKS of the whole job: only
  // srun's steps (SLURM_STEP_ID set) are ranks.
  if (getenv("SLURM_STEP_ID") != nullptr && getenv("SLURM_NTASKS") != nullptr) {
    const int world = int(env_number(getenv, "SLURM_NTASKS", 1, kMaxRanks, 1));
    if (world < 2) return r;
    r.source = "slurm";
    r.world = world;
    r.rank = int(env_number(getenv, "SLURM_PROCID", 0, world - 1, -1));
    if (r.rank < 0) throw UsageError("SLURM_NTASKS is set but SLURM_PROCID is not");
    r.local_rank = int(env_number(getenv, "SLURM_LOCALID", 0, world - 1, 0));
    const int node = int(env_number(getenv, "SLURM_NODEID", 0, kMaxRanks, 0));
    const int on_node = slurm_tasks_on_node(
        env_text(getenv, "SLURM_STEP_TASKS_PER_NODE", env_text(getenv, "SLURM_TASKS_PER_NODE", "")), node);
    r.local_world = on_node > r.local_rank ? on_node : r.local_rank + 1;
    const std::string nodes = env_text(getenv, "SLURM_STEP_NODELIST", env_text(getenv, "SLURM_JOB_NODELIST", ""));
    r.master_addr = first_slurm_host(nodes);
    if (r.master_addr.empty())
      throw UsageError("cannot read the first host of SLURM_STEP_NODELIST / SLURM_JOB_NODELIST='" + nodes + "'");
    // Every task must find the same port without talking first: MASTER_PORT,
    // or one below the kernel's ephemeral range derived from the job and step.
    const long job = env_number(getenv, "SLURM_JOB_ID", 0, 999999999, 0);
    const long step = env_number(getenv, "SLURM_STEP_ID", 0, 999999999, 0);
    r.master_port = int(env_number(getenv, "MASTER_PORT", 1, 65535, 20000 + (job * 16 + step) % 12000));
    r.cpus_per_task = int(env_number(getenv, "SLURM_CPUS_PER_TASK", 1, kMaxRanks, 0));
    return r;
  }
  return r;
}

Ranks Ranks::from_environment() {
  return from_environment([](const char* name) { return std::getenv(name); });
}

}  // namespace wsss
