// Copyright 2026 The cancelpool Authors.
//
// Hostile lifetimes through the public API: ownership cycles through
// callables, destruction from inside callbacks, hooks and tasks, calls after
// termination, and SignalShutdown hooks and waits racing pool teardown.

#include <csignal>
#include <cstdlib>
#include <functional>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/current.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/future.h"
#include "cancelpool/pool/options.h"
#include "cancelpool/pool/signal_shutdown.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

using testing_util::ChildResult;
using testing_util::Gate;
using testing_util::kLong;
using testing_util::RunInChild;

// Waits (polling, bounded) until `weak` expires.
template <typename T>
bool EventuallyExpired(const std::weak_ptr<T>& weak, absl::Duration limit) {
  const absl::Time end = absl::Now() + limit;
  while (!weak.expired()) {
    if (absl::Now() > end) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

// thread_pool.h DESTRUCTION: "Destroying the pool from inside one of its own
// tasks starts the same drain but cannot wait for it". future.h LIFETIME:
// "A future may outlive its pool". A running task that holds the last
// shared_ptr to its pool destroys it when the callable goes away.
TEST(HostileLifetime, PoolOwnedByItsOwnRunningTask) {
  ChildResult r = RunInChild([] {
    auto pool = std::make_shared<ThreadPool>(2);
    std::weak_ptr<ThreadPool> weak = pool;
    absl::Notification go;
    auto f = pool->Submit([p = pool, &go] {
      go.WaitForNotification();
      return 7;
    });
    pool.reset();
    go.Notify();
    auto v = f.Get();
    if (!v.ok() || *v != 7) return 2;
    return EventuallyExpired(weak, absl::Seconds(30)) ? 0 : 3;
  });
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// future.h CANCELLATION (a): "task not started: it never runs; the future
// resolves as cancelled at once, on the calling thread, and the callable is
// destroyed there and then". thread_pool.h DESTRUCTION: "It never hangs on a
// task that observes its token". Here that callable holds the last reference
// to the pool, so ~ThreadPool runs inside Cancel().
TEST(HostileLifetime, PoolOwnedByItsOwnQueuedTaskCancelled) {
  ChildResult r = RunInChild(
      [] {
        ThreadPoolOptions options;
        options.num_workers = 1;
        options.destructor_grace = absl::Milliseconds(50);
        auto pool = std::make_shared<ThreadPool>(std::move(options));
        absl::Notification started;
        auto blocker = pool->Submit([&started] {
          started.Notify();
          cancelpool::SleepFor(
              kLong);  // returns when the destructor cancels it
        });
        started.WaitForNotification();
        auto f = pool->Submit([p = pool] { return 1; });
        pool.reset();
        if (!f.Cancel()) return 2;
        if (f.Outcome() != TaskOutcome::kCancelled) return 3;
        if (!blocker.WaitFor(absl::Seconds(30))) return 4;
        return 0;
      },
      absl::Seconds(30));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// Same cycle, cancelled by the task's own deadline: the pool is destroyed
// on the deadline-timer thread. cancellation.h: deadlines "are cancelled ...
// even if nobody polls" -- so a later deadline must still fire.
TEST(HostileLifetime, PoolOwnedByItsOwnQueuedTaskDeadline) {
  ChildResult r = RunInChild([] {
    ThreadPoolOptions options;
    options.num_workers = 1;
    options.destructor_grace = absl::Milliseconds(50);
    auto pool = std::make_shared<ThreadPool>(std::move(options));
    absl::Notification started;
    auto blocker = pool->Submit([&started] {
      started.Notify();
      cancelpool::SleepFor(kLong);
    });
    started.WaitForNotification();
    auto f = pool->SubmitWith(TaskOptions::WithTimeout(absl::Milliseconds(50)),
                              [p = pool] { return 1; });
    pool.reset();
    if (!f.WaitFor(absl::Seconds(20))) return 2;
    if (f.Outcome() != TaskOutcome::kCancelled) return 3;
    // Another deadline, later: must fire.
    auto later = CancellationSource::WithTimeout(absl::Milliseconds(20));
    Event never;
    if (never.Wait(later.Token(), absl::Now() + absl::Seconds(20)) !=
        WaitResult::kCancelled) {
      return 4;
    }
    if (!blocker.WaitFor(absl::Seconds(30))) return 5;
    return 0;
  });
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// future.h CANCELLATION: Cancel is "safe from any thread, inside tasks";
// CancelHandle "keeps the task's small state alive, not the pool". A task
// whose callable holds its own CancelHandle (a reference cycle through the
// callable) cancels itself; the cycle is broken when the callable goes.
TEST(HostileLifetime, TaskHoldsItsOwnCancelHandle) {
  auto slot = std::make_shared<CancelHandle>();
  std::weak_ptr<CancelHandle> weak = slot;
  absl::Notification handle_set;
  {
    ThreadPool pool(2);
    auto f = pool.Submit(
        [slot, &handle_set](CancellationToken token) -> absl::Status {
          handle_set.WaitForNotification();
          if (!slot->Cancel()) return absl::InternalError("Cancel false");
          token.ThrowIfCancellationRequested();
          return absl::InternalError("not cancelled");
        });
    *slot = f.GetCancelHandle();
    slot.reset();
    handle_set.Notify();
    EXPECT_EQ(f.Get().code(), absl::StatusCode::kCancelled);
    EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  }
  EXPECT_TRUE(weak.expired()) << "task -> callable -> handle cycle leaked";
}

// The same cycle when the task never runs (cancelled by shutdown): the
// callable must be destroyed, releasing the handle and the block.
TEST(HostileLifetime, QueuedTaskHoldingItsOwnCancelHandleShutdown) {
  auto slot = std::make_shared<CancelHandle>();
  std::weak_ptr<CancelHandle> weak = slot;
  {
    ThreadPool pool(1);
    Gate gate;
    auto blocker = pool.Submit([&gate] { gate.Block(); });
    gate.started.WaitForNotification();
    auto f = pool.Submit([slot] { return slot->IsReady(); });
    *slot = f.GetCancelHandle();
    slot.reset();
    pool.Shutdown(ShutdownMode::kCancel);
    EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
    gate.release.Notify();
    EXPECT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  }
  EXPECT_TRUE(weak.expired()) << "cancelled callable kept its cycle alive";
}

using FnCallback = CancellationCallback<std::function<void()>>;

// cancellation.h: "If the destructor runs inside the callback itself (same
// thread), it does not wait (no deadlock)."
TEST(HostileLifetime, CallbackDestroysItsOwnRegistration) {
  CancellationSource source;
  int runs = 0;
  std::unique_ptr<FnCallback> reg;
  reg = std::make_unique<FnCallback>(source.Token(), std::function<void()>([&] {
                                       ++runs;
                                       reg.reset();
                                     }));
  int later_runs = 0;
  CancellationCallback later(source.Token(), [&] { ++later_runs; });
  EXPECT_TRUE(source.RequestCancellation());
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(later_runs, 1);
  EXPECT_EQ(reg, nullptr);
}

// "A callback that has not started by then never runs -- even if
// cancellation was already requested and the requester is still busy with
// the token's other callbacks". Two callbacks that destroy each other:
// exactly one runs.
TEST(HostileLifetime, CallbacksDestroyEachOther) {
  for (int i = 0; i < 100; ++i) {
    CancellationSource source;
    int runs = 0;
    std::unique_ptr<FnCallback> a, b;
    a = std::make_unique<FnCallback>(source.Token(), std::function<void()>([&] {
                                       ++runs;
                                       b.reset();
                                     }));
    b = std::make_unique<FnCallback>(source.Token(), std::function<void()>([&] {
                                       ++runs;
                                       a.reset();
                                     }));
    source.RequestCancellation();
    EXPECT_EQ(runs, 1);
    a.reset();
    b.reset();
  }
}

// A child's callback drops the last copies of its own source and its own
// registration while the parent's cancellation propagates to it (and to
// its siblings doing the same). Callbacks "may register, deregister, cancel
// other sources"; a child "unlinks from its parents when its state goes
// away". Must not touch freed memory (ASan) or skip a sibling.
TEST(HostileLifetime, ChildCallbacksDestroyTheirSourcesDuringPropagation) {
  CancellationSource parent;
  constexpr int kChildren = 64;
  struct Child {
    std::unique_ptr<CancellationSource> source;
    std::unique_ptr<FnCallback> reg;
  };
  std::vector<Child> children(kChildren);
  int runs = 0;
  for (int i = 0; i < kChildren; ++i) {
    children[i].source = std::make_unique<CancellationSource>(parent.Token());
    Child* c = &children[i];
    children[i].reg = std::make_unique<FnCallback>(
        c->source->Token(), std::function<void()>([c, &runs] {
          ++runs;
          c->source.reset();
          c->reg.reset();
        }));
  }
  EXPECT_TRUE(parent.RequestCancellation());
  EXPECT_EQ(runs, kChildren);
  for (const Child& c : children) {
    EXPECT_EQ(c.source, nullptr);
    EXPECT_EQ(c.reg, nullptr);
  }
}

// A callback that destroys the last other source copy and every token,
// and requests cancellation again (a no-op returning false).
TEST(HostileLifetime, CallbackDropsEverythingButTheRequester) {
  auto requester = std::make_unique<CancellationSource>();
  auto other = std::make_unique<CancellationSource>(*requester);
  auto token = std::make_unique<CancellationToken>(other->Token());
  bool nested_result = true;
  std::unique_ptr<FnCallback> reg;
  reg = std::make_unique<FnCallback>(*token, std::function<void()>([&] {
    nested_result = other->RequestCancellation();
    other.reset();
    token.reset();
    reg.reset();
  }));
  EXPECT_TRUE(requester->RequestCancellation());
  EXPECT_FALSE(nested_result);
  EXPECT_TRUE(requester->IsCancellationRequested());
  requester.reset();
}

// thread_pool.h SUBMITTING: "after Shutdown() began, a Submit from outside
// the pool returns a future already failed with
// absl::FailedPreconditionError". on_worker_stop runs after the worker ran
// its last task, so a Submit there must be rejected, never lost.
TEST(HostileLifetime, SubmitFromOnWorkerStopIsRejectedNotLost) {
  ChildResult r = RunInChild([] {
    absl::Mutex mu;
    std::vector<Future<int>> futures;
    std::atomic<ThreadPool*> pool_ptr{nullptr};
    ThreadPoolOptions options;
    options.num_workers = 2;
    options.on_worker_stop = [&](int) {
      ThreadPool* p = pool_ptr.load();
      if (p == nullptr) return;
      Future<int> f = p->Submit([] { return 1; });
      absl::MutexLock lock(&mu);
      futures.push_back(std::move(f));
    };
    auto pool = std::make_unique<ThreadPool>(std::move(options));
    pool_ptr = pool.get();
    if (!pool->Submit([] { return 0; }).Get().ok()) return 2;
    pool->Shutdown();
    if (!pool->AwaitTermination(absl::Now() + absl::Seconds(30))) return 3;
    pool.reset();
    absl::MutexLock lock(&mu);
    if (futures.size() != 2) return 4;
    for (Future<int>& f : futures) {
      if (!f.WaitFor(absl::Seconds(10))) return 5;  // lost
      if (f.Get().status().code() != absl::StatusCode::kFailedPrecondition) {
        return 6;
      }
    }
    return 0;
  });
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// Hooks calling the read-only pool API from the worker threads themselves.
TEST(HostileLifetime, HooksQueryThePool) {
  std::atomic<ThreadPool*> pool_ptr{nullptr};
  std::atomic<int> stops_on_worker{0};
  ThreadPoolOptions options;
  options.num_workers = 3;
  options.on_worker_stop = [&](int index) {
    ThreadPool* p = pool_ptr.load();
    if (p == nullptr || index < 0 || index >= 3) return;
    if (p->OnWorkerThread() && p->IsShutdown()) stops_on_worker.fetch_add(1);
    (void)p->Stats();
    (void)p->Report();
    (void)p->AwaitTermination(absl::InfinitePast());
  };
  {
    ThreadPool pool(std::move(options));
    pool_ptr = &pool;
    EXPECT_EQ(*pool.Submit([] { return 1; }).Get(), 1);
  }
  EXPECT_EQ(stops_on_worker.load(), 3);
}

// DESTRUCTION: a task destroys its own pool while other tasks are queued:
// "the workers are detached, finish the remaining work ... and free the
// pool's internals when the last one exits". ~ThreadPool "never loses a task
// silently": every queued future resolves.
TEST(HostileLifetime, TaskDestroysPoolWithQueuedWork) {
  ChildResult r = RunInChild([] {
    auto holder = std::make_unique<ThreadPool>(1);
    ThreadPool* pool = holder.get();
    absl::Notification queued;
    auto killer = pool->Submit([&] {
      queued.WaitForNotification();
      holder.reset();
      return 5;
    });
    std::vector<Future<int>> rest;
    for (int i = 0; i < 100; ++i)
      rest.push_back(pool->Submit([i] { return i; }));
    queued.Notify();
    auto k = killer.Get();
    if (!k.ok() || *k != 5) return 2;
    for (int i = 0; i < 100; ++i) {
      auto v = rest[i].Get();
      if (!v.ok() || *v != i) return 3;
    }
    return 0;
  });
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// Everything after termination: Submit is rejected, every other call
// answers at once; futures outlive the pool; repeated shutdowns are no-ops.
TEST(HostileLifetime, CallsAfterTermination) {
  Future<int> survivor;
  {
    ThreadPool pool(2);
    survivor = pool.Submit([] { return 11; });
    EXPECT_TRUE(survivor.WaitFor(kLong));
    pool.Shutdown();
    EXPECT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
    EXPECT_TRUE(pool.IsShutdown());

    auto late = pool.Submit([] { return 1; });
    EXPECT_TRUE(late.IsReady());
    EXPECT_EQ(late.Outcome(), TaskOutcome::kFailed);
    EXPECT_FALSE(late.Cancel());
    EXPECT_EQ(late.Get().status().code(),
              absl::StatusCode::kFailedPrecondition);
    CancellationSource parent;
    parent.RequestCancellation();
    TaskOptions options;
    options.parent = parent.Token();
    auto late2 = pool.SubmitWith(options, [] { return 1; });
    EXPECT_TRUE(late2.IsReady());

    pool.Shutdown(ShutdownMode::kCancel);
    pool.Shutdown(ShutdownMode::kDrain);
    EXPECT_TRUE(pool.AwaitTermination(absl::InfinitePast()));
    ShutdownReport report =
        pool.DrainThenCancel(absl::ZeroDuration(), absl::ZeroDuration());
    EXPECT_TRUE(report.terminated);
    EXPECT_EQ(report.stats.InFlight(), 0u);
    PoolStats stats = pool.Stats();
    EXPECT_EQ(stats.submitted, 3u);
    EXPECT_EQ(stats.completed, 1u);
    EXPECT_EQ(stats.rejected, 2u);
    EXPECT_EQ(stats.InFlight(), 0u);
    EXPECT_TRUE(pool.Report().terminated);
  }
  EXPECT_TRUE(survivor.IsReady());
  EXPECT_FALSE(survivor.Cancel());
  EXPECT_EQ(*survivor.Get(), 11);
  EXPECT_EQ(survivor.Get().status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// future.h: "Waits on an empty future return at once (IsReady() is true;
// Get() returns FailedPrecondition)"; Cancel "On an empty (default-
// constructed or moved-from) future: false". cancellation.h: "A moved-from
// source has no state: its Token() is a never-cancelled token and
// RequestCancellation() returns false."
TEST(HostileLifetime, MovedFromObjects) {
  ThreadPool pool(1);
  Future<int> a = pool.Submit([] { return 3; });
  Future<int> b = std::move(a);
  EXPECT_FALSE(a.IsValid());  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(a.IsReady());
  a.Wait();
  EXPECT_TRUE(a.WaitFor(absl::ZeroDuration()));
  EXPECT_EQ(a.Wait(CancellationToken()), WaitResult::kReady);
  EXPECT_FALSE(a.Cancel());
  EXPECT_FALSE(a.GetCancelHandle().Cancel());
  EXPECT_FALSE(a.GetCancelHandle().IsReady());
  EXPECT_FALSE(a.Token().CanBeCancelled());
  EXPECT_EQ(a.Get().status().code(), absl::StatusCode::kFailedPrecondition);
  Future<int>& b_ref = b;
  b = std::move(b_ref);  // self-move keeps the state
  EXPECT_TRUE(b.IsValid());
  EXPECT_EQ(*b.Get(), 3);

  CancellationSource s;
  CancellationSource t = std::move(s);
  EXPECT_FALSE(s.RequestCancellation());  // NOLINT(bugprone-use-after-move)
  EXPECT_FALSE(s.Token().CanBeCancelled());
  EXPECT_TRUE(t.RequestCancellation());
  EXPECT_FALSE(s.IsCancellationRequested());
}

// future.h WAITING: "Waiting on a future from inside the very task that
// produces it ... Wait() returns at once, WaitFor/WaitUntil return false,
// and Get() returns absl::FailedPreconditionError."
TEST(HostileLifetime, TaskWaitsOnItsOwnFuture) {
  ChildResult r = RunInChild([] {
    ThreadPool pool(1);
    Future<int> self;
    absl::Notification published;
    absl::Notification checked;
    int verdict = -1;
    self = pool.Submit([&] {
      published.WaitForNotification();
      int v = 0;
      self.Wait();
      if (self.WaitFor(absl::Milliseconds(10))) v |= 1;
      if (self.WaitUntil(absl::InfiniteFuture())) v |= 2;
      if (self.Get().status().code() != absl::StatusCode::kFailedPrecondition) {
        v |= 4;
      }
      verdict = v;
      checked.Notify();
      return 1;
    });
    published.Notify();
    checked.WaitForNotification();
    if (verdict != 0) return 10 + verdict;
    auto v = self.Get();
    return v.ok() && *v == 1 ? 0 : 2;
  });
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// thread_pool.h DESTRUCTION with a function-local static pool: at exit() the
// destructor runs; "It never hangs on a task that observes its token". A
// task waiting for its own deadline observes its token.
//
// The task must be running when exit() starts, so the child waits for it to
// start -- but not unboundedly: if the worker reaches it only after its
// deadline (a forked child under TSan on a loaded machine stalled for over
// 0.3 s; the deadline then cancels it before it starts, and it never runs),
// the child says so (kNeverStarted) and the case is rerun with a longer
// deadline. (It used to wait for the start without a bound: that was the
// hang seen under TSan in CI, the child parked in that wait with the task
// cancelled before start.)
constexpr int kNeverStarted = 100;

int StaticPoolWithDeadlineTaskAtExit(absl::Duration deadline) {
  static absl::Notification started;
  static ThreadPool* pool = [] {
    ThreadPoolOptions options;
    options.num_workers = 1;
    options.destructor_grace = absl::InfiniteDuration();
    static ThreadPool p(std::move(options));
    return &p;
  }();
  auto f = pool->SubmitWith(TaskOptions::WithTimeout(deadline), [] {
    started.Notify();
    cancelpool::SleepFor(absl::InfiniteDuration());
  });
  // The task notifies before it can resolve: once `f` is ready without the
  // notification, the task never ran.
  while (!started.WaitForNotificationWithTimeout(absl::Milliseconds(10))) {
    if (f.IsReady() && !started.HasBeenNotified()) {
      return f.Outcome() == TaskOutcome::kCancelled ? kNeverStarted : 2;
    }
  }
  std::exit(0);  // runs the static destructors
  return 1;
}

TEST(HostileLifetime, StaticPoolWithDeadlineTaskAtExit) {
  for (absl::Duration deadline = absl::Milliseconds(300);;
       deadline = deadline * 4) {
    ChildResult r = RunInChild(
        [deadline] { return StaticPoolWithDeadlineTaskAtExit(deadline); },
        deadline + absl::Seconds(30));
    if (r.exited() && r.exit_code == kNeverStarted &&
        deadline < absl::Seconds(10)) {
      continue;  // the machine stalled past the deadline: a longer one
    }
    EXPECT_TRUE(r.ok()) << r.ToString() << " (deadline "
                        << absl::FormatDuration(deadline) << ")";
    break;
  }
}

// ---------------------------------------------------------------------------
// SignalShutdown. Each test runs in a child: Install() changes the process.

SignalShutdown::Options TestOptions() {
  SignalShutdown::Options options;
  options.allow_existing_threads = true;
  return options;
}

// signal_shutdown.h: "A watched pool must stay alive until it is unwatched
// or the SignalShutdown is destroyed"; WaitForShutdown "Blocks until a first
// signal arrived and every watched pool has terminated". Unwatching and
// destroying pools while another thread is inside WaitForShutdown is legal
// and must not make it touch them.
TEST(HostileLifetime, SignalWaitForShutdownVsUnwatchAndDelete) {
  ChildResult r = RunInChild(
      [] {
        auto installed = SignalShutdown::Install(TestOptions());
        if (!installed.ok()) return 2;
        std::unique_ptr<SignalShutdown> signals = std::move(*installed);
        constexpr int kPools = 8;
        // Gates before pools: destroyed after the pools' tasks have left them.
        std::vector<std::unique_ptr<Gate>> gates;
        std::vector<std::unique_ptr<ThreadPool>> pools;
        for (int i = 0; i < kPools; ++i) {
          pools.push_back(std::make_unique<ThreadPool>(1));
          gates.push_back(std::make_unique<Gate>());
          Gate* g = gates.back().get();
          pools.back()->Submit([g] { g->Block(); });
          g->started.WaitForNotification();
          signals->Watch(pools.back().get());
        }
        signals->Trigger(SIGTERM);
        if (!signals->WaitForSignal(absl::Now() + absl::Seconds(10))) return 3;
        bool waited = false;
        std::thread waiter([&] {
          waited = signals->WaitForShutdown(absl::Now() + absl::Seconds(40));
        });
        // Give the waiter time to enter its wait on pool 0 (only raises the
        // chance of the interleaving; the assertions do not depend on it).
        absl::SleepFor(absl::Milliseconds(200));
        for (int i = kPools - 1; i >= 1; --i) {
          signals->Unwatch(pools[i].get());
          gates[i]->release.Notify();
          pools[i].reset();
        }
        // Reuse the freed memory for something that never terminates.
        std::vector<std::unique_ptr<Gate>> decoy_gates;
        std::vector<std::unique_ptr<ThreadPool>> decoys;
        for (int i = 1; i < kPools; ++i) {
          decoys.push_back(std::make_unique<ThreadPool>(1));
          decoy_gates.push_back(std::make_unique<Gate>());
          Gate* g = decoy_gates.back().get();
          decoys.back()->Submit([g] { g->Block(); });
        }
        gates[0]->release.Notify();
        waiter.join();
        for (auto& g : decoy_gates) g->release.Notify();
        if (!waited) return 4;
        return 0;
      },
      absl::Seconds(30));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// A hook that unwatches and destroys the watched pool from the signal
// thread ("All methods are thread-safe"; the pool "may be destroyed" once
// unwatched). WaitForShutdown then has no pool left to wait for.
TEST(HostileLifetime, SignalHooksUnwatchAndDestroyPools) {
  ChildResult r = RunInChild(
      [] {
        std::unique_ptr<ThreadPool> first = std::make_unique<ThreadPool>(1);
        ThreadPoolOptions second_options;
        second_options.num_workers = 1;
        second_options.destructor_grace = absl::Milliseconds(20);
        std::unique_ptr<ThreadPool> second =
            std::make_unique<ThreadPool>(std::move(second_options));
        SignalShutdown* self = nullptr;
        SignalShutdown::Options options = TestOptions();
        options.on_first_signal = [&](int) {
          self->Unwatch(first.get());
          first.reset();
        };
        options.on_cancel = [&](int) {
          self->Unwatch(second.get());
          second.reset();
        };
        auto installed = SignalShutdown::Install(std::move(options));
        if (!installed.ok()) return 2;
        self = installed->get();
        absl::Notification started;
        second->Submit([&started] {
          started.Notify();
          cancelpool::SleepFor(kLong);  // observes its token
        });
        started.WaitForNotification();
        self->Watch(first.get());
        self->Watch(second.get());
        self->Trigger(SIGTERM);
        self->Trigger(SIGTERM);
        if (!self->WaitForShutdown(absl::Now() + absl::Seconds(30))) return 3;
        if (self->CurrentStage() != SignalShutdown::Stage::kCancelling)
          return 4;
        installed->reset();
        return (first == nullptr && second == nullptr) ? 0 : 5;
      },
      absl::Seconds(30));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// "3rd signal  the process exits at once with status 128 + signal number
// (std::_Exit ...)". At once: not after a user hook returns.
TEST(HostileLifetime, ThirdSignalExitsDespiteSlowHook) {
  ChildResult r = RunInChild(
      [] {
        absl::Notification in_hook;
        SignalShutdown::Options options = TestOptions();
        options.on_first_signal = [&](int) {
          in_hook.Notify();
          absl::SleepFor(absl::Seconds(50));  // a slow user hook
        };
        auto installed = SignalShutdown::Install(std::move(options));
        if (!installed.ok()) return 2;
        kill(getpid(), SIGTERM);
        in_hook.WaitForNotification();
        // Distinct signals, so the kernel cannot merge them.
        kill(getpid(), SIGINT);
        kill(getpid(), SIGTERM);
        absl::SleepFor(absl::Seconds(50));
        return 3;  // did not exit
      },
      absl::Seconds(20));
  EXPECT_FALSE(r.timed_out) << r.ToString();
  EXPECT_TRUE(r.exited()) << r.ToString();
  EXPECT_TRUE(r.exit_code == 128 + SIGINT || r.exit_code == 128 + SIGTERM)
      << r.ToString();
}

// Same with Trigger, while a cancellation callback of a running task is
// slow (cancellation callbacks run on the signal thread at kCancel).
TEST(HostileLifetime, ThirdTriggerExitsDespiteSlowCancellationCallback) {
  ChildResult r = RunInChild(
      [] {
        auto installed = SignalShutdown::Install(TestOptions());
        if (!installed.ok()) return 2;
        SignalShutdown* signals = installed->get();
        ThreadPool* pool = new ThreadPool(1);  // leaked: the process _Exits
        absl::Notification registered, in_callback;
        pool->Submit([&](CancellationToken token) {
          CancellationCallback slow(token, [&] {
            in_callback.Notify();
            absl::SleepFor(absl::Seconds(50));
          });
          registered.Notify();
          cancelpool::SleepFor(token, kLong);
          // The request may wake this sleep before it reaches `slow`: a
          // callback deregistered before it starts never runs, so keep it
          // registered until it has started.
          in_callback.WaitForNotification();
        });
        registered.WaitForNotification();
        signals->Watch(pool);
        signals->Trigger(SIGTERM);
        signals->Trigger(SIGTERM);
        in_callback.WaitForNotification();
        signals->Trigger(SIGTERM);
        absl::SleepFor(absl::Seconds(50));
        return 3;
      },
      absl::Seconds(20));
  EXPECT_FALSE(r.timed_out) << r.ToString();
  EXPECT_EQ(r.exit_code, 128 + SIGTERM) << r.ToString();
}

}  // namespace
}  // namespace cancelpool
