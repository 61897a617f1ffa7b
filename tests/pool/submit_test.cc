// Behavioural tests of Submit/SubmitWith and of results: callables and
// arguments (move-only, token-taking), parent tokens, deadlines, the value /
// Status / StatusOr / exception mapping, Outcome(), Get(), and the waits of
// Future from outside the pool.
#include <atomic>
#include <memory>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/cause.h"
#include "cancelpool/cancel/current.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

// What a task's token carries when its parent was cancelled with `reason`:
// the same status with the through-parent marker (cancel/cause.h, PARENTS).
absl::Status ThroughParentOf(const absl::Status& reason) {
  CancellationSource parent;
  CancellationSource child(parent.Token());
  parent.RequestCancellation(reason);
  return child.Reason();
}

using testing_util::Gate;
using testing_util::kLong;

class SubmitTest : public ::testing::TestWithParam<int> {
 protected:
  int workers() const { return GetParam(); }
};

// ---------------------------------------------------------------------------
// Callables and arguments.

TEST_P(SubmitTest, MoveOnlyCallable) {
  ThreadPool pool(workers());
  auto p = std::make_unique<int>(41);
  Future<int> f = pool.Submit([p = std::move(p)] { return *p + 1; });
  EXPECT_EQ(*f.Get(), 42);
}

TEST_P(SubmitTest, MoveOnlyArguments) {
  ThreadPool pool(workers());
  Future<int> f = pool.Submit(
      [](std::unique_ptr<int> a, std::unique_ptr<int> b) { return *a + *b; },
      std::make_unique<int>(40), std::make_unique<int>(2));
  EXPECT_EQ(*f.Get(), 42);
}

TEST_P(SubmitTest, ArgumentsAreDecayCopied) {
  ThreadPool pool(workers());
  std::string s = "abc";
  Future<std::string> f = pool.Submit(
      [](std::string x, int n) { return x + std::to_string(n); }, s, 7);
  s = "changed";
  EXPECT_EQ(*f.Get(), "abc7");
}

TEST_P(SubmitTest, CallableTakingTokenGetsTheTasksOwnToken) {
  ThreadPool pool(workers());
  CancellationToken seen;
  bool current_matches = false;
  Future<void> f = pool.Submit([&](CancellationToken t) {
    seen = t;
    current_matches = CurrentToken() == t;
  });
  ASSERT_TRUE(f.Get().ok());
  EXPECT_TRUE(seen.CanBeCancelled());
  EXPECT_TRUE(seen == f.Token());
  EXPECT_TRUE(current_matches) << "the task's token is not the current token";
}

TEST_P(SubmitTest, CallableTakingTokenAndMoveOnlyArguments) {
  ThreadPool pool(workers());
  Future<int> f = pool.Submit(
      [](CancellationToken t, std::unique_ptr<int> p) {
        return t.CanBeCancelled() ? *p : -1;
      },
      std::make_unique<int>(42));
  EXPECT_EQ(*f.Get(), 42);
  Future<int> g = pool.Submit(
      [](std::stop_token t, std::unique_ptr<int> p) {
        return t.stop_possible() ? *p : -1;
      },
      std::make_unique<int>(43));
  EXPECT_EQ(*g.Get(), 43);
}

TEST_P(SubmitTest, CallableTakingTokenAndArguments) {
  ThreadPool pool(workers());
  Future<int> f =
      pool.Submit([](CancellationToken t, int a,
                     int b) { return t.CanBeCancelled() ? a + b : -1; },
                  40, 2);
  EXPECT_EQ(*f.Get(), 42);
}

TEST_P(SubmitTest, CallableTakingStopTokenSeesCancellation) {
  absl::Notification started;
  ThreadPool pool(workers());
  Future<bool> f = pool.Submit([&](std::stop_token st) {
    started.Notify();
    const absl::Time deadline = absl::Now() + kLong;
    while (!st.stop_requested() && absl::Now() < deadline) {
      std::this_thread::yield();
    }
    return st.stop_requested();
  });
  started.WaitForNotification();
  EXPECT_TRUE(f.Cancel());
  absl::StatusOr<bool> r = f.Get();
  // Returned normally: its real result.
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(*r) << "the std::stop_token never saw the cancellation";
  EXPECT_EQ(f.Outcome(), TaskOutcome::kSucceeded);
}

