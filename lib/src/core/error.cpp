#include "wsss/core/error.hpp"

namespace wsss {

InputError::InputError(const std::filesystem::path& file, const std::string& message)
    : Error(file.string() + ": " + message) {}

InputError::InputError(const std::filesystem::path& file, long line, const std::string& message)
    : Error(file.string() + ":" + std::to_string(line) + ": " + message) {}

OutputExistsError::OutputExistsError(const std::filesystem::path& file)
    : Error(file.string() + ": output exists (use --overwrite to replace or --skip-existing to resume)") {}

std::string first_line(const std::string& message) {
  std::size_t end = message.find('\n');
  return end == std::string::npos ? message : message.substr(0, end);
}

}  // namespace wsss

namespace wsss {

namespace {

// Appends `text` with control characters (newlines, tabs, escapes) written as \n, \t or \xNN.
void append_escaped(std::string& out, const std::string& text, std::size_t begin, std::size_t end) {
  static const char hex[] = "0123456789abcdef";
  for (std::size_t i = begin; i < end; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != 0x7f) {
      out += char(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
}

// The largest position <= pos that does not split a UTF-8 sequence.
std::size_t utf8_floor(const std::string& s, std::size_t pos) {
  while (pos > 0 && pos < s.size() && (static_cast<unsigned char>(s[pos]) & 0xC0) == 0x80) --pos;
  return pos;
}

bool has_control(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

}  // namespace

std::string quote_id(const std::string& id) {
  constexpr std::size_t kLongest = 80, kShown = 60;
  std::string out = "'";
  if (id.size() <= kLongest) {
    append_escaped(out, id, 0, id.size());
    return out + "'";
  }
  append_escaped(out, id, 0, utf8_floor(id, kShown));
  return out + "...' (" + std::to_string(id.size()) + " bytes)";
}

std::string clip_message(const std::string& message, std::size_t limit) {
  if (message.size() <= limit && !has_control(message)) return message;
  std::string out;
  if (message.size() <= limit) {
    append_escaped(out, message, 0, message.size());
    return out;
  }
  // Head and tail: the program's words are at the start, the reason at the end.
  const std::size_t head = utf8_floor(message, limit * 2 / 3);
  std::size_t tail = utf8_floor(message, message.size() - limit / 4);
  append_escaped(out, message, 0, head);
  out += " [... " + std::to_string(tail - head) + " bytes left out ...] ";
  append_escaped(out, message, tail, message.size());
  return out;
}

}  // namespace wsss
