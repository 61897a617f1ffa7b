// Copyright 2026 The cancelpool Authors.
//
// TaskGroup: the three policies, helping waits inside a worker, the parent
// token, destruction (cancel and join), shutdown in the middle of a fan-out.
#include "cancelpool/pool/task_group.h"

#include <atomic>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

using testing_util::kLong;
using testing_util::RunInChild;

absl::Status SpinUntilCancelled(CancellationToken token) {
  if (SleepFor(token, kLong) == WaitResult::kCancelled) return token.Reason();
  return absl::InternalError("never cancelled");
}

TEST(TaskGroupTest, WaitAllJoinsEveryTask) {
  ThreadPool pool(2);
  std::atomic<int> n{0};
  TaskGroup group(pool, TaskGroup::Policy::kWaitAll);
  std::vector<Future<int>> fs;
  for (int i = 0; i < 100; ++i)
    fs.push_back(group.Run([&n, i] {
      ++n;
      return i;
    }));
  EXPECT_TRUE(group.Wait().ok());
  EXPECT_EQ(n.load(), 100);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(fs[i].IsReady());
  EXPECT_EQ(*fs[42].Get(), 42);
}

TEST(TaskGroupTest, WaitAllReportsFirstFailureButRunsAll) {
  ThreadPool pool(2);
  std::atomic<int> n{0};
  TaskGroup group(pool, TaskGroup::Policy::kWaitAll);
  group.Run([] { return absl::NotFoundError("missing"); });
  for (int i = 0; i < 10; ++i) group.Run([&] { ++n; });
  EXPECT_EQ(group.Wait().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(n.load(), 10);
}

TEST(TaskGroupTest, FailFastCancelsSiblingsAndReturnsFirstError) {
  ThreadPool pool(3);
  TaskGroup group(pool);  // kFailFast
  Future<void> a = group.Run(SpinUntilCancelled);
  Future<void> b = group.Run(SpinUntilCancelled);
  group.Run([] { return absl::UnavailableError("backend 3 down"); });
  absl::Status s = group.Wait();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(a.Outcome(), TaskOutcome::kCancelled);
  EXPECT_EQ(b.Outcome(), TaskOutcome::kCancelled);
}

TEST(TaskGroupTest, FailFastQueuedSiblingsNeverRun) {
  ThreadPool pool(1);
  std::atomic<int> ran{0};
  TaskGroup group(pool);
  group.Run([] { return absl::InternalError("first"); });
  for (int i = 0; i < 50; ++i) group.Run([&] { ++ran; });
  EXPECT_EQ(group.Wait().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(ran.load(), 0);
}

TEST(TaskGroupTest, FirstSuccessCancelsTheRest) {
  ThreadPool pool(3);
  TaskGroup group(pool, TaskGroup::Policy::kFirstSuccess);
  Future<void> slow = group.Run(SpinUntilCancelled);
  group.Run([] { return absl::InternalError("no"); });
  Future<int> good = group.Run([] { return 5; });
  EXPECT_TRUE(group.Wait().ok());
  EXPECT_EQ(*good.Get(), 5);
  EXPECT_EQ(slow.Outcome(), TaskOutcome::kCancelled);
}

TEST(TaskGroupTest, FirstSuccessNoneSucceeded) {
  ThreadPool pool(2);
  TaskGroup group(pool, TaskGroup::Policy::kFirstSuccess);
  EXPECT_EQ(group.Wait().code(), absl::StatusCode::kNotFound);
  group.Run([] { return absl::InternalError("no"); });
  EXPECT_EQ(group.Wait().code(), absl::StatusCode::kInternal);
}

TEST(TaskGroupTest, ParentCancellationReachesChildren) {
  ThreadPool pool(2);
  CancellationSource request;
  TaskGroup group(pool, TaskGroup::Policy::kFailFast, request.Token());
  Future<void> a = group.Run(SpinUntilCancelled);
  request.RequestCancellation(absl::CancelledError("client went away"));
  absl::Status s = group.Wait();
  EXPECT_EQ(s.message(), "client went away");
  EXPECT_EQ(a.Outcome(), TaskOutcome::kCancelled);
}

TEST(TaskGroupTest, WaitInsideWorkerHelpsWithOneWorker) {
  testing_util::ChildResult child = RunInChild([] {
    ThreadPool pool(1);
    Future<int> outer = pool.Submit([&pool] {
      TaskGroup group(pool);
      std::atomic<int> n{0};
      for (int i = 0; i < 20; ++i) {
        group.Run([&n, &pool] {
          // Nested fan-out, also joined by helping.
          TaskGroup inner(pool);
          for (int j = 0; j < 3; ++j) inner.Run([&n] { ++n; });
          return inner.Wait();
        });
      }
      absl::Status s = group.Wait();
      return s.ok() ? n.load() : -1;
    });
    absl::StatusOr<int> r = outer.Get();
    return r.ok() && *r == 60 ? 0 : 1;
  });
  EXPECT_TRUE(child.ok()) << child.ToString();
}

TEST(TaskGroupTest, DestructionCancelsAndJoins) {
  ThreadPool pool(2);
  std::atomic<int> finished{0};
  Future<void> a;
  {
    TaskGroup group(pool);
    a = group.Run([&](CancellationToken t) {
      SleepFor(t, kLong);
      ++finished;
    });
    for (int i = 0; i < 20; ++i)
      group.Run([&](CancellationToken t) {
        SleepFor(t, kLong);
        ++finished;
      });
  }  // cancels and joins
  EXPECT_TRUE(a.IsReady());
  // Every task either ran to its (cancelled) end or never ran.
  PoolStats s = pool.Stats();
  EXPECT_EQ(static_cast<uint64_t>(finished.load()) + s.cancelled_before_start,
            21u);
}

TEST(TaskGroupTest, RunAfterCancelNeverRuns) {
  ThreadPool pool(1);
  TaskGroup group(pool);
  group.Cancel();
  std::atomic<bool> ran{false};
  Future<void> f = group.Run([&] { ran = true; });
  EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  EXPECT_EQ(group.Wait().code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(ran.load());
}

void ShutdownMidFanOut(ShutdownMode mode) {
  testing_util::ChildResult child = RunInChild([mode] {
    ThreadPool pool(2);
    std::atomic<int> ran{0};
    TaskGroup group(pool, TaskGroup::Policy::kWaitAll);
    absl::Notification started;
    for (int i = 0; i < 200; ++i) {
      group.Run([&](CancellationToken t) {
        if (ran.fetch_add(1) == 0) started.Notify();
        SleepFor(t, absl::Microseconds(200));
      });
    }
    started.WaitForNotification();
    pool.Shutdown(mode);
    absl::Status s = group.Wait();
    if (!pool.AwaitTermination(absl::Now() + absl::Seconds(60))) return 1;
    ShutdownReport r = pool.Report();
    if (!r.terminated) return 2;
    if (mode == ShutdownMode::kDrain) {
      if (!s.ok() || ran.load() != 200) return 3;
    } else {
      // Some never ran: the group reports it.
      if (static_cast<uint64_t>(ran.load()) + r.never_ran != 200) return 4;
      if (r.never_ran > 0 && s.ok()) return 5;
    }
    return 0;
  });
  EXPECT_TRUE(child.ok()) << child.ToString();
}

TEST(TaskGroupTest, DrainShutdownMidFanOut) {
  ShutdownMidFanOut(ShutdownMode::kDrain);
}
TEST(TaskGroupTest, CancelShutdownMidFanOut) {
  ShutdownMidFanOut(ShutdownMode::kCancel);
}

TEST(TaskGroupTest, RunAfterShutdownIsAFailure) {
  ThreadPool pool(1);
  pool.Shutdown();
  TaskGroup group(pool);
  Future<void> f = group.Run([] {});
  EXPECT_EQ(f.Get().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(group.Wait().code(), absl::StatusCode::kAborted);
}

}  // namespace
}  // namespace cancelpool
