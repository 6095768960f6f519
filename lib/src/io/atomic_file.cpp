#include "wsss/io/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

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
  if (fd < 0) throw Error(target.string() + ": cannot write: " + std::strerror(errno));
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      throw Error(target.string() + ": write failed: " + std::strerror(err));
    }
    p += n;
    left -= std::size_t(n);
  }
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    throw Error(target.string() + ": write failed: " + std::strerror(err));
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
