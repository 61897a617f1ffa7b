// Copyright 2026 The cancelpool Authors.
//
// Hostile concurrency through the public API: cancel racing completion,
// shutdown racing submission from many threads, cancellation from inside a
// task's own callbacks, registration racing the request, timed and token
// waits inside tasks, and the outcome rules for CancelledException.

#include <atomic>
#include <cstdio>
#include <memory>
#include <random>
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
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

using testing_util::ChildResult;
using testing_util::Gate;
using testing_util::kLong;
using testing_util::kSanitizer;
using testing_util::RunInChild;

// future.h: Cancel "Returns true if the request arrived before the task
// finished"; "(c) already finished: no effect"; "A task whose token was
// cancelled but that returned normally has its real result". So: Cancel()
// false => succeeded with the value; cancelled => Cancel() was true.
TEST(HostileRaces, CancelVersusComplete) {
  ThreadPool pool(3);
  const int kRounds = kSanitizer ? 500 : 3000;
  int cancelled = 0;
  for (int i = 0; i < kRounds; ++i) {
    absl::Notification go;
    auto f = pool.Submit([&go, i] {
      go.WaitForNotification();
      return i;
    });
    bool cancel_result = false;
    std::thread canceller([&] {
      go.WaitForNotification();
      cancel_result = f.Cancel();
    });
    go.Notify();
    canceller.join();
    f.Wait();
    const TaskOutcome outcome = f.outcome();
    auto v = f.Get();
    if (outcome == TaskOutcome::kSucceeded) {
      ASSERT_TRUE(v.ok());
      ASSERT_EQ(*v, i);
    } else {
      ASSERT_EQ(outcome, TaskOutcome::kCancelled) << i;
      ASSERT_TRUE(cancel_result) << "cancelled but Cancel() said too late";
      ASSERT_EQ(v.status().code(), absl::StatusCode::kCancelled);
      ++cancelled;
    }
    if (!cancel_result) {
      ASSERT_EQ(outcome, TaskOutcome::kSucceeded);
    }
  }
  PoolStats s = pool.Stats();
  EXPECT_EQ(s.cancelled_before_start + s.cancelled_while_running,
            static_cast<uint64_t>(cancelled));
}

// SUBMITTING / SHUTDOWN: Submit and Shutdown are "thread-safe, from any
// thread, ... concurrently". Every future resolves; after a drain shutdown
// a task either ran or was rejected with FailedPrecondition; the counters
// are exact once the pool has terminated.
void ShutdownVersusSubmit(ShutdownMode mode) {
  ChildResult r = RunInChild([mode] {
    ThreadPool pool(2);
    constexpr int kThreads = 4;
    const int kPerThread = kSanitizer ? 300 : 2000;
    std::vector<std::vector<Future<int>>> futures(kThreads);
    absl::Notification start;
    std::atomic<int> submitted_half{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.WaitForNotification();
        for (int i = 0; i < kPerThread; ++i) {
          if (i == kPerThread / 2) submitted_half.fetch_add(1);
          futures[t].push_back(pool.Submit([](CancellationToken tok) {
            return tok.IsCancellationRequested() ? 0 : 1;
          }));
        }
      });
    }
    start.Notify();
    while (submitted_half.load() < 1) std::this_thread::yield();
    pool.Shutdown(mode);
    for (auto& th : threads) th.join();
    if (!pool.AwaitTermination(absl::Now() + absl::Seconds(60))) return 2;
    uint64_t ok = 0, rejected = 0, cancelled = 0;
    for (auto& list : futures) {
      for (auto& f : list) {
        if (!f.IsReady()) return 3;
        const TaskOutcome outcome = f.outcome();
        auto v = f.Get();
        if (outcome == TaskOutcome::kSucceeded) {
          ++ok;
        } else if (outcome == TaskOutcome::kCancelled) {
          if (mode == ShutdownMode::kDrain) return 4;
          ++cancelled;
        } else if (v.status().code() == absl::StatusCode::kFailedPrecondition) {
          ++rejected;
        } else {
          return 5;
        }
      }
    }
    const PoolStats s = pool.Stats();
    if (s.submitted != static_cast<uint64_t>(kThreads * kPerThread)) return 6;
    if (s.completed != ok) return 7;
    if (s.rejected != rejected) return 8;
    if (s.cancelled_before_start + s.cancelled_while_running != cancelled) {
      return 9;
    }
    if (s.in_flight() != 0 || s.failed != 0) return 10;
    return 0;
  }, absl::Seconds(120));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