TEST_P(SubmitTest, StopTokenWithArguments) {
  ThreadPool pool(workers());
  Future<int> f = pool.Submit(
      [](std::stop_token st, int x) { return st.stop_possible() ? x : -1; }, 5);
  EXPECT_EQ(*f.Get(), 5);
}

// ---------------------------------------------------------------------------
// Parent tokens.

TEST_P(SubmitTest, CancellingParentCancelsRunningTaskWithParentsReason) {
  absl::Notification started;
  ThreadPool pool(workers());
  CancellationSource parent;
  TaskOptions options;
  options.parent = parent.Token();
  Future<void> f =
      pool.SubmitWith(options, [&](CancellationToken t) -> absl::Status {
        started.Notify();
        if (SleepFor(t, kLong) == WaitResult::kCancelled) return t.Reason();
        return absl::OkStatus();
      });
  started.WaitForNotification();
  parent.RequestCancellation(absl::AbortedError("request closed"));
  absl::Status s = f.Get();
  // The parent's reason, through a parent (cancel/cause.h).
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(s.message(), "request closed");
  EXPECT_TRUE(CancelledThroughParent(s));
  EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
}

TEST_P(SubmitTest, CancellingParentOfQueuedTaskMeansItNeverRuns) {
  std::atomic<bool> ran{false};
  ThreadPoolOptions options;
  options.num_workers = workers();
  ThreadPool pool(std::move(options));
  // Occupy every worker so the task stays queued.
  std::vector<std::unique_ptr<Gate>> gates;
  std::vector<Future<void>> blockers;
  for (int i = 0; i < workers(); ++i) {
    gates.push_back(std::make_unique<Gate>());
    Gate* g = gates.back().get();
    blockers.push_back(pool.Submit([g] { g->Block(); }));
    g->started.WaitForNotification();
  }
  CancellationSource parent;
  TaskOptions task_options;
  task_options.parent = parent.Token();
  Future<void> f = pool.SubmitWith(task_options, [&] { ran = true; });
  EXPECT_FALSE(f.IsReady());
  parent.RequestCancellation(absl::UnavailableError("client went away"));
  // Resolved by the cancelling thread, at once.
  EXPECT_TRUE(f.IsReady());
  EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  EXPECT_EQ(f.Get(),
            ThroughParentOf(absl::UnavailableError("client went away")));
  for (auto& g : gates) g->release.Notify();
  for (auto& b : blockers) ASSERT_TRUE(b.Get().ok());
  pool.Shutdown();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_FALSE(ran.load());
  EXPECT_EQ(pool.Stats().cancelled_before_start, 1u);
}

TEST_P(SubmitTest, AlreadyCancelledParentMeansTheTaskNeverRuns) {
  std::atomic<bool> ran{false};
  ThreadPool pool(workers());
  CancellationSource parent;
  parent.RequestCancellation(absl::CancelledError("gone"));
  TaskOptions options;
  options.parent = parent.Token();
  Future<void> f = pool.SubmitWith(options, [&] { ran = true; });
  EXPECT_TRUE(f.IsReady());
  EXPECT_EQ(f.Get(), ThroughParentOf(absl::CancelledError("gone")));
  EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  pool.Shutdown();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_FALSE(ran.load());
}

TEST_P(SubmitTest, CancellingTheTaskDoesNotCancelTheParent) {
  absl::Notification started;
  ThreadPool pool(workers());
  CancellationSource parent;
  TaskOptions options;
  options.parent = parent.Token();
  Future<void> f = pool.SubmitWith(options, [&](CancellationToken t) {
    started.Notify();
    SleepFor(t, kLong);
  });
  started.WaitForNotification();
  EXPECT_TRUE(f.Cancel());
  f.Wait();
  EXPECT_FALSE(parent.IsCancellationRequested());
}

