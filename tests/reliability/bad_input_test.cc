// Copyright 2026 The cancelpool Authors.
//
// Bad input: each misuse gets a clear error and nothing is lost -- the
// callable is destroyed exactly once, the future resolves, and the pool's
// accounting identity holds afterwards.
//   * Submit after Shutdown            -> FailedPrecondition
//   * Submit into a full queue         -> ResourceExhausted (max_queued_tasks)
//   * Cancel on a finished, moved-from or default future -> false
//   * tasks that throw (std::exception, anything else, CancelledException)
//   * waiting on a future from inside the task that produces it (directly,
//     and from a task nested under it by a helping wait)
//   * Get() twice, Get() on an empty future
#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

using ::testing::HasSubstr;

using Probe = testing_util::DestructionCounter;

void ExpectIdentity(ThreadPool& pool) {
  pool.Shutdown(ShutdownMode::kDrain);
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + absl::Seconds(30)));
  const ShutdownReport r = pool.Report();
  EXPECT_TRUE(r.terminated);
  testing_util::ExpectStatsAddUp(r.stats);
}

class BadInput : public ::testing::TestWithParam<int> {};

TEST_P(BadInput, SubmitAfterShutdown) {
  for (ShutdownMode mode : {ShutdownMode::kDrain, ShutdownMode::kCancel}) {
    ThreadPool pool(GetParam());
    pool.Shutdown(mode);
    std::atomic<int> destroyed{0};
    Future<int> f = pool.Submit([p = Probe(&destroyed)] { return 1; });
    ASSERT_TRUE(f.IsReady());
    EXPECT_EQ(f.Outcome(), TaskOutcome::kFailed);
    EXPECT_EQ(destroyed.load(), 1) << "the callable must be released at once";
    const absl::StatusOr<int> r = f.Get();
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("Shutdown"));
    EXPECT_EQ(pool.Stats().rejected, 1u);
    ExpectIdentity(pool);
  }
}

TEST_P(BadInput, FullQueue) {
  ThreadPoolOptions options;
  options.num_workers = GetParam();
  options.max_queued_tasks = 2;
  ThreadPool pool(std::move(options));
  absl::Notification release;
  std::atomic<int> started{0};
  std::vector<Future<void>> blockers;
  // Occupy every worker so the next submits stay queued (one at a time: a
  // blocker counts against max_queued_tasks until it starts).
  for (int i = 0; i < GetParam(); ++i) {
    blockers.push_back(pool.Submit([&] {
      started.fetch_add(1);
      release.WaitForNotification();
    }));
    while (started.load() != i + 1) absl::SleepFor(absl::Microseconds(50));
  }
  std::atomic<int> destroyed{0};
  Future<void> q1 = pool.Submit([p = Probe(&destroyed)] {});
  Future<void> q2 = pool.Submit([p = Probe(&destroyed)] {});
  Future<void> over = pool.Submit([p = Probe(&destroyed)] {});
  ASSERT_TRUE(over.IsReady());
  EXPECT_EQ(over.Outcome(), TaskOutcome::kFailed);
  const absl::Status s = over.Get();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(s.message()), HasSubstr("max_queued_tasks=2"));
  EXPECT_EQ(destroyed.load(), 1);
  release.Notify();
  EXPECT_TRUE(q1.Get().ok());
  EXPECT_TRUE(q2.Get().ok());
  EXPECT_EQ(destroyed.load(), 3);
  // Room again once they ran.
  EXPECT_TRUE(pool.Submit([] {}).Get().ok());
  ExpectIdentity(pool);
  EXPECT_EQ(pool.Stats().rejected, 1u);
}

TEST_P(BadInput, CancelOnFinishedMovedFromAndDefaultFutures) {
  ThreadPool pool(GetParam());
  Future<int> done = pool.Submit([] { return 3; });
  done.Wait();
  EXPECT_FALSE(done.Cancel()) << "finished: no effect, reports false";
  EXPECT_FALSE(done.GetCancelHandle().Cancel());
  EXPECT_EQ(*done.Get(), 3) << "the result is untouched";

  Future<int> source = pool.Submit([] { return 4; });
  Future<int> moved = std::move(source);
  EXPECT_FALSE(source.IsValid());          // NOLINT(bugprone-use-after-move)
  EXPECT_FALSE(source.Cancel());           // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(source.IsReady());           // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(source.Get().status().code(),  // NOLINT(bugprone-use-after-move)
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*moved.Get(), 4);

  Future<int> empty;
  EXPECT_FALSE(empty.IsValid());
  EXPECT_FALSE(empty.Cancel());
  EXPECT_TRUE(empty.IsReady());
  empty.Wait();  // returns at once
  EXPECT_EQ(empty.Outcome(), TaskOutcome::kPending);
  EXPECT_EQ(empty.Get().status().code(), absl::StatusCode::kFailedPrecondition);
  CancelHandle no_handle;
  EXPECT_FALSE(no_handle.Cancel());
  EXPECT_FALSE(no_handle.IsReady());
  ExpectIdentity(pool);
}

