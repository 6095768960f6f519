#pragma once
#include <string>

namespace wsss {

std::string project_version();   // "0.1.0"
std::string git_describe();      // `git describe` at build time, or "unknown"
// Multi-line text printed by --version.
std::string version_report(const std::string& program);

}  // namespace wsss
