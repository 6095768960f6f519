#pragma once
// What a run was asked to do, recorded once by the CLI layer so that the library
// can write provenance (meta.json) without threading argv through every call.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace wsss {

struct RunContext {
  std::string program;
  std::vector<std::string> argv;
  nlohmann::ordered_json options = nlohmann::ordered_json::object();  // resolved values
  int threads = 1;
};

RunContext& run_context();
// The command line, shell-quoted, as echoed in the first log line.
std::string quoted_command_line(const std::vector<std::string>& argv);

}  // namespace wsss
