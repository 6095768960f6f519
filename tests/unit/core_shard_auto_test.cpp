#include <catch2/catch.hpp>

#include <cstdlib>
#include <map>
#include <string>

#include "wsss/core/error.hpp"
#include "wsss/core/shard.hpp"

using namespace wsss;

namespace {

// A fake environment: the variables Slurm sets in an array task.
struct Env {
  std::map<std::string, std::string> vars;
  Shard shard() const {
    return Shard::from_array_task([this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    });
  }
};

Env array(const std::string& id, const std::string& min, const std::string& max, const std::string& count) {
  return Env{{{"SLURM_ARRAY_TASK_ID", id},
              {"SLURM_ARRAY_TASK_MIN", min},
              {"SLURM_ARRAY_TASK_MAX", max},
              {"SLURM_ARRAY_TASK_COUNT", count},
              {"SLURM_ARRAY_TASK_STEP", "1"}}};
}

}  // namespace

TEST_CASE("shard auto: maps a Slurm array task onto its shard", "[shard]") {
  // --array=1-4: task ids are the shard numbers.
  for (int j = 1; j <= 4; ++j) {
    Shard s = array(std::to_string(j), "1", "4", "4").shard();
    CHECK(s.index == j);
    CHECK(s.count == 4);
  }
  // --array=0-3: the same four shards, numbered from zero.
  CHECK(array("0", "0", "3", "4").shard().str() == "1/4");
  CHECK(array("3", "0", "3", "4").shard().str() == "4/4");
  // A one-task array is the whole set.
  CHECK(array("1", "1", "1", "1").shard().str() == "1/1");
}

TEST_CASE("shard auto: refuses what it cannot map", "[shard]") {
  // Not an array job at all.
  CHECK_THROWS_WITH(Env{}.shard(), Catch::Contains("SLURM_ARRAY_TASK_ID is not set") &&
                                       Catch::Contains("not a Slurm array task"));
  CHECK_THROWS_AS(Env{}.shard(), UsageError);
  // --array=3: a rerun of shard 3 of N would otherwise pass for shard 1 of 1.
  CHECK_THROWS_WITH(array("3", "3", "3", "1").shard(), Catch::Contains("start at 3") && Catch::Contains("--shard J/N"));
  // --array=1,3 or 1-5:2: holes.
  CHECK_THROWS_WITH(array("3", "1", "3", "2").shard(), Catch::Contains("not contiguous"));
  Env stepped = array("3", "1", "5", "3");
  stepped.vars["SLURM_ARRAY_TASK_STEP"] = "2";
  CHECK_THROWS_WITH(stepped.shard(), Catch::Contains("not contiguous"));
  CHECK_THROWS_WITH(array("x", "1", "4", "4").shard(), Catch::Contains("SLURM_ARRAY_TASK_ID='x' is not a whole number"));
  CHECK_THROWS_WITH(array("9", "1", "4", "4").shard(), Catch::Contains("do not contain task 9"));
}

TEST_CASE("shard auto: reads the process environment", "[shard]") {
  ::setenv("SLURM_ARRAY_TASK_ID", "2", 1);
  ::setenv("SLURM_ARRAY_TASK_MIN", "1", 1);
  ::setenv("SLURM_ARRAY_TASK_MAX", "3", 1);
  ::setenv("SLURM_ARRAY_TASK_COUNT", "3", 1);
  CHECK(Shard::parse("auto").str() == "2/3");
  for (const char* v : {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_COUNT"})
    ::unsetenv(v);
  CHECK_THROWS_AS(Shard::parse("auto"), UsageError);
}