// ---------------------------------------------------------------------------
// Deadlines.

TEST_P(SubmitTest, TaskStillQueuedAtItsDeadlineNeverRuns) {
  std::atomic<bool> ran{false};
  ThreadPool pool(workers());
  std::vector<std::unique_ptr<Gate>> gates;
  std::vector<Future<void>> blockers;
  for (int i = 0; i < workers(); ++i) {
    gates.push_back(std::make_unique<Gate>());
    Gate* g = gates.back().get();
    blockers.push_back(pool.Submit([g] { g->Block(); }));
    g->started.WaitForNotification();
  }
  Future<void> f = pool.SubmitWith(
      TaskOptions::WithTimeout(absl::Milliseconds(20)), [&] { ran = true; });
  // The deadline timer resolves it while every worker is still blocked.
  ASSERT_TRUE(f.WaitFor(kLong));
  EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  EXPECT_EQ(f.Get().code(), absl::StatusCode::kDeadlineExceeded);
  for (auto& g : gates) g->release.Notify();
  for (auto& b : blockers) ASSERT_TRUE(b.Get().ok());
  pool.Shutdown();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_FALSE(ran.load());
}

TEST_P(SubmitTest, DeadlineAlreadyPastMeansTheTaskNeverRuns) {
  std::atomic<bool> ran{false};
  ThreadPool pool(workers());
  TaskOptions options;
  options.deadline = absl::Now() - absl::Seconds(1);
  Future<void> f = pool.SubmitWith(options, [&] { ran = true; });
  EXPECT_TRUE(f.IsReady());
  EXPECT_EQ(f.Get().code(), absl::StatusCode::kDeadlineExceeded);
  pool.Shutdown();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_FALSE(ran.load());
}

TEST_P(SubmitTest, RunningTaskSeesDeadlineExceeded) {
  ThreadPool pool(workers());
  Future<void> f =
      pool.SubmitWith(TaskOptions::WithTimeout(absl::Milliseconds(50)),
                      [](CancellationToken t) -> absl::Status {
                        EXPECT_NE(t.Deadline(), absl::InfiniteFuture());
                        if (SleepFor(t, kLong) == WaitResult::kCancelled)
                          return t.Reason();
                        return absl::OkStatus();
                      });
  absl::Status s = f.Get();
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
}

TEST_P(SubmitTest, DeadlineAndParentTogether) {
  absl::Notification started;
  ThreadPool pool(workers());
  CancellationSource parent;
  TaskOptions options = TaskOptions::WithTimeout(kLong);
  options.parent = parent.Token();
  Future<void> f = pool.SubmitWith(options, [&](CancellationToken t) {
    started.Notify();
    SleepFor(t, kLong);
    t.ThrowIfCancellationRequested();
  });
  started.WaitForNotification();
  parent.RequestCancellation(absl::InternalError("parent"));
  EXPECT_EQ(f.Get(), ThroughParentOf(absl::InternalError("parent")));
  EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
}

TEST_P(SubmitTest, OwnDeadlineHoldsAfterAParentTaskWithEarlierDeadlineEnds) {
  // The parent is a task with an earlier deadline that finishes before it:
  // its token can then never be cancelled, so the child's own (later)
  // deadline must still fire.
  ThreadPool pool(workers());
  Future<Future<void>> parent = pool.SubmitWith(
      TaskOptions::WithTimeout(absl::Seconds(1)), [&pool](CancellationToken t) {
        TaskOptions child_options;
        child_options.parent = t;
        child_options.deadline = absl::Now() + absl::Milliseconds(1300);
        return pool.SubmitWith(
            child_options, [](CancellationToken ct) -> absl::Status {
              if (SleepFor(ct, absl::Seconds(5)) == WaitResult::kCancelled) {
                return ct.Reason();
              }
              return absl::InternalError(
                  "the child's own deadline never fired");
            });
      });
  absl::StatusOr<Future<void>> child = parent.Get();
  ASSERT_TRUE(child.ok()) << child.status()
                          << " (the parent did not even start within 1 s)";
  EXPECT_EQ(parent.Outcome(), TaskOutcome::kSucceeded);
  absl::Status s = child->Get();
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_EQ(child->Outcome(), TaskOutcome::kCancelled);
}

