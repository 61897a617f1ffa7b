// Copyright 2026 The cancelpool Authors.
//
// cancel_internal::DeadlineTimer: the one process-wide facility that cancels
// states when their deadline passes, whether or not anybody polls.
//
// Model: a binary min-heap of armed states, ordered by deadline, and at most
// one timer thread, started lazily by the first Arm() and stopped (joined) at
// process exit by an atexit hook. Arming and disarming are O(log n) and never
// allocate per entry beyond the heap vector's amortised growth; each state
// keeps its own heap index, so Disarm() needs no search.
//
// Firing protocol (timer thread, holding mu_):
//   1. Pop the earliest state whose deadline has passed; clear its armed flag.
//   2. TryRef() it. If its count is already zero it is being destroyed; its
//      destructor's Disarm() (which waits for mu_) finds it unarmed. Skip it.
//   3. Release mu_, RequestCancellation(DeadlineExceeded), Unref(), retake mu_.
// Races ruled out: firing a freed state (step 2 under mu_, and Disarm under
// mu_ in the destructor); a lost early deadline (Arm signals the thread when
// the new entry becomes the heap top).
//
// After the exit hook has run, Arm() still records deadlines but nothing fires
// them (no thread may start during static destruction).
//
// fork(): the forking thread holds mu_ across fork() (pthread_atfork prepare
// and parent handlers), so the child's copy of the heap and flags is
// consistent. The child handler (ResetInForkChild) makes no absl::Mutex call:
// it rebuilds mu_ and wake_ in place, drops the deadlines armed before the
// fork (they belong to the parent's threads and objects) and forgets the
// timer thread, which does not exist in the child; the child's next Arm()
// starts a fresh one. Also, as the cancel library loads, deadline_timer.cc
// runs Abseil's lazy one-time initialisations and registers a child handler
// that turns Abseil's mutex deadlock detection off in every child of fork()
// (it says why).
#ifndef CANCELPOOL_CANCEL_INTERNAL_DEADLINE_TIMER_H_
#define CANCELPOOL_CANCEL_INTERNAL_DEADLINE_TIMER_H_

#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace cancelpool {
namespace cancel_internal {

class CancelState;

// The current time, from clock_gettime(CLOCK_REALTIME) (the vDSO: no system
// call, no lock). The deadline timer and the interruptible waits
// (cancel/wait.cc) use it instead of absl::Now() so that a thread busy in
// them is never inside Abseil's clock critical section when another thread
// calls fork(). On x86-64 this Abseil extrapolates absl::Now() from the
// cycle counter, and its slow path takes a process-wide spin lock: on every
// call for about 0.5 s after the process's first call (calibration), then
// about every 2 s, and in every caller while one recalibrates. A parent
// thread holding that lock at fork() leaves it held forever in the child,
// whose next slow-path absl::Now() spins for good (LifecycleTest.
// ForkWhileBusy: 5 hangs in 500 freshly started runs, the child stuck in
// GetCurrentTimeNanosSlowPath, while the busy tasks slept with SleepFor,
// then based on absl::Now()). Same clock as absl::Now() (realtime), so
// deadlines from either compare correctly.
absl::Time RealtimeNow() noexcept;

class DeadlineTimer final {
 public:
  static DeadlineTimer& Get();

  void Arm(CancelState* state) ABSL_LOCKS_EXCLUDED(mu_);
  void Disarm(CancelState* state) ABSL_LOCKS_EXCLUDED(mu_);

  // Number of armed states (tests: memory stays flat).
  size_t ArmedCount() ABSL_LOCKS_EXCLUDED(mu_);
  // Whether the timer thread is running (tests: at most one, started lazily).
  bool ThreadRunning() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  DeadlineTimer() = default;
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  void StopAtExit() ABSL_LOCKS_EXCLUDED(mu_);
  void ResetInForkChild() ABSL_NO_THREAD_SAFETY_ANALYSIS;

  void SiftUp(size_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SiftDown(size_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Place(size_t i, CancelState* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveAt(size_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  absl::CondVar wake_;
  std::vector<CancelState*> heap_ ABSL_GUARDED_BY(mu_);
  std::thread thread_ ABSL_GUARDED_BY(mu_);
  bool thread_started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool exited_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cancel_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_CANCEL_INTERNAL_DEADLINE_TIMER_H_
