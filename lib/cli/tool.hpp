#pragma once
// The one main() wrapper every binary uses: help and version, parsing, the
// first log line (the command), progress on stderr and the mapping from
// exceptions to exit codes. A binary declares one Args struct (all its option
// storage) and a setup function that registers the options on the app and
// sets the action; run_tool owns the Args for the whole run.
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

// What runs after a successful parse; returns the exit code.
using Action = std::function<int()>;

int run_tool(int argc, char** argv, const ToolInfo& info, const std::function<void(CLI::App&, Action&)>& setup);

template <class Args>
int run_tool(int argc, char** argv, const ToolInfo& info, void (*setup)(CLI::App&, Args&, Action&)) {
  Args args;
  return run_tool(argc, argv, info, [&](CLI::App& app, Action& action) { setup(app, args, action); });
}

}  // namespace wsss::cli
