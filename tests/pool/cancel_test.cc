// Behavioural tests of Future::Cancel and CancelHandle: before start (never
// runs, resolves at once, callable destroyed on the cancelling thread),
// while running (token cancelled; cancelled only if acknowledged), after the
// end (no effect), from inside tasks and callbacks, and Cancel racing the
// start of the task.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/current.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/internal/testing.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

using ::cancelpool::pool_internal::ThreadPoolTestPeer;
namespace cancelpool {
namespace {

using testing_util::Gate;
using testing_util::kLong;
using testing_util::kSanitizer;
using testing_util::SpinUntilCancelled;

// Records where and when the object captured by a callable is destroyed.
// Captured through a shared_ptr that only the callable holds, so moves of
// the callable do not count: the destructor runs when the callable dies.
struct DestructionRecord {
  std::atomic<bool> destroyed{false};
  std::thread::id thread;
};
class Captured {
 public:
  explicit Captured(DestructionRecord* record) : record_(record) {}
  ~Captured() {
    record_->thread = std::this_thread::get_id();
    record_->destroyed.store(true);
  }

 private:
  DestructionRecord* record_;
};

// ---------------------------------------------------------------------------
// (a) Not started.

TEST(CancelTest, CancelBeforeStartNeverRuns) {
  Gate gate;
  DestructionRecord record;
  std::atomic<bool> ran{false};
  ThreadPool pool(1);
  Future<void> blocker = pool.Submit([&] { gate.Block(); });
  gate.started.WaitForNotification();

  auto captured = std::make_shared<Captured>(&record);
  Future<int> f = pool.Submit([&ran, captured = std::move(captured)] {
    ran = true;
    return 1;
  });
  EXPECT_FALSE(f.IsReady());
  EXPECT_FALSE(record.destroyed.load());
  EXPECT_TRUE(f.Cancel());
  // Resolved at once, and the callable (with what it captured) destroyed on
  // this thread before Cancel returned.
  EXPECT_TRUE(f.IsReady());
  EXPECT_TRUE(record.destroyed.load());
  EXPECT_EQ(record.thread, std::this_thread::get_id());
  EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  absl::StatusOr<int> r = f.Get();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  // Already resolved: a second cancel has no effect.
  EXPECT_FALSE(f.Cancel());

  gate.release.Notify();
  ASSERT_TRUE(blocker.Get().ok());
  pool.Shutdown();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_FALSE(ran.load());
  const PoolStats s = pool.Stats();
  EXPECT_EQ(s.cancelled_before_start, 1u);
  EXPECT_EQ(s.completed, 1u);
}

TEST(CancelTest, CancelBeforeStartCarriesTheGivenReason) {
  Gate gate;
  ThreadPool pool(1);
  Future<void> blocker = pool.Submit([&] { gate.Block(); });
  gate.started.WaitForNotification();
  Future<void> f = pool.Submit([] {});
  EXPECT_TRUE(f.Cancel(absl::AbortedError("user clicked stop")));
  EXPECT_EQ(f.Get(), absl::AbortedError("user clicked stop"));
  EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  // An OK reason means the default CancelledError.
  Future<void> g = pool.Submit([] {});
  EXPECT_TRUE(g.Cancel(absl::OkStatus()));
  EXPECT_EQ(g.Get().code(), absl::StatusCode::kCancelled);
  gate.release.Notify();
}

TEST(CancelTest, CancelTaskInAWorkersDequeFromInside) {
  // With one worker, children submitted by a task sit in its local deque.
  DestructionRecord record;
  std::atomic<bool> child_ran{false};
  ThreadPool pool(1);
  Future<bool> parent = pool.Submit([&] {
    auto captured = std::make_shared<Captured>(&record);
    Future<void> child = pool.Submit(
        [&child_ran, captured = std::move(captured)] { child_ran = true; });
    const bool cancelled = child.Cancel();
    return cancelled && child.IsReady() && record.destroyed.load() &&
           record.thread == std::this_thread::get_id() &&
           child.Outcome() == TaskOutcome::kCancelled;
  });
  absl::StatusOr<bool> r = parent.Get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(*r) << "the queued child was not resolved and destroyed by "
                     "the cancelling task";
  pool.Shutdown();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_FALSE(child_ran.load());
  EXPECT_EQ(pool.Stats().cancelled_before_start, 1u);
}

TEST(CancelTest, ManyQueuedTasksCancelledNoneRuns) {
  Gate g1, g2;
  std::atomic<int> ran{0};
  ThreadPoolOptions options;
  options.num_workers = 2;
  ThreadPool pool = ThreadPoolTestPeer::Make(std::move(options), 4);
  Future<void> b1 = pool.Submit([&] { g1.Block(); });
  Future<void> b2 = pool.Submit([&] { g2.Block(); });
  g1.started.WaitForNotification();
  g2.started.WaitForNotification();
  std::vector<Future<void>> fs;
  for (int i = 0; i < 1000; ++i) fs.push_back(pool.Submit([&] { ran++; }));
  for (auto& f : fs) EXPECT_TRUE(f.Cancel());
  for (auto& f : fs) {
    EXPECT_TRUE(f.IsReady());
    EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  }
  g1.release.Notify();
  g2.release.Notify();
  pool.Shutdown();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_EQ(ran.load(), 0);
  EXPECT_EQ(pool.Stats().cancelled_before_start, 1000u);
}

// ---------------------------------------------------------------------------
// (b) Running.

class RunningCancelTest : public ::testing::TestWithParam<int> {};

TEST_P(RunningCancelTest, AcknowledgedByThrowingResolvesCancelled) {
  absl::Notification started;
  ThreadPool pool(GetParam());
  Future<int> f = pool.Submit([&](CancellationToken t) -> int {
    started.Notify();
    SpinUntilCancelled(t);
    // Deep code without the token: the current token is the task's.
    ThrowIfCancellationRequested();
    return 1;
  });
  started.WaitForNotification();
  EXPECT_TRUE(f.Cancel(absl::CancelledError("stop it")));
  absl::StatusOr<int> r = f.Get();
  EXPECT_EQ(r.status(), absl::CancelledError("stop it"));
  EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  EXPECT_EQ(pool.Stats().cancelled_while_running, 1u);
}

TEST_P(RunningCancelTest, AcknowledgedByReturningTheReasonResolvesCancelled) {
  absl::Notification started;
  ThreadPool pool(GetParam());
  Future<void> f = pool.Submit([&](CancellationToken t) -> absl::Status {
    started.Notify();
    if (SleepFor(t, kLong) == WaitResult::kCancelled) return t.Reason();
    return absl::OkStatus();
  });
  started.WaitForNotification();
  EXPECT_TRUE(f.Cancel(absl::UnavailableError("shutting down")));
  EXPECT_EQ(f.Get(), absl::UnavailableError("shutting down"));
  EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
}

TEST_P(RunningCancelTest, AcknowledgedByReturningCancelledStatus) {
  absl::Notification started;
  ThreadPool pool(GetParam());
  Future<int> f = pool.Submit([&](CancellationToken t) -> absl::StatusOr<int> {
    started.Notify();
    SpinUntilCancelled(t);
    return absl::CancelledError("gave up");
  });
  started.WaitForNotification();
  EXPECT_TRUE(f.Cancel(absl::AbortedError("whatever")));
  EXPECT_EQ(f.Get().status(), absl::CancelledError("gave up"));
  EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
}

TEST_P(RunningCancelTest, IgnoredCancellationKeepsTheRealResult) {
  absl::Notification started;
  Gate finish;
  ThreadPool pool(GetParam());
  Future<int> f = pool.Submit([&](CancellationToken t) {
    started.Notify();
    const bool saw = SpinUntilCancelled(t);
    finish.Block();
    return saw ? 42 : -1;
  });
  started.WaitForNotification();
  EXPECT_TRUE(f.Cancel());
  // The future resolves only when the task returns.
  finish.started.WaitForNotification();
  EXPECT_FALSE(f.IsReady());
  EXPECT_TRUE(f.Token().IsCancellationRequested());
  finish.release.Notify();
  absl::StatusOr<int> r = f.Get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(f.Outcome(), TaskOutcome::kSucceeded);
  EXPECT_EQ(pool.Stats().completed, 1u);
}

TEST_P(RunningCancelTest, IgnoredCancellationWithOtherErrorIsAFailure) {
  absl::Notification started;
  ThreadPool pool(GetParam());
  Future<void> f = pool.Submit([&](CancellationToken t) {
    started.Notify();
    SpinUntilCancelled(t);
    return absl::InternalError("disk on fire");
  });
  started.WaitForNotification();
  EXPECT_TRUE(f.Cancel());
  EXPECT_EQ(f.Get(), absl::InternalError("disk on fire"));
  EXPECT_EQ(f.Outcome(), TaskOutcome::kFailed);
}

TEST_P(RunningCancelTest, CallbacksRunOnTheCancellingThread) {
  absl::Notification registered;
  std::thread::id callback_thread;
  std::atomic<bool> callback_ran{false};
  ThreadPool pool(GetParam());
  Future<void> f = pool.Submit([&](CancellationToken t) {
    CancellationCallback cb(t, [&] {
      callback_thread = std::this_thread::get_id();
      callback_ran = true;
    });
    registered.Notify();
    SpinUntilCancelled(t);
    t.ThrowIfCancellationRequested();
  });
  registered.WaitForNotification();
  EXPECT_TRUE(f.Cancel());
  // The callback ran inside Cancel, on this thread.
  EXPECT_TRUE(callback_ran.load());
  EXPECT_EQ(callback_thread, std::this_thread::get_id());
  EXPECT_EQ(f.Get().code(), absl::StatusCode::kCancelled);
}

TEST_P(RunningCancelTest, InterruptibleWaitsWake) {
  absl::Notification started;
  ThreadPool pool(GetParam());
  Future<WaitResult> f = pool.Submit([&] {
    started.Notify();
    Event never;
    return never.Wait();  // current token
  });
  started.WaitForNotification();
  EXPECT_TRUE(f.Cancel());
  absl::StatusOr<WaitResult> r = f.Get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, WaitResult::kCancelled);
}

INSTANTIATE_TEST_SUITE_P(Workers, RunningCancelTest,
                         ::testing::Values(1, 2, 8));

// ---------------------------------------------------------------------------
// (c) Finished.

TEST(CancelTest, CancelAfterFinishHasNoEffect) {
  ThreadPool pool(2);
  Future<int> f = pool.Submit([] { return 5; });
  f.Wait();
  CancelHandle h = f.GetCancelHandle();
  EXPECT_TRUE(h.IsReady());
  EXPECT_FALSE(f.Cancel());
  EXPECT_FALSE(h.Cancel());
  EXPECT_FALSE(f.Token().IsCancellationRequested());
  EXPECT_EQ(f.Outcome(), TaskOutcome::kSucceeded);
  EXPECT_EQ(*f.Get(), 5);
  EXPECT_FALSE(f.Cancel());  // after Get too
  Future<void> failed = pool.Submit([] { return absl::NotFoundError("x"); });
  failed.Wait();
  EXPECT_FALSE(failed.Cancel());
  EXPECT_EQ(failed.Outcome(), TaskOutcome::kFailed);
  EXPECT_EQ(pool.Stats().cancelled_before_start +
                pool.Stats().cancelled_while_running,
            0u);
}

// ---------------------------------------------------------------------------
// Handles, and where Cancel may be called from.

TEST(CancelTest, CancelHandleCopiesCancel) {
  Gate gate;
  CancelHandle h3;
  CancelHandle empty;
  ThreadPool pool(1);
  Future<void> blocker = pool.Submit([&] { gate.Block(); });
  gate.started.WaitForNotification();
  Future<void> f = pool.Submit([] {});
  CancelHandle h1 = f.GetCancelHandle();
  CancelHandle h2 = h1;
  h3 = h2;
  EXPECT_FALSE(h1.IsReady());
  EXPECT_TRUE(h3.Cancel(absl::CancelledError("via copy")));
  EXPECT_TRUE(h1.IsReady());
  EXPECT_TRUE(h2.IsReady());
  EXPECT_FALSE(h1.Cancel());
  EXPECT_EQ(f.Get(), absl::CancelledError("via copy"));
  gate.release.Notify();
  EXPECT_FALSE(empty.Cancel());
  EXPECT_FALSE(empty.IsReady());
}

TEST(CancelTest, CancelHandleOutlivesFutureAndPool) {
  CancelHandle h;
  {
    ThreadPool pool(1);
    Future<int> f = pool.Submit([] { return 1; });
    h = f.GetCancelHandle();
    EXPECT_EQ(*f.Get(), 1);
  }
  EXPECT_TRUE(h.IsReady());
  EXPECT_FALSE(h.Cancel());
}

TEST(CancelTest, ConcurrentCancelsFromSeveralThreads) {
  absl::Notification started;
  std::atomic<int> callbacks{0};
  ThreadPool pool(2);
  Future<void> f = pool.Submit([&](CancellationToken t) {
    CancellationCallback cb(t, [&] { callbacks++; });
    started.Notify();
    SpinUntilCancelled(t);
    t.ThrowIfCancellationRequested();
  });
  started.WaitForNotification();
  CancelHandle h = f.GetCancelHandle();
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back(
        [h, i] { h.Cancel(absl::CancelledError(absl::StrCat("thread ", i))); });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(f.Get().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(callbacks.load(), 1);
}

TEST(CancelTest, BlockerTaskCancelsTheTaskQueuedBehindIt) {
  absl::Notification handle_ready;
  CancelHandle behind_handle;
  std::atomic<bool> behind_ran{false};
  ThreadPool pool(1);
  Future<bool> first = pool.Submit([&] {
    handle_ready.WaitForNotificationWithTimeout(kLong);
    // The only worker is here, so the task behind is still queued.
    return behind_handle.Cancel();
  });
  Future<void> behind = pool.Submit([&] { behind_ran = true; });
  behind_handle = behind.GetCancelHandle();
  handle_ready.Notify();
  absl::StatusOr<bool> r = first.Get();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
  EXPECT_EQ(behind.Get().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(behind.Outcome(), TaskOutcome::kCancelled);
  pool.Shutdown();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_FALSE(behind_ran.load());
}

TEST(CancelTest, TaskCancelsItsOwnFuture) {
  absl::Notification handle_ready;
  CancelHandle self;
  ThreadPool pool(2);
  Future<void> f = pool.Submit([&](CancellationToken t) -> absl::Status {
    handle_ready.WaitForNotificationWithTimeout(kLong);
    if (!self.Cancel(absl::AbortedError("self"))) {
      return absl::InternalError("Cancel on itself returned false");
    }
    if (!t.IsCancellationRequested()) {
      return absl::InternalError("own token not cancelled");
    }
    return t.Reason();
  });
  self = f.GetCancelHandle();
  handle_ready.Notify();
  EXPECT_EQ(f.Get(), absl::AbortedError("self"));
  EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
}

TEST(CancelTest, CancelFromInsideACancellationCallback) {
  absl::Notification started;
  absl::Notification registered;
  absl::Notification a_started;
  Gate gate;
  std::atomic<bool> sibling_ran{false};
  CancelHandle sibling_handle, self_handle;
  absl::Notification handles_ready;
  ThreadPool pool(2);
  // A callback on an unrelated source cancels a running task...
  Future<void> running = pool.Submit([&](CancellationToken t) {
    started.Notify();
    SpinUntilCancelled(t);
    t.ThrowIfCancellationRequested();
  });
  started.WaitForNotification();
  CancellationSource source;
  CancellationCallback cb(source.Token(), [&] {
    EXPECT_TRUE(running.Cancel(absl::CancelledError("from callback")));
  });
  source.RequestCancellation();
  EXPECT_EQ(running.Get(), absl::CancelledError("from callback"));

  // ...and a callback on a task's own token cancels a sibling and the task
  // itself (re-entrant: a no-op that must not deadlock).
  // Occupy both workers (the blocker, then `a`) before submitting the
  // sibling, so that it stays queued.
  Future<void> blocker = pool.Submit([&] { gate.Block(); });
  gate.started.WaitForNotification();
  Future<void> a = pool.Submit([&](CancellationToken t) {
    a_started.Notify();
    handles_ready.WaitForNotificationWithTimeout(kLong);
    CancellationCallback chain(t, [&] {
      sibling_handle.Cancel(absl::CancelledError("chained"));
      self_handle.Cancel();
    });
    registered.Notify();
    SpinUntilCancelled(t);
    t.ThrowIfCancellationRequested();
  });
  a_started.WaitForNotification();
  Future<void> sibling = pool.Submit([&] { sibling_ran = true; });
  sibling_handle = sibling.GetCancelHandle();
  self_handle = a.GetCancelHandle();
  handles_ready.Notify();
  registered.WaitForNotification();
  EXPECT_TRUE(a.Cancel(absl::CancelledError("first")));
  EXPECT_TRUE(sibling.IsReady());
  EXPECT_EQ(sibling.Get(), absl::CancelledError("chained"));
  EXPECT_EQ(a.Get(), absl::CancelledError("first"));
  gate.release.Notify();
  ASSERT_TRUE(blocker.Get().ok());
  EXPECT_FALSE(sibling_ran.load());
}

// ---------------------------------------------------------------------------
// Cancel racing the start of the task: exactly one of "never ran" and "ran
// and saw the cancellation", and the future always resolves as cancelled.

struct RaceParam {
  int workers;
  size_t local_queue_capacity;
  bool cancel_from_inside;
};

class CancelRaceTest : public ::testing::TestWithParam<RaceParam> {};

TEST_P(CancelRaceTest, CancelRacingStartIsEitherNeverRunOrSeen) {
  const RaceParam p = GetParam();
  ThreadPoolOptions options;
  options.num_workers = p.workers;
  ThreadPool pool =
      ThreadPoolTestPeer::Make(std::move(options), p.local_queue_capacity);
  const int iterations = kSanitizer ? 300 : 3000;
  int never_ran = 0, ran_and_saw = 0;
  for (int i = 0; i < iterations; ++i) {
    auto ran = std::make_shared<std::atomic<bool>>(false);
    auto saw = std::make_shared<std::atomic<bool>>(false);
    auto task = [ran, saw](CancellationToken t) -> absl::Status {
      ran->store(true);
      if (SpinUntilCancelled(t)) saw->store(true);
      return t.Reason();
    };
    Future<void> f;
    if (p.cancel_from_inside) {
      // A task submits the racer to its own deque and cancels it, while
      // other workers may steal and start it.
      Future<Future<void>> outer = pool.Submit([&pool, task, i] {
        Future<void> inner = pool.Submit(task);
        for (int k = 0; k < i % 7; ++k) std::this_thread::yield();
        inner.Cancel();
        return inner;
      });
      absl::StatusOr<Future<void>> r = outer.Get();
      ASSERT_TRUE(r.ok()) << r.status();
      f = std::move(*r);
    } else {
      f = pool.Submit(task);
      for (int k = 0; k < i % 7; ++k) std::this_thread::yield();
      EXPECT_TRUE(f.Cancel()) << "iteration " << i;
    }
    ASSERT_TRUE(f.WaitFor(kLong)) << "iteration " << i << " never resolved";
    EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled) << "iteration " << i;
    EXPECT_EQ(f.Get().code(), absl::StatusCode::kCancelled)
        << "iteration " << i;
    const bool r = ran->load(), s = saw->load();
    ASSERT_TRUE(!r || s) << "iteration " << i
                         << ": ran but never saw the cancellation";
    if (r) {
      ++ran_and_saw;
    } else {
      ++never_ran;
    }
  }
  std::printf("%d iterations: %d never ran, %d ran and saw the cancellation\n",
              iterations, never_ran, ran_and_saw);
  pool.Shutdown();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  const PoolStats s = pool.Stats();
  EXPECT_EQ(s.cancelled_before_start, static_cast<uint64_t>(never_ran));
  EXPECT_EQ(s.cancelled_while_running, static_cast<uint64_t>(ran_and_saw));
}

std::string RaceName(const ::testing::TestParamInfo<RaceParam>& info) {
  return absl::StrCat(info.param.workers, "Workers_Queue",
                      info.param.local_queue_capacity,
                      info.param.cancel_from_inside ? "_Inside" : "_Outside");
}

INSTANTIATE_TEST_SUITE_P(
    Pool, CancelRaceTest,
    ::testing::Values(RaceParam{1, 1024, false}, RaceParam{2, 1024, false},
                      RaceParam{8, 1024, false}, RaceParam{2, 4, false},
                      RaceParam{2, 1024, true}, RaceParam{8, 4, true}),
    RaceName);

}  // namespace
}  // namespace cancelpool