TEST(HostileRaces, DrainShutdownVersusSubmit) {
  ShutdownVersusSubmit(ShutdownMode::kDrain);
}
TEST(HostileRaces, CancelShutdownVersusSubmit) {
  ShutdownVersusSubmit(ShutdownMode::kCancel);
}

// Many threads shutting down in every way at once, tasks running.
TEST(HostileRaces, ConcurrentMixedShutdowns) {
  ChildResult r = RunInChild([] {
    for (int round = 0; round < 20; ++round) {
      ThreadPool pool(2);
      std::vector<Future<void>> futures;
      for (int i = 0; i < 20; ++i) {
        futures.push_back(pool.Submit([] { cancelpool::SleepFor(absl::Milliseconds(1)); }));
      }
      absl::Notification go;
      std::vector<std::thread> threads;
      for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
          go.WaitForNotification();
          switch (t) {
            case 0: pool.Shutdown(ShutdownMode::kDrain); break;
            case 1: pool.Shutdown(ShutdownMode::kCancel); break;
            case 2: (void)pool.DrainThenCancel(absl::Milliseconds(1), kLong); break;
            default: (void)pool.AwaitTermination(absl::Now() + kLong); break;
          }
        });
      }
      go.Notify();
      for (auto& th : threads) th.join();
      if (!pool.AwaitTermination(absl::Now() + absl::Seconds(30))) return 2;
      for (auto& f : futures) {
        if (!f.IsReady()) return 3;
      }
    }
    return 0;
  }, absl::Seconds(120));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// future.h: Cancel is "safe from any thread, inside tasks and inside