TEST_P(SubmitTest, TokenReportsTheEarliestDeadline) {
  ThreadPool pool(workers());
  const absl::Time parent_deadline = absl::Now() + absl::Seconds(100);
  CancellationSource parent = CancellationSource::WithDeadline(parent_deadline);
  TaskOptions options;
  options.parent = parent.Token();
  options.deadline = absl::Now() + absl::Seconds(200);
  Future<absl::Time> f = pool.SubmitWith(
      options, [](CancellationToken t) { return t.Deadline(); });
  EXPECT_EQ(*f.Get(), parent_deadline);
  TaskOptions own;
  own.parent = parent.Token();
  own.deadline = absl::Now() + absl::Seconds(50);
  Future<absl::Time> g =
      pool.SubmitWith(own, [](CancellationToken t) { return t.Deadline(); });
  EXPECT_EQ(*g.Get(), own.deadline);
}

// ---------------------------------------------------------------------------
// Results.

TEST_P(SubmitTest, ValueResults) {
  ThreadPool pool(workers());
  Future<int> i = pool.Submit([] { return 42; });
  Future<std::string> s = pool.Submit([] { return std::string("hello"); });
  Future<std::unique_ptr<int>> p =
      pool.Submit([] { return std::make_unique<int>(9); });
  Future<void> v = pool.Submit([] {});
  EXPECT_EQ(*i.Get(), 42);
  EXPECT_EQ(*s.Get(), "hello");
  absl::StatusOr<std::unique_ptr<int>> pr = p.Get();
  ASSERT_TRUE(pr.ok());
  EXPECT_EQ(**pr, 9);
  EXPECT_TRUE(v.Get().ok());
  EXPECT_EQ(i.Outcome(), TaskOutcome::kSucceeded);
  EXPECT_EQ(v.Outcome(), TaskOutcome::kSucceeded);
}

TEST_P(SubmitTest, StatusResults) {
  ThreadPool pool(workers());
  Future<void> ok = pool.Submit([] { return absl::OkStatus(); });
  Future<void> bad = pool.Submit([] { return absl::NotFoundError("nope"); });
  EXPECT_TRUE(ok.Get().ok());
  EXPECT_EQ(ok.Outcome(), TaskOutcome::kSucceeded);
  EXPECT_EQ(bad.Get(), absl::NotFoundError("nope"));
  EXPECT_EQ(bad.Outcome(), TaskOutcome::kFailed);
}

TEST_P(SubmitTest, StatusOrResults) {
  ThreadPool pool(workers());
  Future<int> ok = pool.Submit([]() -> absl::StatusOr<int> { return 5; });
  Future<int> bad = pool.Submit(
      []() -> absl::StatusOr<int> { return absl::DataLossError("lost"); });
  EXPECT_EQ(*ok.Get(), 5);
  EXPECT_EQ(ok.Outcome(), TaskOutcome::kSucceeded);
  EXPECT_EQ(bad.Get().status(), absl::DataLossError("lost"));
  EXPECT_EQ(bad.Outcome(), TaskOutcome::kFailed);
}

TEST_P(SubmitTest, StdExceptionBecomesFailureWithItsMessage) {
  ThreadPool pool(workers());
  Future<int> f =
      pool.Submit([]() -> int { throw std::runtime_error("boom"); });
  absl::StatusOr<int> r = f.Get();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnknown);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "boom")) << r.status();
  EXPECT_EQ(f.Outcome(), TaskOutcome::kFailed);
}

