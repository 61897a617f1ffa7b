// Behavioural tests of waiting inside tasks: helping waits never deadlock
// (fork-join recursion on 1, 2 and 8 workers, a task waiting on a task
// queued behind it on one worker, chains of waits), and waiting on one's own
// future returns the documented error instead of hanging.
#include "cancelpool/cancel/wait.h"

#include <atomic>
#include <cstdint>
#include <memory>
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

using testing_util::PoolParam;
using testing_util::PoolParamName;

class WaitInsideTest : public ::testing::TestWithParam<PoolParam> {
 protected:
  ThreadPoolOptions Options() const {
    ThreadPoolOptions options;
    options.num_workers = GetParam().workers;
    return options;
  }
  // A pool with the parameter's local deque capacity.
  ThreadPool MakePool(ThreadPoolOptions options) const {
    return ThreadPoolTestPeer::Make(std::move(options),
                                    GetParam().local_queue_capacity);
  }
};

int64_t Fib(ThreadPool& pool, int n) {
  if (n < 2) return n;
  Future<int64_t> a = pool.Submit([&pool, n] { return Fib(pool, n - 1); });
  const int64_t b = Fib(pool, n - 2);
  absl::StatusOr<int64_t> ar = a.Get();
  return ar.ok() ? *ar + b : -1'000'000'000;
}

int64_t FibSerial(int n) {
  return n < 2 ? n : FibSerial(n - 1) + FibSerial(n - 2);
}

TEST_P(WaitInsideTest, ForkJoinFibWaitsInsideWorkers) {
  ThreadPool pool = MakePool(Options());
  const int n = kSanitizer ? 15 : 20;
  Future<int64_t> f = pool.Submit([&pool, n] { return Fib(pool, n); });
  ASSERT_TRUE(f.WaitFor(kLong)) << "fork-join fib(" << n << ") deadlocked";
  absl::StatusOr<int64_t> r = f.Get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, FibSerial(n));
  const PoolStats s = pool.Stats();
  EXPECT_EQ(s.completed, s.submitted);
}

int64_t ParallelSum(ThreadPool& pool, const std::vector<int>& v, size_t lo,
                    size_t hi) {
  if (hi - lo <= 16) {
    int64_t s = 0;
    for (size_t i = lo; i < hi; ++i) s += v[i];
    return s;
  }
  const size_t mid = lo + (hi - lo) / 2;
  Future<int64_t> left = pool.Submit(
      [&pool, &v, lo, mid] { return ParallelSum(pool, v, lo, mid); });
  Future<int64_t> right = pool.Submit(
      [&pool, &v, mid, hi] { return ParallelSum(pool, v, mid, hi); });
  // Wait on the later one first: it is on top of the deque on one worker,
  // the earlier one may already be stolen.
  absl::StatusOr<int64_t> r = right.Get();
  absl::StatusOr<int64_t> l = left.Get();
  return l.ok() && r.ok() ? *l + *r : -1'000'000'000;
}

TEST_P(WaitInsideTest, ParallelSumWaitsInsideWorkers) {
  ThreadPool pool = MakePool(Options());
  std::vector<int> v(kSanitizer ? 20000 : 200000);
  int64_t expected = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = static_cast<int>(i % 1000) - 300;
    expected += v[i];
  }
  Future<int64_t> f =
      pool.Submit([&] { return ParallelSum(pool, v, 0, v.size()); });
  ASSERT_TRUE(f.WaitFor(kLong)) << "parallel sum deadlocked";
  EXPECT_EQ(*f.Get(), expected);
}

TEST_P(WaitInsideTest, ManyRootsFromOutsideEachWaitingInside) {
  ThreadPool pool = MakePool(Options());
  const int roots = kSanitizer ? 8 : 32;
  const int n = kSanitizer ? 10 : 14;
  std::vector<Future<int64_t>> fs;
  for (int i = 0; i < roots; ++i) {
    fs.push_back(pool.Submit([&pool, n] { return Fib(pool, n); }));
  }
  for (auto& f : fs) {
    ASSERT_TRUE(f.WaitFor(kLong)) << "deadlock";
    EXPECT_EQ(*f.Get(), FibSerial(n));
  }
}

