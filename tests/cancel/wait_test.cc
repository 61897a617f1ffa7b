// Copyright 2026 The cancelpool Authors.
//
// Interruptible waits (cancel/wait.h): each returns early on cancellation and
// says why, and none loses a wake-up when cancellation races the start of the
// wait.
#include "cancelpool/cancel/wait.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/current.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {

// gtest prints WaitResult by name.
void PrintTo(WaitResult result, std::ostream* os) {
  *os << WaitResultName(result);
}

namespace {

// Generous bound for "returned early": a wait that should be woken by
// cancellation but sleeps this long has lost its wake-up. Long enough for a
// loaded 2-core machine under TSan.
constexpr absl::Duration kWakeBound = absl::Seconds(10);

constexpr int kRaceIterations = testing_util::kSanitizer ? 300 : 3000;

// A pipe that nobody writes to: its read end never becomes readable.
class Pipe {
 public:
  Pipe() { EXPECT_EQ(pipe2(fds_, O_CLOEXEC), 0) << errno; }
  ~Pipe() {
    close(fds_[0]);
    close(fds_[1]);
  }
  int read_end() const { return fds_[0]; }
  int write_end() const { return fds_[1]; }

 private:
  int fds_[2] = {-1, -1};
};

// Cancels `source` from a helper thread once `about_to_wait` is notified, so
// the request most likely arrives while the main thread is blocked (the
// result must be kCancelled either way).
class CancelFromAnotherThread {
 public:
  explicit CancelFromAnotherThread(CancellationSource source,
                                   absl::Status reason = absl::OkStatus())
      : thread_([this, source = std::move(source),
                 reason = std::move(reason)]() mutable {
          about_to_wait_.WaitForNotification();
          source.RequestCancellation(std::move(reason));
        }) {}
  ~CancelFromAnotherThread() {
    AboutToWait();  // in case the test failed before waiting
    thread_.join();
  }
  // Call once, on the waiting thread, right before the wait.
  void AboutToWait() {
    if (!notified_) about_to_wait_.Notify();
    notified_ = true;
  }

 private:
  absl::Notification about_to_wait_;
  bool notified_ = false;  // only the waiting thread touches it
  std::thread thread_;
};

// Spreads the moment of cancellation over the waiter's start-up window.
void Jitter(int i) {
  static std::atomic<int> sink{0};
  for (int k = 0; k < i % 64; ++k) sink.fetch_add(1, std::memory_order_relaxed);
}

// `wait(token, deadline)` runs on this thread while a helper thread cancels
// the token, the two released together by a barrier, kRaceIterations times,
// each with a fresh source. Every wait must return kCancelled, and must be
// woken rather than run to its deadline: a cancellation that lands between
// the wait's own check and its registration must not be lost.
void ExpectEveryRacingWaitIsWoken(
    const std::function<WaitResult(const CancellationToken&, absl::Time)>&
        wait) {
  std::barrier<> sync(2);
  CancellationSource source;  // replaced by this thread between rounds
  bool stop = false;          // written before a barrier, read after it
  std::thread canceller([&] {
    for (int i = 0;; ++i) {
      sync.arrive_and_wait();  // round starts
      if (stop) return;
      Jitter(i);
      source.RequestCancellation();
      sync.arrive_and_wait();  // round ends
    }
  });
  for (int i = 0; i < kRaceIterations; ++i) {
    source = CancellationSource();
    sync.arrive_and_wait();
    const absl::Time start = absl::Now();
    const WaitResult result = wait(source.Token(), start + kWakeBound);
    const absl::Duration waited = absl::Now() - start;
    sync.arrive_and_wait();
    EXPECT_EQ(result, WaitResult::kCancelled) << "iteration " << i;
    EXPECT_LT(waited, kWakeBound)
        << "lost wake-up in iteration " << i
        << ": cancelled while the wait started, yet it slept to its deadline";
    if (result != WaitResult::kCancelled || waited >= kWakeBound) break;
  }
  stop = true;
  sync.arrive_and_wait();
  canceller.join();
}

TEST(WaitResultTest, NamesEveryResult) {
  EXPECT_STREQ(WaitResultName(WaitResult::kReady), "ready");
  EXPECT_STREQ(WaitResultName(WaitResult::kTimeout), "timeout");
  EXPECT_STREQ(WaitResultName(WaitResult::kCancelled), "cancelled");
}

// --- SleepFor / SleepUntil -------------------------------------------------

TEST(SleepTest, SleepForSleepsInFullWithoutCancellation) {
  CancellationSource source;
  const absl::Time start = absl::Now();
  EXPECT_EQ(cancelpool::SleepFor(source.Token(), absl::Milliseconds(20)),
            WaitResult::kTimeout);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(20));
}

