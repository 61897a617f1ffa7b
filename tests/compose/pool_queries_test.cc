// Copyright 2026 The cancelpool Authors.
//
// The executor conveniences of issue 16: WaitForIdle (deadline, token,
// inside a task), IsTerminated, ShutdownReport::never_ran.
#include <atomic>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

using testing_util::Gate;
using testing_util::kLong;

TEST(WaitForIdleTest, ReturnsOnceEverythingResolved) {
  ThreadPool pool(2);
  std::atomic<int> n{0};
  for (int i = 0; i < 1000; ++i) pool.Submit([&] { ++n; });
  EXPECT_TRUE(pool.WaitForIdle(absl::Now() + kLong));
  EXPECT_EQ(n.load(), 1000);
  EXPECT_EQ(pool.Stats().InFlight(), 0u);
  EXPECT_FALSE(pool.IsShutdown());
  // Still usable afterwards.
  EXPECT_EQ(*pool.Submit([] { return 3; }).Get(), 3);
}

TEST(WaitForIdleTest, TimesOutAndHonoursToken) {
  ThreadPool pool(1);
  Gate gate;
  testing_util::NotifyAtExit release(gate.release);
  pool.Submit([&] { gate.Block(); });
  gate.started.WaitForNotification();
  EXPECT_FALSE(pool.WaitForIdle(absl::Now() + absl::Milliseconds(5)));
  CancellationSource source;
  source.RequestCancellation();
  EXPECT_EQ(pool.WaitForIdle(source.Token(), absl::Now() + kLong),
            WaitResult::kCancelled);
  EXPECT_EQ(pool.WaitForIdle(CancellationToken(),
                             absl::Now() + absl::Milliseconds(5)),
            WaitResult::kTimeout);
  gate.release.Notify();
  EXPECT_EQ(pool.WaitForIdle(CancellationToken(), absl::Now() + kLong),
            WaitResult::kReady);
}

TEST(WaitForIdleTest, InsideATaskReturnsAtOnce) {
  ThreadPool pool(1);
  Future<bool> f =
      pool.Submit([&pool] { return pool.WaitForIdle(absl::Now() + kLong); });
  EXPECT_EQ(*f.Get(), false);
}

TEST(IsTerminatedTest, OnlyAfterShutdownAndQuiescence) {
  ThreadPool pool(2);
  EXPECT_FALSE(pool.IsTerminated());
  Gate gate;
  testing_util::NotifyAtExit release(gate.release);
  pool.Submit([&] { gate.Block(); });
  gate.started.WaitForNotification();
  pool.Shutdown();
  EXPECT_FALSE(pool.IsTerminated());
  gate.release.Notify();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_TRUE(pool.IsTerminated());
}

TEST(NeverRanTest, CountsTasksACancelShutdownResolved) {
  ThreadPool pool(1);
  Gate gate;
  Future<void> running = pool.Submit([&](CancellationToken t) {
    gate.started.Notify();
    SleepFor(t, kLong);
  });
  gate.started.WaitForNotification();
  std::vector<Future<int>> queued;
  for (int i = 0; i < 10; ++i) queued.push_back(pool.Submit([i] { return i; }));
  queued[0].Cancel();  // cancelled by its owner: not a shutdown casualty
  ShutdownReport r = pool.DrainThenCancel(absl::ZeroDuration(), kLong);
  EXPECT_TRUE(r.terminated);
  EXPECT_EQ(r.never_ran, 9u);
  EXPECT_EQ(r.stats.cancelled_before_start, 10u);
  for (auto& f : queued) EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
}

TEST(NeverRanTest, ZeroAfterDrain) {
  ThreadPool pool(1);
  for (int i = 0; i < 10; ++i) pool.Submit([] {});
  ShutdownReport r = pool.DrainThenCancel(kLong, kLong);
  EXPECT_TRUE(r.terminated);
  EXPECT_EQ(r.never_ran, 0u);
}

}  // namespace
}  // namespace cancelpool
