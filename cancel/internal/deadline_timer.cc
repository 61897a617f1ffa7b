// Copyright 2026 The cancelpool Authors.
#include "cancelpool/cancel/internal/deadline_timer.h"

#include <pthread.h>
#include <time.h>

#include <new>
#include <thread>
#include <utility>

#include "absl/base/internal/sysinfo.h"
#include "absl/status/status.h"
#include "cancelpool/cancel/internal/cancel_state.h"
#include "cancelpool/cancel/internal/cause_payload.h"
#include "cancelpool/cancel/internal/clock.h"
#include "cancelpool/cancel/internal/futex.h"

namespace cancelpool {
namespace cancel_internal {
namespace {

// In every child of fork(), turn Abseil's mutex deadlock detection off
// before anything else can lock an absl::Mutex there.
//
// The race this rules out: in builds where the detector runs (NDEBUG not
// defined: Bazel's fastbuild and dbg, so also the sanitizer configs), every
// absl::Mutex Lock, Unlock and destructor takes one process-wide Abseil spin
// lock (deadlock_graph_mu, in GetGraphId / DeadlockCheck /
// ForgetDeadlockInfo). A busy parent thread holds it many times a second (a
// SleepFor on a token creates, locks and destroys a Mutex). If one holds it
// at the moment of fork(), nothing ever releases it in the child, and the
// child's first Mutex operation spins forever: LifecycleTest.ForkWhileBusy
// hung so in about 1 run in 3, inside this file's former child handler
// (mu_.Unlock() -> DebugOnlyLockLeave -> GetGraphId -> SpinLock::Lock),
// before the child's own code could switch the detector off. Abseil has no
// fork handler for that lock and we cannot reach it, so the child must not
// use the detector at all: even when the lock is free its graph may be
// half-updated. With kIgnore, Mutex never touches the graph, its lock, or the
// per-thread held-locks list. This only affects children of fork(); in
// NDEBUG builds the detector is compiled out anyway.
void DisableDeadlockDetectionInChild() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

// Runs Abseil's lazy process-wide one-time initialisations now, while the
// library loads (normally before main(), single-threaded). The race this
// rules out: Abseil runs them under once-flags (LowLevelCallOnce) the first
// time some thread needs them, and a flag left "running" by a parent thread
// at fork() stays so in the child, where the first thread to need it waits
// forever: LifecycleTest.ForkWhileBusy hung so once in 500 fresh runs, a
// worker of the child's new pool stuck in Mutex::Lock -> GetMutexGlobals ->
// NumCPUs -> LowLevelCallOnce (a parent thread had been computing the CPU
// count for its first contended Mutex or SpinLock). Covered here:
//   * the CPU count (NumCPUs), which the once-initialised spin limits of
//     Mutex (GetMutexGlobals) and SpinLock need. Those two flags are reached
//     only by contention, which one thread cannot produce; with the CPU count
//     known, their initialisation is a few stores, so the window left is a
//     few nanoseconds. NumCPUs is in an internal Abseil header; Abseil is
//     pinned (bazel/repositories.bzl), so this is checked at every upgrade.
//   * the thread-identity key and the low-level allocator's arenas, created
//     by the first blocking wait of the process: a conditional lock that
//     times out at once blocks (and in debug builds also creates the
//     deadlock detector's graph).
void RunAbseilOneTimeInitialisations() {
  (void)absl::base_internal::NumCPUs();
  absl::Mutex mu;
  static constexpr bool kNever = false;
  // Returns (false: timed out) holding mu.
  (void)mu.LockWhenWithTimeout(absl::Condition(&kNever), absl::ZeroDuration());
  mu.Unlock();
}

// Both at load time: the child handler so that it precedes every handler
// registered later (child handlers run in registration order), ours
// included; the initialisations while no other thread can be inside one.
[[maybe_unused]] const bool kForkSetUpDone = [] {
  RunAbseilOneTimeInitialisations();
  return pthread_atfork(nullptr, nullptr, &DisableDeadlockDetectionInChild) ==
         0;
}();

}  // namespace

DeadlineTimer& DeadlineTimer::Get() {
  // Leaked on purpose: states with deadlines may be destroyed during static
  // destruction, after an ordinary static would be gone.
  static DeadlineTimer* const timer = [] {
    auto* t = new DeadlineTimer();
    // The forking thread holds mu_ across fork(), so no other thread is
    // inside a critical section at that moment: the child's copy of heap_
    // and of the flags is consistent.
    pthread_atfork([] { Get().mu_.Lock(); }, [] { Get().mu_.Unlock(); },
                   [] { Get().ResetInForkChild(); });
    return t;
  }();
  return *timer;
}

void DeadlineTimer::ResetInForkChild() {
  // The child is single-threaded here and no user code has run yet. No
  // absl::Mutex call on mu_: its copy may still list parent threads as
  // waiters (a thread queued on mu_ in Arm/Disarm, or the timer thread
  // retaking it), which do not exist here -- an Unlock would "wake" one of
  // those and leave a live waiter asleep (a lost wake-up) or the mutex's
  // designated-waker flag set forever. Build a fresh one in place; the copy
  // is abandoned without its destructor (which would only update the same
  // bookkeeping). This mutex is therefore not locked in the
  // child, although the prepare handler locked it.
  new (&mu_) absl::Mutex();
  // Deadlines armed before the fork belong to the parent's threads and
  // objects (often its pools' tasks); firing one here would run callbacks
  // that parent threads registered, which may wait on locks those threads
  // held at fork() -- the child's timer thread would hang, and with it every
  // deadline of the child. So they do not fire in the child; ~CancelState's
  // Disarm() finds them unarmed.
  for (CancelState* s : heap_) s->timer_armed_ = false;
  heap_.clear();
  // No timer thread here (it was detached in the parent): the next Arm()
  // starts a fresh one.
  thread_started_ = false;
}

void DeadlineTimer::Place(size_t i, CancelState* s) {
  heap_[i] = s;
  s->timer_index_ = i;
}

void DeadlineTimer::SiftUp(size_t i) {
  CancelState* s = heap_[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (heap_[parent]->timer_due_ <= s->timer_due_) break;
    Place(i, heap_[parent]);
    i = parent;
  }
  Place(i, s);
}

void DeadlineTimer::SiftDown(size_t i) {
  CancelState* s = heap_[i];
  const size_t n = heap_.size();
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n &&
        heap_[child + 1]->timer_due_ < heap_[child]->timer_due_) {
      ++child;
    }
    if (s->timer_due_ <= heap_[child]->timer_due_) break;
    Place(i, heap_[child]);
    i = child;
  }
  Place(i, s);
}

