#include "wsss/io/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"

namespace wsss {

namespace {

std::string host_name() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return host;
}

std::string now_text() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// What a lock file says about its holder (empty when it says nothing).
nlohmann::json read_holder(int fd) {
  char buf[1024];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return {};
  try {
    nlohmann::json j = nlohmann::json::parse(std::string(buf, std::size_t(n)));
    return j.is_object() ? j : nlohmann::json();
  } catch (const std::exception&) {
    return {};
  }
}

nlohmann::json read_holder(const fs::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  nlohmann::json j = read_holder(fd);
  ::close(fd);
  return j;
}

std::string describe(const nlohmann::json& holder) {
  if (!holder.is_object() || !holder.contains("pid")) return "another run";
  std::string s = holder.value("program", std::string("a run")) + " (pid " + holder["pid"].dump();
  if (holder.contains("host") && holder["host"] != host_name()) s += " on " + holder.value("host", std::string());
  if (holder.contains("started")) s += ", started " + holder.value("started", std::string());
  return s + ")";
}

// Whether the file at `file` is still the one `fd` has open (a holder that
// lets go unlinks the file before closing it; a run that locked the old file
// must try again on the new one).
bool still_linked(int fd, const fs::path& file) {
  struct stat a{}, b{};
  if (fstat(fd, &a) != 0 || stat(file.c_str(), &b) != 0) return false;
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

enum class Got { Locked, Busy, Unsupported };

// Opens (creating) `file` and flocks it with `how` (LOCK_EX or LOCK_SH),
// without blocking. On Busy or Unsupported fd is closed and -1.
Got try_lock(const fs::path& file, int how, int& fd, int& error) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw Error(file.string() + ": cannot create the lock file: " + std::strerror(errno));
    if (flock(fd, how | LOCK_NB) != 0) {
      error = errno;
      ::close(fd);
      fd = -1;
      return error == EWOULDBLOCK ? Got::Busy : Got::Unsupported;
    }
    if (still_linked(fd, file)) return Got::Locked;
    ::close(fd);  // the holder we waited for removed it: lock the new file
    fd = -1;
  }
  throw Error(file.string() + ": the lock file keeps being replaced");
}

// Tries a few times: a holder that is letting go converts its shared lock to
// an exclusive one for a moment to remove the file, and a new exclusive holder
// writes its details a moment after taking the lock.
Got lock_or_wait_briefly(const fs::path& file, int how, int& fd, int& error, nlohmann::json& holder) {
  for (int attempt = 0;; ++attempt) {
    Got got = try_lock(file, how, fd, error);
    if (got != Got::Busy) return got;
    holder = read_holder(file);
    if (holder.contains("pid") || attempt >= 20) return got;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
}

void write_holder(int fd, const fs::path& file, const std::string& program) {
  // A file with a holder's details that we could lock belonged to a run that
  // ended without letting go (killed): say so, and take it over.
  nlohmann::json previous = read_holder(fd);
  if (previous.contains("pid"))
    log::info(file.string(), ": taking over the stale lock of ", describe(previous), ", which is no longer running");
  nlohmann::json j = {{"pid", long(getpid())}, {"host", host_name()}, {"program", program}, {"started", now_text()}};
  std::string text = j.dump() + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, text.data(), text.size(), 0) != ssize_t(text.size()))
    throw Error(file.string() + ": cannot write the lock file: " + std::strerror(errno));
}

void warn_unsupported(const fs::path& file, int error) {
  static bool warned = false;
  if (warned) return;
  warned = true;
  log::warn(file.string(), ": cannot lock (", std::strerror(error),
            "): this file system does not support flock, so a second run on this directory would not be refused");
}

}  // namespace

fs::path lock_file(const fs::path& dir, const std::string& shard_suffix) { return dir / (".lock" + shard_suffix); }

OutputLock::OutputLock(const fs::path& dir, const std::string& shard_suffix, const std::string& program)
    : dir_(dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir.string() + ": cannot create output directory: " + ec.message());
  const fs::path whole = lock_file(dir);
  int error = 0;
  nlohmann::json holder;
  if (shard_suffix.empty()) {
    own_file_ = whole;
    Got got = lock_or_wait_briefly(whole, LOCK_EX, own_fd_, error, holder);
    if (got == Got::Unsupported) {
      warn_unsupported(whole, error);
      return;
    }
    if (got == Got::Busy) {
      // Held shared: shards are running; name them.
      std::string shards;
      if (!holder.contains("pid"))
        for (const auto& entry : fs::directory_iterator(dir, ec)) {
          const std::string name = entry.path().filename().string();
          if (name.rfind(".lock.", 0) != 0) continue;
          nlohmann::json h = read_holder(entry.path());
          if (h.contains("pid"))
            shards += (shards.empty() ? "" : ", ") + std::string("shard ") + name.substr(6) + ": " + describe(h);
        }
      throw LockedError(dir.string() + ": in use by " + (shards.empty() ? describe(holder) : shards) +
                        " (lock " + whole.string() + "); wait for it to end, or stop it");
    }
    write_holder(own_fd_, whole, program);
    return;
  }
  // A shard: the directory shared, its own file exclusively.
  shared_file_ = whole;
  Got got = lock_or_wait_briefly(whole, LOCK_SH, shared_fd_, error, holder);
  if (got == Got::Unsupported) {
    warn_unsupported(whole, error);
    return;
  }
  if (got == Got::Busy)
    throw LockedError(dir.string() + ": in use by " + describe(holder) + ", a run on the whole directory (lock " +
                      whole.string() + "); wait for it to end, or stop it");
  own_file_ = lock_file(dir, shard_suffix);
  got = lock_or_wait_briefly(own_file_, LOCK_EX, own_fd_, error, holder);
  if (got != Got::Locked) {
    ::close(shared_fd_);
    shared_fd_ = -1;
    if (got == Got::Unsupported) {
      warn_unsupported(own_file_, error);
      return;
    }
    throw LockedError(dir.string() + ": shard " + shard_suffix.substr(1) + " is in use by " + describe(holder) +
                      " (lock " + own_file_.string() + "); wait for it to end, or stop it");
  }
  write_holder(own_fd_, own_file_, program);
}

OutputLock::~OutputLock() {
  // Unlink while still holding the lock, then let go: a run waiting on the old
  // file notices it was unlinked and locks a fresh one.
  if (own_fd_ >= 0) {
    ::unlink(own_file_.c_str());
    ::close(own_fd_);
  }
  if (shared_fd_ >= 0) {
    // The last shard out removes the shared file: only it can turn its shared
    // lock into an exclusive one.
    if (flock(shared_fd_, LOCK_EX | LOCK_NB) == 0 && still_linked(shared_fd_, shared_file_))
      ::unlink(shared_file_.c_str());
    ::close(shared_fd_);
  }
}

}  // namespace wsss