TEST(SleepTest, SleepForWithDefaultTokenSleepsInFull) {
  const absl::Time start = absl::Now();
  EXPECT_EQ(cancelpool::SleepFor(CancellationToken(), absl::Milliseconds(5)),
            WaitResult::kTimeout);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(5));
}

TEST(SleepTest, SleepForReturnsAtOnceWhenAlreadyCancelled) {
  CancellationSource source;
  source.RequestCancellation();
  const absl::Time start = absl::Now();
  EXPECT_EQ(cancelpool::SleepFor(source.Token(), absl::Hours(1)),
            WaitResult::kCancelled);
  EXPECT_LT(absl::Now() - start, kWakeBound);
}

TEST(SleepTest, SleepForWokenByCancellationFromAnotherThread) {
  CancellationSource source;
  CancelFromAnotherThread canceller(source, absl::AbortedError("stop"));
  const absl::Time start = absl::Now();
  canceller.AboutToWait();
  EXPECT_EQ(cancelpool::SleepFor(source.Token(), absl::Hours(1)),
            WaitResult::kCancelled);
  EXPECT_LT(absl::Now() - start, kWakeBound) << "the sleep was not woken";
  EXPECT_EQ(source.Token().Reason(), absl::AbortedError("stop"));
}

TEST(SleepTest, SleepUntilWokenByCancellationFromAnotherThread) {
  CancellationSource source;
  CancelFromAnotherThread canceller(source);
  const absl::Time start = absl::Now();
  canceller.AboutToWait();
  EXPECT_EQ(
      cancelpool::SleepUntil(source.Token(), absl::Now() + absl::Hours(1)),
      WaitResult::kCancelled);
  EXPECT_LT(absl::Now() - start, kWakeBound) << "the sleep was not woken";
}

TEST(SleepTest, SleepUntilPastDeadlineReturnsTimeout) {
  CancellationSource source;
  EXPECT_EQ(
      cancelpool::SleepUntil(source.Token(), absl::Now() - absl::Seconds(1)),
      WaitResult::kTimeout);
}

TEST(SleepTest, SleepWithoutTokenArgumentUsesCurrentToken) {
  CancellationSource source;
  CurrentTokenScope scope(source.Token());
  CancelFromAnotherThread canceller(source);
  canceller.AboutToWait();
  EXPECT_EQ(cancelpool::SleepFor(absl::Hours(1)), WaitResult::kCancelled);
  EXPECT_EQ(cancelpool::SleepUntil(absl::Now() + absl::Hours(1)),
            WaitResult::kCancelled);
}

TEST(SleepTest, RacingCancellationNeverSleepsThrough) {
  ExpectEveryRacingWaitIsWoken(
      [](const CancellationToken& token, absl::Time deadline) {
        return cancelpool::SleepUntil(token, deadline);
      });
}

// --- WaitWithCancellation (std::condition_variable) ------------------------

TEST(ConditionVariableWaitTest, ReturnsReadyWhenPredicateAlreadyHolds) {
  std::mutex mu;
  std::condition_variable cv;
  CancellationSource source;
  source.RequestCancellation();  // ready wins over cancelled
  std::unique_lock<std::mutex> lock(mu);
  EXPECT_EQ(WaitWithCancellation(cv, lock, source.Token(), [] { return true; }),
            WaitResult::kReady);
  EXPECT_TRUE(lock.owns_lock());
}

