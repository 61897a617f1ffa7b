// Copyright 2026 The cancelpool Authors.
//
// Future::Then: value and Result forms, failure and cancellation
// propagation, upstream cancellation of a chain, shutdown, races.
#include <atomic>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

using testing_util::Gate;
using testing_util::kLong;
using testing_util::RunInChild;

TEST(ThenTest, ChainsValues) {
  ThreadPool pool(2);
  Future<int> a = pool.Submit([] { return 20; });
  Future<int> b = std::move(a).Then(pool, [](int v) { return v + 1; });
  Future<std::string> c =
      std::move(b).Then(pool, [](int v) { return std::to_string(v * 2); });
  absl::StatusOr<std::string> r = c.Get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "42");
  EXPECT_FALSE(a.IsValid());
}

TEST(ThenTest, VoidAndTokenForms) {
  ThreadPool pool(2);
  std::atomic<int> seen{0};
  Future<void> a = pool.Submit([&] { seen = 1; });
  Future<int> b = std::move(a).Then(pool, [&](CancellationToken token) {
    EXPECT_FALSE(token.IsCancellationRequested());
    return seen.load() + 1;
  });
  EXPECT_EQ(*b.Get(), 2);
}

TEST(ThenTest, FailurePropagatesWithoutRunning) {
  ThreadPool pool(2);
  std::atomic<bool> ran{false};
  Future<int> a = pool.Submit(
      []() -> absl::StatusOr<int> { return absl::NotFoundError("x"); });
  Future<int> b = std::move(a).Then(pool, [&](int v) {
    ran = true;
    return v;
  });
  absl::StatusOr<int> r = b.Get();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(b.Outcome(), TaskOutcome::kFailed);
  EXPECT_FALSE(ran.load());
}

TEST(ThenTest, ResultFormSeesFailures) {
  ThreadPool pool(2);
  Future<int> a = pool.Submit(
      []() -> absl::StatusOr<int> { return absl::NotFoundError("x"); });
  Future<int> b = std::move(a).Then(
      pool, [](absl::StatusOr<int> r) { return r.ok() ? *r : -1; });
  EXPECT_EQ(*b.Get(), -1);
}

TEST(ThenTest, CancelledAntecedentCancelsContinuation) {
  // Everything the tasks touch is declared before the pool, so that it
  // outlives the pool's destructor (which joins the worker): the blocker
  // still runs Gate::Block() -- inside absl::Mutex, after release.Notify()
  // woke it -- when the test body reaches its end.
  Gate gate;
  std::atomic<bool> ran{false};
  ThreadPool pool(1);
  Future<void> blocker = pool.Submit([&] { gate.Block(); });
  gate.started.WaitForNotification();
  Future<int> a = pool.Submit([] { return 1; });  // queued behind blocker
  a.Cancel(absl::CancelledError("stop"));
  Future<int> b = std::move(a).Then(pool, [&](int v) {
    ran = true;
    return v;
  });
  // C2 ran on this thread (the antecedent had resolved): b is cancelled
  // with a's reason, before anything else runs.
  EXPECT_TRUE(b.IsReady());
  EXPECT_EQ(b.Outcome(), TaskOutcome::kCancelled);
  EXPECT_EQ(b.Get().status().message(), "stop");
  gate.release.Notify();
  EXPECT_TRUE(blocker.Get().ok());
  ASSERT_TRUE(pool.WaitForIdle(absl::Now() + kLong));
  EXPECT_FALSE(ran.load());
  PoolStats stats = pool.Stats();
  EXPECT_EQ(stats.cancelled_before_start, 2u);  // a and b
  EXPECT_EQ(stats.completed, 1u);               // the blocker
  testing_util::ExpectStatsAddUp(stats);
}

TEST(ThenTest, CancellingTheLastCancelsTheChainUpstream) {
  ThreadPool pool(1);
  Gate gate;
  Future<void> blocker = pool.Submit([&] { gate.Block(); });
  gate.started.WaitForNotification();
  Future<int> a = pool.Submit([] { return 1; });
  CancelHandle a_handle = a.GetCancelHandle();
  Future<int> b = std::move(a).Then(pool, [](int v) { return v + 1; });
  Future<int> c = std::move(b).Then(pool, [](int v) { return v + 1; });
  EXPECT_TRUE(c.Cancel());
  EXPECT_EQ(c.Outcome(), TaskOutcome::kCancelled);
  EXPECT_TRUE(a_handle.IsReady());  // cancelled upstream, never ran
  gate.release.Notify();
  pool.Shutdown();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  ShutdownReport report = pool.Report();
  EXPECT_TRUE(report.terminated);
  EXPECT_EQ(report.stats.cancelled_before_start, 3u);  // a, b, c
}

