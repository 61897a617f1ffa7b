// Behavioural tests of shutdown, in-process: drain, cancel, DrainThenCancel,
// AwaitTermination, Report(), Shutdown from several threads and racing
// Submit/Cancel, Shutdown and destruction from inside a task, and the
// destructor with pending work.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/cause.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/internal/testing.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

using ::cancelpool::pool_internal::ThreadPoolTestPeer;
namespace cancelpool {
namespace {

using testing_util::ExpectStatsAddUp;
using testing_util::Gate;
using testing_util::kLong;
using testing_util::kSanitizer;
using testing_util::SpinUntilCancelled;

// A task that only stops when its token is cancelled, and acknowledges.
absl::Status UntilCancelled(CancellationToken t) {
  if (SleepFor(t, kLong) == WaitResult::kCancelled) return t.Reason();
  return absl::DeadlineExceededError("never cancelled");
}

class ShutdownTest : public ::testing::TestWithParam<int> {
 protected:
  int workers() const { return GetParam(); }
};

// ---------------------------------------------------------------------------
// Drain.

TEST_P(ShutdownTest, DrainRunsEverythingAndRejectsOutsideSubmits) {
  std::atomic<int> ran{0};
  ThreadPool pool(workers());
  const int n = kSanitizer ? 500 : 5000;
  std::vector<Future<int>> fs;
  for (int i = 0; i < n; ++i) {
    fs.push_back(pool.Submit([&ran, i] {
      ran.fetch_add(1);
      return i;
    }));
  }
  EXPECT_FALSE(pool.IsShutdown());
  pool.Shutdown(ShutdownMode::kDrain);
  EXPECT_TRUE(pool.IsShutdown());
  Future<int> late = pool.Submit([] { return -1; });
  EXPECT_TRUE(late.IsReady());
  EXPECT_EQ(late.Outcome(), TaskOutcome::kFailed);
  EXPECT_EQ(late.Get().status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_EQ(ran.load(), n);
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(fs[i].IsReady());
    EXPECT_EQ(*fs[i].Get(), i);
  }
  const ShutdownReport r = pool.Report();
  EXPECT_TRUE(r.terminated);
  EXPECT_EQ(r.stats.InFlight(), 0u);
  EXPECT_EQ(r.stats.completed, static_cast<uint64_t>(n));
  EXPECT_EQ(r.stats.rejected, 1u);
  EXPECT_EQ(r.stats.submitted, static_cast<uint64_t>(n + 1));
  ExpectStatsAddUp(r.stats);
}

TEST_P(ShutdownTest, DrainAcceptsAndRunsChildrenOfRunningTasks) {
  absl::Notification shut;
  std::atomic<int> ran{0};
  ThreadPool pool(workers());
  Future<int> parent = pool.Submit([&]() -> int {
    shut.WaitForNotificationWithTimeout(kLong);
    // Draining: children (and theirs) are still accepted and run.
    std::vector<Future<int>> children;
    for (int i = 0; i < 20; ++i) {
      children.push_back(pool.Submit([&pool, &ran] {
        Future<void> grandchild = pool.Submit([&ran] { ran.fetch_add(1); });
        ran.fetch_add(1);
        return grandchild.Get().ok() ? 1 : 0;
      }));
    }
    int sum = 0;
    for (auto& c : children) {
      absl::StatusOr<int> r = c.Get();
      sum += r.ok() ? *r : 0;
    }
    return sum;
  });
  // Children that are never waited on also run.
  pool.Shutdown(ShutdownMode::kDrain);
  shut.Notify();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_EQ(*parent.Get(), 20);
  EXPECT_EQ(ran.load(), 40);
  const ShutdownReport r = pool.Report();
  EXPECT_TRUE(r.terminated);
  EXPECT_EQ(r.stats.completed, 41u);
  EXPECT_EQ(r.stats.rejected, 0u);
  ExpectStatsAddUp(r.stats);
}

TEST_P(ShutdownTest, DrainOfIdlePoolTerminatesAtOnce) {
  ThreadPool pool(workers());
  EXPECT_TRUE(pool.Submit([] { return 1; }).Get().ok());
  pool.Shutdown();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_TRUE(pool.Report().terminated);
  // Terminated: AwaitTermination answers at once, even with a past deadline.
  EXPECT_TRUE(pool.AwaitTermination(absl::InfinitePast()));
}

// ---------------------------------------------------------------------------
// Cancel.

TEST_P(ShutdownTest, CancelResolvesQueuedWithoutRunningAndCancelsRunning) {
  absl::BlockingCounter started(workers());
  std::atomic<int> queued_ran{0};
  ThreadPool pool(workers());
  // Occupy every worker with a task that only stops when cancelled.
  std::vector<Future<void>> running;
  for (int i = 0; i < workers(); ++i) {
    running.push_back(pool.Submit([&](CancellationToken t) {
      started.DecrementCount();
      return UntilCancelled(t);
    }));
  }
  started.Wait();
  constexpr int kQueued = 200;
  std::vector<Future<void>> queued;
  for (int i = 0; i < kQueued; ++i) {
    queued.push_back(pool.Submit([&] { queued_ran.fetch_add(1); }));
  }
  const absl::Status reason = absl::UnavailableError("maintenance");
  pool.Shutdown(ShutdownMode::kCancel, reason);
  // Not necessarily all resolved when Shutdown returns: the running tasks
  // are cancelled first, and a freed worker may hold a batch taken from the
  // injection queue; it resolves those (without running them) itself.
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  for (auto& f : queued) {
    ASSERT_TRUE(f.IsReady());
    EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
    EXPECT_EQ(f.Get(),
              WithCancellationCause(reason, CancellationCause::kShutdown));
  }
  for (auto& f : running) {
    EXPECT_EQ(f.Get(),
              WithCancellationCause(reason, CancellationCause::kShutdown));
    EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  }
  EXPECT_EQ(queued_ran.load(), 0);
  const ShutdownReport r = pool.Report();
  EXPECT_TRUE(r.terminated);
  EXPECT_EQ(r.stats.InFlight(), 0u);
  EXPECT_EQ(r.stats.cancelled_before_start, static_cast<uint64_t>(kQueued));
  EXPECT_EQ(r.stats.cancelled_while_running, static_cast<uint64_t>(workers()));
  ExpectStatsAddUp(r.stats);
}

TEST_P(ShutdownTest, CancelWithOkReasonUsesTheDefaultReason) {
  absl::Notification started;
  ThreadPool pool(workers());
  Future<void> f = pool.Submit([&](CancellationToken t) {
    started.Notify();
    return UntilCancelled(t);
  });
  started.WaitForNotification();
  pool.Shutdown(ShutdownMode::kCancel);
  absl::Status s = f.Get();
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
}

TEST_P(ShutdownTest, InsideSubmitWhileCancellingResolvesCancelled) {
  absl::Notification started;
  std::atomic<bool> child_ran{false};
  ThreadPool pool(workers());
  Future<bool> parent = pool.Submit([&](CancellationToken t) {
    started.Notify();
    SpinUntilCancelled(t);
    Future<void> child = pool.Submit([&] { child_ran = true; });
    return child.IsReady() && child.Outcome() == TaskOutcome::kCancelled;
  });
  started.WaitForNotification();
  pool.Shutdown(ShutdownMode::kCancel);
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  absl::StatusOr<bool> r = parent.Get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(*r) << "a child submitted while cancelling was not resolved as "
                     "cancelled at once";
  EXPECT_FALSE(child_ran.load());
  ExpectStatsAddUp(pool.Report().stats);
}

int64_t Fib(ThreadPool& pool, int n) {
  if (n < 2) return n;
  Future<int64_t> a = pool.Submit([&pool, n] { return Fib(pool, n - 1); });
  const int64_t b = Fib(pool, n - 2);
  absl::StatusOr<int64_t> ar = a.Get();  // a helping wait
  return ar.ok() ? *ar + b : 0;
}

TEST_P(ShutdownTest, CancelShutdownWhileWorkersEnterHelpedTasks) {
  // Workers constantly start tasks nested in helping waits while a cancel
  // shutdown reaches into their running-task slots: it must terminate.
  const int rounds = kSanitizer ? 20 : 200;
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < rounds; ++round) {
    ThreadPoolOptions options;
    options.num_workers = workers();
    ThreadPool pool = ThreadPoolTestPeer::Make(std::move(options), 4);
    std::vector<Future<int64_t>> roots;
    for (int i = 0; i < workers() + 1; ++i) {
      roots.push_back(
          pool.Submit([&pool] { return Fib(pool, kSanitizer ? 11 : 14); }));
    }
    for (int k = 0, n = static_cast<int>(rng() % 3000); k < n; ++k) {
      std::this_thread::yield();
    }
    pool.Shutdown(ShutdownMode::kCancel);
    ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong))
        << "round " << round << ": no termination after a cancel shutdown "
        << "during helping waits";
    for (auto& f : roots) ASSERT_TRUE(f.IsReady());
    ExpectStatsAddUp(pool.Report().stats);
  }
}