TEST(ConditionVariableWaitTest, ReturnsReadyWhenNotified) {
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;
  CancellationSource source;
  std::thread notifier([&] {
    std::lock_guard<std::mutex> guard(mu);
    ready = true;
    cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    EXPECT_EQ(
        WaitWithCancellation(cv, lock, source.Token(), [&] { return ready; }),
        WaitResult::kReady);
    EXPECT_TRUE(lock.owns_lock());
  }
  notifier.join();
}

TEST(ConditionVariableWaitTest, ReturnsCancelledWhenCancelledWhileBlocked) {
  std::mutex mu;
  std::condition_variable cv;
  CancellationSource source;
  CancelFromAnotherThread canceller(source);
  std::unique_lock<std::mutex> lock(mu);
  canceller.AboutToWait();
  const absl::Time start = absl::Now();
  EXPECT_EQ(WaitWithCancellation(
                cv, lock, source.Token(), [] { return false; },
                absl::Now() + kWakeBound),
            WaitResult::kCancelled);
  EXPECT_LT(absl::Now() - start, kWakeBound) << "the wait was not woken";
  EXPECT_TRUE(lock.owns_lock());
}

TEST(ConditionVariableWaitTest, ReturnsTimeoutAtDeadline) {
  std::mutex mu;
  std::condition_variable cv;
  CancellationSource source;
  std::unique_lock<std::mutex> lock(mu);
  const absl::Time deadline = absl::Now() + absl::Milliseconds(20);
  EXPECT_EQ(WaitWithCancellation(
                cv, lock, source.Token(), [] { return false; }, deadline),
            WaitResult::kTimeout);
  EXPECT_GE(absl::Now(), deadline);
  EXPECT_TRUE(lock.owns_lock());
}

// A predicate may throw, as with std::condition_variable::wait; the
// exception propagates with the lock held. Leaving the wait must not wait for
// a wake-up callback that is running on the cancelling thread while holding
// the caller's mutex: that callback needs the mutex, so both would hang.
TEST(ConditionVariableWaitTest, ThrowingPredicateDoesNotDeadlockTheCanceller) {
  std::mutex mu;
  std::condition_variable cv;
  CancellationSource source;
  const CancellationToken token = source.Token();
  bool poked = false;             // guarded by mu
  absl::Notification waiting;     // registered; about to block
  absl::Notification evaluating;  // in the predicate after the poke, mu held
  absl::Notification waiter_done;
  bool propagated_with_lock = false;
  std::thread waiter([&] {
    std::unique_lock<std::mutex> lock(mu);
    int calls = 0;
    try {
      WaitWithCancellation(cv, lock, token, [&] {
        if (!poked) {
          if (++calls == 2) waiting.Notify();
          return false;
        }
        evaluating.Notify();
        // Let the canceller take the wake-up and block on `mu` inside it.
        const absl::Time give_up = absl::Now() + kWakeBound;
        while (!token.IsCancellationRequested() && absl::Now() < give_up) {
          std::this_thread::yield();
        }
        absl::SleepFor(absl::Milliseconds(50));  // provokes, not synchronises
        throw std::runtime_error("predicate failed");
      });
    } catch (const std::runtime_error&) {
      propagated_with_lock = lock.owns_lock();
    }
    waiter_done.Notify();
  });
  waiting.WaitForNotification();
  {
    std::lock_guard<std::mutex> guard(mu);  // the waiter is blocked now
    poked = true;
  }
  cv.notify_all();
  evaluating.WaitForNotification();
  std::thread canceller([&] { source.RequestCancellation(); });
  if (!waiter_done.WaitForNotificationWithTimeout(kWakeBound)) {
    // Neither thread can be joined: report and stop here.
    std::fprintf(stderr,
                 "FATAL: the waiter and the canceller deadlocked: the wait "
                 "deregistered its wake-up while holding the caller's mutex\n");
    std::abort();
  }
  waiter.join();
  canceller.join();
  EXPECT_TRUE(propagated_with_lock);
}

TEST(ConditionVariableWaitTest, RacingCancellationNeverSleepsThrough) {
  std::mutex mu;
  std::condition_variable cv;
  ExpectEveryRacingWaitIsWoken(
      [&](const CancellationToken& token, absl::Time deadline) {
        std::unique_lock<std::mutex> lock(mu);
        return WaitWithCancellation(
            cv, lock, token, [] { return false; }, deadline);
      });
}

// --- AwaitWithCancellation (absl::Mutex) -----------------------------------

TEST(MutexAwaitTest, ReturnsReadyWhenConditionBecomesTrue) {
  absl::Mutex mu;
  bool ready = false;
  CancellationSource source;
  std::thread setter([&] {
    absl::MutexLock lock(&mu);
    ready = true;
  });
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(
        AwaitWithCancellation(mu, absl::Condition(&ready), source.Token()),
        WaitResult::kReady);
    EXPECT_TRUE(ready);
  }
  setter.join();
}

