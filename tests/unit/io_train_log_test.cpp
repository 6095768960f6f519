// The trainers' machine-readable log: a fresh run starts it, a resumed run keeps
// the entries up to its checkpoint (dropping what it runs again and a torn last
// line), and a reader rejects what is not a log entry, naming the line.
#include <catch2/catch.hpp>

#include <fstream>

#include "test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/train_log.hpp"

using namespace wsss;
using wsss_test::TempDir;

namespace {

nlohmann::ordered_json step(int iteration, double seconds) {
  nlohmann::ordered_json e;
  e["kind"] = "step";
  e["iteration"] = iteration;
  e["loss"] = 1.0 / iteration;
  e["seconds"] = seconds;
  return e;
}

}  // namespace

TEST_CASE("a resumed training log keeps the entries up to its checkpoint, once", "[io][train_log]") {
  TempDir dir;
  const fs::path file = dir / "train_log.jsonl";
  {
    TrainLogWriter log(file, -1);
    CHECK(log.seconds_before() == 0);
    for (int i = 1; i <= 5; ++i) log.append(step(i, 0.5 * i));
  }
  REQUIRE(read_train_log(file).size() == 5);
  // Killed while writing entry 6: a torn line at the end.
  { std::ofstream(file, std::ios::app) << "{\"kind\":\"step\",\"itera"; }
  CHECK(read_train_log(file).size() == 5);
  {
    TrainLogWriter log(file, 3);  // the checkpoint holds 3 iterations
    CHECK(log.seconds_before() == 1.5);
    for (int i = 4; i <= 6; ++i) log.append(step(i, 10 + i));
  }
  const auto entries = read_train_log(file);
  REQUIRE(entries.size() == 6);
  for (int i = 0; i < 6; ++i) CHECK(entries[std::size_t(i)]["iteration"] == i + 1);
  CHECK(entries[3]["seconds"] == 14);
  CHECK(read_file(file).back() == '\n');
  // A fresh start replaces the log.
  { TrainLogWriter log(file, -1); }
  CHECK(read_train_log(file).empty());
  // Resuming without a log starts one.
  fs::remove(file);
  { TrainLogWriter log(file, 10); }
  CHECK(fs::exists(file));
}

TEST_CASE("a training log line that is not an entry is an error naming the line", "[io][train_log]") {
  TempDir dir;
  const fs::path file = dir / "train_log.jsonl";
  write_file_atomic(file, "{\"kind\":\"step\",\"iteration\":1}\n\n[1,2]\n");
  CHECK_THROWS_WITH(read_train_log(file), Catch::Contains("train_log.jsonl:3: a log entry must be a JSON object"));
  write_file_atomic(file, "{\"kind\":\"step\"}\n");
  CHECK_THROWS_WITH(read_train_log(file), Catch::Contains(":1: a log entry needs a numeric \"iteration\""));
  write_file_atomic(file, "{\"kind\":\"step\",\"iteration\":1}\nnot json\n");
  CHECK_THROWS_WITH(read_train_log(file), Catch::Contains(":2: not JSON"));
  // A damaged log does not stop a resumed training: it starts again.
  { TrainLogWriter log(file, 1); }
  CHECK(read_train_log(file).empty());
}
