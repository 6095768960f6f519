#pragma once
// Where this process stands in a data-parallel training run (docs/scale-out.md):
// its rank among the processes of the run, and where rank 0's rendezvous store
// listens. Read from the variables of the launcher that started the process:
// torchrun's (and `--nproc`'s, which sets the same ones) or Slurm's (an `srun`
// job step). Plain values, without LibTorch: train/distributed.hpp joins the
// process group they describe.
#include <functional>
#include <string>

namespace wsss {

struct Ranks {
  int rank = 0;          // this process, 0..world-1
  int world = 1;         // processes in the run (1: no process group)
  int local_rank = 0;    // among those on this machine
  int local_world = 1;   // processes on this machine
  std::string master_addr = "127.0.0.1";  // rank 0's host: the rendezvous store
  int master_port = 0;
  // The store is already served (torchrun's agent, or the --nproc launcher):
  // every rank connects as a client, under this key prefix.
  bool store_served = false;
  std::string store_prefix;
  std::string source;    // "torchrun", "slurm" or "" (one process)
  // The network interface Gloo binds to (GLOO_SOCKET_IFNAME, as in PyTorch);
  // empty: the loopback address when every rank is on this machine, else the
  // address of this machine's hostname.
  std::string interface;
  int cpus_per_task = 0;  // Slurm's SLURM_CPUS_PER_TASK (0: not given)

  bool distributed() const { return world > 1; }
  // "rank 1 of 4 (slurm, rendezvous at node01:29500)"
  std::string describe() const;

  // From the process environment; `getenv` returns nullptr for an unset
  // variable. torchrun's variables (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT,
  // LOCAL_RANK, LOCAL_WORLD_SIZE) when WORLD_SIZE is set; otherwise Slurm's in
  // an srun job step (SLURM_STEP_ID set): SLURM_PROCID, SLURM_NTASKS,
  // SLURM_LOCALID, the first host of SLURM_STEP_NODELIST (or
  // SLURM_JOB_NODELIST), MASTER_PORT or a port derived from the job and step
  // ids; otherwise one process. GLOO_SOCKET_IFNAME in either case. A Slurm batch script outside srun is one
  // process. UsageError naming the variable when one is malformed.
  static Ranks from_environment(const std::function<const char*(const char*)>& getenv);
  static Ranks from_environment();
};

// The first host of a Slurm host list: "node[03-05,9],gpu1" -> "node03".
std::string first_slurm_host(const std::string& nodelist);

// The tasks on node `node` (0-based) of a Slurm tasks-per-node list such as
// "2(x3),1"; 0 when the list is malformed or shorter.
int slurm_tasks_on_node(const std::string& tasks_per_node, int node);

}  // namespace wsss
