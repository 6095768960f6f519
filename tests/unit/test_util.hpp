#pragma once
// Small helpers shared by the unit tests: a temporary directory per test case.
#include <filesystem>
#include <random>
#include <string>

namespace wsss_test {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("wsss-unit-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path operator/(const std::string& name) const { return path / name; }
};

}  // namespace wsss_test
