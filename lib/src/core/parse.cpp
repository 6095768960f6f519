#include "wsss/core/parse.hpp"

#include <cmath>
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

}  // namespace wsss
