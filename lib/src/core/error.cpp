#include "wsss/core/error.hpp"

namespace wsss {

InputError::InputError(const std::filesystem::path& file, const std::string& message)
    : Error(file.string() + ": " + message) {}

InputError::InputError(const std::filesystem::path& file, long line, const std::string& message)
    : Error(file.string() + ":" + std::to_string(line) + ": " + message) {}

OutputExistsError::OutputExistsError(const std::filesystem::path& file)
    : Error(file.string() + ": output exists (use --overwrite to replace or --skip-existing to resume)") {}

std::string first_line(const std::string& message) {
  std::size_t end = message.find('\n');
  return end == std::string::npos ? message : message.substr(0, end);
}

}  // namespace wsss
