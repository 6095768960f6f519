#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#include "tool.hpp"
#include "validators.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/log.hpp"
#include "wsss/core/parallel.hpp"
#include "wsss/core/progress.hpp"
#include "wsss/core/provenance.hpp"
#include "wsss/core/ranks.hpp"
#include "wsss/core/version.hpp"

namespace wsss::cli {

namespace {

std::vector<std::string>& recorded_command_line() {
  static std::vector<std::string> argv;
  return argv;
}

// Progress on stderr, prefixed like every log line: redrawn in place on a
// terminal (every 0.2 s), a full line every 10 s otherwise so that cluster
// logs stay readable.
void install_stderr_progress() {
  const bool tty = isatty(fileno(stderr)) != 0;
  ProgressHandler handler;
  handler.interval_seconds = tty ? 0.2 : 10.0;
  handler.show = [tty](const ProgressUpdate& u) {
    if (!log::enabled(log::Level::Info)) return;
    if (tty) {
      std::string out = "\r" + log::program() + ": " + u.text() + "\033[K" + (u.final ? "\n" : "");
      std::fwrite(out.data(), 1, out.size(), stderr);
      std::fflush(stderr);
    } else {
      log::write(log::Level::Info, u.text());
    }
  };
  set_progress_handler(std::move(handler));
}

// This process's data-parallel rank (0 when the variables are malformed:
// cli::run_training reports them).
int rank_from_environment() {
  try {
    return Ranks::from_environment().rank;
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

const std::vector<std::string>& command_line() { return recorded_command_line(); }

void describe(CLI::App& app, const std::string& description, const std::string& example,
              const std::string& see_also) {
  app.description(description);
  std::string footer = "e.g.: " + example;
  if (!see_also.empty()) footer += "\nSee also: " + see_also;
  app.footer(footer);
}

int run_tool(int argc, char** argv, const ToolInfo& info,
             const std::function<void(CLI::App&, Action&)>& setup) {
  tune_runtime_environment(argv);
  // Past a file size limit (ulimit -f) the kernel would kill the process with
  // SIGXFSZ and no message; ignored, the write fails with EFBIG and the
  // library reports it (DiskFullError: one line naming the file, exit 1).
  std::signal(SIGXFSZ, SIG_IGN);
  log::set_program(info.name);
  recorded_command_line().assign(argv, argv + argc);
  install_stderr_progress();

  CLI::App app;
  app.name(info.name);
  describe(app, info.description, info.example, info.see_also);
  app.set_version_flag("--version", [name = info.name] { return version_report(name); });
  app.set_help_all_flag("--help-all", "Print help for the program and all its subcommands, then exit");
  app.option_defaults()->always_capture_default();
  Action action;
  try {
    setup(app, action);
    require_finite_floats(app);
  } catch (const std::exception& e) {
    log::error("internal: ", e.what());
    return kExitFailure;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::CallForVersion& v) {
    std::cout << v.what();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    log::error(e.what());
    std::fprintf(stderr, "Run '%s --help' for usage.\n", info.name.c_str());
    return kExitUsage;
  } catch (const UsageError& e) {  // an option value rejected by a library parser (->each callbacks)
    log::error(e.what());
    std::fprintf(stderr, "Run '%s --help' for usage.\n", info.name.c_str());
    return kExitUsage;
  } catch (const std::exception& e) {
    log::error(first_line(e.what()));
    return kExitFailure;
  }
  if (!action) {
    std::cerr << app.help();
    return kExitUsage;
  }
  // -q must already silence the echo of the command line, which comes first.
  for (const CLI::App* a = &app; a != nullptr;) {
    const CLI::Option* quiet = a->get_option_no_throw("--quiet");
    if (quiet && quiet->count() > 0) log::set_level(log::Level::Warn);
    auto subs = a->get_subcommands();
    a = subs.empty() ? nullptr : subs.front();
  }
  int code;
  try {
    // The ranks of a data-parallel run (training) start with the same line: rank 0 says it.
    if (rank_from_environment() == 0)
      log::info(quoted_command_line(command_line()), "  [", project_version(), " ", git_describe(), "]");
    code = action();
  } catch (const UsageError& e) {
    log::error(e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    log::error(first_line(e.what()));
    code = kExitFailure;
  }
  // Results go to stdout: make sure they all got there (samtools' rule).
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    log::error("error writing to standard output");
    return kExitFailure;
  }
  std::cout.flush();
  if (!std::cout) {
    log::error("error writing to standard output");
    return kExitFailure;
  }
  return code;
}

}  // namespace wsss::cli