TEST_P(ShutdownTest, CancelReachesATaskNestedInAHelpingWait) {
  // The outer task waits on an inner one that the wait runs inline; a
  // cancel shutdown must reach both.
  absl::Notification inner_started;
  ThreadPool pool(workers());
  Future<void> outer = pool.Submit([&](CancellationToken t) -> absl::Status {
    Future<void> inner = pool.Submit([&](CancellationToken it) {
      inner_started.Notify();
      return UntilCancelled(it);
    });
    absl::Status s = inner.Get();
    if (s.code() != absl::StatusCode::kAborted) {
      return absl::InternalError(absl::StrCat("inner: ", s.ToString()));
    }
    if (!SpinUntilCancelled(t)) return absl::InternalError("outer missed");
    return t.Reason();
  });
  inner_started.WaitForNotification();
  pool.Shutdown(ShutdownMode::kCancel, absl::AbortedError("stop"));
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_EQ(outer.Get(), WithCancellationCause(absl::AbortedError("stop"),
                                               CancellationCause::kShutdown));
}

TEST_P(ShutdownTest, CancelAfterDrainEscalatesDrainAfterCancelDoesNothing) {
  absl::Notification started;
  ThreadPool pool(workers());
  Future<void> f = pool.Submit([&](CancellationToken t) {
    started.Notify();
    return UntilCancelled(t);
  });
  started.WaitForNotification();
  pool.Shutdown(ShutdownMode::kDrain);
  EXPECT_FALSE(f.Token().IsCancellationRequested());
  EXPECT_FALSE(pool.AwaitTermination(absl::Now() + absl::Milliseconds(20)));
  pool.Shutdown(ShutdownMode::kCancel, absl::AbortedError("escalated"));
  pool.Shutdown(ShutdownMode::kDrain);
  pool.Shutdown(ShutdownMode::kCancel, absl::AbortedError("again"));
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_EQ(f.Get(), WithCancellationCause(absl::AbortedError("escalated"),
                                           CancellationCause::kShutdown));
}

