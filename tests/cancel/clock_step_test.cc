// Copyright 2026 The cancelpool Authors.
//
// Deadlines and sleeps across a wall-clock step (issue 11, item 5).
//
// This binary interposes clock_gettime(): CLOCK_REALTIME (and its coarse
// variant) reads `realtime_offset_ns` ahead of the kernel's clock, so the
// test can step the wall clock as every reader in the process sees it --
// Abseil (absl::Now() calibrates its cycle-counter extrapolation with
// clock_gettime(CLOCK_REALTIME)), libstdc++'s system_clock and cancelpool --
// while CLOCK_MONOTONIC and the kernel's own timers are untouched. Defined in
// the executable, it takes precedence over libc's for the shared libraries
// of the test too. Steps happen in a child process (RunInChild).
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace {
std::atomic<int64_t> realtime_offset_ns{0};
}  // namespace

extern "C" int clock_gettime(clockid_t clock_id, struct timespec* tp) noexcept {
  const long rc = syscall(SYS_clock_gettime, clock_id, tp);
  if (rc == 0 &&
      (clock_id == CLOCK_REALTIME || clock_id == CLOCK_REALTIME_COARSE)) {
    const int64_t ns = int64_t{tp->tv_sec} * 1000000000 + tp->tv_nsec +
                       realtime_offset_ns.load(std::memory_order_relaxed);
    tp->tv_sec = ns / 1000000000;
    tp->tv_nsec = ns % 1000000000;
  }
  return static_cast<int>(rc);
}

namespace cancelpool {
namespace {

using testing_util::ChildResult;
using testing_util::RunInChild;

constexpr absl::Duration kStep = absl::Seconds(5);
// How long a wait may take beyond its due time on a loaded machine: far
// below kStep, so a sleep lengthened by the step is still caught.
constexpr absl::Duration kSlack = absl::Seconds(3);

// The clocks, read directly (the interposed clock_gettime()).
absl::Duration MonotonicNow() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return absl::DurationFromTimespec(ts);
}
absl::Time WallNow() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return absl::TimeFromTimespec(ts);
}

void StepWallClock(absl::Duration step) {
  realtime_offset_ns.fetch_add(absl::ToInt64Nanoseconds(step),
                               std::memory_order_relaxed);
}

// Records the monotonic time at which a token is cancelled.
class FireTime {
 public:
  explicit FireTime(const CancellationToken& token)
      : callback_(token, [this] {
          at_ = MonotonicNow();
          fired_.Notify();
        }) {}
  // The cancellation's monotonic time, or -InfiniteDuration() if none came.
  absl::Duration Wait() {
    if (!fired_.WaitForNotificationWithTimeout(absl::Seconds(30))) {
      return -absl::InfiniteDuration();
    }
    return at_;
  }

 private:
  absl::Duration at_;
  absl::Notification fired_;
  CancellationCallback<std::function<void()>> callback_;
};

TEST(ClockStepTest, InterposedClockStepsRealtimeOnly) {
  const ChildResult child = RunInChild([] {
    const absl::Time wall_before = WallNow();
    const absl::Duration mono_before = MonotonicNow();
    StepWallClock(kStep);
    if (WallNow() - wall_before < kStep) return 1;
    if (MonotonicNow() - mono_before >= absl::Seconds(1)) return 2;
    return 0;
  });
  EXPECT_TRUE(child.ok()) << child.ToString();
}

TEST(ClockStepTest, ForwardStepFiresNoDeadlineEarly) {
  // Before: the timer compared deadlines with CLOCK_REALTIME, so after the
  // step every deadline within 5 s fired at once (as soon as anything woke
  // the timer): ~1,900 tasks with 1 s timeouts failed within milliseconds.
  const ChildResult child = RunInChild([] {
    ThreadPool pool(1);
    (void)absl::Now();
    const absl::Duration start = MonotonicNow();
    CancellationSource relative =
        CancellationSource::WithTimeout(absl::Seconds(1));
    CancellationSource absolute =
        CancellationSource::WithDeadline(absl::Now() + absl::Seconds(1));
    FireTime relative_fired(relative.Token());
    FireTime absolute_fired(absolute.Token());
    auto task_started = std::make_shared<absl::Notification>();
    Future<absl::Duration> task =
        pool.SubmitWith(TaskOptions::WithTimeout(absl::Seconds(1)),
                        [task_started](CancellationToken token) {
                          task_started->Notify();
                          SleepFor(token, absl::Hours(1));
                          return MonotonicNow();
                        });
    if (!task_started->WaitForNotificationWithTimeout(absl::Seconds(30))) {
      return 10;
    }

    StepWallClock(kStep);
    // New deadlines after the step; the earliest also wakes the timer.
    const absl::Duration after_step = MonotonicNow();
    CancellationSource short_relative =
        CancellationSource::WithTimeout(absl::Milliseconds(300));
    CancellationSource short_absolute =
        CancellationSource::WithDeadline(absl::Now() + absl::Milliseconds(300));
    FireTime short_relative_fired(short_relative.Token());
    FireTime short_absolute_fired(short_absolute.Token());

    // Each fires, and not before its time on the monotonic clock (a little
    // slack for the conversion of an absolute deadline).
    const absl::Duration early = absl::Milliseconds(20);
    if (short_relative_fired.Wait() - after_step <
        absl::Milliseconds(300) - early) {
      return 1;
    }
    if (short_absolute_fired.Wait() - after_step <
        absl::Milliseconds(300) - early) {
      return 2;
    }
    if (relative_fired.Wait() - start < absl::Seconds(1) - early) return 3;
    if (absolute_fired.Wait() - start < absl::Seconds(1) - early) return 4;
    absl::StatusOr<absl::Duration> task_woke = task.Get();
    if (!task_woke.ok()) return 5;
    if (*task_woke - start < absl::Seconds(1) - early) return 6;
    if (relative.Reason().code() != absl::StatusCode::kDeadlineExceeded) {
      return 7;
    }
    return 0;
  });
  EXPECT_TRUE(child.ok()) << child.ToString();
}

TEST(ClockStepTest, SleepForIsMeasuredOnTheMonotonicClock) {
  // Before: SleepFor slept until an absolute CLOCK_REALTIME time taken
  // after the step, 5 s beyond the kernel's clock: 5.3 s for 300 ms.
  const ChildResult child = RunInChild([] {
    StepWallClock(kStep);
    CancellationSource source;
    const absl::Duration start = MonotonicNow();
    if (SleepFor(source.Token(), absl::Milliseconds(300)) !=
        WaitResult::kTimeout) {
      return 1;
    }
    const absl::Duration slept = MonotonicNow() - start;
    if (slept < absl::Milliseconds(300)) return 2;
    if (slept > absl::Milliseconds(300) + kSlack) return 3;
    // Also without a token that can be cancelled.
    const absl::Duration start2 = MonotonicNow();
    StepWallClock(kStep);
    SleepFor(CancellationToken(), absl::Milliseconds(100));
    const absl::Duration slept2 = MonotonicNow() - start2;
    if (slept2 < absl::Milliseconds(100)) return 4;
    if (slept2 > absl::Milliseconds(100) + kSlack) return 5;
    return 0;
  });
  EXPECT_TRUE(child.ok()) << child.ToString();
}

}  // namespace
}  // namespace cancelpool
