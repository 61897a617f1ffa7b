// Copyright 2026 The cancelpool Authors.
//
// Regression tests for races between a task's cancellation-before-start
// (resolved on the cancelling thread: a deadline timer, a parent, a Cancel()
// call) and the pool's termination.
#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/thread_pool.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

// A capture whose destruction takes a while (a big buffer, a connection).
struct SlowToDestroy {
  explicit SlowToDestroy(absl::Duration d, std::atomic<int>* destroyed)
      : delay(d), count(destroyed) {}
  SlowToDestroy(SlowToDestroy&& o) noexcept
      : delay(o.delay), count(std::exchange(o.count, nullptr)) {}
  ~SlowToDestroy() {
    if (count == nullptr) return;
    absl::SleepFor(delay);
    count->fetch_add(1);
  }
  absl::Duration delay;
  std::atomic<int>* count;
};

// A queued task's deadline fires; while the timer thread is still resolving
// it (destroying its callable), the worker pops and skips it, the drain
// completes, and the pool terminates. AwaitTermination() must not return
// before that task is resolved and counted, and destroying the pool then must
// not leave the timer thread touching it.
TEST(TerminationRaceTest, DeadlineCancellationDuringDrain) {
  std::atomic<int> destroyed{0};
  Future<void> victim;
  {
    ThreadPool pool(1);
    absl::Notification blocker_started, victim_submitted;
    CancellationToken victim_token;
    // Occupies the only worker until the victim's deadline has fired (its
    // token is cancelled first thing in the timer's request; the slow
    // destructor runs after that, on the timer thread).
    Future<void> blocker = pool.Submit([&] {
      blocker_started.Notify();
      victim_submitted.WaitForNotification();
      const absl::Time give_up = absl::Now() + absl::Seconds(30);
      while (!victim_token.IsCancellationRequested() && absl::Now() < give_up) {
        absl::SleepFor(absl::Microseconds(100));
      }
    });
    blocker_started.WaitForNotification();
    victim = pool.SubmitWith(
        TaskOptions::WithTimeout(absl::Milliseconds(10)),
        [s = SlowToDestroy(absl::Milliseconds(200), &destroyed)] {});
    victim_token = victim.Token();
    victim_submitted.Notify();
    pool.Shutdown(ShutdownMode::kDrain);
    ASSERT_TRUE(pool.AwaitTermination(absl::Now() + absl::Seconds(30)));
    const ShutdownReport report = pool.Report();
    EXPECT_TRUE(victim.IsReady());
    EXPECT_TRUE(report.terminated);
    EXPECT_EQ(report.stats.InFlight(), 0u);
    EXPECT_EQ(report.stats.cancelled_before_start, 1u);
  }  // ~ThreadPool
  EXPECT_TRUE(victim.IsReady());
  EXPECT_EQ(victim.Outcome(), TaskOutcome::kCancelled);
  EXPECT_EQ(victim.Get().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(destroyed.load(), 1);
}

// The same with Future::Cancel() on another thread.
TEST(TerminationRaceTest, FutureCancelDuringDrain) {
  std::atomic<int> destroyed{0};
  Future<void> victim;
  std::thread canceller;
  {
    ThreadPool pool(1);
    absl::Notification blocker_started, victim_submitted;
    CancellationToken victim_token;
    Future<void> blocker = pool.Submit([&] {
      blocker_started.Notify();
      victim_submitted.WaitForNotification();
      const absl::Time give_up = absl::Now() + absl::Seconds(30);
      while (!victim_token.IsCancellationRequested() && absl::Now() < give_up) {
        absl::SleepFor(absl::Microseconds(100));
      }
    });
    blocker_started.WaitForNotification();
    victim = pool.Submit(
        [s = SlowToDestroy(absl::Milliseconds(200), &destroyed)] {});
    victim_token = victim.Token();
    victim_submitted.Notify();
    canceller = std::thread([&victim] { victim.Cancel(); });
    pool.Shutdown(ShutdownMode::kDrain);
    ASSERT_TRUE(pool.AwaitTermination(absl::Now() + absl::Seconds(30)));
    const ShutdownReport report = pool.Report();
    EXPECT_TRUE(victim.IsReady());
    EXPECT_TRUE(report.terminated);
    EXPECT_EQ(report.stats.InFlight(), 0u);
  }
  canceller.join();
  EXPECT_EQ(victim.Outcome(), TaskOutcome::kCancelled);
  EXPECT_EQ(destroyed.load(), 1);
}

// Shutdown(kCancel) on one thread takes the queued tasks out of the queues
// and resolves them there, while another thread waits for termination: the
// worker goes idle with every queue empty long before the slow resolution is
// done. AwaitTermination must still wait for it.
TEST(TerminationRaceTest, CancelShutdownOnAnotherThread) {
  std::atomic<int> destroyed{0};
  Future<void> victim;
  ThreadPool pool(1);
  absl::Notification blocker_started;
  Future<void> blocker = pool.Submit([&](CancellationToken token) {
    blocker_started.Notify();
    SleepFor(token, absl::Seconds(30));
  });
  blocker_started.WaitForNotification();
  victim =
      pool.Submit([s = SlowToDestroy(absl::Milliseconds(200), &destroyed)] {});
  std::thread shutdown([&pool] { pool.Shutdown(ShutdownMode::kCancel); });
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + absl::Seconds(30)));
  const ShutdownReport report = pool.Report();
  EXPECT_TRUE(victim.IsReady());
  EXPECT_TRUE(report.terminated);
  EXPECT_EQ(report.stats.InFlight(), 0u);
  EXPECT_EQ(destroyed.load(), 1);
  shutdown.join();  // the pool must outlive the Shutdown call
  EXPECT_EQ(victim.Outcome(), TaskOutcome::kCancelled);
}

}  // namespace
}  // namespace cancelpool