// cancellation callbacks". A task's own callback cancels the task again
// (re-entrant) and cancels a sibling whose callback cancels the first one.
TEST(HostileRaces, CancelFromInsideOwnCallbacks) {
  ChildResult r = RunInChild([] {
    ThreadPool pool(2);
    for (int round = 0; round < 200; ++round) {
      auto a_handle = std::make_shared<CancelHandle>();
      auto b_handle = std::make_shared<CancelHandle>();
      absl::Notification handles_set;
      std::atomic<int> registered{0};
      auto body = [&](std::shared_ptr<CancelHandle> self,
                      std::shared_ptr<CancelHandle> other) {
        return [&registered, &handles_set, self, other](
                   CancellationToken t) -> absl::Status {
          handles_set.WaitForNotification();
          CancellationCallback cb(t, [self, other] {
            self->Cancel();
            other->Cancel(absl::AbortedError("sibling"));
          });
          registered.fetch_add(1);
          cancelpool::SleepFor(kLong, t);
          return t.Reason();
        };
      };
      auto a = pool.Submit(body(a_handle, b_handle));
      auto b = pool.Submit(body(b_handle, a_handle));
      *a_handle = a.GetCancelHandle();
      *b_handle = b.GetCancelHandle();
      handles_set.Notify();
      if (round % 2 == 0) {
        while (registered.load() < 2) std::this_thread::yield();
      }
      a.Cancel();
      // If `a` was cancelled before it started, its callback never runs and
      // nothing else would cancel `b`: cancel it too (racing a's callback).
      b.Cancel();
      const bool a_done = a.WaitFor(absl::Seconds(20));
      const bool b_done = b.WaitFor(absl::Seconds(20));
      if (!a_done || !b_done) {
        std::fprintf(stderr, "round %d: a %s, b %s, registered %d\n", round,
                     a_done ? "resolved" : "unresolved",
                     b_done ? "resolved" : "unresolved", registered.load());
        return 2;
      }
      if (a.outcome() != TaskOutcome::kCancelled) return 3;
      if (b.outcome() != TaskOutcome::kCancelled) return 4;
    }
    return 0;
  }, absl::Seconds(120));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// A task that cancels itself through its own CancelHandle, then checks.
TEST(HostileRaces, TaskCancelsItselfThenThrows) {
  ThreadPool pool(2);
  auto slot = std::make_shared<CancelHandle>();
  absl::Notification set;
  auto f = pool.Submit([slot, &set] {
    set.WaitForNotification();
    EXPECT_TRUE(slot->Cancel(absl::DeadlineExceededError("self")));
    // "Returns true if the request arrived before the task finished": a
    // second request also arrived in time; the first reason stays.
    EXPECT_TRUE(slot->Cancel(absl::AbortedError("second")));
    ThrowIfCancellationRequested();
    return 1;
  });
  *slot = f.GetCancelHandle();
  set.Notify();
  EXPECT_EQ(f.Get().status(), absl::DeadlineExceededError("self"));
  EXPECT_EQ(f.outcome(), TaskOutcome::kCancelled);
  EXPECT_TRUE(slot->IsDone());
}

// cancellation.h: "The first request wins ...; later requests report that
// they lost". Exactly one of many concurrent requests returns true, and the
// callback runs once.
TEST(HostileRaces, ConcurrentRequestsOneWinner) {
  for (int round = 0; round < (kSanitizer ? 100 : 500); ++round) {
    CancellationSource source;
    std::atomic<int> runs{0};
    CancellationCallback cb(source.Token(), [&runs] { runs.fetch_add(1); });
    std::atomic<int> winners{0};
    absl::Notification go;
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
      threads.emplace_back([&, t] {
        go.WaitForNotification();
        if (source.RequestCancellation(absl::AbortedError(std::to_string(t)))) {
          winners.fetch_add(1);
        }
      });
    }
    go.Notify();
    for (auto& th : threads) th.join();
    ASSERT_EQ(winners.load(), 1);
    ASSERT_EQ(runs.load(), 1);
    ASSERT_EQ(source.Reason().code(), absl::StatusCode::kAborted);
  }
}

// "a registration racing the request gets exactly one of the two": once
// both the constructor and RequestCancellation have returned, a live
// registration's callback has run exactly once.
TEST(HostileRaces, RegistrationRacingRequestRunsExactlyOnce) {
  for (int round = 0; round < (kSanitizer ? 500 : 3000); ++round) {
    CancellationSource source;
    std::atomic<int> runs{0};
    absl::Notification go;
    std::thread requester([&] {
      go.WaitForNotification();
      source.RequestCancellation();
    });
    go.Notify();
    {
      CancellationCallback cb(source.Token(), [&runs] { runs.fetch_add(1); });
      requester.join();
      ASSERT_EQ(runs.load(), 1) << "round " << round;
    }
    ASSERT_EQ(runs.load(), 1);
  }
}

// "If the callback is running on another thread at that moment, the
// destructor waits for it to return."
TEST(HostileRaces, RegistrationDestructorWaitsForRunningCallback) {
  for (int round = 0; round < 20; ++round) {
    CancellationSource source;
    absl::Notification in_callback, release;
    std::atomic<bool> returned{false};
    auto cb = std::make_unique<CancellationCallback<std::function<void()>>>(
        source.Token(), std::function<void()>([&] {
          in_callback.Notify();
          release.WaitForNotification();
          returned.store(true);
        }));
    std::thread requester([&] { source.RequestCancellation(); });
    in_callback.WaitForNotification();
    std::atomic<bool> destroyed{false};
    bool returned_at_destroy = false;
    std::thread destroyer([&] {
      cb.reset();
      returned_at_destroy = returned.load();
      destroyed.store(true);
    });
    // Let the destroyer reach the destructor (only widens the window).
    absl::SleepFor(absl::Milliseconds(5));
    EXPECT_FALSE(destroyed.load());
    release.Notify();
    destroyer.join();
    requester.join();
    EXPECT_TRUE(returned_at_destroy);
  }
}

