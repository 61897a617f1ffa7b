// Copyright 2026 The cancelpool Authors.
//
// Small helpers shared by the tests.
#ifndef CANCELPOOL_TESTS_TEST_UTIL_H_
#define CANCELPOOL_TESTS_TEST_UTIL_H_

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <string>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace cancelpool {
namespace testing_util {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitizer = true;
#else
inline constexpr bool kSanitizer = false;
#endif

// Bound for waits that only a bug can exhaust: a deadlock fails the test
// instead of hanging it.
inline constexpr absl::Duration kLong = absl::Seconds(60);

// A task body that announces itself and blocks until released (or kLong).
struct Gate {
  absl::Notification started;
  absl::Notification release;
  void Block() {
    started.Notify();
    release.WaitForNotificationWithTimeout(kLong);
  }
};

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
// Fork from a test with no pool of its own running (docs/fork.md).
inline ChildResult RunInChild(const std::function<int()>& body,
                              absl::Duration limit = kLong) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return ChildResult{};
  if (pid == 0) {
    int rc = 99;
    try {
      rc = body();
    } catch (...) {
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

}  // namespace testing_util
}  // namespace cancelpool

#endif  // CANCELPOOL_TESTS_TEST_UTIL_H_
