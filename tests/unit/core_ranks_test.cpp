#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "wsss/core/error.hpp"
#include "wsss/core/ranks.hpp"

using namespace wsss;

namespace {

Ranks ranks_of(const std::map<std::string, std::string>& vars) {
  return Ranks::from_environment([&vars](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

// What srun sets in task `rank` of a 2-node, 4-task job step (SLURM_* as
// printed by `env` in such a step).
std::map<std::string, std::string> srun_step(int rank) {
  return {{"SLURM_JOB_ID", "4711"},          {"SLURM_STEP_ID", "0"},
          {"SLURM_NTASKS", "4"},             {"SLURM_PROCID", std::to_string(rank)},
          {"SLURM_LOCALID", std::to_string(rank % 2)}, {"SLURM_NODEID", std::to_string(rank / 2)},
          {"SLURM_STEP_TASKS_PER_NODE", "2(x2)"}, {"SLURM_STEP_NODELIST", "gpu[07-08]"},
          {"SLURM_JOB_NODELIST", "gpu[03,07-08]"}, {"SLURM_CPUS_PER_TASK", "8"}};
}

}  // namespace

TEST_CASE("ranks: one process without a launcher's variables", "[ranks]") {
  Ranks r = ranks_of({});
  CHECK_FALSE(r.distributed());
  CHECK(r.rank == 0);
  CHECK(r.world == 1);
  CHECK(r.describe() == "one process");
}

TEST_CASE("ranks: torchrun's variables", "[ranks]") {
  Ranks r = ranks_of({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"},
                      {"MASTER_ADDR", "node01"}, {"MASTER_PORT", "29500"}});
  CHECK(r.distributed());
  CHECK(r.source == "torchrun");
  CHECK(r.rank == 3);
  CHECK(r.world == 4);
  CHECK(r.local_rank == 1);
  CHECK(r.local_world == 2);
  CHECK(r.master_addr == "node01");
  CHECK(r.master_port == 29500);
  CHECK_FALSE(r.store_served);
  CHECK(r.describe() == "rank 3 of 4 (torchrun, rendezvous at node01:29500)");

  // Under torchrun's agent the store is served already, under a per-attempt prefix.
  Ranks agent = ranks_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "29400"},
                          {"TORCHELASTIC_USE_AGENT_STORE", "True"}, {"TORCHELASTIC_RESTART_COUNT", "2"}});
  CHECK(agent.store_served);
  CHECK(agent.store_prefix == "/worker/attempt_2");
  CHECK(agent.master_addr == "127.0.0.1");
  CHECK(agent.local_world == 2);

  // torchrun's variables win over Slurm's (torchrun inside an srun step).
  auto both = srun_step(1);
  both["RANK"] = "0";
  both["WORLD_SIZE"] = "2";
  both["MASTER_PORT"] = "1234";
  CHECK(ranks_of(both).source == "torchrun");
}

TEST_CASE("ranks: malformed torchrun variables are usage errors naming them", "[ranks]") {
  CHECK_THROWS_WITH(ranks_of({{"WORLD_SIZE", "2"}, {"MASTER_PORT", "1"}}), Catch::Contains("RANK is not"));
  CHECK_THROWS_WITH(ranks_of({{"WORLD_SIZE", "2"}, {"RANK", "2"}, {"MASTER_PORT", "1"}}),
                    Catch::Contains("RANK=2 is outside 0..1"));
  CHECK_THROWS_WITH(ranks_of({{"WORLD_SIZE", "two"}, {"RANK", "0"}}), Catch::Contains("WORLD_SIZE='two'"));
  CHECK_THROWS_WITH(ranks_of({{"WORLD_SIZE", "2"}, {"RANK", "0"}}), Catch::Contains("MASTER_PORT is not set"));
  CHECK_THROWS_AS(ranks_of({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_PORT", "70000"}}), UsageError);
}

TEST_CASE("ranks: an srun job step", "[ranks]") {
  for (int rank = 0; rank < 4; ++rank) {
    Ranks r = ranks_of(srun_step(rank));
    CHECK(r.source == "slurm");
    CHECK(r.rank == rank);
    CHECK(r.world == 4);
    CHECK(r.local_rank == rank % 2);
    CHECK(r.local_world == 2);
    CHECK(r.master_addr == "gpu07");  // the step's first host, not the job's
    CHECK(r.cpus_per_task == 8);
    CHECK(r.master_port == ranks_of(srun_step(0)).master_port);  // the same everywhere
    CHECK(r.master_port >= 20000);
    CHECK(r.master_port < 32000);
  }
  auto step = srun_step(0);
  step["MASTER_PORT"] = "31000";
  CHECK(ranks_of(step).master_port == 31000);
  // Another step of the job: another port.
  step = srun_step(0);
  step["SLURM_STEP_ID"] = "1";
  CHECK(ranks_of(step).master_port != ranks_of(srun_step(0)).master_port);
  // Without a step node list, the job's.
  step = srun_step(0);
  step.erase("SLURM_STEP_NODELIST");
  CHECK(ranks_of(step).master_addr == "gpu03");
}

TEST_CASE("ranks: a Slurm batch script or a one-task step is one process", "[ranks]") {
  auto batch = srun_step(0);
  batch.erase("SLURM_STEP_ID");  // the job script itself, outside srun
  CHECK_FALSE(ranks_of(batch).distributed());
  auto one = srun_step(0);
  one["SLURM_NTASKS"] = "1";
  CHECK_FALSE(ranks_of(one).distributed());
  auto bad = srun_step(0);
  bad["SLURM_PROCID"] = "4";
  CHECK_THROWS_WITH(ranks_of(bad), Catch::Contains("SLURM_PROCID=4 is outside 0..3"));
}

TEST_CASE("ranks: first host of a Slurm host list", "[ranks]") {
  CHECK(first_slurm_host("vm") == "vm");
  CHECK(first_slurm_host("node[03-05,9],gpu1") == "node03");
  CHECK(first_slurm_host("node[7,3-5]") == "node7");
  CHECK(first_slurm_host("a1,b[2-3]") == "a1");
  CHECK(first_slurm_host("rack[1-2]-node[05-06]") == "rack1-node05");
  CHECK(first_slurm_host("") == "");
  CHECK(first_slurm_host("node[1-2") == "");
}

TEST_CASE("ranks: tasks per node of a Slurm list", "[ranks]") {
  CHECK(slurm_tasks_on_node("2", 0) == 2);
  CHECK(slurm_tasks_on_node("2(x3),1", 2) == 2);
  CHECK(slurm_tasks_on_node("2(x3),1", 3) == 1);
  CHECK(slurm_tasks_on_node("2(x3),1", 4) == 0);
  CHECK(slurm_tasks_on_node("x", 0) == 0);
}