TEST(MutexAwaitTest, ReturnsCancelledWhenCancelledWhileBlocked) {
  absl::Mutex mu;
  bool ready = false;
  CancellationSource source;
  CancelFromAnotherThread canceller(source);
  absl::MutexLock lock(&mu);
  canceller.AboutToWait();
  EXPECT_EQ(AwaitWithCancellation(mu, absl::Condition(&ready), source.Token(),
                                  absl::Now() + kWakeBound),
            WaitResult::kCancelled);
  mu.AssertHeld();
}

TEST(MutexAwaitTest, ReadyWinsOverCancelled) {
  absl::Mutex mu;
  bool ready = true;
  CancellationSource source;
  source.RequestCancellation();
  absl::MutexLock lock(&mu);
  EXPECT_EQ(AwaitWithCancellation(mu, absl::Condition(&ready), source.Token()),
            WaitResult::kReady);
}

TEST(MutexAwaitTest, ReturnsTimeoutAtDeadline) {
  absl::Mutex mu;
  bool ready = false;
  CancellationSource source;
  absl::MutexLock lock(&mu);
  const absl::Time deadline = absl::Now() + absl::Milliseconds(20);
  EXPECT_EQ(AwaitWithCancellation(mu, absl::Condition(&ready), source.Token(),
                                  deadline),
            WaitResult::kTimeout);
  EXPECT_GE(absl::Now(), deadline);
}

// --- Event -----------------------------------------------------------------

TEST(EventTest, SetWakesWaiterWithReady) {
  Event event;
  CancellationSource source;
  std::thread setter([&] { event.Set(); });
  EXPECT_EQ(event.Wait(source.Token(), absl::Now() + kWakeBound),
            WaitResult::kReady);
  EXPECT_TRUE(event.IsSet());
  setter.join();
}

TEST(EventTest, ClearMakesWaitBlockAgain) {
  Event event;
  CancellationSource source;
  event.Set();
  EXPECT_EQ(event.WaitFor(source.Token(), absl::Milliseconds(1)),
            WaitResult::kReady);
  event.Clear();
  EXPECT_FALSE(event.IsSet());
  EXPECT_EQ(event.WaitFor(source.Token(), absl::Milliseconds(10)),
            WaitResult::kTimeout);
}

TEST(EventTest, CancellationWakesWaiterWithCancelled) {
  Event event;
  CancellationSource source;
  CancelFromAnotherThread canceller(source);
  canceller.AboutToWait();
  const absl::Time start = absl::Now();
  EXPECT_EQ(event.Wait(source.Token()), WaitResult::kCancelled);
  EXPECT_LT(absl::Now() - start, kWakeBound);
  EXPECT_FALSE(event.IsSet());
}