// ---------------------------------------------------------------------------
// DrainThenCancel, AwaitTermination and Report.

TEST_P(ShutdownTest, DrainThenCancelLetsCooperativeTasksFinish) {
  std::atomic<int> ran{0};
  ThreadPool pool(workers());
  std::vector<Future<void>> fs;
  for (int i = 0; i < 100; ++i) {
    fs.push_back(pool.Submit([&] { ran.fetch_add(1); }));
  }
  const absl::Time start = absl::Now();
  const ShutdownReport r = pool.DrainThenCancel(kLong, kLong);
  EXPECT_LT(absl::Now() - start, kLong);
  EXPECT_TRUE(r.terminated);
  EXPECT_EQ(r.stats.InFlight(), 0u);
  EXPECT_EQ(ran.load(), 100);
  EXPECT_EQ(r.stats.completed, 100u);
  EXPECT_EQ(r.stats.cancelled_before_start + r.stats.cancelled_while_running,
            0u);
  ExpectStatsAddUp(r.stats);
}

TEST_P(ShutdownTest, DrainThenCancelCancelsTaskThatOnlyStopsWhenCancelled) {
  absl::BlockingCounter started(workers());
  std::atomic<int> queued_ran{0};
  ThreadPool pool(workers());
  std::vector<Future<void>> stubborn;
  for (int i = 0; i < workers(); ++i) {
    stubborn.push_back(pool.Submit([&](CancellationToken t) {
      started.DecrementCount();
      return UntilCancelled(t);
    }));
  }
  started.Wait();
  std::vector<Future<void>> queued;
  for (int i = 0; i < 10; ++i) {
    queued.push_back(pool.Submit([&] { queued_ran.fetch_add(1); }));
  }
  const absl::Duration grace = absl::Milliseconds(100);
  const absl::Time start = absl::Now();
  const ShutdownReport r =
      pool.DrainThenCancel(grace, kLong, absl::AbortedError("grace over"));
  EXPECT_GE(absl::Now() - start, grace);
  EXPECT_TRUE(r.terminated);
  EXPECT_EQ(r.stats.InFlight(), 0u);
  for (auto& f : stubborn) {
    EXPECT_EQ(f.Get(), WithCancellationCause(absl::AbortedError("grace over"),
                                             CancellationCause::kShutdown));
    EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  }
  // Every worker was busy for the whole grace: the queued tasks never ran.
  for (auto& f : queued) {
    EXPECT_EQ(f.Get(), WithCancellationCause(absl::AbortedError("grace over"),
                                             CancellationCause::kShutdown));
  }
  EXPECT_EQ(queued_ran.load(), 0);
  EXPECT_EQ(r.stats.cancelled_while_running, static_cast<uint64_t>(workers()));
  EXPECT_EQ(r.stats.cancelled_before_start, 10u);
  ExpectStatsAddUp(r.stats);
}

