#include <catch2/catch.hpp>

#include "wsss/core/error.hpp"

using namespace wsss;

TEST_CASE("ids in messages are quoted, escaped and cut to a bounded length", "[error]") {
  CHECK(quote_id("2007_000032") == "'2007_000032'");
  CHECK(quote_id("a\nb\tc\x01") == "'a\\nb\\tc\\x01'");
  const std::string mb(1 << 20, 'x');
  const std::string q = quote_id(mb);
  CHECK(q.size() < 100);
  CHECK(q == "'" + std::string(60, 'x') + "...' (1048576 bytes)");
  // A cut never splits a UTF-8 sequence.
  std::string utf8;
  for (int i = 0; i < 40; ++i) utf8 += "\xc3\xa9";  // 80 bytes of "é"
  utf8 += "z";
  const std::string u = quote_id(utf8);
  CHECK(u.find("\xc3...'") == std::string::npos);
  CHECK(u.rfind("'" + std::string(u.substr(1, 60)), 0) == 0);
}

TEST_CASE("log messages are one line of bounded length", "[error]") {
  CHECK(clip_message("plain") == "plain");
  CHECK(clip_message("two\nlines") == "two\\nlines");
  const std::string long_message = "head " + std::string(100000, 'y') + " tail";
  const std::string c = clip_message(long_message, 1000);
  CHECK(c.size() < 1100);
  CHECK(c.rfind("head ", 0) == 0);
  CHECK(c.substr(c.size() - 5) == " tail");
  CHECK(c.find("bytes left out") != std::string::npos);
}
