#pragma once
// Parsers of option values that several stages share. Each throws UsageError
// naming the option and the text; NaN and infinities are never accepted.
#include <string>
#include <utility>
#include <vector>

namespace wsss {

// "1.0,0.5,1.5": positive finite numbers, at least one.
std::vector<double> parse_scales(const std::string& text, const std::string& option);

// "a,b,c": comma-separated names (field names, ids), none empty, none twice.
std::vector<std::string> parse_names(const std::string& text, const std::string& option);

// "LO:HI" with finite LO <= HI (and LO > 0 when `positive`); returns {LO, HI}.
std::pair<double, double> parse_interval(const std::string& text, const std::string& option, bool positive = false);

// Whether `text` is well-formed UTF-8 (no stray continuation bytes, truncated
// or overlong sequences, surrogates, or code points above U+10FFFF): what a
// name must be before it is written into JSON, which refuses anything else.
bool is_valid_utf8(const std::string& text);

}  // namespace wsss
