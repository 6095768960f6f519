#include "wsss/io/meta.hpp"

#include <unistd.h>

#include <chrono>
#include <ctime>

#include "wsss/core/version.hpp"
#include "wsss/io/atomic_file.hpp"

namespace wsss {

void write_meta(const fs::path& file, const Provenance& ctx, const std::string& input_hash,
                const nlohmann::ordered_json& extra) {
  nlohmann::ordered_json meta;
  meta["program"] = ctx.program;
  meta["argv"] = ctx.argv;
  meta["version"] = project_version();
  meta["git"] = git_describe();
  meta["options"] = ctx.options;
  meta["input_manifest_hash"] = input_hash;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  meta["host"] = host;
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char when[64];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  meta["time"] = when;
  for (auto it = extra.begin(); it != extra.end(); ++it) meta[it.key()] = it.value();
  write_file_atomic(file, meta.dump(2) + "\n");
}

}  // namespace wsss
