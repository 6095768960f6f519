#pragma once
// A lock on an output directory, held for the whole of a run, so that two runs
// never write one OUT_DIR at once (docs/robustness.md, "Locks"). It is a file in
// the directory locked with flock(2): the kernel releases it when its process
// ends, however it ends, so a lock left by a killed run is simply taken over by
// the next one. The file holds the holder's pid, host, program and start time,
// and a refused run names them.
//
// A whole-directory run (unsharded stage, trainer) holds OUT_DIR/.lock
// exclusively. A shard J/N holds OUT_DIR/.lock shared (other shards may run
// beside it, a whole-directory run may not) and OUT_DIR/.lock.J-of-N
// exclusively (the same shard may not run twice). The files are removed when
// the last holder lets go.
#include <filesystem>
#include <string>

namespace wsss {

namespace fs = std::filesystem;

class OutputLock {
 public:
  // Creates `dir` if needed and takes the lock; `shard_suffix` is "" for the
  // whole directory or Shard::suffix() (".2-of-4"). Throws LockedError (exit 2) naming
  // the holder when a live run holds it; when the file system cannot lock
  // (flock unsupported), warns once and runs unlocked.
  OutputLock(const fs::path& dir, const std::string& shard_suffix, const std::string& program);
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

  // The lock file this run holds exclusively (.lock or .lock.J-of-N).
  const fs::path& file() const { return own_file_; }

 private:
  fs::path dir_, own_file_, shared_file_;
  int own_fd_ = -1, shared_fd_ = -1;
};

// The lock file names of a directory: ".lock" and ".lock.J-of-N".
fs::path lock_file(const fs::path& dir, const std::string& shard_suffix = "");

}  // namespace wsss
