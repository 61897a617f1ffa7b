// Copyright 2026 The cancelpool Authors.
//
// Hostile use of the public API (issue 11): over-aligned captures and
// results, a pool owned by its own task and destroyed from inside the
// library's callbacks, timed waits inside tasks, termination while workers
// spin, extreme option values, CancelledException without a cancellation,
// Submit from the worker hooks, and thread-creation failure. Anything that
// can hang runs in a forked child with a time limit.
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/pool/internal/testing.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

using ::cancelpool::pool_internal::ThreadPoolTestPeer;
namespace cancelpool {
namespace {

using testing_util::ChildResult;
using testing_util::CountThreads;
using testing_util::Gate;
using testing_util::kLong;
using testing_util::RunInChild;

// --- Over-aligned captures and results (item 1) ---------------------------

template <size_t A>
struct alignas(A) Aligned {
  unsigned char bytes[A] = {};
};

template <typename T>
bool IsAligned(const T* p) {
  return testing_util::IsAligned(p, alignof(T));
}

// Counts constructions at a misaligned address (the copy into the task's
// result slot is one).
std::atomic<int> g_misaligned_results{0};

template <size_t A>
struct alignas(A) AlignedResult {
  AlignedResult() { Check(); }
  AlignedResult(const AlignedResult&) { Check(); }
  AlignedResult(AlignedResult&&) noexcept { Check(); }
  AlignedResult& operator=(const AlignedResult&) = default;
  AlignedResult& operator=(AlignedResult&&) noexcept = default;
  void Check() {
    if (!IsAligned(this)) g_misaligned_results.fetch_add(1);
  }
  unsigned char bytes[A] = {};
};

template <size_t A>
void CheckAlignment(ThreadPool& pool) {
  SCOPED_TRACE(testing::Message() << "alignment " << A);
  // From outside and from inside a task; plain, token-taking, with bound
  // arguments.
  Future<bool> plain =
      pool.Submit([a = Aligned<A>()] { return IsAligned(&a); });
  Future<bool> with_token = pool.Submit(
      [a = Aligned<A>()](CancellationToken) { return IsAligned(&a); });
  Future<bool> bound = pool.Submit(
      [](const Aligned<A>& a) { return IsAligned(&a); }, Aligned<A>());
  Future<bool> inside = pool.Submit([&pool] {
    return pool.Submit([a = Aligned<A>()] { return IsAligned(&a); })
        .Get()
        .value_or(false);
  });
  EXPECT_TRUE(plain.Get().value_or(false));
  EXPECT_TRUE(with_token.Get().value_or(false));
  EXPECT_TRUE(bound.Get().value_or(false));
  EXPECT_TRUE(inside.Get().value_or(false));

  g_misaligned_results.store(0);
  Future<AlignedResult<A>> result =
      pool.Submit([] { return AlignedResult<A>(); });
  absl::StatusOr<AlignedResult<A>> r = result.Get();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(g_misaligned_results.load(), 0)
      << "a result was constructed at a misaligned address";
}

#if defined(__SANITIZE_ADDRESS__)
extern "C" int __asan_option_detect_stack_use_after_return;
#endif

// ASan's use-after-return detection moves stack frames to a "fake stack"
// that, with GCC, does not honour alignments above 32: over-aligned locals
// and temporaries (the lambdas below, before they reach the pool) are then
// misaligned, which UBSan reports. A toolchain limit, not the pool's: turn
// it off while the alignment tests run (instrumented functions read this
// flag on entry).
class NoFakeStack {
 public:
#if defined(__SANITIZE_ADDRESS__)
  NoFakeStack() : saved_(__asan_option_detect_stack_use_after_return) {
    __asan_option_detect_stack_use_after_return = 0;
  }
  ~NoFakeStack() { __asan_option_detect_stack_use_after_return = saved_; }