TEST(EventTest, SetWinsOverCancelled) {
  Event event;
  CancellationSource source;
  source.RequestCancellation();
  event.Set();
  EXPECT_EQ(event.Wait(source.Token()), WaitResult::kReady);
}

TEST(EventTest, WaitWithoutTokenUsesCurrentToken) {
  Event event;
  CancellationSource source;
  source.RequestCancellation();
  CurrentTokenScope scope(source.Token());
  EXPECT_EQ(event.Wait(), WaitResult::kCancelled);
}

TEST(EventTest, RacingCancellationNeverSleepsThrough) {
  Event event;
  ExpectEveryRacingWaitIsWoken(
      [&](const CancellationToken& token, absl::Time deadline) {
        return event.Wait(token, deadline);
      });
}

TEST(EventTest, SetWakesEveryWaiter) {
  Event event;
  constexpr int kWaiters = 3;
  CancellationSource sources[kWaiters];
  WaitResult results[kWaiters];
  std::barrier<> started(kWaiters + 1);
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&, i] {
      started.arrive_and_wait();
      results[i] = event.Wait(sources[i].Token(), absl::Now() + kWakeBound);
    });
  }
  started.arrive_and_wait();
  event.Set();
  for (std::thread& t : waiters) t.join();
  for (int i = 0; i < kWaiters; ++i) {
    EXPECT_EQ(results[i], WaitResult::kReady) << "waiter " << i;
  }
}

TEST(EventTest, OneWaitersCancellationLeavesTheOtherWaiting) {
  // Both sleep on the event's one futex word: the cancellation of one wakes
  // both, and the other must go back to sleep, neither cancelled nor
  // ready, until the Set.
  Event event;
  CancellationSource cancelled, other;
  std::atomic<bool> other_returned{false};
  WaitResult other_result = WaitResult::kTimeout;
  std::thread other_waiter([&] {
    other_result = event.Wait(other.Token(), absl::Now() + kWakeBound);
    other_returned.store(true);
  });
  CancelFromAnotherThread canceller(cancelled);
  canceller.AboutToWait();
  EXPECT_EQ(event.Wait(cancelled.Token(), absl::Now() + kWakeBound),
            WaitResult::kCancelled);
  EXPECT_FALSE(other_returned.load());
  EXPECT_FALSE(event.IsSet());
  event.Set();
  other_waiter.join();
  EXPECT_EQ(other_result, WaitResult::kReady);
}

TEST(EventTest, TimedWaitTimesOutWithoutSetOrCancellation) {
  Event event;
  CancellationSource source;
  const absl::Time start = absl::Now();
  EXPECT_EQ(event.WaitFor(source.Token(), absl::Milliseconds(20)),
            WaitResult::kTimeout);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(20));
  EXPECT_EQ(event.WaitFor(CancellationToken(), absl::Milliseconds(5)),
            WaitResult::kTimeout);
}

TEST(MutexAwaitTest, RacingCancellationNeverSleepsThrough) {
  absl::Mutex mu;
  bool ready = false;
  ExpectEveryRacingWaitIsWoken([&](const CancellationToken& token,
                                   absl::Time deadline) {
    absl::MutexLock lock(&mu);
    return AwaitWithCancellation(mu, absl::Condition(&ready), token, deadline);
  });
}

// --- Lifetimes -------------------------------------------------------------
// The caller may destroy what it waited with as soon as the wait returns,
// even while the cancelling thread is still finishing the wake-up (ASan and
// TSan check that the wake-up no longer touches them).

TEST(WaitLifetimeTest, ConditionVariableAndMutexMayGoRightAfterTheWait) {
  ExpectEveryRacingWaitIsWoken(
      [](const CancellationToken& token, absl::Time deadline) {
        auto mu = std::make_unique<std::mutex>();
        auto cv = std::make_unique<std::condition_variable>();
        WaitResult result;
        {
          std::unique_lock<std::mutex> lock(*mu);
          result = WaitWithCancellation(
              *cv, lock, token, [] { return false; }, deadline);
        }
        cv.reset();
        mu.reset();
        return result;
      });
}