void DeadlineTimer::RemoveAt(size_t i) {
  heap_[i]->timer_armed_ = false;
  CancelState* last = heap_.back();
  heap_.pop_back();
  if (i < heap_.size()) {
    Place(i, last);
    SiftDown(i);
    SiftUp(last->timer_index_);
  }
}

void DeadlineTimer::Arm(CancelState* state) {
  absl::MutexLock lock(&mu_);
  state->timer_armed_ = true;
  heap_.push_back(state);
  SiftUp(heap_.size() - 1);
  if (!thread_started_) {
    thread_started_ = true;
    // Detached: never stopped (EXIT in the header).
    std::thread([this] { Run(); }).detach();
  }
  if (heap_[0] == state) {
    // Sleeping protocol: changes the word the timer thread sleeps on.
    wake_seq_.fetch_add(1, std::memory_order_relaxed);
    FutexWakeAll(&wake_seq_);
  }
}

void DeadlineTimer::Disarm(CancelState* state) {
  absl::MutexLock lock(&mu_);
  if (state->timer_armed_) RemoveAt(state->timer_index_);
}

size_t DeadlineTimer::ArmedCount() {
  absl::MutexLock lock(&mu_);
  return heap_.size();
}

bool DeadlineTimer::ThreadRunning() {
  absl::MutexLock lock(&mu_);
  return thread_started_;
}

void DeadlineTimer::Run() {
  pthread_setname_np(pthread_self(), "cancelpool-dl");
  // Everything this thread runs is a library callback (cancel_state.h).
  ScopedLibraryCallback in_callback;
  mu_.Lock();
  for (;;) {
    absl::Duration sleep = absl::InfiniteDuration();
    if (!heap_.empty()) {
      CancelState* top = heap_[0];
      const absl::Duration now = MonotonicNow();
      if (top->timer_due_ <= now) {
        // Firing protocol, steps 1-3.
        RemoveAt(0);
        if (!top->TryRef()) continue;  // being destroyed
        mu_.Unlock();
        top->RequestCancellation(DeadlineReason());
        top->Unref();
        mu_.Lock();
        continue;
      }
      sleep = top->timer_due_ - now;
    }
    // Sleeping protocol, S1-S2.
    const uint32_t seq = wake_seq_.load(std::memory_order_relaxed);
    mu_.Unlock();
    FutexWait(&wake_seq_, seq, sleep);
    mu_.Lock();
  }
}

}  // namespace cancel_internal
}  // namespace cancelpool