TEST_P(SubmitTest, NonStdExceptionBecomesFailureWithClearMessage) {
  ThreadPool pool(workers());
  Future<void> f = pool.Submit([] { throw 42; });
  absl::Status s = f.Get();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnknown);
  EXPECT_TRUE(absl::StrContains(s.message(), "exception")) << s;
  EXPECT_EQ(f.Outcome(), TaskOutcome::kFailed);
}

TEST_P(SubmitTest, ThrowingTasksNeverKillAWorker) {
  ThreadPool pool(workers());
  const int n = 50 * workers();
  std::vector<Future<void>> throwers;
  for (int i = 0; i < n; ++i) {
    throwers.push_back(pool.Submit([i] {
      if (i % 2 == 0) throw std::logic_error("even");
      throw "odd";
    }));
  }
  for (auto& f : throwers)
    EXPECT_EQ(f.Get().code(), absl::StatusCode::kUnknown);
  // Every worker is still there and working.
  std::vector<Future<int>> fs;
  for (int i = 0; i < 100; ++i) fs.push_back(pool.Submit([i] { return i; }));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(*fs[i].Get(), i);
  const PoolStats s = pool.Stats();
  EXPECT_EQ(s.failed, static_cast<uint64_t>(n));
  EXPECT_EQ(s.completed, 100u);
}

TEST_P(SubmitTest, CancelledStatusWithoutCancellationIsAFailure) {
  ThreadPool pool(workers());
  Future<void> f =
      pool.Submit([] { return absl::CancelledError("not really"); });
  EXPECT_EQ(f.Get(), absl::CancelledError("not really"));
  EXPECT_EQ(f.Outcome(), TaskOutcome::kFailed);
}