TEST_P(BadInput, TasksThatThrow) {
  ThreadPool pool(GetParam());
  std::atomic<int> destroyed{0};
  Future<int> std_exc = pool.Submit([p = Probe(&destroyed)]() -> int {
    throw std::runtime_error("disk on fire");
  });
  Future<void> other = pool.Submit([p = Probe(&destroyed)] { throw 42; });
  Future<void> cancelled_exc = pool.Submit([p = Probe(&destroyed)] {
    throw CancelledException(absl::CancelledError("gave up"));
  });
  const absl::StatusOr<int> r1 = std_exc.Get();
  EXPECT_EQ(std_exc.Outcome(), TaskOutcome::kFailed);
  EXPECT_EQ(r1.status().code(), absl::StatusCode::kUnknown);
  EXPECT_THAT(std::string(r1.status().message()),
              HasSubstr("task threw: disk on fire"));
  const absl::Status r2 = other.Get();
  EXPECT_EQ(other.Outcome(), TaskOutcome::kFailed);
  EXPECT_THAT(std::string(r2.message()),
              HasSubstr("not derived from std::exception"));
  // Thrown without its token being cancelled: a failure that carries the
  // exception's status (future.h, RESULTS: kCancelled only after a
  // cancellation of the task's token).
  const absl::Status r3 = cancelled_exc.Get();
  EXPECT_EQ(cancelled_exc.Outcome(), TaskOutcome::kFailed);
  EXPECT_EQ(r3.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(destroyed.load(), 3);
  // The workers survived.
  EXPECT_EQ(*pool.Submit([] { return 9; }).Get(), 9);
  ExpectIdentity(pool);
}

TEST_P(BadInput, WaitOnOwnFutureFromInside) {
  ThreadPool pool(GetParam());
  auto self = std::make_shared<Future<int>>();
  absl::Notification ready;
  struct Seen {
    bool wait_returned = false;
    bool wait_for = true;
    absl::Status get;
  };
  auto seen = std::make_shared<Seen>();
  *self = pool.Submit([self, seen, &ready] {
    ready.WaitForNotification();
    self->Wait();  // must return at once, not deadlock
    seen->wait_returned = true;
    seen->wait_for = self->WaitFor(absl::Seconds(5));
    seen->get = self->Get().status();
    return 1;
  });
  ready.Notify();
  // Another thread's copy of the handle: wait through a CancelHandle-free
  // path -- the outer future is the same object, so wait by polling.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!self->IsReady() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_TRUE(self->IsReady()) << "self-wait deadlocked";
  EXPECT_TRUE(seen->wait_returned);
  EXPECT_FALSE(seen->wait_for);
  EXPECT_EQ(seen->get.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(seen->get.message()), HasSubstr("would deadlock"));
  // The task's own Get() failed without taking the result.
  EXPECT_EQ(self->Outcome(), TaskOutcome::kSucceeded);
  self.reset();
  ExpectIdentity(pool);
}

// A waits (helping) on child B, which runs inline on A's worker and waits on
// A's future: B is nested under A by the helping wait, so that would
// deadlock too -- it must return at once.
TEST_P(BadInput, WaitOnOuterFutureFromNestedTask) {
  ThreadPool pool(GetParam());
  auto outer = std::make_shared<Future<int>>();
  absl::Notification ready;
  auto waited = std::make_shared<absl::Duration>();
  auto inline_run = std::make_shared<bool>(false);
  *outer = pool.Submit([&pool, outer, waited, inline_run, &ready] {
    ready.WaitForNotification();
    const std::thread::id me = std::this_thread::get_id();
    Future<int> child = pool.Submit([outer, waited, inline_run, me] {
      *inline_run = std::this_thread::get_id() == me;
      const absl::Time start = absl::Now();
      const bool ready_now = outer->WaitFor(absl::Seconds(1));
      *waited = absl::Now() - start;
      return ready_now ? 0 : 1;
    });
    return *child.Get() + 1;  // helping wait: may run the child inline
  });
  ready.Notify();
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!outer->IsReady() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_TRUE(outer->IsReady()) << "nested self-wait deadlocked";
  EXPECT_EQ(outer->Outcome(), TaskOutcome::kSucceeded);
  EXPECT_EQ(*outer->Get(), 2);
  if (*inline_run) {
    // Nested under the outer task on the same thread: detected, no waiting.
    EXPECT_LT(*waited, absl::Milliseconds(500));
  }
  if (GetParam() == 1) {
    EXPECT_TRUE(*inline_run);
  }
  outer.reset();
  ExpectIdentity(pool);
}

TEST_P(BadInput, GetTwice) {
  ThreadPool pool(GetParam());
  Future<std::string> f = pool.Submit([] { return std::string("once"); });
  EXPECT_EQ(*f.Get(), "once");
  const absl::StatusOr<std::string> again = f.Get();
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(again.status().message()), HasSubstr("twice"));
  ExpectIdentity(pool);
}

INSTANTIATE_TEST_SUITE_P(Workers, BadInput, ::testing::Values(1, 2, 8));

}  // namespace
}  // namespace cancelpool
