// The numeric option checks every binary shares (lib/cli/validators.hpp).
#include <catch2/catch.hpp>

#include <limits>

#include "validators.hpp"

namespace {

// Parses `args` (after the program name) into an app with one option per check.
struct Parsed {
  double in_range = 0.5, positive = 1, at_least = 0, unchecked = 0;
  int count = 0;
};

void parse(Parsed& p, std::vector<std::string> args) {
  CLI::App app;
  app.add_option("--in-range", p.in_range)->check(wsss::cli::range(0.0, 1.0));
  app.add_option("--positive", p.positive)->check(wsss::cli::positive());
  app.add_option("--at-least", p.at_least)->check(wsss::cli::at_least(-2));
  app.add_option("--unchecked", p.unchecked);
  app.add_option("-j", p.count)->check(wsss::cli::at_least(0));
  CLI::App* sub = app.add_subcommand("sub");
  sub->add_option("--sub-value", p.unchecked);
  wsss::cli::require_finite_floats(app);
  std::reverse(args.begin(), args.end());
  app.parse(args);
}

}  // namespace

TEST_CASE("numeric options: NaN, infinities and out-of-range values are usage errors", "[cli]") {
  Parsed p;
  CHECK_NOTHROW(parse(p, {"--in-range", "1", "--positive", "1e-9", "--at-least", "-2", "-j", "3"}));
  CHECK(p.in_range == 1.0);
  CHECK(p.count == 3);
  for (const char* bad : {"nan", "NaN", "inf", "-inf", "-0.01", "1.5"})
    CHECK_THROWS_AS(parse(p, {"--in-range", bad}), CLI::ValidationError);
  CHECK_THROWS_WITH(parse(p, {"--in-range", "nan"}), Catch::Contains("--in-range: value nan is not a finite number"));
  CHECK_THROWS_WITH(parse(p, {"--in-range", "-5"}), Catch::Contains("value -5 is not in [0, 1]"));
  CHECK_THROWS_WITH(parse(p, {"--positive", "0"}), Catch::Contains("value 0 is not > 0"));
  CHECK_THROWS_AS(parse(p, {"--positive", "nan"}), CLI::ValidationError);
  CHECK_THROWS_WITH(parse(p, {"--at-least", "-3"}), Catch::Contains("value -3 is not >= -2"));
  // An integer below its bound gets one short line, not CLI11's 309-digit range.
  CHECK_THROWS_WITH(parse(p, {"-j", "-1"}), Catch::Contains("-j: value -1 is not >= 0"));
  // A floating-point option without a declared range still refuses NaN, in
  // subcommands too.
  CHECK_THROWS_AS(parse(p, {"--unchecked", "nan"}), CLI::ValidationError);
  CHECK_THROWS_AS(parse(p, {"sub", "--sub-value", "inf"}), CLI::ValidationError);
  CHECK_NOTHROW(parse(p, {"--unchecked", "-1e300"}));
}