TEST_P(WaitInsideTest, ChainOfTasksEachWaitingOnTheNextQueuedOne) {
  // Regression: with help-first waits that ran any queued task, a worker
  // helping task i could stack an earlier chain member j < i on top of it;
  // j waits (through the chain) for i, which cannot resume: deadlock. The
  // helping rule (helping.cc, HELPING WAITS) only nests the wait tree.
  // Task i waits on task i+1, which is submitted later from outside and so
  // queued behind it.
  absl::Notification all_submitted;
  ThreadPool pool = MakePool(Options());
  constexpr int kChain = 50;
  std::vector<Future<int>> fs(kChain);
  for (int i = 0; i < kChain; ++i) {
    fs[i] = pool.Submit([&fs, &all_submitted, i]() -> int {
      if (i + 1 == kChain) return 1;
      all_submitted.WaitForNotificationWithTimeout(kLong);
      // Another waiter may be helping (Get on a future must be called by
      // one thread only, so Wait here and read the outcome).
      fs[i + 1].Wait();
      return fs[i + 1].Outcome() == TaskOutcome::kSucceeded ? i + 2 : -1;
    });
  }
  all_submitted.Notify();
  ASSERT_TRUE(fs[0].WaitFor(kLong)) << "chain of waits deadlocked";
  EXPECT_EQ(*fs[0].Get(), 2);
  for (int i = 1; i < kChain; ++i) {
    ASSERT_TRUE(fs[i].WaitFor(kLong));
    EXPECT_EQ(fs[i].Outcome(), TaskOutcome::kSucceeded);
  }
}

INSTANTIATE_TEST_SUITE_P(Pool, WaitInsideTest,
                         ::testing::Values(PoolParam{1, 1024},
                                           PoolParam{2, 1024},
                                           PoolParam{8, 1024}, PoolParam{1, 4},
                                           PoolParam{2, 4}, PoolParam{8, 4}),
                         PoolParamName);

TEST(WaitInsideSingleWorkerTest, TaskWaitsOnFutureQueuedBehindIt) {
  absl::Notification behind_submitted;
  Future<int>* behind_ptr = nullptr;
  std::atomic<bool> first_started{false};
  ThreadPool pool(1);
  Future<int> first = pool.Submit([&]() -> int {
    first_started = true;
    behind_submitted.WaitForNotificationWithTimeout(kLong);
    // The only worker is here: `behind` has not started. The wait runs it.
    absl::StatusOr<int> r = behind_ptr->Get();
    return r.ok() ? *r + 1 : -1;
  });
  Future<int> behind = pool.Submit([&] { return first_started ? 41 : -100; });
  behind_ptr = &behind;
  behind_submitted.Notify();
  ASSERT_TRUE(first.WaitFor(kLong)) << "waiting on a queued task deadlocked";
  EXPECT_EQ(*first.Get(), 42);
  EXPECT_TRUE(behind.IsReady());
  EXPECT_EQ(behind.Outcome(), TaskOutcome::kSucceeded);
}

TEST(WaitInsideSingleWorkerTest, WaitOnTaskBlockedOnAnotherPool) {
  Gate gate;
  ThreadPool a(1), b(1);
  Future<int> in_b = b.Submit([&] {
    gate.Block();
    return 5;
  });
  Future<int> in_a = a.Submit([&] {
    absl::StatusOr<int> r = in_b.Get();
    return r.ok() ? *r : -1;
  });
  gate.started.WaitForNotification();
  EXPECT_FALSE(in_a.WaitFor(absl::Milliseconds(10)));
  gate.release.Notify();
  EXPECT_EQ(*in_a.Get(), 5);
}

TEST(WaitInsideTwoWorkersTest, WaitOnTaskRunningOnAnotherWorker) {
  Gate gate;
  absl::Notification waiting;
  ThreadPool pool(2);
  Future<int> running = pool.Submit([&] {
    gate.Block();
    return 3;
  });
  gate.started.WaitForNotification();
  Future<int> waiter = pool.Submit([&] {
    waiting.Notify();
    absl::StatusOr<int> r = running.Get();
    return r.ok() ? *r * 2 : -1;
  });
  waiting.WaitForNotification();
  EXPECT_FALSE(waiter.WaitFor(absl::Milliseconds(10)));
  gate.release.Notify();
  EXPECT_EQ(*waiter.Get(), 6);
}

TEST(WaitInsideTwoWorkersTest, TimedWaitInsideReturnsFalseOnTimeout) {
  Gate gate;
  ThreadPool pool(2);
  Future<void> running = pool.Submit([&] { gate.Block(); });
  gate.started.WaitForNotification();
  Future<bool> waiter = pool.Submit([&] {
    const bool early = running.WaitFor(absl::Milliseconds(20));
    const bool until = running.WaitUntil(absl::Now() + absl::Milliseconds(5));
    return !early && !until;
  });
  absl::StatusOr<bool> r = waiter.Get();
  gate.release.Notify();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(*r);
}