TEST_P(ShutdownTest, ReportCountsTaskThatIgnoresItsTokenAsStillRunning) {
  Gate gate;
  ThreadPool pool(workers());
  Future<int> ignorer = pool.Submit([&] {
    gate.Block();
    return 9;
  });
  gate.started.WaitForNotification();
  const ShutdownReport r1 =
      pool.DrainThenCancel(absl::Milliseconds(20), absl::Milliseconds(20));
  EXPECT_FALSE(r1.terminated);
  EXPECT_EQ(r1.stats.InFlight(), 1u);
  EXPECT_FALSE(pool.AwaitTermination(absl::Now() + absl::Milliseconds(10)));
  const ShutdownReport r2 = pool.Report();
  EXPECT_FALSE(r2.terminated);
  EXPECT_EQ(r2.stats.InFlight(), 1u);
  EXPECT_TRUE(ignorer.Token().IsCancellationRequested());
  gate.release.Notify();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  // It ignored the cancellation: its real result.
  EXPECT_EQ(*ignorer.Get(), 9);
  const ShutdownReport r3 = pool.Report();
  EXPECT_TRUE(r3.terminated);
  EXPECT_EQ(r3.stats.InFlight(), 0u);
  EXPECT_EQ(r3.stats.completed, 1u);
  ExpectStatsAddUp(r3.stats);
}

TEST_P(ShutdownTest, AwaitTerminationDeadlines) {
  Gate gate;
  ThreadPool pool(workers());
  // Not shut down: never terminates, so the deadline decides.
  EXPECT_FALSE(pool.AwaitTermination(absl::Now() + absl::Milliseconds(10)));
  EXPECT_FALSE(pool.AwaitTermination(absl::InfinitePast()));
  Future<void> f = pool.Submit([&] { gate.Block(); });
  gate.started.WaitForNotification();
  pool.Shutdown();
  const absl::Time start = absl::Now();
  EXPECT_FALSE(pool.AwaitTermination(start + absl::Milliseconds(30)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(30));
  EXPECT_FALSE(pool.Report().terminated);
  gate.release.Notify();
  EXPECT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_TRUE(f.IsReady());
}

// ---------------------------------------------------------------------------
// Shutdown from several threads, and racing Submit and Cancel.

TEST_P(ShutdownTest, ShutdownFromSeveralThreadsConcurrentlyAndRepeatedly) {
  absl::Notification go;
  ThreadPool pool(workers());
  std::vector<Future<void>> fs;
  for (int i = 0; i < 200; ++i) {
    fs.push_back(pool.Submit([](CancellationToken t) {
      for (int k = 0; k < 100 && !t.IsCancellationRequested(); ++k) {
        std::this_thread::yield();
      }
    }));
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      go.WaitForNotification();
      for (int i = 0; i < 50; ++i) {
        pool.Shutdown(
            (i + t) % 3 == 0 ? ShutdownMode::kCancel : ShutdownMode::kDrain,
            absl::CancelledError(absl::StrCat("thread ", t)));
        pool.Stats();
        pool.Report();
      }
    });
  }
  go.Notify();
  for (auto& t : threads) t.join();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  for (auto& f : fs) {
    ASSERT_TRUE(f.IsReady());
    EXPECT_NE(f.Outcome(), TaskOutcome::kFailed);
  }
  const ShutdownReport r = pool.Report();
  EXPECT_TRUE(r.terminated);
  ExpectStatsAddUp(r.stats);
  EXPECT_EQ(r.stats.submitted, 200u);
}

// Counts constructions and destructions of the callables' captures, so the
// stress tests can check every callable is destroyed exactly once.
struct Census {
  std::atomic<int64_t> constructed{0};
  std::atomic<int64_t> destroyed{0};
  std::vector<std::atomic<int>> live_destroyed;  // per task id
  std::vector<std::atomic<int>> runs;            // per task id
  explicit Census(size_t n) : live_destroyed(n), runs(n) {}
};
class Counted {
 public:
  Counted(Census* c, int id) : census_(c), id_(id) { census_->constructed++; }
  Counted(const Counted& o) : census_(o.census_), id_(o.id_), live_(o.live_) {
    census_->constructed++;
  }
  Counted(Counted&& o) noexcept
      : census_(o.census_), id_(o.id_), live_(std::exchange(o.live_, false)) {
    census_->constructed++;
  }
  Counted& operator=(const Counted&) = delete;
  ~Counted() {
    census_->destroyed++;
    if (live_) census_->live_destroyed[id_]++;
  }
  int id() const { return id_; }
  void Ran() const { census_->runs[id_]++; }