TEST_P(SubmitTest, GetTwiceIsFailedPrecondition) {
  ThreadPool pool(workers());
  Future<int> f = pool.Submit([] { return 1; });
  EXPECT_EQ(*f.Get(), 1);
  absl::StatusOr<int> again = f.Get();
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  // Outcome() still tells how it ended.
  EXPECT_EQ(f.Outcome(), TaskOutcome::kSucceeded);
  Future<void> v = pool.Submit([] {});
  EXPECT_TRUE(v.Get().ok());
  EXPECT_EQ(v.Get().code(), absl::StatusCode::kFailedPrecondition);
  // Also after a move.
  Future<int> g = pool.Submit([] { return 2; });
  EXPECT_EQ(*g.Get(), 2);
  Future<int> h = std::move(g);
  EXPECT_EQ(h.Get().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_P(SubmitTest, OutcomeIsPendingUntilResolved) {
  Gate gate;
  ThreadPool pool(workers());
  Future<int> f = pool.Submit([&] {
    gate.Block();
    return 3;
  });
  gate.started.WaitForNotification();
  EXPECT_EQ(f.Outcome(), TaskOutcome::kPending);
  EXPECT_FALSE(f.IsReady());
  gate.release.Notify();
  f.Wait();
  EXPECT_EQ(f.Outcome(), TaskOutcome::kSucceeded);
  EXPECT_STREQ(TaskOutcomeName(TaskOutcome::kPending), "pending");
  EXPECT_STREQ(TaskOutcomeName(TaskOutcome::kSucceeded), "succeeded");
  EXPECT_STREQ(TaskOutcomeName(TaskOutcome::kFailed), "failed");
  EXPECT_STREQ(TaskOutcomeName(TaskOutcome::kCancelled), "cancelled");
}

// ---------------------------------------------------------------------------
// Waiting from outside.

TEST_P(SubmitTest, WaitForWaitUntilAndIsReady) {
  Gate gate;
  ThreadPool pool(workers());
  Future<int> f = pool.Submit([&] {
    gate.Block();
    return 8;
  });
  gate.started.WaitForNotification();
  EXPECT_FALSE(f.IsReady());
  EXPECT_FALSE(f.WaitFor(absl::Milliseconds(5)));
  EXPECT_FALSE(f.WaitUntil(absl::Now() + absl::Milliseconds(5)));
  EXPECT_FALSE(f.WaitUntil(absl::InfinitePast()));
  gate.release.Notify();
  EXPECT_TRUE(f.WaitFor(kLong));
  EXPECT_TRUE(f.IsReady());
  EXPECT_TRUE(f.WaitUntil(absl::InfinitePast()));
  f.Wait();
  EXPECT_EQ(*f.Get(), 8);
  // Waiting after Get() still reports ready.
  EXPECT_TRUE(f.IsReady());
  EXPECT_TRUE(f.WaitFor(absl::ZeroDuration()));
}

TEST_P(SubmitTest, WaitWithOwnTokenReturnsCancelledAndLeavesTaskAlone) {
  Gate gate;
  absl::Notification waiting;
  ThreadPool pool(workers());
  Future<int> f = pool.Submit([&](CancellationToken t) {
    gate.Block();
    return t.IsCancellationRequested() ? -1 : 11;
  });
  gate.started.WaitForNotification();
  CancellationSource waiter;
  std::thread canceller;
  canceller = std::thread([&] {
    waiting.WaitForNotification();
    waiter.RequestCancellation();
  });
  waiting.Notify();
  EXPECT_EQ(f.Wait(waiter.Token()), WaitResult::kCancelled);
  canceller.join();
  // Already-cancelled waiter token: at once.
  EXPECT_EQ(f.Wait(waiter.Token()), WaitResult::kCancelled);
  EXPECT_FALSE(f.Token().IsCancellationRequested());
  EXPECT_FALSE(f.IsReady());
  CancellationSource other;
  EXPECT_EQ(f.Wait(other.Token(), absl::Now() + absl::Milliseconds(5)),
            WaitResult::kTimeout);
  gate.release.Notify();
  EXPECT_EQ(f.Wait(other.Token()), WaitResult::kReady);
  EXPECT_EQ(*f.Get(), 11);
  // Resolved wins over a cancelled waiter token.
  EXPECT_EQ(f.Wait(waiter.Token()), WaitResult::kReady);
}

TEST(FutureTest, EmptyAndMovedFromFutures) {
  Future<int> empty;
  EXPECT_FALSE(empty.IsValid());
  EXPECT_TRUE(empty.IsReady());
  empty.Wait();
  EXPECT_TRUE(empty.WaitFor(absl::Seconds(1)));
  EXPECT_EQ(empty.Wait(CancellationToken()), WaitResult::kReady);
  EXPECT_EQ(empty.Outcome(), TaskOutcome::kPending);
  EXPECT_FALSE(empty.Cancel());
  EXPECT_FALSE(empty.GetCancelHandle().Cancel());
  EXPECT_FALSE(empty.Token().CanBeCancelled());
  EXPECT_EQ(empty.Get().status().code(), absl::StatusCode::kFailedPrecondition);

  ThreadPool pool(1);
  Future<int> f = pool.Submit([] { return 1; });
  Future<int> g = std::move(f);
  EXPECT_FALSE(f.IsValid());  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(f.IsReady());
  EXPECT_FALSE(f.Cancel());
  EXPECT_EQ(f.Get().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*g.Get(), 1);
  Future<void> v;
  EXPECT_EQ(v.Get().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(FutureTest, FutureOutlivesItsPool) {
  Future<std::string> f;
  Future<void> cancelled;
  {
    ThreadPool pool(2);
    f = pool.Submit([] { return std::string("kept"); });
    cancelled = pool.Submit([] {});
  }
  EXPECT_TRUE(f.IsReady());
  EXPECT_EQ(*f.Get(), "kept");
  EXPECT_TRUE(cancelled.IsReady());
  EXPECT_FALSE(cancelled.Cancel());
}

INSTANTIATE_TEST_SUITE_P(Workers, SubmitTest, ::testing::Values(1, 2, 8));

}  // namespace
}  // namespace cancelpool