// future.h: "WaitFor/WaitUntil ... Returns true if resolved within
// `timeout`"; Wait(token, deadline) returns "kCancelled" when "the waiter's
// own token is cancelled". Inside a task the limit must be honoured too --
// a helping wait must not run the awaited task inline past the limit.
TEST(HostileRaces, TimedWaitsInsideTasksHonourTheirLimit) {
  for (int workers : {1, 2}) {
    ChildResult r = RunInChild([workers] {
      ThreadPool pool(workers);
      auto outer = pool.Submit([&pool]() -> int {
        int failures = 0;
        auto slow = pool.Submit([] { absl::SleepFor(absl::Seconds(3)); });
        absl::Time start = absl::Now();
        if (slow.WaitFor(absl::Milliseconds(20))) failures |= 1;
        if (absl::Now() - start > absl::Seconds(1)) failures |= 2;
        auto slow2 = pool.Submit([] { absl::SleepFor(absl::Seconds(3)); });
        CancellationSource waiter =
            CancellationSource::WithTimeout(absl::Milliseconds(20));
        start = absl::Now();
        if (slow2.Wait(waiter.Token()) != WaitResult::kCancelled) failures |= 4;
        if (absl::Now() - start > absl::Seconds(1)) failures |= 8;
        auto slow3 = pool.Submit([] { absl::SleepFor(absl::Seconds(3)); });
        start = absl::Now();
        if (slow3.WaitUntil(absl::Now() + absl::Milliseconds(20))) failures |= 16;
        if (absl::Now() - start > absl::Seconds(1)) failures |= 32;
        return failures;
      });
      auto v = outer.Get();
      if (!v.ok()) return 2;
      return *v == 0 ? 0 : 100 + *v;
    }, absl::Seconds(60));
    EXPECT_TRUE(r.ok()) << workers << " workers: " << r.ToString();
  }
}