 private:
  Census* census_;
  int id_;
  bool live_ = true;
};

TEST_P(ShutdownTest, ShutdownRacingSubmitAndCancel) {
  const int rounds = kSanitizer ? 6 : 30;
  const uint32_t base_seed = std::random_device{}();
  for (int round = 0; round < rounds; ++round) {
    const uint32_t seed = base_seed + round;
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    std::printf("ShutdownRacingSubmitAndCancel: workers=%d seed=%u\n",
                workers(), seed);
    constexpr int kThreads = 3;
    const int per_thread = kSanitizer ? 100 : 400;
    Census census(kThreads * per_thread);
    std::vector<std::vector<Future<int>>> futures(kThreads);
    {
      ThreadPoolOptions options;
      options.num_workers = workers();
      ThreadPool pool = ThreadPoolTestPeer::Make(std::move(options), 4);
      absl::Notification go;
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
          std::mt19937 rng(seed * 31 + t);
          go.WaitForNotification();
          for (int i = 0; i < per_thread; ++i) {
            const int id = t * per_thread + i;
            Counted c(&census, id);
            switch (rng() % 3) {
              case 0:
                futures[t].push_back(pool.Submit([c = std::move(c)] {
                  c.Ran();
                  return c.id();
                }));
                break;
              case 1:
                futures[t].push_back(pool.Submit(
                    [c = std::move(c)](
                        CancellationToken tok) -> absl::StatusOr<int> {
                      c.Ran();
                      for (int k = 0; k < 50; ++k) {
                        if (tok.IsCancellationRequested()) return tok.Reason();
                        std::this_thread::yield();
                      }
                      return c.id();
                    }));
                break;
              default:
                futures[t].push_back(pool.Submit([c = std::move(c), &pool] {
                  c.Ran();
                  // A child whose future is dropped: accepted while draining,
                  // cancelled while cancelling; either way not lost.
                  pool.Submit([] {});
                  return c.id();
                }));
                break;
            }
            if (rng() % 4 == 0 && !futures[t].empty()) {
              futures[t][rng() % futures[t].size()].Cancel();
            }
          }
        });
      }
      go.Notify();
      // Shut down somewhere in the middle of the submissions.
      std::mt19937 rng(seed);
      for (int k = 0, n = static_cast<int>(rng() % 2000); k < n; ++k) {
        std::this_thread::yield();
      }
      pool.Shutdown(rng() % 2 == 0 ? ShutdownMode::kDrain
                                   : ShutdownMode::kCancel);
      for (auto& th : threads) th.join();
      ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong))
          << "no termination after a shutdown racing submissions";
      const ShutdownReport r = pool.Report();
      EXPECT_TRUE(r.terminated);
      ExpectStatsAddUp(r.stats);
      uint64_t succeeded = 0, rejected = 0, cancelled = 0;
      for (int t = 0; t < kThreads; ++t) {
        for (size_t i = 0; i < futures[t].size(); ++i) {
          Future<int>& f = futures[t][i];
          const int id = t * per_thread + static_cast<int>(i);
          ASSERT_TRUE(f.IsReady()) << "id " << id << " never resolved";
          const int runs = census.runs[id].load();
          ASSERT_LE(runs, 1) << "id " << id << " ran twice";
          absl::StatusOr<int> v = f.Get();
          switch (f.Outcome()) {
            case TaskOutcome::kSucceeded:
              ++succeeded;
              EXPECT_EQ(runs, 1);
              EXPECT_EQ(*v, id);
              break;
            case TaskOutcome::kFailed:
              ++rejected;
              EXPECT_EQ(runs, 0);
              EXPECT_EQ(v.status().code(),
                        absl::StatusCode::kFailedPrecondition)
                  << v.status();
              break;
            case TaskOutcome::kCancelled:
              ++cancelled;
              EXPECT_EQ(v.status().code(), absl::StatusCode::kCancelled);
              break;
            case TaskOutcome::kPending:
              ADD_FAILURE() << "resolved but pending";
              break;
          }
        }
      }
      // Children are counted in the stats too; only compare what the
      // futures see against lower bounds, and rejections exactly.
      EXPECT_EQ(r.stats.rejected, rejected);
      EXPECT_GE(r.stats.completed, succeeded);
      EXPECT_GE(
          r.stats.cancelled_before_start + r.stats.cancelled_while_running,
          cancelled);
    }
    futures.clear();
    EXPECT_EQ(census.constructed.load(), census.destroyed.load());
    for (int id = 0; id < kThreads * per_thread; ++id) {
      ASSERT_EQ(census.live_destroyed[id].load(), 1)
          << "callable of task " << id << " destroyed "
          << census.live_destroyed[id].load() << " times";
    }
  }
}

