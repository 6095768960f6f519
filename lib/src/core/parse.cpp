#include "wsss/core/parse.hpp"

#include <cmath>
#include <set>
#include <sstream>

#include "wsss/core/error.hpp"

namespace wsss {

std::vector<double> parse_scales(const std::string& text, const std::string& option) {
  std::vector<double> out;
  std::stringstream ss(text);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(tok, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != tok.size()) throw UsageError(option + " " + text + ": expected numbers like 1.0,0.5");
    if (!std::isfinite(v) || !(v > 0)) throw UsageError(option + " " + text + ": scales must be positive finite numbers");
    out.push_back(v);
  }
  if (out.empty()) throw UsageError(option + ": no scale given");
  return out;
}

std::vector<std::string> parse_names(const std::string& text, const std::string& option) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  std::size_t begin = 0;
  while (true) {
    const std::size_t comma = text.find(',', begin);
    std::string name = text.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin);
    if (name.empty()) throw UsageError(option + " " + text + ": an empty name");
    if (!seen.insert(name).second) throw UsageError(option + " " + text + ": '" + name + "' given twice");
    names.push_back(std::move(name));
    if (comma == std::string::npos) return names;
    begin = comma + 1;
  }
}

std::pair<double, double> parse_interval(const std::string& text, const std::string& option, bool positive) {
  const std::size_t colon = text.find(':');
  auto number = [&](const std::string& part, double& out) {
    std::size_t used = 0;
    try {
      out = std::stod(part, &used);
    } catch (const std::exception&) {
      return false;
    }
    return used == part.size() && std::isfinite(out);
  };
  double lo = 0, hi = 0;
  if (colon == std::string::npos || !number(text.substr(0, colon), lo) || !number(text.substr(colon + 1), hi))
    throw UsageError(option + " " + text + ": expected LO:HI with finite numbers");
  if (hi < lo) throw UsageError(option + " " + text + ": HI must not be below LO");
  if (positive && !(lo > 0)) throw UsageError(option + " " + text + ": LO must be positive");
  return {lo, hi};
}

bool is_valid_utf8(const std::string& text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    unsigned cp, min;
    if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
    else return false;  // a continuation byte first, or 0xF8..0xFF
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

}  // namespace wsss
