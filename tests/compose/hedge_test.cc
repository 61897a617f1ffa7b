// Copyright 2026 The cancelpool Authors.
//
// Hedge: the second attempt starts after the delay, the first success wins,
// the loser is cancelled while running; failures retry at once; bad input;
// the request's parent and deadline; cancelling the hedge.
#include "cancelpool/pool/hedge.h"

#include <atomic>

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

TEST(HedgeTest, FastFirstAttemptNeedsNoHedge) {
  ThreadPool pool(2);
  std::atomic<int> calls{0};
  auto f = Hedge(pool, absl::Seconds(30), 3, [&](CancellationToken) {
    ++calls;
    return 11;
  });
  EXPECT_EQ(*f.Get(), 11);
  EXPECT_EQ(calls.load(), 1);
}

TEST(HedgeTest, SlowFirstAttemptIsHedgedAndCancelled) {
  ThreadPool pool(2);
  std::atomic<bool> first_cancelled{false};
  absl::Notification first_done;
  auto f = Hedge(pool, absl::Milliseconds(5), 2,
                 [&](CancellationToken t, int attempt) -> absl::StatusOr<int> {
                   if (attempt == 0) {
                     if (SleepFor(t, kLong) == WaitResult::kCancelled) {
                       first_cancelled = true;
                     }
                     first_done.Notify();
                     return t.Reason();
                   }
                   return 100 + attempt;
                 });
  EXPECT_EQ(*f.Get(), 101);
  ASSERT_TRUE(first_done.WaitForNotificationWithTimeout(kLong));
  EXPECT_TRUE(first_cancelled.load());
}

TEST(HedgeTest, FailureRetriesAtOnceThenLastErrorWins) {
  ThreadPool pool(2);
  std::atomic<int> calls{0};
  auto f =
      Hedge(pool, absl::Seconds(30), 3,
            [&](CancellationToken, int attempt) -> absl::StatusOr<int> {
              ++calls;
              return absl::UnavailableError(attempt == 2 ? "last" : "earlier");
            });
  absl::StatusOr<int> r = f.Get();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(f.Outcome(), TaskOutcome::kFailed);
}

TEST(HedgeTest, BadInput) {
  ThreadPool pool(1);
  auto f = Hedge(pool, absl::Milliseconds(1), 0,
                 [](CancellationToken) { return 1; });
  EXPECT_EQ(f.Get().status().code(), absl::StatusCode::kInvalidArgument);
  auto g = Hedge(pool, absl::Milliseconds(-1), 2,
                 [](CancellationToken) { return 1; });
  EXPECT_EQ(g.Get().status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(HedgeTest, CancellingTheHedgeCancelsAttempts) {
  ThreadPool pool(2);
  std::atomic<int> cancelled{0};
  auto f = Hedge(pool, absl::Milliseconds(1), 3, [&](CancellationToken t) {
    if (SleepFor(t, kLong) == WaitResult::kCancelled) ++cancelled;
    return 0;
  });
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_TRUE(f.Cancel());
  EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  pool.Shutdown();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  PoolStats s = pool.Stats();
  EXPECT_EQ(static_cast<uint64_t>(cancelled.load()) + s.cancelled_before_start,
            s.submitted);
}

TEST(HedgeTest, ParentCancelledResolvesCancelled) {
  ThreadPool pool(2);
  CancellationSource request;
  HedgeOptions options;
  options.parent = request.Token();
  auto f = Hedge(
      pool, absl::Milliseconds(1), 2,
      [](CancellationToken t) -> absl::StatusOr<int> {
        SleepFor(t, kLong);
        return t.Reason();
      },
      options);
  absl::SleepFor(absl::Milliseconds(10));
  request.RequestCancellation(absl::CancelledError("client gone"));
  absl::StatusOr<int> r = f.Get();
  EXPECT_EQ(r.status().message(), "client gone");
  EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
}

TEST(HedgeTest, DeadlineHonoured) {
  ThreadPool pool(2);
  HedgeOptions options;
  options.deadline = absl::Now() + absl::Milliseconds(30);
  auto f = Hedge(
      pool, absl::Milliseconds(5), 100,
      [](CancellationToken t) -> absl::StatusOr<int> {
        SleepFor(t, kLong);
        return t.Reason();
      },
      options);
  absl::StatusOr<int> r = f.Get();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  pool.Shutdown();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_LT(pool.Stats().submitted, 100u);
}

TEST(HedgeTest, DroppedFutureStillResolvesEverything) {
  ThreadPool pool(2);
  for (int i = 0; i < (testing_util::kSanitizer ? 50 : 500); ++i) {
    Hedge(pool, absl::Microseconds(50), 3, [](CancellationToken t, int a) {
      if (a == 0) SleepFor(t, absl::Microseconds(200));
      return a;
    });
  }
  EXPECT_TRUE(pool.WaitForIdle(absl::Now() + kLong));
  pool.Shutdown();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_TRUE(pool.Report().terminated);
}

}  // namespace
}  // namespace cancelpool