// ---------------------------------------------------------------------------
// From inside a task.

TEST_P(ShutdownTest, ShutdownInsideTaskDoesNotWaitForItself) {
  std::atomic<int> children_ran{0};
  ThreadPool pool(workers());
  Future<bool> f = pool.Submit([&] {
    pool.Shutdown(ShutdownMode::kDrain);
    const absl::Time start = absl::Now();
    const bool terminated = pool.AwaitTermination(absl::Now() + kLong);
    const bool quick = absl::Now() - start < absl::Seconds(10);
    for (int i = 0; i < 5; ++i) pool.Submit([&] { children_ran.fetch_add(1); });
    return !terminated && quick;
  });
  ASSERT_TRUE(f.WaitFor(kLong)) << "Shutdown/AwaitTermination inside hung";
  EXPECT_TRUE(*f.Get()) << "AwaitTermination inside a task waited or said "
                           "terminated";
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_EQ(children_ran.load(), 5);
}

TEST_P(ShutdownTest, CancelShutdownInsideTaskCancelsTheCallerToo) {
  ThreadPool pool(workers());
  Future<void> f = pool.Submit([&](CancellationToken t) -> absl::Status {
    pool.Shutdown(ShutdownMode::kCancel, absl::AbortedError("from inside"));
    if (!t.IsCancellationRequested()) {
      return absl::InternalError("the calling task's token was not cancelled");
    }
    return t.Reason();
  });
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_EQ(f.Get(), WithCancellationCause(absl::AbortedError("from inside"),
                                           CancellationCause::kShutdown));
}

TEST_P(ShutdownTest, DrainThenCancelInsideTaskDoesNotHang) {
  ThreadPool pool(workers());
  Future<bool> f = pool.Submit([&] {
    const ShutdownReport r =
        pool.DrainThenCancel(absl::Seconds(1), absl::Seconds(1));
    return r.terminated;
  });
  ASSERT_TRUE(f.WaitFor(kLong)) << "DrainThenCancel inside a task hung";
  absl::StatusOr<bool> r = f.Get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(*r);
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
}

TEST_P(ShutdownTest, DrainThenCancelInsideTaskStillDrainsForTheGrace) {
  // A task (say, an admin "shut down" request) calls DrainThenCancel: it
  // cannot wait, but the rest of the work still gets the grace period --
  // queued tasks run, running tasks are not cancelled before it ends.
  std::atomic<int> queued_ran{0};
  absl::Notification all_submitted, caller_done;
  ThreadPool pool(workers());
  Future<bool> caller = pool.Submit([&](CancellationToken t) {
    all_submitted.WaitForNotificationWithTimeout(kLong);
    const ShutdownReport r = pool.DrainThenCancel(kLong, kLong);
    caller_done.Notify();
    return !r.terminated && !t.IsCancellationRequested();
  });
  std::vector<Future<void>> queued;
  for (int i = 0; i < 20; ++i) {
    queued.push_back(pool.Submit([&](CancellationToken t) {
      // Started after the drain began at the earliest; not cancelled.
      caller_done.WaitForNotificationWithTimeout(kLong);
      queued_ran.fetch_add(1);
      return t.IsCancellationRequested() ? absl::InternalError("cancelled")
                                         : absl::OkStatus();
    }));
  }
  all_submitted.Notify();
  ASSERT_TRUE(caller.WaitFor(kLong)) << "DrainThenCancel inside a task hung";
  absl::StatusOr<bool> r = caller.Get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(*r) << "DrainThenCancel inside cancelled at once (its caller "
                     "too) instead of draining for the grace";
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  for (auto& f : queued) {
    absl::Status s = f.Get();
    EXPECT_TRUE(s.ok()) << s;
  }
  EXPECT_EQ(queued_ran.load(), 20);
}

TEST_P(ShutdownTest, DrainThenCancelInsideTaskCancelsWhenTheGraceEnds) {
  absl::Notification stubborn_started;
  ThreadPool pool(std::max(2, workers()));
  Future<void> stubborn = pool.Submit([&](CancellationToken t) {
    stubborn_started.Notify();
    return UntilCancelled(t);
  });
  stubborn_started.WaitForNotification();
  Future<bool> caller = pool.Submit([&] {
    return pool
        .DrainThenCancel(absl::Milliseconds(100), kLong,
                         absl::AbortedError("grace over"))
        .terminated;
  });
  ASSERT_TRUE(caller.WaitFor(kLong));
  EXPECT_FALSE(*caller.Get());
  // Nobody waits outside: the escalation at the end of the grace still
  // happens.
  ASSERT_TRUE(stubborn.WaitFor(kLong))
      << "the task that only stops when cancelled was never cancelled";
  EXPECT_EQ(stubborn.Get(),
            WithCancellationCause(absl::AbortedError("grace over"),
                                  CancellationCause::kShutdown));
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
}

