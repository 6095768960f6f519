#include "wsss/io/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "wsss/core/error.hpp"

namespace wsss {

fs::path temporary_path_for(const fs::path& target) {
  static std::atomic<unsigned long> counter{0};
  // Hidden, unique per process and call, and it keeps the extension so that
  // extension-sniffing encoders still work on the temporary.
  std::string name = "." + target.stem().string() + ".tmp" + std::to_string(getpid()) + "-" +
                     std::to_string(counter++) + target.extension().string();
  return target.parent_path() / name;
}

namespace {

// Splits ".<stem>.tmp<pid>-<n><ext>" into stem, pid and ext; false for other names.
bool parse_temporary_name(const std::string& name, std::string& stem, std::string& pid, std::string& ext) {
  if (name.size() < 8 || name[0] != '.') return false;
  // The last ".tmp<digits>-<digits>" in the name: a stem may itself hold ".tmp".
  for (std::size_t at = name.rfind(".tmp"); at != std::string::npos && at > 0; at = name.rfind(".tmp", at - 1)) {
    std::size_t p = at + 4, q = p;
    while (q < name.size() && std::isdigit(static_cast<unsigned char>(name[q]))) ++q;
    if (q == p || q >= name.size() || name[q] != '-') continue;
    std::size_t r = q + 1, e = r;
    while (e < name.size() && std::isdigit(static_cast<unsigned char>(name[e]))) ++e;
    if (e == r) continue;
    stem = name.substr(1, at - 1);
    pid = name.substr(p, q - p);
    ext = name.substr(e);
    return true;
  }
  return false;
}

}  // namespace

std::size_t remove_stale_temporaries(const std::vector<fs::path>& targets) {
  // Directory -> the (stem, extension) pairs of its targets; one listing each.
  std::map<fs::path, std::set<std::pair<std::string, std::string>>> wanted;
  for (const fs::path& t : targets) wanted[t.parent_path()].emplace(t.stem().string(), t.extension().string());
  const std::string own = std::to_string(getpid());
  std::size_t removed = 0;
  for (const auto& [dir, names] : wanted) {
    std::error_code ec;
    fs::directory_iterator it(dir.empty() ? fs::path(".") : dir, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      std::string stem, pid, ext;
      const std::string name = it->path().filename().string();
      if (!parse_temporary_name(name, stem, pid, ext) || pid == own || !names.count({stem, ext})) continue;
      std::error_code rm;
      if (fs::remove(it->path(), rm)) ++removed;
    }
  }
  return removed;
}

void throw_write_error(const fs::path& target, const std::string& what, int err) {
  const std::string message = target.string() + ": " + what + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) throw DiskFullError(message);
  if (err == EFBIG) throw DiskFullError(message + " (the file size limit, ulimit -f)");
  throw Error(message);
}

static void ensure_parent(const fs::path& target) {
  fs::path parent = target.parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw Error(parent.string() + ": cannot create directory: " + ec.message());
}

void write_file_atomic(const fs::path& target, std::string_view bytes) {
  ensure_parent(target);
  fs::path temp = temporary_path_for(target);
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_write_error(target, "cannot write", errno);
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      throw_write_error(target, "write failed", err);
    }
    p += n;
    left -= std::size_t(n);
  }
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    throw_write_error(target, "write failed", err);
  }
  if (::rename(temp.c_str(), target.c_str()) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    throw Error(target.string() + ": cannot rename into place: " + std::strerror(err));
  }
}

std::string read_file(const fs::path& file) {
  // A directory opens and reads as empty on Linux: "empty manifest" would be
  // the message, not the mistake.
  std::error_code ec;
  if (fs::is_directory(file, ec)) throw InputError(file, "is a directory, not a file");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(file, std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw InputError(file, "read error");
  return ss.str();
}

AtomicFile::AtomicFile(fs::path target) : target_(std::move(target)) {
  ensure_parent(target_);
  temp_ = temporary_path_for(target_);
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

void AtomicFile::commit() {
  if (::rename(temp_.c_str(), target_.c_str()) != 0)
    throw Error(target_.string() + ": cannot rename into place: " + std::strerror(errno));
  committed_ = true;
}

}  // namespace wsss
