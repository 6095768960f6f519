#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "test_util.hpp"
#include "wsss/core/error.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/lock.hpp"

using namespace wsss;
using wsss_test::TempDir;

namespace {

long holder_pid(const fs::path& file) { return nlohmann::json::parse(read_file(file)).at("pid").get<long>(); }

// A child process that takes the lock, reports, and waits to be killed.
pid_t hold_in_child(const fs::path& dir, const std::string& suffix) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    try {
      OutputLock lock(dir, suffix, "wsss-child");
      char c = 'y';
      (void)!write(fds[1], &c, 1);
      for (;;) pause();
    } catch (...) {
      char c = 'n';
      (void)!write(fds[1], &c, 1);
    }
    _exit(0);
  }
  close(fds[1]);
  char c = 0;
  REQUIRE(read(fds[0], &c, 1) == 1);
  close(fds[0]);
  REQUIRE(c == 'y');
  return pid;
}

void kill_child(pid_t pid) {
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
}

}  // namespace

TEST_CASE("an output lock names its holder and refuses a second run", "[lock]") {
  TempDir t;
  const fs::path dir = t / "out";
  {
    OutputLock first(dir, "", "wsss-test");
    REQUIRE(fs::exists(dir / ".lock"));
    CHECK(holder_pid(dir / ".lock") == long(getpid()));
    // A second lock, even in this process (another open file), is refused.
    CHECK_THROWS_AS(OutputLock(dir, "", "wsss-test"), LockedError);
    CHECK_THROWS_WITH(OutputLock(dir, "", "wsss-test"),
                      Catch::Contains("in use by wsss-test (pid " + std::to_string(getpid())) &&
                          Catch::Contains(".lock"));
    CHECK_THROWS_AS(OutputLock(dir, ".1-of-2", "wsss-test"), LockedError);
  }
  CHECK_FALSE(fs::exists(dir / ".lock"));  // let go: removed
  CHECK_NOTHROW(OutputLock(dir, "", "wsss-test"));
}

TEST_CASE("shards share a directory but not a shard, and the last one out removes the lock", "[lock]") {
  TempDir t;
  const fs::path dir = t / "out";
  {
    OutputLock one(dir, ".1-of-2", "wsss-test");
    {
      OutputLock two(dir, ".2-of-2", "wsss-test");
      CHECK_THROWS_WITH(OutputLock(dir, ".2-of-2", "wsss-test"), Catch::Contains("shard 2-of-2 is in use by"));
      CHECK_THROWS_WITH(OutputLock(dir, "", "wsss-test"), Catch::Contains("in use by shard 1-of-2: wsss-test"));
    }
    CHECK_FALSE(fs::exists(dir / ".lock.2-of-2"));
    CHECK(fs::exists(dir / ".lock"));  // shard 1 still holds it
  }
  CHECK_FALSE(fs::exists(dir / ".lock"));
  CHECK_FALSE(fs::exists(dir / ".lock.1-of-2"));
}

TEST_CASE("a lock held by another process is refused until that process dies, then taken over", "[lock]") {
  TempDir t;
  const fs::path dir = t / "out";
  pid_t child = hold_in_child(dir, "");
  CHECK(holder_pid(dir / ".lock") == long(child));
  CHECK_THROWS_WITH(OutputLock(dir, "", "wsss-test"), Catch::Contains("(pid " + std::to_string(child)));
  CHECK_THROWS_WITH(OutputLock(dir, ".1-of-3", "wsss-test"), Catch::Contains("a run on the whole directory"));
  kill_child(child);  // SIGKILL: no destructor ran, the file stays, the kernel dropped the lock
  REQUIRE(fs::exists(dir / ".lock"));
  {
    OutputLock taken(dir, "", "wsss-test");
    CHECK(holder_pid(dir / ".lock") == long(getpid()));
  }
  CHECK_FALSE(fs::exists(dir / ".lock"));

  // A shard held elsewhere blocks that shard and the whole directory only.
  child = hold_in_child(dir, ".2-of-2");
  CHECK_THROWS_WITH(OutputLock(dir, ".2-of-2", "wsss-test"), Catch::Contains("(pid " + std::to_string(child)));
  CHECK_THROWS_WITH(OutputLock(dir, "", "wsss-test"), Catch::Contains("shard 2-of-2: wsss-child (pid"));
  CHECK_NOTHROW(OutputLock(dir, ".1-of-2", "wsss-test"));
  kill_child(child);
  CHECK_NOTHROW(OutputLock(dir, ".2-of-2", "wsss-test"));
}

TEST_CASE("a lock file naming a dead process is taken over", "[lock]") {
  TempDir t;
  const fs::path dir = t / "out";
  fs::create_directories(dir);
  write_file_atomic(dir / ".lock", R"({"pid": 2147483000, "host": "elsewhere", "program": "wsss-cam"})" "\n");
  OutputLock lock(dir, "", "wsss-test");
  CHECK(holder_pid(dir / ".lock") == long(getpid()));
}