// Notifies when destroyed: captured by a pool option's hook, it tells when
// the pool's internals (which own the options) are gone.
class Tripwire {
 public:
  explicit Tripwire(absl::Notification* n) : n_(n) {}
  Tripwire(const Tripwire&) = delete;
  Tripwire& operator=(const Tripwire&) = delete;
  ~Tripwire() { n_->Notify(); }

 private:
  absl::Notification* n_;
};

TEST_P(ShutdownTest, DestroyPoolInsideTask) {
  absl::BlockingCounter stopped(workers());
  absl::Notification internals_gone;
  std::atomic<int> ran{0};
  absl::Notification all_submitted, destroyed;
  ThreadPoolOptions options;
  options.num_workers = workers();
  options.on_worker_stop =
      [&stopped, wire = std::make_shared<Tripwire>(&internals_gone)](int) {
        stopped.DecrementCount();
      };
  auto pool = std::make_unique<ThreadPool>(std::move(options));
  ThreadPool* raw = pool.get();
  // Work queued before and around the destruction.
  std::vector<Future<int>> fs;
  for (int i = 0; i < 50; ++i) {
    fs.push_back(raw->Submit([&ran, i] {
      ran.fetch_add(1);
      return i;
    }));
  }
  Future<bool> killer = raw->Submit([&] {
    all_submitted.WaitForNotificationWithTimeout(kLong);
    pool.reset();  // ~ThreadPool on a worker of that pool
    destroyed.Notify();
    return true;
  });
  for (int i = 50; i < 100; ++i) {
    fs.push_back(raw->Submit([&ran, i] {
      ran.fetch_add(1);
      return i;
    }));
  }
  raw = nullptr;  // from here on only the task may touch the pool
  all_submitted.Notify();
  ASSERT_TRUE(destroyed.WaitForNotificationWithTimeout(kLong))
      << "destroying the pool inside its own task hung";
  ASSERT_TRUE(killer.WaitFor(kLong));
  EXPECT_TRUE(*killer.Get());
  // Everything accepted before the destruction still runs (drain).
  for (size_t i = 0; i < fs.size(); ++i) {
    ASSERT_TRUE(fs[i].WaitFor(kLong)) << "task " << i << " never resolved";
    absl::StatusOr<int> r = fs[i].Get();
    ASSERT_TRUE(r.ok()) << "task " << i << ": " << r.status();
    EXPECT_EQ(*r, static_cast<int>(i));
  }
  stopped.Wait();
  ASSERT_TRUE(internals_gone.WaitForNotificationWithTimeout(kLong))
      << "the pool's internals were never freed";
  EXPECT_EQ(ran.load(), 100);
}

// Blocks in its destructor: a callable capturing it makes the cancelling
// thread slow to finish resolving a task cancelled before it started.
class SlowToDestroy {
 public:
  SlowToDestroy(absl::Notification* entered, absl::Notification* leave)
      : entered_(entered), leave_(leave) {}
  SlowToDestroy(const SlowToDestroy&) = delete;
  SlowToDestroy& operator=(const SlowToDestroy&) = delete;
  ~SlowToDestroy() {
    entered_->Notify();
    leave_->WaitForNotificationWithTimeout(kLong);
  }

 private:
  absl::Notification* entered_;
  absl::Notification* leave_;
};

