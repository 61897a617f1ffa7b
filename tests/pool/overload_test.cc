// Copyright 2026 The cancelpool Authors.
//
// Overload protection beyond a count: shedding by queueing delay
// (ThreadPoolOptions::queue_delay_target, O1-O5 in pool/internal/overload.h)
// and refusing a task whose deadline passed before it was submitted. Nothing
// is dropped silently: every refused or shed task's future resolves with a
// clear status, its callable is destroyed, and the statistics add up.
#include <atomic>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/cause.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

using testing_util::DestructionCounter;
using testing_util::ExpectStatsAddUp;
using testing_util::Gate;
using testing_util::kLong;
using testing_util::NotifyAtExit;

TEST(DeadlineAtSubmitTest, PassedDeadlineIsRefusedAndCounted) {
  ThreadPool pool(1);
  std::atomic<int> ran{0};
  std::atomic<int> destroyed{0};
  TaskOptions past;
  past.deadline = absl::Now() - absl::Milliseconds(1);
  auto f = pool.SubmitWith(
      past, [&ran, d = DestructionCounter(&destroyed)] { ran.fetch_add(1); });
  // Resolved by Submit itself: no wait needed.
  ASSERT_TRUE(f.IsReady());
  EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  const absl::Status status = f.Get();
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(GetCancellationCause(status), CancellationCause::kDeadline);
  EXPECT_EQ(destroyed.load(), 1);
  const ShutdownReport report = pool.DrainThenCancel(kLong);
  EXPECT_EQ(ran.load(), 0);
  EXPECT_EQ(report.stats.deadline_passed_at_submit, 1u);
  EXPECT_EQ(report.stats.cancelled_before_start, 1u);
  EXPECT_EQ(report.stats.InFlight(), 0u);
  ExpectStatsAddUp(report.stats);
}

// A full queue answers ResourceExhausted; a passed deadline still answers
// DeadlineExceeded (it is refused before admission and takes no place).
TEST(DeadlineAtSubmitTest, RefusedBeforeAdmission) {
  ThreadPoolOptions o;
  o.num_workers = 1;
  o.max_queued_tasks = 1;
  ThreadPool pool(std::move(o));
  Gate gate;
  NotifyAtExit release(gate.release);
  auto blocker = pool.Submit([&gate] { gate.Block(); });
  gate.started.WaitForNotification();
  auto queued = pool.Submit([] {});
  auto full = pool.Submit([] {});
  EXPECT_EQ(full.Get().code(), absl::StatusCode::kResourceExhausted);
  auto late =
      pool.SubmitWith(TaskOptions::WithTimeout(absl::Seconds(-1)), [] {});
  EXPECT_EQ(late.Get().code(), absl::StatusCode::kDeadlineExceeded);
  gate.release.Notify();
  EXPECT_TRUE(queued.Get().ok());
  const PoolStats s = pool.Stats();
  EXPECT_EQ(s.deadline_passed_at_submit, 1u);
  EXPECT_EQ(s.rejected, 1u);
}

// A future deadline is not refused.
TEST(DeadlineAtSubmitTest, FutureDeadlineRuns) {
  ThreadPool pool(1);
  auto f = pool.SubmitWith(TaskOptions::WithTimeout(kLong), [] { return 3; });
  EXPECT_EQ(*f.Get(), 3);
  EXPECT_EQ(pool.Stats().deadline_passed_at_submit, 0u);
}

ThreadPoolOptions CoDel(absl::Duration target, absl::Duration interval) {
  ThreadPoolOptions o;
  o.num_workers = 1;
  o.queue_delay_target = target;
  o.queue_delay_interval = interval;
  return o;
}

