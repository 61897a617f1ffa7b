// Copyright 2026 The cancelpool Authors.
#include "cancelpool/cancel/internal/deadline_timer.h"

#include <pthread.h>
#include <time.h>

#include <cstdlib>
#include <new>
#include <utility>

#include "absl/base/internal/sysinfo.h"
#include "absl/status/status.h"
#include "cancelpool/cancel/internal/cancel_state.h"

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

absl::Time RealtimeNow() noexcept {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return absl::TimeFromTimespec(ts);
}

DeadlineTimer& DeadlineTimer::Get() {
  // Leaked on purpose: states with deadlines may be destroyed during static
  // destruction, after an ordinary static would be gone.
  static DeadlineTimer* const timer = [] {
    auto* t = new DeadlineTimer();
    std::atexit([] { Get().StopAtExit(); });
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
  // absl::Mutex call on mu_ or wake_: their copies may still list parent
  // threads as waiters (the timer thread in wake_.Wait, a thread queued on
  // mu_ in Arm/Disarm), which do not exist here -- an Unlock or Signal would
  // "wake" one of those and leave a live waiter asleep (a lost wake-up) or
  // the mutex's designated-waker flag set forever. Build fresh ones in place;
  // the copies are abandoned without their destructors (which would only
  // update the same bookkeeping). This mutex is therefore not locked in the
  // child, although the prepare handler locked it.
  new (&mu_) absl::Mutex();
  new (&wake_) absl::CondVar();
  // Deadlines armed before the fork belong to the parent's threads and
  // objects (often its pools' tasks); firing one here would run callbacks
  // that parent threads registered, which may wait on locks those threads
  // held at fork() -- the child's timer thread would hang, and with it every
  // deadline of the child. So they do not fire in the child; ~CancelState's
  // Disarm() finds them unarmed.
  for (CancelState* s : heap_) s->timer_armed_ = false;
  heap_.clear();
  // No timer thread here: drop the handle without joining it (there is
  // nothing to join) so the next Arm() starts a fresh one.
  if (thread_started_) {
    new (&thread_) std::thread();  // the old handle is abandoned, not joined
    thread_started_ = false;
  }
}

void DeadlineTimer::Place(size_t i, CancelState* s) {
  heap_[i] = s;
  s->timer_index_ = i;
}

void DeadlineTimer::SiftUp(size_t i) {
  CancelState* s = heap_[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (heap_[parent]->deadline_ <= s->deadline_) break;
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
    if (child + 1 < n && heap_[child + 1]->deadline_ < heap_[child]->deadline_) {
      ++child;
    }
    if (s->deadline_ <= heap_[child]->deadline_) break;
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
  if (exited_) return;
  if (!thread_started_) {
    thread_started_ = true;
    thread_ = std::thread([this] { Run(); });
  }
  if (heap_[0] == state) wake_.Signal();
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
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    if (heap_.empty()) {
      wake_.Wait(&mu_);
      continue;
    }
    CancelState* top = heap_[0];
    if (top->deadline_ > RealtimeNow()) {
      wake_.WaitWithDeadline(&mu_, top->deadline_);
      continue;
    }
    RemoveAt(0);
    if (!top->TryRef()) continue;  // being destroyed
    mu_.Unlock();
    top->RequestCancellation(absl::DeadlineExceededError("deadline exceeded"));
    top->Unref();
    mu_.Lock();
  }
}

void DeadlineTimer::StopAtExit() {
  std::thread t;
  {
    absl::MutexLock lock(&mu_);
    exited_ = true;
    stopping_ = true;
    wake_.Signal();
    if (!thread_started_) return;
    t = std::move(thread_);
  }
  t.join();
}

}  // namespace cancel_internal
}  // namespace cancelpool