TEST(WaitLifetimeTest, AbslMutexMayGoRightAfterTheAwait) {
  ExpectEveryRacingWaitIsWoken([](const CancellationToken& token,
                                  absl::Time deadline) {
    auto mu = std::make_unique<absl::Mutex>();
    bool ready = false;
    WaitResult result;
    {
      absl::MutexLock lock(mu.get());
      result =
          AwaitWithCancellation(*mu, absl::Condition(&ready), token, deadline);
    }
    mu.reset();
    return result;
  });
}

TEST(WaitLifetimeTest, EventMayGoRightAfterTheWait) {
  ExpectEveryRacingWaitIsWoken(
      [](const CancellationToken& token, absl::Time deadline) {
        auto event = std::make_unique<Event>();
        const WaitResult result = event->Wait(token, deadline);
        event.reset();
        return result;
      });
}

TEST(WaitLifetimeTest, EventMayGoRightAfterTheWaiterSawItSet) {
  // The waiter frees the event as soon as its Wait returns kReady, while the
  // Set that woke it may still be returning (ASan checks that Set no longer
  // touches the object).
  std::barrier<> sync(2);
  std::unique_ptr<Event> event;
  std::thread setter([&] {
    for (int i = 0; i < kRaceIterations; ++i) {
      sync.arrive_and_wait();  // the event exists
      Jitter(i);
      event->Set();
      sync.arrive_and_wait();  // the waiter freed it
    }
  });
  CancellationSource source;
  for (int i = 0; i < kRaceIterations; ++i) {
    event = std::make_unique<Event>();
    Event* const raw = event.get();
    sync.arrive_and_wait();
    const WaitResult result =
        raw->Wait(source.Token(), absl::Now() + kWakeBound);
    event.reset();
    sync.arrive_and_wait();
    ASSERT_EQ(result, WaitResult::kReady) << "iteration " << i;
  }
  setter.join();
}

TEST(WaitLifetimeTest, FdWaitingThreadMayExitRightAfterTheWait) {
  Pipe pipe;
  ExpectEveryRacingWaitIsWoken(
      [&](const CancellationToken& token, absl::Time deadline) {
        // A fresh thread per wait: its eventfd goes away when it exits.
        WaitResult result = WaitResult::kReady;
        std::thread waiter([&] {
          result =
              WaitForFd(pipe.read_end(), FdInterest::kReadable, token, deadline)
                  .value();
        });
        waiter.join();
        return result;
      });
}

// --- WaitForFd -------------------------------------------------------------

TEST(WaitForFdTest, ReadableWhenDataArrives) {
  Pipe pipe;
  CancellationSource source;
  ASSERT_EQ(write(pipe.write_end(), "x", 1), 1);
  EXPECT_EQ(WaitForFd(pipe.read_end(), FdInterest::kReadable, source.Token(),
                      absl::Now() + kWakeBound),
            WaitResult::kReady);
}

TEST(WaitForFdTest, UnreadPipeWokenByCancellationFromAnotherThread) {
  Pipe pipe;
  CancellationSource source;
  CancelFromAnotherThread canceller(source, absl::UnavailableError("shutdown"));
  canceller.AboutToWait();
  const absl::Time start = absl::Now();
  EXPECT_EQ(WaitForFd(pipe.read_end(), FdInterest::kReadable, source.Token()),
            WaitResult::kCancelled);
  EXPECT_LT(absl::Now() - start, kWakeBound) << "the fd wait was not woken";
  EXPECT_EQ(source.Token().Reason(), absl::UnavailableError("shutdown"));
}

