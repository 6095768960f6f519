#include "validators.hpp"

#include <cmath>
#include <sstream>

namespace wsss::cli {

namespace {

// The shortest text that reads back as the same double ("0.5", "1e-05").
std::string number_text(double v) {
  std::ostringstream os;
  os.precision(15);
  os << v;
  return os.str();
}

// Parses like CLI11 does for a double (the whole string); a value that is not a
// number at all is left to CLI11's own conversion error.
bool parse_number(const std::string& text, double& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return end != nullptr && *end == '\0';
}

constexpr const char* kFiniteName = "FINITE";

CLI::Validator bounded(const std::string& description, const std::string& name,
                       std::function<bool(double)> inside) {
  return CLI::Validator(
      [description, inside](std::string& text) -> std::string {
        double v;
        if (!parse_number(text, v)) return {};
        if (!std::isfinite(v)) return "value " + text + " is not a finite number";
        if (!inside(v)) return "value " + text + " is not " + description;
        return {};
      },
      description, name);
}

}  // namespace

CLI::Validator range(double lo, double hi) {
  return bounded("in [" + number_text(lo) + ", " + number_text(hi) + "]", kFiniteName,
                 [lo, hi](double v) { return v >= lo && v <= hi; });
}

CLI::Validator positive() { return bounded("> 0", kFiniteName, [](double v) { return v > 0; }); }

CLI::Validator at_least(double lo) {
  return bounded(">= " + number_text(lo), kFiniteName, [lo](double v) { return v >= lo; });
}

void require_finite_floats(CLI::App& app) {
  for (CLI::Option* opt : app.get_options()) {
    if (opt->get_type_name().rfind("FLOAT", 0) != 0) continue;
    try {
      opt->get_validator(kFiniteName);
      continue;  // range(), positive() or at_least() is there
    } catch (const CLI::OptionNotFound&) {
    }
    // No description: the help keeps showing a bare FLOAT, which the help test
    // reports as an option without a declared range.
    opt->check(bounded("", kFiniteName, [](double) { return true; }));
  }
  for (CLI::App* sub : app.get_subcommands(std::function<bool(CLI::App*)>())) require_finite_floats(*sub);
}

}  // namespace wsss::cli