// A stalled pool: the only worker is held while 30 tasks queue up; then each
// task takes 2 ms. Every task has waited far beyond the 1 ms target, so once
// the 5 ms interval has passed with no short wait, the rest are shed.
TEST(QueueDelayTest, ShedsUnderAStall) {
  ThreadPool pool(CoDel(absl::Milliseconds(1), absl::Milliseconds(5)));
  Gate gate;
  NotifyAtExit release(gate.release);
  auto blocker = pool.Submit([&gate] { gate.Block(); });
  gate.started.WaitForNotification();
  std::atomic<int> ran{0};
  std::atomic<int> destroyed{0};
  std::vector<Future<void>> futures;
  for (int i = 0; i < 30; ++i) {
    futures.push_back(pool.Submit([&ran, d = DestructionCounter(&destroyed)] {
      ran.fetch_add(1);
      absl::SleepFor(absl::Milliseconds(2));
    }));
  }
  // The stall itself: the queued tasks' delay grows past the target.
  absl::SleepFor(absl::Milliseconds(20));
  gate.release.Notify();
  int shed = 0;
  for (auto& f : futures) {
    absl::Status s = f.Get();
    if (s.ok()) continue;
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
    EXPECT_EQ(f.Outcome(), TaskOutcome::kFailed);
    ++shed;
  }
  // Usually the first task after the stall starts the interval and runs;
  // on a slow build the blocker itself may have waited past the target and
  // started it, and then every task is shed. Either way some are.
  EXPECT_GT(shed, 0);
  EXPECT_EQ(ran.load() + shed, 30);
  EXPECT_EQ(destroyed.load(), 30);  // shed tasks' captures freed too
  const ShutdownReport report = pool.DrainThenCancel(kLong);
  EXPECT_TRUE(report.terminated);
  EXPECT_EQ(report.stats.shed_queue_delay, static_cast<uint64_t>(shed));
  EXPECT_EQ(report.stats.InFlight(), 0u);
  ExpectStatsAddUp(report.stats);
}

// A healthy pool: tasks are submitted one at a time, none waits long; nothing
// is shed, even with a tight target.
TEST(QueueDelayTest, HealthyPoolShedsNothing) {
  ThreadPool pool(CoDel(absl::Milliseconds(50), absl::Milliseconds(100)));
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(*pool.Submit([i] { return i; }).Get(), i);
  }
  EXPECT_EQ(pool.Stats().shed_queue_delay, 0u);
}

// After an overload, a task that waited less than the target ends the
// shedding state: the pool runs tasks again.
TEST(QueueDelayTest, RecoversAfterTheQueueDrains) {
  ThreadPool pool(CoDel(absl::Milliseconds(1), absl::Milliseconds(2)));
  {
    Gate gate;
    NotifyAtExit release(gate.release);
    auto blocker = pool.Submit([&gate] { gate.Block(); });
    gate.started.WaitForNotification();
    std::vector<Future<void>> futures;
    for (int i = 0; i < 20; ++i) {
      futures.push_back(
          pool.Submit([] { absl::SleepFor(absl::Milliseconds(1)); }));
    }
    absl::SleepFor(absl::Milliseconds(10));
    gate.release.Notify();
    for (auto& f : futures) f.Wait();
  }
  // The queue is empty now; a fresh task waits microseconds.
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(pool.Submit([] {}).Get().ok());
  }
}

TEST(QueueDelayTest, OptionRanges) {
  ThreadPoolOptions negative = CoDel(absl::Milliseconds(-1), absl::Seconds(1));
  EXPECT_EQ(ThreadPool::Create(std::move(negative)).status().code(),
            absl::StatusCode::kInvalidArgument);
  for (absl::Duration interval :
       {absl::ZeroDuration(), absl::Seconds(-1), absl::InfiniteDuration()}) {
    ThreadPoolOptions o = CoDel(absl::Milliseconds(5), interval);
    EXPECT_EQ(ThreadPool::Create(std::move(o)).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  // Off: any interval is accepted.
  ThreadPoolOptions off = CoDel(absl::ZeroDuration(), absl::ZeroDuration());
  EXPECT_TRUE(ThreadPool::Create(std::move(off)).ok());
  ThreadPoolOptions infinite =
      CoDel(absl::InfiniteDuration(), absl::Milliseconds(1));
  EXPECT_TRUE(ThreadPool::Create(std::move(infinite)).ok());
  // The constructor clamps instead.
  ThreadPool clamped(CoDel(absl::Milliseconds(-3), absl::Seconds(-1)));
  EXPECT_EQ(*clamped.Submit([] { return 2; }).Get(), 2);
}

}  // namespace
}  // namespace cancelpool
