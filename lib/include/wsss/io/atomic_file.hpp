#pragma once
// Every output file is written to a temporary file in the same directory and
// renamed into place, so a reader (or a rerun with --skip-existing) never sees a
// half-written file.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace wsss {

namespace fs = std::filesystem;

// A unique temporary name next to `target`, keeping its extension:
// DIR/.<stem>.tmp<pid>-<n><ext>.
fs::path temporary_path_for(const fs::path& target);

// Removes the temporaries of `targets` (names as temporary_path_for makes them)
// that a killed writer left behind, except this process's own; returns how
// many it removed. Stages and trainers call it before they write, over the
// files that are theirs alone, so a resumed run leaves no debris.
std::size_t remove_stale_temporaries(const std::vector<fs::path>& targets);

// Throws the error for a failed write of `target` with errno `err`: a
// DiskFullError for ENOSPC, EDQUOT and EFBIG, else an Error.
[[noreturn]] void throw_write_error(const fs::path& target, const std::string& what, int err);

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
