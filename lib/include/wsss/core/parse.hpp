#pragma once
// Parsers of option values that several stages share. Each throws UsageError
// naming the option and the text; NaN and infinities are never accepted.
#include <string>
#include <vector>

namespace wsss {

// "1.0,0.5,1.5": positive finite numbers, at least one.
std::vector<double> parse_scales(const std::string& text, const std::string& option);

}  // namespace wsss
