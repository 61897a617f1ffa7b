// Copyright 2026 The cancelpool Authors.
//
// The helpers shared by every test package (//tests:test_util): time bounds,
// gates, polling, child processes (RunInChild, SpawnWithStdout), runfiles,
// /proc probes and small checks. Header-only, and free of cancelpool's own
// libraries, so that any test can use it without linking more than it tests:
// helpers that look at a pool's figures are templates over them.
#ifndef CANCELPOOL_TESTS_TEST_UTIL_H_
#define CANCELPOOL_TESTS_TEST_UTIL_H_

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace testing_util {

// --- Build and time bounds ---------------------------------------------------

// True under ASan or TSan: sanitized code runs several times slower, so
// iteration counts are scaled down (`kSanitizer ? small : large`).
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitizer = true;
#else
inline constexpr bool kSanitizer = false;
#endif

#if defined(__SANITIZE_ADDRESS__)
// UBSan's vptr check probes memory through a pipe(2); with no descriptors
// left it reports every virtual call as "invalid vptr" (a false positive of
// the tool, not of the library), so the fd-exhaustion tests skip there.
inline constexpr bool kUbsanNeedsDescriptors = true;
#else
inline constexpr bool kUbsanNeedsDescriptors = false;
#endif

#if defined(__SANITIZE_THREAD__)
// TSan's suppressions (bazel/tsan_suppressions.cc: Abseil's known thread-
// identity false positive) match symbolized frames. A child that is out of
// descriptors, or runs as uid 65534 (which cannot read the build's shared
// libraries under root's cache), cannot symbolize Abseil's frames and
// reports that false positive unsuppressed; those tests skip under TSan.
inline constexpr bool kTsanCannotSymbolize = true;
#else
inline constexpr bool kTsanCannotSymbolize = false;
#endif

// A pool shape for tests parameterised over worker counts and deque sizes
// (a small deque runs the overflow path constantly); the deque capacity is
// set through pool_internal::ThreadPoolTestPeer.
struct PoolParam {
  int workers;
  size_t local_queue_capacity;
};

// "<workers>Workers_Queue<capacity>", for INSTANTIATE_TEST_SUITE_P.
inline std::string PoolParamName(
    const ::testing::TestParamInfo<PoolParam>& info) {
  return std::to_string(info.param.workers) + "Workers_Queue" +
         std::to_string(info.param.local_queue_capacity);
}

// Bound for waits that only a bug can exhaust: a deadlock fails the test
// instead of hanging it.
inline constexpr absl::Duration kLong = absl::Seconds(60);

// Bound for something that must happen promptly (a wake-up, a callback): far
// above any real latency, so only a lost wake-up reaches it.
inline constexpr absl::Duration kPromptly = absl::Seconds(10);

// The value of environment variable `name` as an unsigned number, or
// `fallback` when it is unset or empty (run-length knobs of the long runs).
inline uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

// SplitMix64: the next pseudo-random number from `state` (advanced).
inline uint64_t SplitMix64(uint64_t& state) {
  state += 0x9E3779B97F4A7C15ull;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// --- Gates and polling -------------------------------------------------------

// A task body that announces itself and blocks until released (or kLong).
struct Gate {
  absl::Notification started;
  absl::Notification release;
  void Block() {
    started.Notify();
    release.WaitForNotificationWithTimeout(kLong);
  }
};

// Notifies `n` (if not yet notified) when it goes out of scope: declared
// after a pool, it releases a blocked task before the pool's destructor
// waits for it, also on a test's early-return (failure) paths.
class NotifyAtExit {
 public:
  explicit NotifyAtExit(absl::Notification& n) : n_(n) {}
  ~NotifyAtExit() {
    if (!n_.HasBeenNotified()) n_.Notify();
  }
  NotifyAtExit(const NotifyAtExit&) = delete;
  NotifyAtExit& operator=(const NotifyAtExit&) = delete;

 private:
  absl::Notification& n_;
};

// Spins (yielding) until `done()` is true; false if `limit` passed first.
inline bool PollUntil(const std::function<bool()>& done,
                      absl::Duration limit = kLong) {
  const absl::Time deadline = absl::Now() + limit;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// Spins until `token` (a CancellationToken) is cancelled; false after kLong.
template <typename Token>
bool SpinUntilCancelled(const Token& token) {
  return PollUntil([&token] { return token.IsCancellationRequested(); });
}

// --- Checks on a pool's figures ----------------------------------------------

// The accounting identity of PoolStats: every submitted task ended one way.
template <typename Stats>
void ExpectStatsAddUp(const Stats& s) {
  EXPECT_EQ(s.submitted, s.completed + s.failed + s.cancelled_before_start +
                             s.cancelled_while_running + s.rejected +
                             s.shed_queue_delay)
      << "submitted=" << s.submitted << " completed=" << s.completed
      << " shed_queue_delay=" << s.shed_queue_delay << " failed=" << s.failed
      << " cancelled_before_start=" << s.cancelled_before_start
      << " cancelled_while_running=" << s.cancelled_while_running
      << " rejected=" << s.rejected;
}

// Counts its own destruction into `*count` (once: a moved-from one does not
// count), so a test sees that a callable holding it was destroyed.
struct DestructionCounter {
  explicit DestructionCounter(std::atomic<int>* c) : count(c) {}
  DestructionCounter(DestructionCounter&& o) noexcept
      : count(std::exchange(o.count, nullptr)) {}
  ~DestructionCounter() {
    if (count != nullptr) count->fetch_add(1);
  }
  std::atomic<int>* count;
};

// True if `p` is a multiple of `alignment`. The address goes through an
// empty asm statement so that the compiler cannot fold the check from the
// declared alignment of the object's type.
[[gnu::noinline]] inline bool IsAligned(const void* p, std::size_t alignment) {
  std::uintptr_t v = reinterpret_cast<std::uintptr_t>(p);
  asm volatile("" : "+r"(v));
  return v % alignment == 0;
}

// --- This process, from /proc ------------------------------------------------

// Number of threads of this process whose name starts with `prefix`; -1 if
// /proc cannot be read.
inline int CountThreadsNamed(const std::string& prefix) {
  int n = 0;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    if (!prefix.empty()) {
      std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
      std::string name;
      std::getline(comm, name);
      if (name.rfind(prefix, 0) != 0) continue;
    }
    ++n;
  }
  closedir(dir);
  return n;
}

// Number of threads of this process; -1 if /proc cannot be read.
inline int CountThreads() { return CountThreadsNamed(""); }

// Resident set size in bytes, from /proc/self/statm; -1 if unreadable.
inline long ResidentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  long pages_total = 0;
  long pages_resident = 0;
  const int n = std::fscanf(f, "%ld %ld", &pages_total, &pages_resident);
  std::fclose(f);
  return n == 2 ? pages_resident * sysconf(_SC_PAGESIZE) : -1;
}

// Virtual size in bytes, from /proc/self/statm; -1 if unreadable.
inline long VirtualBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  long pages_total = 0;
  const int n = std::fscanf(f, "%ld", &pages_total);
  std::fclose(f);
  return n == 1 ? pages_total * sysconf(_SC_PAGESIZE) : -1;
}