TEST(ThenTest, AntecedentFromAnotherPoolAndAlreadyResolved) {
  ThreadPool p1(1), p2(1);
  Future<int> a = p1.Submit([] { return 5; });
  a.Wait();
  Future<int> b = std::move(a).Then(p2, [](int v) { return v * 3; });
  EXPECT_EQ(*b.Get(), 15);
}

TEST(ThenTest, EmptyFutureFails) {
  ThreadPool pool(1);
  Future<int> empty;
  Future<int> b = std::move(empty).Then(pool, [](int v) { return v; });
  EXPECT_EQ(b.Get().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ThenTest, AfterShutdownIsRejectedAndCounted) {
  ThreadPool pool(1);
  Gate gate;
  Future<int> a = pool.Submit([&] {
    gate.Block();
    return 1;
  });
  gate.started.WaitForNotification();
  Future<int> b = std::move(a).Then(pool, [](int v) { return v; });
  // The antecedent finishes on a worker during the drain: the continuation
  // is queued from inside the pool and runs.
  pool.Shutdown(ShutdownMode::kDrain);
  gate.release.Notify();
  EXPECT_EQ(*b.Get(), 1);
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_TRUE(pool.Report().terminated);
  EXPECT_EQ(pool.Stats().submitted, 2u);
  EXPECT_EQ(pool.Stats().completed, 2u);
}

TEST(ThenTest, OutsideAntecedentAfterShutdownRejects) {
  ThreadPool p1(1), p2(1);
  Gate gate;
  Future<int> a = p1.Submit([&] {
    gate.Block();
    return 1;
  });
  gate.started.WaitForNotification();
  Future<int> b = std::move(a).Then(p2, [](int v) { return v; });
  p2.Shutdown(ShutdownMode::kDrain);
  gate.release.Notify();
  EXPECT_EQ(b.Get().status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(p2.AwaitTermination(absl::Now() + kLong));
  EXPECT_TRUE(p2.Report().terminated);
  EXPECT_EQ(p2.Stats().rejected, 1u);
}

// A helping wait on a held continuation must not run it early, nor spin.
TEST(ThenTest, WaitInsideTaskOnContinuation) {
  ThreadPool pool(2);
  Future<int> outer = pool.Submit([&pool] {
    Future<int> a = pool.Submit([] { return 2; });
    Future<int> b = std::move(a).Then(pool, [](int v) { return v * 2; });
    return *b.Get();
  });
  EXPECT_EQ(*outer.Get(), 4);
}

TEST(ThenTest, CancelVersusCompleteRace) {
  const int kRounds = testing_util::kSanitizer ? 200 : 2000;
  ThreadPool pool(2);
  for (int i = 0; i < kRounds; ++i) {
    Future<int> a = pool.Submit([] { return 1; });
    Future<int> b = std::move(a).Then(pool, [](int v) { return v + 1; });
    if (i % 2 == 0) b.Cancel();
    absl::StatusOr<int> r = b.Get();
    if (r.ok()) {
      EXPECT_EQ(*r, 2);
    } else {
      EXPECT_EQ(b.Outcome(), TaskOutcome::kCancelled);
    }
  }
  pool.Shutdown();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_TRUE(pool.Report().terminated);
  EXPECT_EQ(pool.Stats().InFlight(), 0u);
}

TEST(ThenTest, CancelShutdownWithPendingChainResolvesEverything) {
  testing_util::ChildResult child = RunInChild([] {
    ThreadPool pool(1);
    Gate gate;
    Future<void> blocker = pool.Submit([&](CancellationToken t) {
      gate.started.Notify();
      while (!t.IsCancellationRequested())
        absl::SleepFor(absl::Milliseconds(1));
    });
    gate.started.WaitForNotification();
    Future<int> a = pool.Submit([] { return 1; });
    Future<int> b = std::move(a).Then(pool, [](int v) { return v; });
    ShutdownReport report =
        pool.DrainThenCancel(absl::ZeroDuration(), absl::Seconds(30));
    if (!report.terminated) return 1;
    if (b.Outcome() != TaskOutcome::kCancelled) return 2;
    if (report.never_ran < 1) return 3;
    return 0;
  });
  EXPECT_TRUE(child.ok()) << child.ToString();
}

}  // namespace
}  // namespace cancelpool