TEST(WaitForFdTest, FullSocketWaitingToWriteWokenByCancellation) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ASSERT_EQ(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
  // Fill the send buffer: nobody reads the other end.
  char chunk[4096] = {};
  while (write(sv[0], chunk, sizeof(chunk)) > 0) {
  }
  ASSERT_EQ(errno, EAGAIN);
  CancellationSource source;
  EXPECT_EQ(WaitForFd(sv[0], FdInterest::kWritable, source.Token(),
                      absl::Now() + absl::Milliseconds(10)),
            WaitResult::kTimeout)
      << "the socket should not be writable";
  {
    CancelFromAnotherThread canceller(source);
    canceller.AboutToWait();
    const absl::Time start = absl::Now();
    EXPECT_EQ(WaitForFd(sv[0], FdInterest::kWritable, source.Token()),
              WaitResult::kCancelled);
    EXPECT_LT(absl::Now() - start, kWakeBound);
  }
  close(sv[0]);
  close(sv[1]);
}

TEST(WaitForFdTest, WritableSocketIsReady) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  CancellationSource source;
  EXPECT_EQ(WaitForFd(sv[0], FdInterest::kWritable, source.Token()),
            WaitResult::kReady);
  close(sv[0]);
  close(sv[1]);
}

TEST(WaitForFdTest, ReturnsTimeoutAtDeadline) {
  Pipe pipe;
  CancellationSource source;
  const absl::Time deadline = absl::Now() + absl::Milliseconds(20);
  EXPECT_EQ(WaitForFd(pipe.read_end(), FdInterest::kReadable, source.Token(),
                      deadline),
            WaitResult::kTimeout);
  EXPECT_GE(absl::Now(), deadline);
}

TEST(WaitForFdTest, ReadyWinsOverCancelled) {
  Pipe pipe;
  ASSERT_EQ(write(pipe.write_end(), "x", 1), 1);
  CancellationSource source;
  source.RequestCancellation();
  EXPECT_EQ(WaitForFd(pipe.read_end(), FdInterest::kReadable, source.Token()),
            WaitResult::kReady);
}

// The contract changed on purpose (issue 11, items 8 and 18): WaitForFd
// returns absl::StatusOr<WaitResult>, and an fd that is not open is an
// InvalidArgument error, returned at once, instead of kReady.
TEST(WaitForFdTest, InvalidFdIsAnInvalidArgumentError) {
  Pipe pipe;
  const int fd = dup(pipe.read_end());
  ASSERT_GE(fd, 0);
  close(fd);  // now invalid
  CancellationSource source;
  const absl::StatusOr<WaitResult> result = WaitForFd(
      fd, FdInterest::kReadable, source.Token(), absl::Now() + kWakeBound);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument)
      << result.status();
}

TEST(WaitForFdTest, CancelledWaitLeavesNoStaleWakeUpForTheNext) {
  Pipe pipe;
  {
    CancellationSource source;
    CancelFromAnotherThread canceller(source);
    canceller.AboutToWait();
    ASSERT_EQ(WaitForFd(pipe.read_end(), FdInterest::kReadable, source.Token()),
              WaitResult::kCancelled);
  }
  CancellationSource fresh;
  EXPECT_EQ(WaitForFd(pipe.read_end(), FdInterest::kReadable, fresh.Token(),
                      absl::Now() + absl::Milliseconds(20)),
            WaitResult::kTimeout);
}

TEST(WaitForFdTest, RacingCancellationNeverSleepsThrough) {
  Pipe pipe;
  ExpectEveryRacingWaitIsWoken([&](const CancellationToken& token,
                                   absl::Time deadline) {
    return WaitForFd(pipe.read_end(), FdInterest::kReadable, token, deadline)
        .value();
  });
}

// A wait woken by a deadline that nobody polls.
TEST(WaitForFdTest, WokenByDeadlineOfItsToken) {
  Pipe pipe;
  CancellationSource source =
      CancellationSource::WithTimeout(absl::Milliseconds(20));
  EXPECT_EQ(WaitForFd(pipe.read_end(), FdInterest::kReadable, source.Token()),
            WaitResult::kCancelled);
  EXPECT_GE(absl::Now(), source.Token().Deadline());
  EXPECT_EQ(source.Token().Reason().code(),
            absl::StatusCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace cancelpool
