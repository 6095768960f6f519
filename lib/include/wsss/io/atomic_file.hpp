#pragma once
// Every output file is written to a temporary file in the same directory and
// renamed into place, so a reader (or a rerun with --skip-existing) never sees a
// half-written file.
#include <filesystem>
#include <string>
#include <string_view>

namespace wsss {

namespace fs = std::filesystem;

// A unique temporary name next to `target`, keeping its extension.
fs::path temporary_path_for(const fs::path& target);

// Writes bytes to target atomically; creates the parent directory.
void write_file_atomic(const fs::path& target, std::string_view bytes);

// Reads a whole file; throws InputError naming the file.
std::string read_file(const fs::path& file);

// For writers that need a stream. The temporary is removed unless commit() ran.
class AtomicFile {
 public:
  explicit AtomicFile(fs::path target);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  const fs::path& temporary() const { return temp_; }
  const fs::path& target() const { return target_; }
  void commit();  // rename into place

 private:
  fs::path target_, temp_;
  bool committed_ = false;
};

}  // namespace wsss
