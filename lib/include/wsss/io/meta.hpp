#pragma once
// Provenance: each output directory gets meta.json (meta.J-of-N.json for a shard)
// with argv, version, resolved options, the input manifest hash and the time.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "wsss/core/provenance.hpp"

namespace wsss {

namespace fs = std::filesystem;

// `provenance` is the caller's (the CLI fills it from argv and the parsed options).
void write_meta(const fs::path& file, const Provenance& provenance, const std::string& input_hash,
                const nlohmann::ordered_json& extra = nlohmann::ordered_json::object());

}  // namespace wsss
