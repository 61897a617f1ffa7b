// Copyright 2026 The cancelpool Authors.
//
// Hostile concurrency through the public API: cancel racing completion,
// shutdown racing submission from many threads, cancellation from inside a
// task's own callbacks, registration racing the request, timed and token
// waits inside tasks, and the outcome rules for CancelledException.

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <stop_token>
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
#include "cancelpool/cancel/cause.h"
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
    const TaskOutcome outcome = f.Outcome();
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
  ChildResult r = RunInChild(
      [mode] {
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
            const TaskOutcome outcome = f.Outcome();
            auto v = f.Get();
            if (outcome == TaskOutcome::kSucceeded) {
              ++ok;
            } else if (outcome == TaskOutcome::kCancelled) {
              if (mode == ShutdownMode::kDrain) return 4;
              ++cancelled;
            } else if (v.status().code() ==
                       absl::StatusCode::kFailedPrecondition) {
              ++rejected;
            } else {
              return 5;
            }
          }
        }
        const PoolStats s = pool.Stats();
        if (s.submitted != static_cast<uint64_t>(kThreads * kPerThread))
          return 6;
        if (s.completed != ok) return 7;
        if (s.rejected != rejected) return 8;
        if (s.cancelled_before_start + s.cancelled_while_running != cancelled) {
          return 9;
        }
        if (s.InFlight() != 0 || s.failed != 0) return 10;
        return 0;
      },
      absl::Seconds(120));
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
  ChildResult r = RunInChild(
      [] {
        for (int round = 0; round < 20; ++round) {
          ThreadPool pool(2);
          std::vector<Future<void>> futures;
          for (int i = 0; i < 20; ++i) {
            futures.push_back(pool.Submit(
                [] { cancelpool::SleepFor(absl::Milliseconds(1)); }));
          }
          absl::Notification go;
          std::vector<std::thread> threads;
          for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&, t] {
              go.WaitForNotification();
              switch (t) {
                case 0:
                  pool.Shutdown(ShutdownMode::kDrain);
                  break;
                case 1:
                  pool.Shutdown(ShutdownMode::kCancel);
                  break;
                case 2:
                  (void)pool.DrainThenCancel(absl::Milliseconds(1), kLong);
                  break;
                default:
                  (void)pool.AwaitTermination(absl::Now() + kLong);
                  break;
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
      },
      absl::Seconds(120));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// future.h: Cancel is "safe from any thread, inside tasks and inside
// cancellation callbacks". A task's own callback cancels the task again
// (re-entrant) and cancels a sibling whose callback cancels the first one.
TEST(HostileRaces, CancelFromInsideOwnCallbacks) {
  ChildResult r = RunInChild(
      [] {
        ThreadPool pool(2);
        for (int round = 0; round < 200; ++round) {
          auto a_handle = std::make_shared<CancelHandle>();
          auto b_handle = std::make_shared<CancelHandle>();
          absl::Notification handles_set;
          std::atomic<int> registered{0};
          auto body = [&](std::shared_ptr<CancelHandle> self,
                          std::shared_ptr<CancelHandle> other) {
            return [&registered, &handles_set, self,
                    other](CancellationToken t) -> absl::Status {
              handles_set.WaitForNotification();
              CancellationCallback cb(t, [self, other] {
                self->Cancel();
                other->Cancel(absl::AbortedError("sibling"));
              });
              registered.fetch_add(1);
              cancelpool::SleepFor(t, kLong);
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
          if (a.Outcome() != TaskOutcome::kCancelled) return 3;
          if (b.Outcome() != TaskOutcome::kCancelled) return 4;
        }
        return 0;
      },
      absl::Seconds(120));
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
  EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  EXPECT_TRUE(slot->IsReady());
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
    ChildResult r = RunInChild(
        [workers] {
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
            if (slow2.Wait(waiter.Token()) != WaitResult::kCancelled)
              failures |= 4;
            if (absl::Now() - start > absl::Seconds(1)) failures |= 8;
            auto slow3 = pool.Submit([] { absl::SleepFor(absl::Seconds(3)); });
            start = absl::Now();
            if (slow3.WaitUntil(absl::Now() + absl::Milliseconds(20)))
              failures |= 16;
            if (absl::Now() - start > absl::Seconds(1)) failures |= 32;
            return failures;
          });
          auto v = outer.Get();
          if (!v.ok()) return 2;
          return *v == 0 ? 0 : 100 + *v;
        },
        absl::Seconds(60));
    EXPECT_TRUE(r.ok()) << workers << " workers: " << r.ToString();
  }
}

// wait.h waits inside tasks, on the current token and explicit ones.
TEST(HostileRaces, TokenWaitsInsideTasksHonourTheirLimit) {
  ChildResult r = RunInChild(
      [] {
        ThreadPool pool(1);
        auto f = pool.Submit([]() -> int {
          int failures = 0;
          absl::Time start = absl::Now();
          if (cancelpool::SleepFor(absl::Milliseconds(20)) !=
              WaitResult::kTimeout)
            failures |= 1;
          Event e;
          if (e.WaitFor(CurrentToken(), absl::Milliseconds(20)) !=
              WaitResult::kTimeout) {
            failures |= 2;
          }
          absl::Mutex mu;
          bool never = false;
          {
            absl::MutexLock lock(&mu);
            if (AwaitWithCancellation(mu, absl::Condition(&never),
                                      CurrentToken(),
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
      },
      absl::Seconds(30));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// cancellation.h: a source "is cancelled ... when its deadline passes
// (DeadlineExceeded), even if nobody polls". Its parent being the token of
// a task that already finished (and had a deadline of its own) changes
// nothing.
TEST(HostileRaces, SourceUnderFinishedTaskTokenGetsItsDeadline) {
  ChildResult r = RunInChild(
      [] {
        ThreadPool pool(1);
        auto f =
            pool.SubmitWith(TaskOptions::WithTimeout(absl::Milliseconds(150)),
                            [] { return 1; });
        f.Wait();
        CancellationToken finished = f.Token();
        CancellationToken parents[] = {finished};
        CancellationSource child =
            CancellationSource::WithTimeout(absl::Milliseconds(300), parents);
        Event never;
        if (never.Wait(child.Token(), absl::Now() + absl::Seconds(10)) !=
            WaitResult::kCancelled) {
          return 2;
        }
        return child.Reason().code() == absl::StatusCode::kDeadlineExceeded ? 0
                                                                            : 3;
      },
      absl::Seconds(30));
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
  EXPECT_EQ(returned.Outcome(), TaskOutcome::kFailed);
  EXPECT_EQ(thrown.Outcome(), returned.Outcome())
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
  ChildResult r = RunInChild(
      [] {
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
      },
      absl::Seconds(120));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// Random mix from outside threads: submit (with parents and deadlines),
// cancel, wait, nested submit; then a cancel shutdown; everything resolves
// and the counters add up.
TEST(HostileRaces, RandomMixThenCancelShutdown) {
  ChildResult r = RunInChild(
      [] {
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
                options.deadline =
                    absl::Now() + absl::Microseconds(rng() % 500);
              }
              auto f = pool.SubmitWith(options, [&pool, depth = rng() % 3]() {
                if (depth == 0) return 1;
                auto child = pool.Submit([] { return 1; });
                auto v = child.Get();
                return v.ok() ? *v + 1 : 0;
              });
              switch (rng() % 4) {
                case 0:
                  f.Cancel();
                  break;
                case 1:
                  (void)f.WaitFor(absl::Microseconds(50));
                  break;
                default:
                  break;
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
        if (s.InFlight() != 0) return 4;
        return 0;
      },
      absl::Seconds(120));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// SUBMITTING: "A Submit from inside a running task is ... resolved as
// cancelled (never run) while cancelling." A task that shuts its own pool
// down with kCancel and then submits and waits for a child must get the
// child's cancellation back, not hang.
TEST(HostileRaces, TaskCancelsItsOwnPoolThenSubmits) {
  ChildResult r = RunInChild(
      [] {
        ThreadPool pool(2);
        auto f = pool.Submit([&pool](CancellationToken t) -> int {
          pool.Shutdown(ShutdownMode::kCancel);
          if (!t.IsCancellationRequested()) return 1;
          std::atomic<bool> ran{false};
          auto child = pool.Submit([&ran] { ran = true; });
          if (child.Get().code() != absl::StatusCode::kCancelled) return 2;
          if (ran) return 3;
          if (pool.AwaitTermination(absl::InfiniteFuture())) return 4;
          return 0;
        });
        auto v = f.Get();
        if (!v.ok() || *v != 0) return 10 + (v.ok() ? *v : 9);
        return pool.AwaitTermination(absl::Now() + absl::Seconds(20)) ? 0 : 5;
      },
      absl::Seconds(30));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// DrainThenCancel from inside a task: "starts the drain, has the cancel
// happen when `grace` ends (on the shared deadline-timer thread ...), and
// returns at once (terminated == false)".
TEST(HostileRaces, DrainThenCancelFromInsideATask) {
  ChildResult r = RunInChild(
      [] {
        ThreadPool pool(2);
        absl::Notification stubborn_started;
        auto stubborn = pool.Submit([&stubborn_started] {
          stubborn_started.Notify();
          return cancelpool::SleepFor(kLong) == WaitResult::kCancelled;
        });
        stubborn_started.WaitForNotification();
        auto f = pool.Submit([&pool] {
          ShutdownReport rep = pool.DrainThenCancel(absl::Milliseconds(50));
          return !rep.terminated;
        });
        auto v = f.Get();
        if (!v.ok() || !*v) return 2;
        if (!stubborn.WaitFor(absl::Seconds(20)))
          return 3;  // cancel never came
        return pool.AwaitTermination(absl::Now() + absl::Seconds(20)) ? 0 : 4;
      },
      absl::Seconds(40));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// TaskOptions::parent already cancelled: the task's token is cancelled
// "with the parent's reason", and "A task cancelled before it starts never
// runs".
TEST(HostileRaces, AlreadyCancelledParent) {
  ThreadPool pool(2);
  CancellationSource parent;
  parent.RequestCancellation(absl::AbortedError("parent gone"));
  TaskOptions options;
  options.parent = parent.Token();
  std::atomic<int> ran{0};
  for (int i = 0; i < 100; ++i) {
    auto f = pool.SubmitWith(options, [&ran] { ran.fetch_add(1); });
    ASSERT_TRUE(f.WaitFor(kLong));
    EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
    const absl::Status s = f.Get();
    EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
    EXPECT_EQ(s.message(), "parent gone");
    EXPECT_TRUE(CancelledThroughParent(s));
  }
  EXPECT_EQ(ran.load(), 0);
}

// A source with many (duplicate) parents: cancelled once, with the first
// parent's reason, callbacks once; destroying it unlinks from each.
TEST(HostileRaces, ManyDuplicateParents) {
  CancellationSource p1, p2;
  std::vector<CancellationToken> parents;
  for (int i = 0; i < 1000; ++i)
    parents.push_back(i % 2 ? p1.Token() : p2.Token());
  for (int round = 0; round < 50; ++round) {
    CancellationSource child(parents);
    std::atomic<int> runs{0};
    CancellationCallback cb(child.Token(), [&runs] { runs.fetch_add(1); });
    if (round == 49) {
      std::thread a([&] { p1.RequestCancellation(absl::AbortedError("p1")); });
      std::thread b(
          [&] { p2.RequestCancellation(absl::UnavailableError("p2")); });
      a.join();
      b.join();
      EXPECT_EQ(runs.load(), 1);
      EXPECT_TRUE(child.Reason().code() == absl::StatusCode::kAborted ||
                  child.Reason().code() == absl::StatusCode::kUnavailable);
    }
  }
}

// ToStopToken: "a std::stop_token that is stop-requested when this token is
// cancelled ... the requester requests it before running this token's
// callbacks". A std::stop_callback and our callback both run exactly once,
// racing with the request; the std::stop_token outlives source and tokens.
TEST(HostileRaces, StopTokenBridgeRaces) {
  for (int round = 0; round < (kSanitizer ? 200 : 1000); ++round) {
    auto source = std::make_unique<CancellationSource>();
    std::stop_token st = source->Token().ToStopToken();
    std::atomic<int> std_runs{0};
    absl::Notification go;
    std::thread requester([&] {
      go.WaitForNotification();
      source->RequestCancellation();
    });
    go.Notify();
    {
      std::stop_callback cb(st, [&std_runs] { std_runs.fetch_add(1); });
      requester.join();
      ASSERT_EQ(std_runs.load(), 1);
    }
    source.reset();
    ASSERT_TRUE(st.stop_requested());
  }
}

// A source whose parent is a std::stop_token: "cancelled with
// CancelledError("std::stop requested") when it is stop-requested", also
// when the request races construction.
TEST(HostileRaces, StdStopParentRacesConstruction) {
  for (int round = 0; round < (kSanitizer ? 200 : 1000); ++round) {
    std::stop_source ss;
    absl::Notification go;
    std::thread requester([&] {
      go.WaitForNotification();
      ss.request_stop();
    });
    go.Notify();
    CancellationSource child(ss.get_token());
    requester.join();
    ASSERT_TRUE(child.IsCancellationRequested()) << round;
    ASSERT_EQ(child.Reason().code(), absl::StatusCode::kCancelled);
  }
}

// wait.h WaitWithCancellation: "An exception thrown by `predicate`
// propagates, also with `lock` held", racing a cancellation.
TEST(HostileRaces, ThrowingPredicateRacingCancellation) {
  for (int round = 0; round < (kSanitizer ? 100 : 500); ++round) {
    CancellationSource source;
    std::mutex m;
    std::condition_variable cv;
    std::atomic<int> calls{0};
    absl::Notification go;
    std::thread requester([&] {
      go.WaitForNotification();
      source.RequestCancellation();
    });
    bool threw = false;
    {
      std::unique_lock<std::mutex> lock(m);
      try {
        WaitWithCancellation(
            cv, lock, source.Token(),
            [&] {
              if (calls.fetch_add(1) == 1) throw std::runtime_error("boom");
              go.Notify();
              return false;
            },
            absl::Now() + absl::Milliseconds(1));
      } catch (const std::runtime_error&) {
        threw = true;
      }
      ASSERT_TRUE(lock.owns_lock());
    }
    requester.join();
    (void)threw;
  }
}

// thread_pool.h SHUTDOWN kCancel: "every running task's token is cancelled
// with `reason`". A task of pool B awaited from a worker of pool A is still
// B's task: B's cancel shutdown must reach it wherever it runs.
TEST(HostileRaces, CrossPoolWaitStillCancelledByItsPool) {
  ChildResult r = RunInChild(
      [] {
        ThreadPool a(1);
        ThreadPool b(1);
        Gate gate;
        auto b_blocker = b.Submit([&gate](CancellationToken t) {
          gate.started.Notify();
          cancelpool::SleepFor(t, kLong);
        });
        gate.started.WaitForNotification();
        std::atomic<bool> x_started{false};
        auto x = b.Submit([&x_started](CancellationToken t) {
          x_started = true;
          return cancelpool::SleepFor(t, kLong) == WaitResult::kCancelled;
        });
        absl::Notification waiting;
        auto w = a.Submit([&x, &waiting] {
          waiting.Notify();
          x.Wait();
        });
        waiting.WaitForNotification();
        // Let a's worker enter its wait (only widens the window).
        absl::SleepFor(absl::Milliseconds(50));
        b.Shutdown(ShutdownMode::kCancel);
        if (!b.AwaitTermination(absl::Now() + absl::Seconds(20))) return 2;
        if (!x.IsReady()) return 3;
        if (!w.WaitFor(absl::Seconds(20))) return 4;
        return 0;
      },
      absl::Seconds(60));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

thread_local int tl_waiting_depth = 0;

// future.h WAITING: "It never runs unrelated queued work meanwhile". With
// one worker, a waiting task runs its own child, and an unrelated task
// submitted from outside meanwhile is not run nested inside the wait.
TEST(HostileRaces, HelpingWaitRunsNoUnrelatedWork) {
  ChildResult r = RunInChild(
      [] {
        ThreadPool pool(1);
        absl::Notification child_running, unrelated_submitted;
        std::atomic<bool> unrelated_nested{false};
        Future<void> unrelated;
        auto w = pool.Submit([&] {
          auto child = pool.Submit([&] {
            child_running.Notify();
            unrelated_submitted.WaitForNotificationWithTimeout(kLong);
            return 1;
          });
          ++tl_waiting_depth;
          auto v = child.Get();
          --tl_waiting_depth;
          return v.ok() ? *v : -1;
        });
        child_running.WaitForNotification();
        unrelated =
            pool.Submit([&] { unrelated_nested = tl_waiting_depth > 0; });
        unrelated_submitted.Notify();
        auto v = w.Get();
        if (!v.ok() || *v != 1) return 2;
        if (!unrelated.WaitFor(absl::Seconds(20))) return 3;
        return unrelated_nested ? 4 : 0;
      },
      absl::Seconds(60));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// current.h: "A CurrentTokenScope installed inside a deferred region starts
// undeferred (nested work, e.g. a task run by a helping wait, is not
// deferred by its caller's region); the region resumes when that scope
// ends", and the region's end delivers a cancellation that arrived.
TEST(HostileRaces, DeferredRegionAcrossHelpingWait) {
  ChildResult r = RunInChild(
      [] {
        ThreadPool pool(1);
        auto slot = std::make_shared<CancelHandle>();
        absl::Notification set;
        auto w = pool.Submit([&pool, slot, &set]() -> int {
          set.WaitForNotification();
          DeferCancellationScope region;
          slot->Cancel();  // our own token, inside the region
          if (IsCancellationRequested()) return 1;  // deferred: must read false
          auto child = pool.Submit([] {
            return CurrentToken().CanBeCancelled() &&
                   !IsCancellationRequested();
          });
          auto v = child.Get();
          if (!v.ok() || !*v) return 2;
          if (IsCancellationRequested()) return 3;  // region resumed
          region.Exit();                            // throws CancelledException
          return 4;
        });
        *slot = w.GetCancelHandle();
        set.Notify();
        auto v = w.Get();
        if (v.ok()) return 10 + *v;
        if (w.Outcome() != TaskOutcome::kCancelled) return 5;
        return 0;
      },
      absl::Seconds(30));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// Destroying a pool (grace 0) while another thread waits on one of its
// queued tasks: the destructor "cancels everything still queued", and the
// waiter wakes with the cancellation.
TEST(HostileRaces, WaiterWakesWhenPoolIsDestroyed) {
  ChildResult r = RunInChild(
      [] {
        ThreadPoolOptions options;
        options.num_workers = 1;
        options.destructor_grace = absl::ZeroDuration();
        auto pool = std::make_unique<ThreadPool>(std::move(options));
        absl::Notification started;
        auto blocker = pool->Submit([&started] {
          started.Notify();
          cancelpool::SleepFor(kLong);
        });
        started.WaitForNotification();
        auto queued = pool->Submit([] { return 1; });
        std::atomic<bool> woke{false};
        std::thread waiter([&] {
          queued.Wait();
          woke = true;
        });
        pool.reset();
        waiter.join();
        return woke && queued.Outcome() == TaskOutcome::kCancelled ? 0 : 2;
      },
      absl::Seconds(30));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

}  // namespace
}  // namespace cancelpool
