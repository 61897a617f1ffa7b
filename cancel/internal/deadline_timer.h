// Copyright 2026 The cancelpool Authors.
//
// cancel_internal::DeadlineTimer: the one process-wide facility that cancels
// states when their deadline passes, whether or not anybody polls.
//
// Model: a binary min-heap of armed states, ordered by their own deadline on
// the monotonic clock (CancelState::timer_due_; clock.h says why), and at
// most one timer thread, started lazily by the first Arm(). Arming and
// disarming are O(log n) and never allocate per entry beyond the heap
// vector's amortised growth; each state keeps its own heap index, so
// Disarm() needs no search.
//
// Firing protocol (timer thread, holding mu_):
//   1. Pop the earliest state whose monotonic due time has passed; clear its
//      armed flag.
//   2. TryRef() it. If its count is already zero it is being destroyed; its
//      destructor's Disarm() (which waits for mu_) finds it unarmed. Skip it.
//   3. Release mu_, RequestCancellation(DeadlineExceeded), Unref(), retake mu_.
// Sleeping protocol: the thread sleeps in FutexWait on `wake_seq_` with a
// relative timeout (measured by the kernel on CLOCK_MONOTONIC) until the
// heap top is due:
//   S1. Under mu_, read `wake_seq_` and compute the timeout from the top.
//   S2. Drop mu_; FutexWait(&wake_seq_, value read in S1, timeout); retake
//       mu_ and start again.
//   Arm() increments `wake_seq_` under mu_ and wakes the futex when the new
//   entry became the heap top. An Arm() between S1 and S2 changed the word,
//   so the FutexWait of S2 returns at once (EAGAIN): no lost wake-up.
// Races ruled out: firing a freed state (step 2 under mu_, and Disarm under
// mu_ in the destructor); a lost early deadline (above); a deadline fired
// early or late by a wall-clock step (nothing here reads the wall clock).
//
// EXIT
// The timer thread is never stopped: it keeps firing deadlines while static
// destructors run (a function-local static pool whose destructor waits for
// a task that waits for its own deadline must see that deadline), and the
// process ends it. The DeadlineTimer itself is leaked for the same reason.
//
// fork(): the forking thread holds mu_ across fork() (pthread_atfork prepare
// and parent handlers), so the child's copy of the heap and flags is
// consistent. The child handler (ResetInForkChild) makes no absl::Mutex call:
// it rebuilds mu_ in place, drops the deadlines armed before the
// fork (they belong to the parent's threads and objects) and forgets the
// timer thread, which does not exist in the child; the child's next Arm()
// starts a fresh one. Also, as the cancel library loads, deadline_timer.cc
// runs Abseil's lazy one-time initialisations and registers a child handler
// that turns Abseil's mutex deadlock detection off in every child of fork()
// (it says why).
#ifndef CANCELPOOL_CANCEL_INTERNAL_DEADLINE_TIMER_H_
#define CANCELPOOL_CANCEL_INTERNAL_DEADLINE_TIMER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace cancelpool {
namespace cancel_internal {

class CancelState;

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
  void ResetInForkChild() ABSL_NO_THREAD_SAFETY_ANALYSIS;

  void SiftUp(size_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SiftDown(size_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Place(size_t i, CancelState* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveAt(size_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  // Written under mu_; read under mu_ (S1) and by the kernel (S2). Relaxed
  // accesses: mu_ orders them.
  std::atomic<uint32_t> wake_seq_{0};
  std::vector<CancelState*> heap_ ABSL_GUARDED_BY(mu_);
  bool thread_started_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cancel_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_CANCEL_INTERNAL_DEADLINE_TIMER_H_
