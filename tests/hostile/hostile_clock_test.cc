// Copyright 2026 The cancelpool Authors.
//
// Relative timeouts across a wall-clock step. This binary interposes
// clock_gettime(): CLOCK_REALTIME (and its coarse variant) read the real
// clock plus an offset the test controls, as after an NTP step or a VM
// snapshot/restore. The monotonic clocks are untouched.

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/pool/future.h"
#include "cancelpool/pool/options.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace {
std::atomic<int64_t> g_realtime_offset_ns{0};
}  // namespace

extern "C" int clock_gettime(clockid_t clock, struct timespec* ts) {
  const long rc = syscall(SYS_clock_gettime, clock, ts);
  if (rc != 0) return static_cast<int>(rc);
  if (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE) {
    const int64_t off = g_realtime_offset_ns.load(std::memory_order_relaxed);
    int64_t ns = static_cast<int64_t>(ts->tv_nsec) + off % 1000000000;
    ts->tv_sec += off / 1000000000 + ns / 1000000000;
    ns %= 1000000000;
    if (ns < 0) {
      ns += 1000000000;
      ts->tv_sec -= 1;
    }
    ts->tv_nsec = ns;
  }
  return 0;
}

namespace cancelpool {
namespace {

using testing_util::ChildResult;
using testing_util::Gate;
using testing_util::RunInChild;

// The interposer is in effect: a step shows in CLOCK_REALTIME only.
TEST(HostileClock, InterposerSteps) {
  ChildResult r = RunInChild([] {
    timespec before, after, mono_before, mono_after;
    clock_gettime(CLOCK_REALTIME, &before);
    clock_gettime(CLOCK_MONOTONIC, &mono_before);
    g_realtime_offset_ns = int64_t{5} * 1000000000;
    clock_gettime(CLOCK_REALTIME, &after);
    clock_gettime(CLOCK_MONOTONIC, &mono_after);
    if (after.tv_sec - before.tv_sec < 4) return 2;
    if (mono_after.tv_sec - mono_before.tv_sec > 1) return 3;
    return 0;
  });
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// cancellation.h: WithTimeout: a source "cancelled with DeadlineExceeded
// ... after `timeout`"; options.h TaskOptions::WithTimeout. A timeout is a
// duration: stepping the wall clock forward must not make 2 s timeouts
// expire within half a second, and they still expire afterwards.
TEST(HostileClock, RelativeTimeoutsSurviveWallClockStep) {
  ChildResult r = RunInChild(
      [] {
        Gate gate;
        ThreadPool pool(1);
        auto blocker = pool.Submit([&gate] { gate.Block(); });
        gate.started.WaitForNotification();
        testing_util::NotifyAtExit release_gate(gate.release);
        std::vector<CancellationSource> sources;
        std::vector<Future<int>> tasks;
        for (int i = 0; i < 20; ++i) {
          sources.push_back(CancellationSource::WithTimeout(absl::Seconds(2)));
          tasks.push_back(pool.SubmitWith(
              TaskOptions::WithTimeout(absl::Seconds(2)), [] { return 1; }));
        }
        g_realtime_offset_ns = int64_t{5} * 1000000000;  // step forward 5 s
        // Nudge the timer: a new, unrelated deadline makes it re-read the
        // clock.
        auto nudge = CancellationSource::WithTimeout(absl::Milliseconds(10));
        std::this_thread::sleep_for(
            std::chrono::milliseconds(500));  // monotonic
        int early = 0;
        for (auto& s : sources) early += s.IsCancellationRequested() ? 1 : 0;
        for (auto& t : tasks) early += t.IsReady() ? 1 : 0;
        if (early != 0) return 10 + (early > 50 ? 50 : early);
        // They do expire (monotonic time), within a generous bound.
        const auto end =
            std::chrono::steady_clock::now() + std::chrono::seconds(20);
        for (auto& s : sources) {
          while (!s.IsCancellationRequested()) {
            if (std::chrono::steady_clock::now() > end) return 3;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
          }
        }
        gate.release.Notify();
        for (auto& t : tasks) {
          if (!t.WaitFor(absl::Seconds(20))) return 4;
        }
        return 0;
      },
      absl::Seconds(60));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

}  // namespace
}  // namespace cancelpool
