#pragma once
// Shared by the libFuzzer targets (docs/robustness.md, "Fuzzing"). Each target
// feeds its bytes to one parser and holds it to the toolkit's contract for bad
// input: return a well-formed value or throw wsss::Error (an InputError naming
// the file), never crash, never trip a sanitizer, never throw anything else
// (a bare std::stoll or nlohmann message names no file). A breach aborts, which
// libFuzzer reports as a crash with the input that caused it.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"

namespace wsss_fuzz {

namespace fs = std::filesystem;

[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "FUZZ CONTRACT BROKEN: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

inline void require(bool ok, const std::string& what) {
  if (!ok) fail(what);
}

// Runs `parse`; a wsss::Error is the expected answer to bad input, and its
// message must name `name` (the file) when `name` is not empty.
template <class F>
void expect_clean(const std::string& name, F&& parse) {
  try {
    parse();
  } catch (const wsss::Error& e) {
    if (!name.empty() && std::string(e.what()).find(name) == std::string::npos)
      fail(std::string("error does not name the file '") + name + "': " + e.what());
  } catch (const std::exception& e) {
    fail(std::string("exception that is not a wsss::Error: ") + typeid(e).name() + ": " + e.what());
  }
}

// A private scratch directory (in /dev/shm when there is one) for the parsers
// that read files; removed at exit.
inline const fs::path& scratch() {
  static const fs::path dir = [] {
    fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    fs::path d = base / ("wsss-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(fs::path((fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path()) /
                              ("wsss-fuzz-" + std::to_string(::getpid()))),
                     ec);
    });
    return d;
  }();
  return dir;
}

// Writes the input to scratch()/name (plainly: the parsers, not the writers, are under test).
inline fs::path input_file(const std::string& name, const std::uint8_t* data, std::size_t size) {
  fs::path file = scratch() / name;
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  out.close();
  if (!out) fail("cannot write the scratch file " + file.string());
  return file;
}

// The library's log lines (warnings about the input) would flood the fuzzer's output.
inline void quiet() {
  static bool once = [] {
    wsss::log::set_level(wsss::log::Level::Error);
    return true;
  }();
  (void)once;
}

}  // namespace wsss_fuzz
