#include "training.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "tool.hpp"
#include "validators.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/parallel.hpp"
#include "wsss/core/progress.hpp"
#include "wsss/core/ranks.hpp"

extern char** environ;

namespace wsss::cli {

namespace {

// A TCP port on 127.0.0.1 that nobody listens on now (the kernel's choice).
int free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error(std::string("--nproc: socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    throw Error("--nproc: no free TCP port on 127.0.0.1: " + why);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

volatile sig_atomic_t g_children_count = 0;
pid_t g_children[256];

void forward_signal(int sig) {
  for (sig_atomic_t i = 0; i < g_children_count; ++i)
    if (g_children[i] > 0) ::kill(g_children[i], sig);
}

// torchrun on one machine: this command again as `nproc` processes with
// torchrun's variables (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT); SIGINT and SIGTERM are passed on to them. When
// one fails the others are stopped (SIGTERM). Returns 0 when every rank
// succeeded, else the first failure's exit code (1 or 2; 1 for a signal).
int launch_local_ranks(int nproc, const std::vector<std::string>& command) {
  if (nproc > int(sizeof g_children / sizeof g_children[0]))
    throw UsageError("--nproc " + std::to_string(nproc) + ": at most 256 ranks on one machine");
  const int port = free_local_port();
  log::info("launching ", nproc, " data-parallel ranks on this machine (rendezvous at 127.0.0.1:", port, ")");
  std::vector<std::string> base_env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    if (name != "RANK" && name != "LOCAL_RANK" && name != "WORLD_SIZE" && name != "LOCAL_WORLD_SIZE" &&
        name != "MASTER_ADDR" && name != "MASTER_PORT" && name != "TORCHELASTIC_USE_AGENT_STORE")
      base_env.push_back(entry);
  }
  std::vector<char*> argv;
  for (const std::string& a : command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  struct sigaction forward {}, old_int {}, old_term {};
  forward.sa_handler = forward_signal;
  sigemptyset(&forward.sa_mask);
  ::sigaction(SIGINT, &forward, &old_int);
  ::sigaction(SIGTERM, &forward, &old_term);
  std::vector<pid_t> pids;
  for (int rank = 0; rank < nproc; ++rank) {
    std::vector<std::string> env = base_env;
    env.push_back("RANK=" + std::to_string(rank));
    env.push_back("LOCAL_RANK=" + std::to_string(rank));
    env.push_back("WORLD_SIZE=" + std::to_string(nproc));
    env.push_back("LOCAL_WORLD_SIZE=" + std::to_string(nproc));
    env.push_back("MASTER_ADDR=127.0.0.1");
    env.push_back("MASTER_PORT=" + std::to_string(port));
    std::vector<char*> envp;
    for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) {
      log::error("--nproc: fork: ", std::strerror(errno));
      forward_signal(SIGTERM);
      break;
    }
    if (pid == 0) {
      ::execve("/proc/self/exe", argv.data(), envp.data());
      std::fprintf(stderr, "%s: error: --nproc: cannot run /proc/self/exe: %s\n", log::program().c_str(),
                   std::strerror(errno));
      ::_exit(kExitFailure);
    }
    pids.push_back(pid);
    g_children[g_children_count] = pid;
    g_children_count = g_children_count + 1;
  }
  int code = pids.size() == std::size_t(nproc) ? kExitOk : kExitFailure;
  for (std::size_t left = pids.size(); left > 0;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    int rank = -1;
    for (std::size_t i = 0; i < pids.size(); ++i)
      if (pids[i] == pid) rank = int(i);
    if (rank < 0) continue;
    --left;
    g_children[rank] = -1;
    const int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (exit_code == 0 || code != kExitOk) continue;
    code = exit_code == kExitUsage ? kExitUsage : kExitFailure;
    if (WIFSIGNALED(status))
      log::error("rank ", rank, " was killed by signal ", WTERMSIG(status), "; stopping the other ranks");
    else
      log::error("rank ", rank, " failed (exit ", exit_code, "); stopping the other ranks");
    forward_signal(SIGTERM);
  }
  g_children_count = 0;
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  return code;
}

}  // namespace

void add_train_arguments(CLI::App& app, TrainArgs& args, train::TrainOptions& o, const std::string& manifest_help,
                         const std::string& val_help, const TrainFlagsHelp& help) {
  app.add_option("manifest", args.manifest, manifest_help)->required();
  app.add_option("out_dir", args.out_dir, "Output directory")->required();
  if (!val_help.empty()) app.add_option("--val", args.val, val_help);
  args.unit = help.unit;
  const std::string group = "Training";
  app.add_option("--arch", o.arch, "resnet18, resnet34, resnet50 or resnet101")->group(group);
  app.add_option("--width", o.width, help.width)->group(group);
  app.add_option("--init", o.init, help.init)->group(group);
  app.add_option("--lr", o.lr, help.lr)->check(positive())->group(group);
  app.add_option("--momentum", o.momentum, "SGD momentum")->check(range(0, 1))->group(group);
  app.add_option("--weight-decay", o.weight_decay, "Weight decay")->check(at_least(0))->group(group);
  app.add_option("--poly-power", o.poly_power, "Poly learning-rate decay power")->check(at_least(0))->group(group);
  app.add_option("--batch", o.batch, "Batch size")->check(at_least(1))->group(group);
  app.add_option("--crop", o.crop, "Random crop size")->check(at_least(16))->group(group);
  app.add_option("--loader-threads", o.loader_threads, "Background image-loading threads")
      ->check(at_least(1))->group(group);
  app.add_flag("--resume", o.resume, "Continue from OUT_DIR/checkpoint.* (same options as the first run)")
      ->group(group);
  app.add_option("--stop-after", o.stop_after,
                 "Stop after N " + help.unit + " of the schedule, keeping the checkpoint for --resume (0 = all)")
      ->check(at_least(0))->group(group);
  app.add_option("--save-every", o.save_every, "Write the checkpoint every N " + help.unit + " and after the last")
      ->check(at_least(1))->group(group);
  app.add_option("--nproc", args.nproc,
                 "Data-parallel training on N processes of this machine, each on 1/N of every batch with -j "
                 "threads (torchrun's and srun's ranks need no flag)")
      ->check(at_least(1))->group(group);
  add_common_options(app, args.common, kSeed | kDevice | kClasses | kOverwrite);
}

int run_training(const CLI::App& app, TrainArgs& args, train::TrainOptions& o, const TrainFunction& train,
                 const std::function<void(const train::TrainResult&)>& report) {
  apply_common_options(app, args.common);
  const Ranks ranks = Ranks::from_environment();
  if (args.nproc > 1 && !ranks.distributed()) return launch_local_ranks(args.nproc, command_line());
  if (args.nproc > 1 && !(ranks.source == "torchrun" && ranks.world == args.nproc))
    throw UsageError("--nproc " + std::to_string(args.nproc) + ", but this process is already " + ranks.describe() +
                     ": leave --nproc out under torchrun or srun");
  if (!ranks.distributed()) {
    const char* tasks = std::getenv("SLURM_NTASKS");
    if (tasks != nullptr && std::atoi(tasks) > 1 && std::getenv("SLURM_STEP_ID") == nullptr)
      log::warn("SLURM_NTASKS=", tasks, " but this is the job script, not an srun step: training on one process "
                "(start it with srun for ", tasks, " data-parallel ranks)");
  }
  if (ranks.rank > 0) {
    // Rank 0 reports; the others say only what goes wrong, naming themselves.
    log::set_program(log::program() + "[rank " + std::to_string(ranks.rank) + "]");
    if (args.common.verbose == 0) log::set_level(log::Level::Warn);
  }
  o.ranks = ranks;
  o.seed = args.common.seed;
  o.device = args.common.device;
  o.overwrite = args.common.overwrite;
  o.threads = args.common.resolved_threads();
  if (ranks.distributed() && args.common.threads == 0)  // -j 0: this rank's share of the machine
    o.threads = ranks.cpus_per_task > 0 ? ranks.cpus_per_task : std::max(1, hardware_threads() / ranks.local_world);
  o.provenance = args.common.provenance;
  Manifest manifest = read_manifest(args.manifest);
  Vocabulary vocab = vocabulary_for(manifest.dir, args.common.classes);
  std::optional<Manifest> val;
  if (!args.val.empty()) val = read_manifest(args.val);
  train::TrainResult result = train(manifest, vocab, val ? &*val : nullptr);
  if (ranks.rank > 0) return 0;
  if (report && !result.stopped) report(result);
  // "trained 3 epoch(s) at 1.2 it/s, final loss 0.1234; done 1, skipped 0, failed 0 of 1 in 5.0s"
  const std::string unit = args.unit.substr(0, args.unit.size() - 1) + "(s)";
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.3g it/s", result.steps_per_second);
  if (result.stopped)
    log::info("trained ", result.units_run, " ", unit, " at ", rate,
              " (stopped early, no model yet); done 0, skipped 0, failed 0 of 1 in ", format_duration(result.seconds));
  else
    log::info("trained ", result.units_run, " ", unit, " at ", rate, ", final loss ", result.final_loss,
              "; done 1, skipped 0, failed 0 of 1 in ", format_duration(result.seconds));
  return 0;
}

}  // namespace wsss::cli