TEST(WaitInsideTwoWorkersTest,
     WaitInsideWithTheTasksOwnTokenReturnsWhenCancelled) {
  Gate gate;
  absl::Notification waiting;
  ThreadPool pool(2);
  Future<void> running = pool.Submit([&] { gate.Block(); });
  gate.started.WaitForNotification();
  Future<void> waiter = pool.Submit([&](CancellationToken t) -> absl::Status {
    waiting.Notify();
    const WaitResult r = running.Wait(t);
    if (r != WaitResult::kCancelled) {
      return absl::InternalError(WaitResultName(r));
    }
    return t.Reason();
  });
  waiting.WaitForNotification();
  EXPECT_TRUE(waiter.Cancel());
  EXPECT_EQ(waiter.Get().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(waiter.Outcome(), TaskOutcome::kCancelled);
  // The awaited task was not affected.
  EXPECT_FALSE(running.Token().IsCancellationRequested());
  EXPECT_FALSE(running.IsReady());
  gate.release.Notify();
  EXPECT_TRUE(running.Get().ok());
}

// ---------------------------------------------------------------------------
// Self-waits.

class SelfWaitTest : public ::testing::TestWithParam<int> {};

TEST_P(SelfWaitTest, WaitingOnOwnFutureReturnsTheDocumentedError) {
  absl::Notification have_future;
  Future<int>* self = nullptr;
  ThreadPool pool(GetParam());
  struct Seen {
    bool ready = true;
    bool wait_for = true;
    bool wait_until = true;
    WaitResult wait_token = WaitResult::kReady;
    absl::Status get;
  } seen;
  Future<int> f = pool.Submit([&] {
    have_future.WaitForNotificationWithTimeout(kLong);
    self->Wait();  // returns at once
    seen.ready = self->IsReady();
    seen.wait_for = self->WaitFor(absl::Seconds(5));
    seen.wait_until = self->WaitUntil(absl::InfiniteFuture());
    CancellationSource never;
    seen.wait_token = self->Wait(never.Token());
    seen.get = self->Get().status();
    return 7;
  });
  self = &f;
  have_future.Notify();
  ASSERT_TRUE(f.WaitFor(kLong)) << "waiting on its own future hung";
  EXPECT_FALSE(seen.ready);
  EXPECT_FALSE(seen.wait_for);
  EXPECT_FALSE(seen.wait_until);
  EXPECT_NE(seen.wait_token, WaitResult::kReady);
  EXPECT_EQ(seen.get.code(), absl::StatusCode::kFailedPrecondition) << seen.get;
  // The inside Get() did not take the result.
  EXPECT_EQ(*f.Get(), 7);
}

TEST(SelfWaitSingleWorkerTest,
     WaitOnAnOuterTaskFromANestedHelpedTaskIsASelfWait) {
  // Outer waits on inner (queued, so the wait runs it inline on this
  // worker); inner waits on outer: a cycle through the helping wait.
  absl::Notification have_future;
  Future<int>* outer_ptr = nullptr;
  ThreadPool pool(1);
  Future<int> outer = pool.Submit([&]() -> int {
    have_future.WaitForNotificationWithTimeout(kLong);
    Future<absl::StatusCode> inner =
        pool.Submit([&] { return outer_ptr->Get().status().code(); });
    absl::StatusOr<absl::StatusCode> code = inner.Get();
    return code.ok() && *code == absl::StatusCode::kFailedPrecondition ? 1 : 0;
  });
  outer_ptr = &outer;
  have_future.Notify();
  ASSERT_TRUE(outer.WaitFor(kLong)) << "nested self-wait hung";
  EXPECT_EQ(*outer.Get(), 1);
}

INSTANTIATE_TEST_SUITE_P(Workers, SelfWaitTest, ::testing::Values(1, 2, 8));

}  // namespace
}  // namespace cancelpool

