#pragma once
// Error types and exit codes shared by the whole toolkit. The library throws;
// only the CLI layer turns an exception into a message and an exit code.
#include <filesystem>
#include <stdexcept>
#include <string>

namespace wsss {

// Documented in docs/exit-codes.md.
enum ExitCode : int {
  kExitOk = 0,       // success
  kExitFailure = 1,  // runtime failure, or more failed items than --max-failed
  kExitUsage = 2,    // bad options or arguments
};

// A runtime failure (exit 1). The message is one line and names the file/item.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Bad command-line usage or configuration (exit 2).
struct UsageError : Error {
  using Error::Error;
};

// Bad input data. what() is "FILE:LINE: message" or "FILE: message".
struct InputError : Error {
  InputError(const std::filesystem::path& file, const std::string& message);
  InputError(const std::filesystem::path& file, long line, const std::string& message);
};

// An output that exists and that neither --overwrite nor --skip-existing allows to touch.
struct OutputExistsError : Error {
  explicit OutputExistsError(const std::filesystem::path& file);
};

// Another live run holds the lock of an output directory (io/lock.hpp). Exit 2:
// nothing was done, and running again once the other run ended is the remedy.
struct LockedError : UsageError {
  using UsageError::UsageError;
};

// An id as messages quote it: 'id', or for an id over 80 bytes its first 60
// bytes and its length ('abc…' (1048576 bytes)), with control characters
// escaped, so that one absurd id never makes an error line long or many lines.
std::string quote_id(const std::string& id);

// A message cut to at most `limit` bytes (head, a note of the bytes left out,
// tail), control characters escaped: what the logger writes for any message.
std::string clip_message(const std::string& message, std::size_t limit = 4000);

// A write that failed for lack of room (ENOSPC, EDQUOT, or EFBIG under a file
// size limit): not a fault of one item, so a stage stops at the first one
// instead of failing every remaining item the same way (exit 1).
struct DiskFullError : Error {
  using Error::Error;
};

// Errors are reported on one line; some libraries (LibTorch) append a backtrace.
std::string first_line(const std::string& message);

}  // namespace wsss