// --- Child processes ---------------------------------------------------------

// How a child process run by RunInChild ended.
struct ChildResult {
  bool timed_out = false;  // still running at the limit; it was SIGKILLed
  int exit_code = -1;      // valid when exited
  int signal = 0;          // the signal that ended it, or 0
  bool exited() const { return !timed_out && signal == 0; }
  bool ok() const { return exited() && exit_code == 0; }
  std::string ToString() const {
    if (timed_out) return "child hung (killed at the time limit)";
    if (signal != 0) return "child died of signal " + std::to_string(signal);
    return "child exited with status " + std::to_string(exit_code);
  }
};

// Runs `body` in a fork()ed child and waits for it at most `limit`: a hang
// becomes a test failure, not a hung test run. The child exits with
// `body`'s return value through _exit() (no static destructors, no gtest
// teardown), unless `body` exits itself. Use it for anything that can hang,
// crash the process on purpose, or needs rlimits (set them inside `body`).
// Fork from a test with no pool of its own running (docs/fork.md), unless
// forking from a busy pool is what it tests.
inline ChildResult RunInChild(const std::function<int()>& body,
                              absl::Duration limit = kLong) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return ChildResult{};
  if (pid == 0) {
    int rc = 99;
    try {
      rc = body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: uncaught %s: %s\n", typeid(e).name(),
                   e.what());
      rc = 98;
    } catch (...) {
      std::fprintf(stderr, "child: uncaught exception of unknown type\n");
      rc = 98;
    }
    std::fflush(nullptr);
    _exit(rc);
  }
  ChildResult result;
  const absl::Time deadline = absl::Now() + limit;
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
      if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
      return result;
    }
    if (r < 0) return result;
    if (absl::Now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      result.timed_out = true;
      return result;
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
}

