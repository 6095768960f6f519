#pragma once
// What a run was asked to do: the program, its command line and the resolved
// option values. The caller (the CLI, or a program that embeds the library)
// fills it once and passes it down to whatever writes meta.json; nothing in the
// library keeps it in a global.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace wsss {

struct Provenance {
  std::string program;
  std::vector<std::string> argv;
  nlohmann::ordered_json options = nlohmann::ordered_json::object();  // resolved values, by option name
};

// The command line, shell-quoted, as echoed in the first log line.
std::string quoted_command_line(const std::vector<std::string>& argv);

}  // namespace wsss