TEST_P(ShutdownTest, NoTerminationWhileACancelIsStillResolvingATask) {
  // Future::Cancel of a queued task resolves it on the cancelling thread,
  // after destroying the callable. Meanwhile a worker pops the task and
  // skips it. The pool must not count as terminated -- nor be freed under
  // the canceller, which still updates the pool's statistics -- before the
  // task resolved.
  Gate gate;
  absl::Notification in_dtor, leave_dtor;
  auto pool = std::make_unique<ThreadPool>(workers());
  std::vector<Future<void>> blockers;
  std::vector<std::unique_ptr<Gate>> gates;
  for (int i = 0; i < workers(); ++i) {
    gates.push_back(std::make_unique<Gate>());
    Gate* g = gates.back().get();
    blockers.push_back(pool->Submit([g, &gate] {
      g->started.Notify();
      gate.release.WaitForNotificationWithTimeout(kLong);
    }));
    g->started.WaitForNotification();
  }
  std::atomic<bool> ran{false};
  Future<void> victim =
      pool->Submit([&ran, slow = std::make_shared<SlowToDestroy>(
                              &in_dtor, &leave_dtor)] { ran = true; });
  std::thread canceller([&] { EXPECT_TRUE(victim.Cancel()); });
  in_dtor.WaitForNotification();  // the cancel is under way
  gate.release.Notify();          // a worker now pops the victim
  pool->Shutdown();
  const bool terminated_early =
      pool->AwaitTermination(absl::Now() + absl::Milliseconds(200));
  EXPECT_FALSE(terminated_early)
      << "the pool terminated while a cancelled task was not resolved yet";
  if (terminated_early) {
    EXPECT_FALSE(pool->Report().terminated);
    pool.reset();  // as a caller would; the canceller then touches it
  }
  leave_dtor.Notify();
  canceller.join();
  if (pool != nullptr) {
    ASSERT_TRUE(pool->AwaitTermination(absl::Now() + kLong));
    const ShutdownReport r = pool->Report();
    EXPECT_TRUE(r.terminated);
    EXPECT_EQ(r.stats.cancelled_before_start, 1u);
    ExpectStatsAddUp(r.stats);
  }
  EXPECT_TRUE(victim.IsReady());
  EXPECT_EQ(victim.Outcome(), TaskOutcome::kCancelled);
  EXPECT_FALSE(ran.load());
}

TEST_P(ShutdownTest, DestroyPoolInsideTaskStillCancelsAfterTheGrace) {
  // The destructor drains for destructor_grace and then cancels; from
  // inside a task it cannot wait, but a task that only stops when cancelled
  // must still be cancelled when the grace ends -- or the detached workers
  // would never exit.
  absl::Notification internals_gone, stubborn_started;
  ThreadPoolOptions options;
  options.num_workers = std::max(2, workers());
  options.destructor_grace = absl::Milliseconds(100);
  options.on_worker_stop =
      [wire = std::make_shared<Tripwire>(&internals_gone)](int) {};
  auto pool = std::make_unique<ThreadPool>(std::move(options));
  Future<void> stubborn =
      pool->Submit([&](CancellationToken t) -> absl::Status {
        stubborn_started.Notify();
        if (SleepFor(t, absl::Seconds(10)) == WaitResult::kCancelled) {
          return t.Reason();
        }
        return absl::InternalError("never cancelled");
      });
  stubborn_started.WaitForNotification();
  Future<void> killer = pool->Submit([&] { pool.reset(); });
  ASSERT_TRUE(killer.WaitFor(kLong));
  ASSERT_TRUE(stubborn.WaitFor(kLong));
  absl::Status s = stubborn.Get();
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_EQ(stubborn.Outcome(), TaskOutcome::kCancelled);
  ASSERT_TRUE(internals_gone.WaitForNotificationWithTimeout(kLong))
      << "the pool's internals were never freed";
}

TEST_P(ShutdownTest, DestructorWithPendingWorkLosesNothing) {
  std::atomic<int> ran{0};
  std::vector<Future<void>> fs;
  {
    ThreadPool pool(workers());
    for (int i = 0; i < 1000; ++i) {
      fs.push_back(pool.Submit([&] { ran.fetch_add(1); }));
    }
  }
  for (auto& f : fs) {
    ASSERT_TRUE(f.IsReady());
    EXPECT_TRUE(f.Get().ok());
  }
  EXPECT_EQ(ran.load(), 1000);
}

TEST_P(ShutdownTest, DestructorCancelsAfterGrace) {
  std::vector<Future<void>> stubborn, queued;
  std::atomic<int> queued_ran{0};
  {
    ThreadPoolOptions options;
    options.num_workers = workers();
    options.destructor_grace = absl::Milliseconds(50);
    ThreadPool pool(std::move(options));
    absl::BlockingCounter started(workers());
    for (int i = 0; i < workers(); ++i) {
      stubborn.push_back(pool.Submit([&](CancellationToken t) {
        started.DecrementCount();
        return UntilCancelled(t);
      }));
    }
    started.Wait();
    for (int i = 0; i < 20; ++i) {
      queued.push_back(pool.Submit([&] { queued_ran.fetch_add(1); }));
    }
  }
  for (auto& f : stubborn) {
    ASSERT_TRUE(f.IsReady());
    EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  }
  for (auto& f : queued) {
    ASSERT_TRUE(f.IsReady());
    EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  }
  EXPECT_EQ(queued_ran.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Workers, ShutdownTest, ::testing::Values(1, 2, 8));

}  // namespace
}  // namespace cancelpool