// wait.h waits inside tasks, on the current token and explicit ones.
TEST(HostileRaces, TokenWaitsInsideTasksHonourTheirLimit) {
  ChildResult r = RunInChild([] {
    ThreadPool pool(1);
    auto f = pool.Submit([]() -> int {
      int failures = 0;
      absl::Time start = absl::Now();
      if (cancelpool::SleepFor(absl::Milliseconds(20)) != WaitResult::kTimeout) failures |= 1;
      Event e;
      if (e.WaitFor(absl::Milliseconds(20), CurrentToken()) !=
          WaitResult::kTimeout) {
        failures |= 2;
      }
      absl::Mutex mu;
      bool never = false;
      {
        absl::MutexLock lock(&mu);
        if (AwaitWithCancellation(mu, absl::Condition(&never), CurrentToken(),
                                  absl::Now() + absl::Milliseconds(20)) !=
            WaitResult::kTimeout) {
          failures |= 4;
        }
      }
      int p[2];
      if (pipe(p) == 0) {
        if (WaitForFd(p[0], FdInterest::kReadable, CurrentToken(),
                      absl::Now() + absl::Milliseconds(20)) !=
            WaitResult::kTimeout) {
          failures |= 8;
        }
        close(p[0]);
        close(p[1]);
      }
      if (absl::Now() - start > absl::Seconds(5)) failures |= 16;
      return failures;
    });
    auto v = f.Get();
    return v.ok() && *v == 0 ? 0 : 2;
  }, absl::Seconds(30));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// cancellation.h: a source "is cancelled ... when its deadline passes
// (DeadlineExceeded), even if nobody polls". Its parent being the token of
// a task that already finished (and had a deadline of its own) changes
// nothing.
TEST(HostileRaces, SourceUnderFinishedTaskTokenGetsItsDeadline) {
  ChildResult r = RunInChild([] {
    ThreadPool pool(1);
    auto f = pool.SubmitWith(TaskOptions::WithTimeout(absl::Milliseconds(150)),
                             [] { return 1; });
    f.Wait();
    CancellationToken finished = f.token();
    CancellationToken parents[] = {finished};
    CancellationSource child =
        CancellationSource::WithTimeout(absl::Milliseconds(300), parents);
    Event never;
    if (never.Wait(child.Token(), absl::Now() + absl::Seconds(10)) !=
        WaitResult::kCancelled) {
      return 2;
    }
    return child.Reason().code() == absl::StatusCode::kDeadlineExceeded ? 0 : 3;
  }, absl::Seconds(30));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// future.h RESULTS: "cancelled: ... it acknowledged a cancellation that
// reached it while running (threw CancelledException, or returned a
// kCancelled status ...)". Without a cancellation there is nothing to
// acknowledge: throwing CancelledException and returning a kCancelled
// status are both failures, and neither counts as cancelled_while_running.
TEST(HostileRaces, CancelledExceptionWithoutCancellationIsAFailure) {
  ThreadPool pool(1);
  auto thrown = pool.Submit([]() -> int {
    throw CancelledException(absl::CancelledError("spurious"));
  });
  auto returned = pool.Submit(
      []() -> absl::Status { return absl::CancelledError("spurious"); });
  thrown.Wait();
  returned.Wait();
  EXPECT_EQ(returned.outcome(), TaskOutcome::kFailed);
  EXPECT_EQ(thrown.outcome(), returned.outcome())
      << "one rule for throwing and returning";
  pool.Shutdown();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_EQ(pool.Stats().cancelled_while_running, 0u);
  EXPECT_EQ(pool.Stats().failed, 2u);
}

// A parent's cancellation reaching running child tasks exactly while they
// finish and their blocks are freed (futures dropped at once). Under TSan
// any race is reported in the child; ASan catches use-after-free.
TEST(HostileRaces, ParentCancelRacesChildCompletion) {
  ChildResult r = RunInChild([] {
    ThreadPool pool(2);
    const int kRounds = kSanitizer ? 2000 : 10000;
    for (int i = 0; i < kRounds; ++i) {
      CancellationSource parent;
      TaskOptions options;
      options.parent = parent.Token();
      absl::Notification started;
      pool.SubmitWith(options, [&started] { started.Notify(); });
      started.WaitForNotification();
      parent.RequestCancellation();
    }
    pool.Shutdown();
    return pool.AwaitTermination(absl::Now() + absl::Seconds(30)) ? 0 : 2;
  }, absl::Seconds(120));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// Random mix from outside threads: submit (with parents and deadlines),
// cancel, wait, nested submit; then a cancel shutdown; everything resolves
// and the counters add up.
TEST(HostileRaces, RandomMixThenCancelShutdown) {
  ChildResult r = RunInChild([] {
    ThreadPool pool(2);
    CancellationSource shared_parent;
    constexpr int kThreads = 3;
    const int kOps = kSanitizer ? 300 : 2000;
    std::vector<std::vector<Future<int>>> all(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937 rng(1234 + t);
        for (int i = 0; i < kOps; ++i) {
          TaskOptions options;
          if (rng() % 3 == 0) options.parent = shared_parent.Token();
          if (rng() % 4 == 0) {
            options.deadline = absl::Now() + absl::Microseconds(rng() % 500);
          }
          auto f = pool.SubmitWith(options, [&pool, depth = rng() % 3]() {
            if (depth == 0) return 1;
            auto child = pool.Submit([] { return 1; });
            auto v = child.Get();
            return v.ok() ? *v + 1 : 0;
          });
          switch (rng() % 4) {
            case 0: f.Cancel(); break;
            case 1: (void)f.WaitFor(absl::Microseconds(50)); break;
            default: break;
          }
          all[t].push_back(std::move(f));
          if (i == kOps / 2 && t == 0) shared_parent.RequestCancellation();
        }
      });
    }
    for (auto& th : threads) th.join();
    pool.Shutdown(ShutdownMode::kCancel);
    if (!pool.AwaitTermination(absl::Now() + absl::Seconds(60))) return 2;
    for (auto& list : all) {
      for (auto& f : list) {
        if (!f.IsReady()) return 3;
      }
    }
    const PoolStats s = pool.Stats();
    if (s.in_flight() != 0) return 4;
    return 0;
  }, absl::Seconds(120));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

}  // namespace
}  // namespace cancelpool