namespace cancelpool {
namespace {

using testing_util::Gate;
using testing_util::kLong;

// A waiting task must not get unrelated work stacked on top of it that
// ends up waiting for it. Three workers: A runs `gated` (blocked), B runs
// `outer`, which waits on `gated`; C runs `waits_on_outer`. `unrelated`
// waits on `waits_on_outer`, which waits on `outer`. No cycle: once `gated`
// ends, everything can finish -- unless B, while `outer` waits, ran
// `unrelated` on top of it: `outer` then cannot resume before `unrelated`
// returns, which waits (via C) for `outer` itself.
TEST(WaitInsideThreeWorkersTest, WaitingTaskIsNotBuriedUnderWorkThatWaitsOnIt) {
  Gate gate;
  absl::Notification outer_started, unrelated_submitted, unrelated_started, go,
      c_started;
  Future<int>* outer_ptr = nullptr;
  Future<int>* c_ptr = nullptr;
  // Bounded waits, so that a deadlock fails the test instead of hanging it.
  constexpr absl::Duration kBound = absl::Seconds(10);
  ThreadPool pool(3);
  Future<void> gated = pool.Submit([&] { gate.Block(); });
  gate.started.WaitForNotification();
  Future<int> waits_on_outer = pool.Submit([&]() -> int {
    c_started.Notify();
    go.WaitForNotificationWithTimeout(kLong);
    if (!outer_ptr->WaitFor(kBound)) return -1;  // deadlocked
    return outer_ptr->Outcome() == TaskOutcome::kSucceeded ? 1 : -2;
  });
  c_started.WaitForNotification();
  Future<int> outer = pool.Submit([&]() -> int {
    outer_started.Notify();
    unrelated_submitted.WaitForNotificationWithTimeout(kLong);
    return gated.WaitFor(kBound) ? 1 : -1;
  });
  outer_ptr = &outer;
  c_ptr = &waits_on_outer;
  outer_started.WaitForNotification();
  // All three workers are busy: `unrelated` stays queued until one helps.
  Future<int> unrelated = pool.Submit([&]() -> int {
    unrelated_started.Notify();
    if (!c_ptr->WaitFor(kBound)) return -1;
    return c_ptr->Outcome() == TaskOutcome::kSucceeded ? 1 : -2;
  });
  unrelated_submitted.Notify();
  // Under a policy that helps with unrelated work, `unrelated` now starts on
  // top of `outer`; give it the chance, then let the rest go.
  unrelated_started.WaitForNotificationWithTimeout(absl::Seconds(1));
  go.Notify();
  gate.release.Notify();
  ASSERT_TRUE(outer.WaitFor(kLong));
  ASSERT_TRUE(waits_on_outer.WaitFor(kLong));
  ASSERT_TRUE(unrelated.WaitFor(kLong));
  EXPECT_EQ(*outer.Get(), 1);
  EXPECT_EQ(*waits_on_outer.Get(), 1)
      << "a task waiting on `outer` timed out: `outer` was stuck under "
         "unrelated work stacked on it by its own helping wait";
  EXPECT_EQ(*unrelated.Get(), 1);
}

// Leapfrogging: a parent waiting on a child that another worker stole runs
// that child's own children. Two workers: the parent P runs on A; its child
// C starts on B (P holds A), pushes kGrand grandchildren onto B's deque and
// then blocks until all of them have run -- without waiting on their
// futures, so B cannot run them itself. Only A, waiting on C, can: if A
// only blocked (or ran unrelated work), C would never finish.
TEST(WaitInsideTwoWorkersTest, WaiterRunsChildrenOfTheTaskItWaitsFor) {
  constexpr int kGrand = 16;
  ThreadPool pool(2);
  std::atomic<int> grand_done{0};
  std::atomic<int> ran_on_parent_thread{0};
  absl::Notification all_grand_done;
  absl::Notification child_started;
  std::thread::id parent_thread;
  std::vector<Future<void>> grand(kGrand);
  Future<bool> parent = pool.Submit([&]() -> bool {
    parent_thread = std::this_thread::get_id();
    Future<bool> child = pool.Submit([&]() -> bool {
      child_started.Notify();
      for (int i = 0; i < kGrand; ++i) {
        grand[i] = pool.Submit([&] {
          if (std::this_thread::get_id() == parent_thread) {
            ran_on_parent_thread.fetch_add(1);
          }
          if (grand_done.fetch_add(1) + 1 == kGrand) all_grand_done.Notify();
        });
      }
      return all_grand_done.WaitForNotificationWithTimeout(kLong);
    });
    // Hold this worker until the other one has started the child (it can
    // only start there), then wait: the wait must leapfrog. An unlimited
    // wait: only those help (future.h, WAITING); the outer WaitFor below
    // bounds the test.
    if (!child_started.WaitForNotificationWithTimeout(kLong)) return false;
    child.Wait();
    return *child.Get();
  });
  ASSERT_TRUE(parent.WaitFor(kLong + kLong));
  EXPECT_TRUE(*parent.Get()) << "the child never saw its children run";
  EXPECT_EQ(grand_done.load(), kGrand);
  EXPECT_EQ(ran_on_parent_thread.load(), kGrand)
      << "every grandchild should have run on the waiting parent's worker";
  for (auto& g : grand) {
    ASSERT_TRUE(g.WaitFor(kLong));
    EXPECT_EQ(g.Outcome(), TaskOutcome::kSucceeded);
  }
}

}  // namespace
}  // namespace cancelpool
