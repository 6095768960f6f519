#pragma once
// The one main() wrapper every binary uses: help and version, parsing, the
// first log line (the command) and the mapping from exceptions to exit codes.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "options.hpp"
#include "validators.hpp"
#include "wsss/core/error.hpp"

namespace wsss::cli {

struct ToolInfo {
  std::string name;         // "wsss-miou"
  std::string description;  // one paragraph
  std::string example;      // shown after "e.g.:"
  std::string see_also;     // shown after "See also:"
};

// Formats help as "Usage:" ... "e.g.:" ... "See also:"; subcommands get the same.
void describe(CLI::App& app, const std::string& description, const std::string& example,
              const std::string& see_also);

// `setup` registers options and subcommands on the app and returns the action to
// run after a successful parse. The action returns the exit code.
using Action = std::function<int()>;
int run_tool(int argc, char** argv, const ToolInfo& info,
             const std::function<void(CLI::App&, Action&)>& setup);

}  // namespace wsss::cli
