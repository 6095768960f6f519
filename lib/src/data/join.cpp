#include "wsss/data/join.hpp"

#include <set>
#include <unordered_map>

#include "wsss/core/error.hpp"

namespace wsss {

JoinField JoinField::parse(const std::string& text) {
  auto colon = text.find(':');
  JoinField f;
  f.from = text.substr(0, colon);
  f.to = colon == std::string::npos ? f.from : text.substr(colon + 1);
  if (f.from.empty() || f.to.empty() || f.to.find(':') != std::string::npos)
    throw UsageError("--take " + text + ": expected FIELD or FIELD:NEWNAME");
  if (f.from == "id" || f.to == "id") throw UsageError("--take " + text + ": the id cannot be taken");
  return f;
}

JoinResult join_manifests(const Manifest& a, const Manifest& b, const std::vector<JoinField>& take,
                          JoinMissing missing) {
  if (take.empty()) throw UsageError("nothing to take: give at least one --take FIELD[:NEWNAME]");
  std::set<std::string> targets;
  for (const auto& f : take)
    if (!targets.insert(f.to).second) throw UsageError("--take: field '" + f.to + "' is produced twice");

  std::unordered_map<std::string, const Record*> by_id;
  by_id.reserve(b.records.size());
  for (const Record& r : b.records) by_id.emplace(record_id(r), &r);

  JoinResult result;
  std::size_t matched_b = 0;
  for (const Record& ra : a.records) {
    const std::string& id = record_id(ra);
    auto it = by_id.find(id);
    std::string problem;
    if (it == by_id.end()) {
      problem = "item " + quote_id(id) + " of " + a.path.string() + " is not in this manifest";
    } else {
      ++matched_b;
      for (const auto& f : take)
        if (!it->second->contains(f.from)) {
          problem = "item " + quote_id(id) + " has no \"" + f.from + "\" field";
          break;
        }
    }
    if (!problem.empty()) {
      if (missing == JoinMissing::Error) throw InputError(b.path, problem + " (use --missing skip or keep)");
      if (missing == JoinMissing::Skip) {
        ++result.skipped;
        continue;
      }
      ++result.kept;
      result.records.push_back(ra);
      continue;
    }
    Record out = ra;
    for (const auto& f : take) {
      if (out.contains(f.to))
        throw InputError(a.path, "item " + quote_id(id) + " already has a \"" + f.to + "\" field; take it as " + f.from +
                                     ":NEWNAME");
      out[f.to] = (*it->second)[f.from];
    }
    ++result.joined;
    result.records.push_back(std::move(out));
  }
  result.unmatched_b = b.records.size() - matched_b;
  return result;
}

Manifest folder_as_manifest(const Manifest& a, const fs::path& dir, const std::string& field,
                            const std::vector<std::string>& extensions) {
  if (!fs::is_directory(dir)) throw InputError(dir, "not a directory");
  Manifest m;
  m.path = dir;
  m.dir = fs::absolute(dir);
  for (const Record& ra : a.records) {
    const std::string& id = record_id(ra);
    for (const std::string& ext : extensions) {
      const fs::path file = m.dir / (id + ext);
      if (!fs::is_regular_file(file)) continue;
      Record r = Record::object();
      r["id"] = id;
      r[field] = file.lexically_normal().string();
      m.records.push_back(std::move(r));
      break;
    }
  }
  return m;
}

}  // namespace wsss
