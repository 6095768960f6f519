#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace wsss {

// FNV-1a 64-bit: a stable content hash for provenance and per-item seeds.
std::uint64_t fnv1a64(std::string_view bytes, std::uint64_t seed = 1469598103934665603ULL);
std::string hex64(std::uint64_t value);

}  // namespace wsss