// --- Thread limits in a child ------------------------------------------------

// RLIMIT_NPROC bounds the threads of every process of a user, but root
// ignores it: a test that makes thread creation fail switches a forked child
// to this unprivileged user first, which only root may do. Such tests skip
// unless CanLimitThreadsInChild(), with kCannotLimitThreadsMessage; under
// TSan, those whose child may report Abseil's frames also skip
// (kTsanCannotSymbolize).
inline constexpr uid_t kUnprivilegedUid = 65534;  // "nobody"
inline bool CanLimitThreadsInChild() { return getuid() == 0; }
inline constexpr char kCannotLimitThreadsMessage[] =
    "needs root to switch to an unprivileged user whose thread count "
    "RLIMIT_NPROC can limit";

// In a forked child only (it changes the process for good): becomes
// kUnprivilegedUid if root, then sets RLIMIT_NPROC's soft limit to `limit`
// (the threads this process may have in all, counting itself while it is
// the user's only process) and, with `lower_hard`, the hard limit too. The
// soft limit it replaced goes to `*previous` (if not null): without
// `lower_hard` the child may set it back with RestoreThreadLimitInChild.
// False if any step failed.
inline bool LimitThreadsInChild(rlim_t limit, bool lower_hard = true,
                                rlim_t* previous = nullptr) {
  if (getuid() == 0 && setuid(kUnprivilegedUid) != 0) return false;
  rlimit lim{};
  if (getrlimit(RLIMIT_NPROC, &lim) != 0) return false;
  if (previous != nullptr) *previous = lim.rlim_cur;
  lim.rlim_cur = limit;
  if (lower_hard) lim.rlim_max = limit;
  return setrlimit(RLIMIT_NPROC, &lim) == 0;
}

// Sets RLIMIT_NPROC's soft limit back to `previous` (from
// LimitThreadsInChild with lower_hard = false). False if it failed.
inline bool RestoreThreadLimitInChild(rlim_t previous) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NPROC, &lim) != 0) return false;
  lim.rlim_cur = previous;
  return setrlimit(RLIMIT_NPROC, &lim) == 0;
}

// Starts the program `argv[0]` with arguments `argv[1..]` (fork + execv)
// with its stdout on a pipe. Returns its pid and sets `*stdout_fd` to the
// pipe's read end (close-on-exec; the caller closes it), or returns -1 if
// the pipe or the fork failed. A failed exec exits the child with 127. The
// child makes only async-signal-safe calls between fork and exec.
inline pid_t SpawnWithStdout(const std::vector<std::string>& argv,
                             int* stdout_fd) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return -1;
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);  // dup2 clears O_CLOEXEC on the copy
    execv(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  *stdout_fd = fds[0];
  return pid;
}

// The path of a file of this workspace that a test has in its `data`
// (`path` relative to the workspace root, e.g. "tests/signal/x"): under
// Bazel's test runner, in the runfiles tree; otherwise `path` itself, which
// `bazel run` (whose working directory is the runfiles tree) and ctest
// (whose working directory is the build tree, where helper binaries sit at
// their sources' paths) both resolve.
inline std::string RunfilePath(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  if (srcdir != nullptr && ws != nullptr) {
    return std::string(srcdir) + "/" + ws + "/" + path;
  }
  return path;
}

}  // namespace testing_util
}  // namespace cancelpool

#endif  // CANCELPOOL_TESTS_TEST_UTIL_H_