 private:
  int saved_;
#else
  NoFakeStack() {}
  ~NoFakeStack() {}
#endif
};

TEST(HostileAlignmentTest, OverAlignedCapturesAndResultsAreAligned) {
  NoFakeStack no_fake_stack;
  ThreadPool pool(2);
  // Many blocks, so a lucky allocation cannot hide a misaligned one.
  for (int i = 0; i < 20; ++i) {
    CheckAlignment<32>(pool);
    CheckAlignment<64>(pool);
    CheckAlignment<128>(pool);
    CheckAlignment<4096>(pool);
  }
}

TEST(HostileAlignmentTest, OverAlignedTaskCancelledBeforeStart) {
  NoFakeStack no_fake_stack;
  ThreadPool pool(1);
  Gate gate;
  Future<void> blocker = pool.Submit([&gate] { gate.Block(); });
  gate.started.WaitForNotification();
  Future<bool> queued =
      pool.Submit([a = Aligned<256>()] { return IsAligned(&a); });
  EXPECT_TRUE(queued.Cancel());
  EXPECT_EQ(queued.Outcome(), TaskOutcome::kCancelled);
  gate.release.Notify();
  EXPECT_TRUE(blocker.Get().ok());
}

// --- A pool owned by its own task (item 2) --------------------------------

// Runs `body` in a child: a hang (the bug) is killed at the limit.
void ExpectChildOk(const std::function<int()>& body) {
  const ChildResult r = RunInChild(body, 2 * kLong);
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// A one-worker pool whose worker is held by a gate, and a queued task whose
// callable holds the only handle to the pool.
struct SelfOwnedPool {
  Gate gate;
  Future<void> blocker;
  ThreadPool* raw = nullptr;

  std::shared_ptr<ThreadPool> Start() {
    auto pool = std::make_shared<ThreadPool>(1);
    raw = pool.get();
    blocker = pool->Submit([this] { gate.Block(); });
    gate.started.WaitForNotification();
    return pool;
  }
  // The pool drains once released; the blocker resolves.
  int Finish() {
    gate.release.Notify();
    return blocker.WaitFor(kLong) ? 0 : 10;
  }
};

TEST(HostileOwnershipTest, CancelBeforeStartDestroysThePool) {
  ExpectChildOk([] {
    SelfOwnedPool s;
    std::shared_ptr<ThreadPool> pool = s.Start();
    Future<void> f = pool->Submit([p = pool] {});
    pool.reset();  // the queued task holds the last handle
    if (!f.Cancel()) return 1;
    if (f.Outcome() != TaskOutcome::kCancelled) return 2;
    return s.Finish();
  });
}

TEST(HostileOwnershipTest, OwnDeadlineDestroysThePoolWithoutBlockingTimer) {
  ExpectChildOk([] {
    SelfOwnedPool s;
    std::shared_ptr<ThreadPool> pool = s.Start();
    Future<void> f = pool->SubmitWith(
        TaskOptions::WithTimeout(absl::Milliseconds(20)), [p = pool] {});
    pool.reset();
    if (!f.WaitFor(kLong)) return 1;
    if (f.Outcome() != TaskOutcome::kCancelled) return 2;
    // The shared deadline timer still fires other deadlines (before the
    // fix it was blocked in ~ThreadPool, waiting for the gated worker).
    CancellationSource later =
        CancellationSource::WithTimeout(absl::Milliseconds(20));
    absl::Notification fired;
    CancellationCallback cb(later.Token(), [&fired] { fired.Notify(); });
    if (!fired.WaitForNotificationWithTimeout(kLong)) return 3;
    return s.Finish();
  });
}

TEST(HostileOwnershipTest, ParentCancellationDestroysThePool) {
  ExpectChildOk([] {
    SelfOwnedPool s;
    std::shared_ptr<ThreadPool> pool = s.Start();
    CancellationSource parent;
    TaskOptions options;
    options.parent = parent.Token();
    Future<void> f = pool->SubmitWith(options, [p = pool] {});
    pool.reset();
    if (!parent.RequestCancellation()) return 1;
    if (f.Outcome() != TaskOutcome::kCancelled) return 2;
    return s.Finish();
  });
}

TEST(HostileOwnershipTest, CancelShutdownDestroysThePool) {
  ExpectChildOk([] {
    SelfOwnedPool s;
    std::shared_ptr<ThreadPool> pool = s.Start();
    Future<void> f = pool->Submit([p = pool] {});
    ThreadPool* raw = s.raw;
    pool.reset();
    raw->Shutdown(ShutdownMode::kCancel);  // destroys *raw on the way
    if (f.Outcome() != TaskOutcome::kCancelled) return 2;
    return s.Finish();
  });
}

TEST(HostileOwnershipTest, RunningTaskOwningThePoolReturns) {
  ExpectChildOk([] {
    SelfOwnedPool s;
    std::shared_ptr<ThreadPool> pool = s.Start();
    Future<int> f = pool->Submit([p = pool] { return 7; });
    pool.reset();
    if (s.Finish() != 0) return 1;
    if (!f.WaitFor(kLong)) return 2;
    return f.Get().value_or(0) == 7 ? 0 : 3;
  });
}

TEST(HostileOwnershipTest, DestroyedFromWorkerHooks) {
  ExpectChildOk([] {
    // on_worker_start destroys the last handle (held in a shared slot).
    auto slot = std::make_shared<std::shared_ptr<ThreadPool>>();
    absl::Notification published, destroyed;
    ThreadPoolOptions options;
    options.num_workers = 1;
    options.on_worker_start = [slot, &published, &destroyed](int) {
      published.WaitForNotification();
      slot->reset();
      destroyed.Notify();
    };
    *slot = std::make_shared<ThreadPool>(std::move(options));
    published.Notify();
    if (!destroyed.WaitForNotificationWithTimeout(kLong)) return 1;
    return 0;
  });
}

TEST(HostileOwnershipTest, CallbackOnTimerThreadDestroysThePool) {
  ExpectChildOk([] {
    SelfOwnedPool s;
    std::shared_ptr<ThreadPool> pool = s.Start();
    // A user callback on the deadline timer's thread drops the last handle
    // while the pool still has work (the gated task): before the fix the
    // timer thread waited in ~ThreadPool for it, and no deadline fired.
    CancellationSource timed =
        CancellationSource::WithTimeout(absl::Milliseconds(20));
    absl::Notification destroyed;
    CancellationCallback cb(timed.Token(), [&pool, &destroyed] {
      pool.reset();
      destroyed.Notify();
    });
    // Bounded well below the gate's own limit (kLong), at which the drain
    // would end by itself.
    if (!destroyed.WaitForNotificationWithTimeout(kLong / 4)) return 1;
    CancellationSource later =
        CancellationSource::WithTimeout(absl::Milliseconds(20));
    absl::Notification fired;
    CancellationCallback cb2(later.Token(), [&fired] { fired.Notify(); });
    if (!fired.WaitForNotificationWithTimeout(kLong / 4)) return 2;
    return s.Finish();
  });
}

TEST(HostileOwnershipTest, CallbackOnParentDestroysThePoolOfItsChild) {
  ExpectChildOk([] {
    // The task waits for its token, a child of `parent`; a callback on
    // `parent` drops the last handle to the pool. The destructor must not
    // wait for the task inside that callback: the task's token is cancelled
    // by the same request, possibly after the callback (no grace period
    // would end the wait).
    ThreadPoolOptions options;
    options.num_workers = 1;
    options.destructor_grace = absl::InfiniteDuration();
    auto pool = std::make_shared<ThreadPool>(std::move(options));
    CancellationSource parent;
    TaskOptions task_options;
    task_options.parent = parent.Token();
    absl::Notification started;
    Future<bool> waiter =
        pool->SubmitWith(task_options, [&started](CancellationToken t) {
          started.Notify();
          while (!t.IsCancellationRequested()) {
            absl::SleepFor(absl::Milliseconds(1));
          }
          return true;
        });
    started.WaitForNotification();
    CancellationCallback cb(parent.Token(), [&pool] { pool.reset(); });
    parent.RequestCancellation();
    return waiter.WaitFor(kLong) && waiter.Get().value_or(false) ? 0 : 1;
  });
}

// --- Timed waits inside a task (item 4) -----------------------------------

TEST(HostileWaitTest, TimedWaitInsideTaskDoesNotRunTheChildInline) {
  // One worker: only the waiting task's own worker could run the child, so
  // a limited wait must time out instead of running it inline.
  ThreadPool pool(1);
  Future<bool> outer = pool.Submit([&pool] {
    Future<int> child = pool.Submit([] { return 1; });
    const bool ready = child.WaitFor(absl::Milliseconds(20));
    CancellationSource source;
    source.RequestCancellation();
    const bool cancelled = child.Wait(source.Token()) == WaitResult::kCancelled;
    return !ready && cancelled && !child.IsReady();
  });
  EXPECT_TRUE(outer.Get().value_or(false));
}

TEST(HostileWaitTest, TimedWaitInsideTaskReturnsAtItsLimit) {
  // Declared before the pool: nothing waits for the gated child, so the
  // pool's destructor must join it before the gate goes away.
  Gate gate;
  ThreadPool pool(2);
  absl::Notification wait_for_returned, token_wait_returned;
  CancellationSource waiter;
  absl::Notification token_waiting;
  Future<void> outer = pool.Submit([&] {
    Future<void> child = pool.Submit([&gate] { gate.Block(); });
    if (!child.WaitFor(absl::Milliseconds(20))) wait_for_returned.Notify();
    token_waiting.Notify();
    if (child.Wait(waiter.Token()) == WaitResult::kCancelled) {
      token_wait_returned.Notify();
    }
  });
  // Before the fix both waits ran the gated child inline and returned only
  // when it was released.
  EXPECT_TRUE(wait_for_returned.WaitForNotificationWithTimeout(kLong / 2));
  ASSERT_TRUE(token_waiting.WaitForNotificationWithTimeout(kLong));
  waiter.RequestCancellation();
  EXPECT_TRUE(token_wait_returned.WaitForNotificationWithTimeout(kLong / 2));
  gate.release.Notify();
  EXPECT_TRUE(outer.Get().ok());
}

// --- Termination while workers spin (item 10) -----------------------------

TEST(HostileShutdownTest, SpinningWorkersSeeShutdownAtOnce) {
  ExpectChildOk([] {
    ThreadPoolOptions options;
    options.num_workers = 2;
    options.idle_spin_rounds = INT_MAX;  // would search "forever"
    ThreadPool pool(std::move(options));
    if (!pool.Submit([] { return 1; }).Get().ok()) return 1;
    pool.Shutdown();
    return pool.AwaitTermination(absl::Now() + kLong / 2) ? 0 : 2;
  });
}

// --- Extreme option values (item 11 and the option ranges) ----------------

TEST(HostileOptionsTest, HugeQueueLimitAdmitsTasks) {
  for (size_t limit :
       {size_t{SIZE_MAX}, size_t{INT64_MAX} + 1, size_t{INT64_MAX}}) {
    ThreadPoolOptions options;
    options.num_workers = 1;
    options.max_queued_tasks = limit;
    ThreadPool pool(std::move(options));
    EXPECT_EQ(pool.Submit([] { return 3; }).Get().value_or(0), 3)
        << "limit " << limit;
    EXPECT_EQ(pool.Stats().rejected, 0u);
  }
}

TEST(HostileOptionsTest, CreateRejectsOutOfRangeOptions) {
  auto with = [](auto set) {
    ThreadPoolOptions options;
    set(options);
    return ThreadPool::Create(std::move(options)).status().code();
  };
  EXPECT_EQ(with([](ThreadPoolOptions& o) { o.num_workers = -1; }),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](ThreadPoolOptions& o) { o.num_workers = INT_MAX; }),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](ThreadPoolOptions& o) {
              o.num_workers = ThreadPoolOptions::kMaxWorkers + 1;
            }),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](ThreadPoolOptions& o) { o.idle_spin_rounds = -1; }),
            absl::StatusCode::kInvalidArgument);
  // The test-only deque capacity is validated by the testing hook's Create.
  EXPECT_EQ(
      ThreadPoolTestPeer::Create(ThreadPoolOptions(), SIZE_MAX).status().code(),
      absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::unique_ptr<ThreadPool>> ok = ThreadPoolTestPeer::Create(
      [] {
        ThreadPoolOptions o;
        o.num_workers = 2;
        o.max_queued_tasks = SIZE_MAX;
        o.destructor_grace = -absl::InfiniteDuration();
        return o;
      }(),
      /*local_queue_capacity=*/0);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)->NumWorkers(), 2);
  EXPECT_EQ((*ok)->Submit([] { return 5; }).Get().value_or(0), 5);
}

