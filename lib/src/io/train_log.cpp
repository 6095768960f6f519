#include "wsss/io/train_log.hpp"

#include <cerrno>
#include <cstring>

#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/io/atomic_file.hpp"

namespace wsss {

namespace {

struct ParsedLog {
  std::vector<nlohmann::ordered_json> entries;
  std::vector<std::string> lines;  // the text of each entry, without the newline
};

// The complete lines of a log; an unterminated last line is left out.
ParsedLog parse_log(const std::string& text, const fs::path& file) {
  ParsedLog log;
  std::size_t begin = 0;
  long number = 0;
  while (begin < text.size()) {
    const std::size_t end = text.find('\n', begin);
    if (end == std::string::npos) break;  // being written: not an entry yet
    ++number;
    std::string line = text.substr(begin, end - begin);
    begin = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::ordered_json entry;
    try {
      entry = nlohmann::ordered_json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      throw InputError(file, number, std::string("not JSON: ") + e.what());
    }
    if (!entry.is_object()) throw InputError(file, number, "a log entry must be a JSON object");
    if (!entry.contains("iteration") || !entry["iteration"].is_number())
      throw InputError(file, number, "a log entry needs a numeric \"iteration\"");
    log.entries.push_back(std::move(entry));
    log.lines.push_back(std::move(line));
  }
  return log;
}

}  // namespace

TrainLogWriter::TrainLogWriter(fs::path file, long long keep_through) : file_(std::move(file)) {
  std::string kept;
  if (keep_through >= 0 && fs::exists(file_)) {
    ParsedLog old;
    try {
      old = parse_log(read_file(file_), file_);
    } catch (const InputError& e) {
      // A damaged log must not stop a training from resuming: start it afresh.
      log::warn(e.what(), "; the training log starts again");
    }
    for (std::size_t i = 0; i < old.entries.size(); ++i) {
      if (old.entries[i]["iteration"].get<double>() > double(keep_through)) continue;
      kept += old.lines[i] + "\n";
      if (old.entries[i].contains("seconds") && old.entries[i]["seconds"].is_number())
        seconds_before_ = old.entries[i]["seconds"].get<double>();
    }
  }
  write_file_atomic(file_, kept);
  out_ = std::fopen(file_.c_str(), "ab");
  if (!out_) throw Error(file_.string() + ": cannot append: " + std::strerror(errno));
}

TrainLogWriter::~TrainLogWriter() {
  if (out_) std::fclose(out_);
}

void TrainLogWriter::append(const nlohmann::ordered_json& entry) {
  const std::string line = entry.dump() + "\n";
  if (std::fwrite(line.data(), 1, line.size(), out_) != line.size() || std::fflush(out_) != 0)
    throw Error(file_.string() + ": write failed: " + std::strerror(errno));
}

std::vector<nlohmann::ordered_json> read_train_log(const fs::path& file) {
  return parse_log(read_file(file), file).entries;
}

}  // namespace wsss