TEST(HostileOptionsTest, ConstructorClampsExtremeValues) {
  ExpectChildOk([] {
    struct Case {
      int num_workers;
      int idle_spin_rounds;
      size_t local_queue_capacity;
      absl::Duration grace;
    };
    const Case cases[] = {
        {-5, -1, 0, -absl::InfiniteDuration()},
        {1, INT_MIN, SIZE_MAX, absl::InfiniteDuration()},
        {2, 0, 1, -absl::Seconds(3)},
        {INT_MIN, 3, size_t{1} << 40, absl::ZeroDuration()},
    };
    int index = 0;
    for (const Case& c : cases) {
      ++index;
      ThreadPoolOptions options;
      options.num_workers = c.num_workers;
      options.idle_spin_rounds = c.idle_spin_rounds;
      options.destructor_grace = c.grace;
      ThreadPool pool =
          ThreadPoolTestPeer::Make(std::move(options), c.local_queue_capacity);
      if (pool.NumWorkers() < 1 ||
          pool.NumWorkers() > ThreadPoolOptions::kMaxWorkers) {
        return 10 + index;
      }
      // Fork-join through the (clamped) local deques.
      Future<int> f = pool.Submit([&pool] {
        std::vector<Future<int>> fs;
        for (int i = 0; i < 100; ++i) {
          fs.push_back(pool.Submit([i] { return i; }));
        }
        int sum = 0;
        for (auto& child : fs) sum += child.Get().value_or(-1000);
        return sum;
      });
      if (f.Get().value_or(0) != 4950) return 20 + index;
    }
    return 0;
  });
}

// --- CancelledException without a cancellation (item 14) -------------------

TEST(HostileOutcomeTest, CancelledWithoutCancellationIsAFailure) {
  ThreadPool pool(1);
  Future<void> thrown = pool.Submit(
      [] { throw CancelledException(absl::CancelledError("not ours")); });
  Future<void> returned =
      pool.Submit([] { return absl::CancelledError("not ours"); });
  thrown.Wait();
  returned.Wait();
  EXPECT_EQ(thrown.Outcome(), TaskOutcome::kFailed);
  EXPECT_EQ(returned.Outcome(), TaskOutcome::kFailed);
  EXPECT_EQ(thrown.Get().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(returned.Get().code(), absl::StatusCode::kCancelled);
  const PoolStats stats = pool.Stats();
  EXPECT_EQ(stats.failed, 2u);
  EXPECT_EQ(stats.cancelled_while_running, 0u);
}

TEST(HostileOutcomeTest, CancelledAfterCancellationIsCancelled) {
  ThreadPool pool(2);
  absl::Notification started_a, started_b;
  Future<void> thrown = pool.Submit([&started_a](CancellationToken t) {
    started_a.Notify();
    while (!t.IsCancellationRequested()) absl::SleepFor(absl::Milliseconds(1));
    throw CancelledException(absl::CancelledError("seen"));
  });
  Future<void> returned = pool.Submit([&started_b](CancellationToken t) {
    started_b.Notify();
    while (!t.IsCancellationRequested()) absl::SleepFor(absl::Milliseconds(1));
    return absl::CancelledError("seen");
  });
  started_a.WaitForNotification();
  started_b.WaitForNotification();
  thrown.Cancel();
  returned.Cancel();
  thrown.Wait();
  returned.Wait();
  EXPECT_EQ(thrown.Outcome(), TaskOutcome::kCancelled);
  EXPECT_EQ(returned.Outcome(), TaskOutcome::kCancelled);
  const PoolStats stats = pool.Stats();
  EXPECT_EQ(stats.failed, 0u);
  EXPECT_EQ(stats.cancelled_while_running, 2u);
}

// --- Submit from the worker hooks (item 15) --------------------------------

TEST(HostileHooksTest, SubmitFromWorkerHooksIsNeverLost) {
  ExpectChildOk([] {
    absl::Mutex mu;
    std::vector<Future<int>> from_start, from_stop;
    ThreadPool* pool_ptr = nullptr;
    absl::Notification ready;
    ThreadPoolOptions options;
    options.num_workers = 2;
    options.on_worker_start = [&](int) {
      ready.WaitForNotification();
      Future<int> f = pool_ptr->Submit([] { return 1; });
      absl::MutexLock lock(&mu);
      from_start.push_back(std::move(f));
    };
    options.on_worker_stop = [&](int) {
      Future<int> f = pool_ptr->Submit([] { return 2; });
      absl::MutexLock lock(&mu);
      from_stop.push_back(std::move(f));
    };
    ThreadPool pool(std::move(options));
    pool_ptr = &pool;
    ready.Notify();
    // Wait for both start hooks to have submitted.
    for (;;) {
      {
        absl::MutexLock lock(&mu);
        if (from_start.size() == 2) break;
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
    pool.Shutdown();
    if (!pool.AwaitTermination(absl::Now() + kLong)) return 1;
    absl::MutexLock lock(&mu);
    for (auto& f : from_start) {
      if (!f.WaitFor(kLong)) return 2;
      if (f.Get().value_or(0) != 1) return 3;
    }
    if (from_stop.size() != 2) return 4;
    for (auto& f : from_stop) {
      if (!f.IsReady()) return 5;  // lost: nothing would ever run it
      if (f.Get().status().code() != absl::StatusCode::kFailedPrecondition) {
        return 6;
      }
    }
    return 0;
  });
}

// --- Thread-creation failure (item 16) ------------------------------------

// A joined thread may linger in /proc for a moment after it exited.
bool ThreadCountReturnsTo(int expected) {
  const absl::Time deadline = absl::Now() + kLong / 4;
  while (CountThreads() != expected) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

TEST(HostileStartTest, ThreadCreationFailureStopsStartedWorkers) {
  if (!testing_util::CanLimitThreadsInChild()) {
    GTEST_SKIP() << testing_util::kCannotLimitThreadsMessage;
  }
  ExpectChildOk([] {
    // Room for two more threads.
    if (!testing_util::LimitThreadsInChild(3)) return 1;
    const int before = CountThreads();
    bool threw = false;
    try {
      ThreadPool pool(64);
    } catch (const std::system_error&) {
      threw = true;
    }
    if (!threw) return 2;
    if (!ThreadCountReturnsTo(before)) return 3;  // started workers leaked
    absl::StatusOr<std::unique_ptr<ThreadPool>> created =
        ThreadPool::Create([] {
          ThreadPoolOptions o;
          o.num_workers = 64;
          return o;
        }());
    if (created.status().code() != absl::StatusCode::kResourceExhausted) {
      return 4;
    }
    if (!ThreadCountReturnsTo(before)) return 5;
    return 0;
  });
}

}  // namespace
}  // namespace cancelpool
