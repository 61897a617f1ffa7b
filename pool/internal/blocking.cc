// Copyright 2026 The cancelpool Authors.
//
// Blocking-aware workers: when a thread of the pool blocks inside a
// ScopedBlockingRegion (cancel/blocking.h; the waits of cancel/wait.h enter
// one), an extra thread takes its place while there is work, up to
// ThreadPoolOptions::max_blocking_threads of them; idle extra threads
// retire. Anchors: Java's ForkJoinPool.managedBlock (compensating threads),
// Go's hand-off of a blocked thread's P, Tokio's block_in_place.
//
// The extra threads use worker slots num_workers .. num_workers +
// max_blocking_threads - 1 of workers_ (their deques are stealable and
// their running tasks reachable by a cancel shutdown like the workers'),
// but not the idle protocol (idle.h): they never park in the idle list; an
// idle one waits on BlockingState::mu.
//
// PROTOCOL: COMPENSATION (state: BlockingState, blocking.h)
// "busy" extra threads = alive - idle; the pool needs one more thread when
//     work is queued, no worker is searching or parked, and busy < blocked
//     (fewer than num_workers threads are running tasks).
//   B1. Entering the outermost region on a pool thread (EnterBlocking):
//       count it (PoolStats::blocking_regions). With max_blocking_threads 0,
//       nothing else.
//   B2. Under mu: blocked += 1 (seq_cst), then B3.
//   B3. (under mu; MaybeCompensateLocked) Stop if `stopping`. Look at the
//       queues (seq_cst loads, Env::AnyWorkVisible): none, stop. A worker
//       searching or parked: Notify (idle.h N2-N4) and stop -- a worker is
//       free. missing = blocked - busy; 0 or less: stop. For each of
//       max(1, min(missing, tasks in the injection queue)) threads: an idle
//       extra thread: idle -= 1, wakeups += 1 (it runs once mu is
//       released); else, below the limit: take a free slot (joining the
//       thread that used it, which has exited), alive += 1, start a thread;
//       a failure is counted (blocking_thread_start_failures), never thrown,
//       and ends the step.
//   B4. Leaving the region (ExitBlocking): under mu, blocked -= 1. Threads
//       above num_workers stop at B6.b.
//   B5. Submit, after its push and Notify, reads blocked (seq_cst); above
//       0, it runs B3 under mu. With B2 this is a Dekker pair: B2 writes
//       blocked then reads the queues, B5 writes a queue then reads
//       blocked, all seq_cst, so one of them sees the other: work queued
//       while every thread blocks is never left without a thread to run it.
//   B6. An extra thread's loop (ExtraMain):
//       a. active += 1 (seq_cst) before it pops anything: the termination
//          check counts it like a Shutdown call holding tasks (Q5 of
//          idle.h, T2 of shutdown.cc).
//       b. Own deque, injection queue, then every other deque. Runs what it
//          finds; after each task, with its own deque empty, it stops if
//          busy > blocked (more than num_workers threads run tasks: a region
//          ended).
//       c. Found nothing (or stopped): active -= 1 under the idle mutex and
//          the termination check (idle.h CheckTermination), as D4 does.
//       d. Under mu: idle += 1; then the B3 condition again for itself
//          (work visible and busy < blocked): if it holds, idle -= 1 and
//          back to a -- the B5 of a push that saw this thread busy ran B3
//          before this step took mu, so this look at the queues sees the
//          push. Else wait for a wake-up, `stopping` or the keep-alive.
//   B7. Woken (wakeups > 0: wakeups -= 1; the waker already took it out of
//       idle): back to a, unless stopping. Timed out or stopping: idle -= 1
//       (unless a waker did), alive -= 1,
//       slot back to free_slots, count it retired, exit.
//   B8. Stop (StopExtraThreads; by the first worker to leave after the pool
//       terminated, and by JoinOrDetachWorkers): under mu, stopping = true.
//       Idle extra threads exit (B7); none starts (B3); AwaitTermination
//       waits for alive == 0 and joining takes the threads' handles.
// Races ruled out: a queued task left without a thread while every thread
// blocks (B5 with B2, B6.d); termination while an extra thread holds a
// popped task (B6.a/c); two wakers waking one idle thread for two tasks
// (wakeups is a count, taken under mu); an extra thread started after the
// pool stopped (B3 checks `stopping` under mu, B8 sets it under mu); a
// thread handle reused before its thread exited (B3 joins the slot's old
// thread; it exits right after B7 and takes nothing after releasing mu).
// More than num_workers threads may run tasks between a region's end and
// the extra threads' next B6.b check, for at most one task each.
#include <pthread.h>

#include <algorithm>
#include <exception>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cancelpool/cancel/internal/blocking_hook.h"
#include "cancelpool/pool/internal/scheduler.h"
#include "cancelpool/pool/internal/worker.h"

namespace cancelpool {
namespace pool_internal {

void Scheduler::EnterBlocking(Worker* w) noexcept {
  Bump(w->blocking_regions);  // B1
  if (options_.max_blocking_threads == 0) return;
  absl::MutexLock lock(&blocking_.mu);
  blocking_.blocked.fetch_add(1, std::memory_order_seq_cst);  // B2
  MaybeCompensateLocked();
}

void Scheduler::ExitBlocking() noexcept {
  if (options_.max_blocking_threads == 0) return;
  absl::MutexLock lock(&blocking_.mu);
  blocking_.blocked.fetch_sub(1, std::memory_order_seq_cst);  // B4
}

void Scheduler::CompensateAfterPush() {
  // B5. seq_cst: the other half of the Dekker pair with B2.
  if (blocking_.blocked.load(std::memory_order_seq_cst) == 0) return;
  absl::MutexLock lock(&blocking_.mu);
  MaybeCompensateLocked();
}

void Scheduler::MaybeCompensateLocked() {
  BlockingState& b = blocking_;  // B3
  if (b.stopping) return;
  if (!AnyWorkVisible()) return;
  if (idle_.AnyIdle()) {
    idle_.Notify();
    return;
  }
  // As many threads as are missing, but not more than there are queued
  // tasks in the injection queue (at least one: the work seen may be in a
  // deque).
  const int missing = b.blocked.load(std::memory_order_relaxed) -
                      (b.alive - b.idle);  // relaxed: under mu
  if (missing <= 0) return;
  const int queued = static_cast<int>(
      std::min<size_t>(injector_.SizeHint(), static_cast<size_t>(missing)));
  const int want = std::max(1, queued);
  for (int i = 0; i < want; ++i) {
    if (b.idle > 0) {
      --b.idle;
      ++b.wakeups;
      b.compensations.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (b.free_slots.empty()) return;  // the limit
    const int slot = b.free_slots.back();
    Worker* w = workers_[static_cast<size_t>(slot)].get();
    if (w->thread.joinable()) w->thread.join();  // exited (B7)
    try {
      w->thread =
          std::thread([self = shared_from_this(), w] { self->ExtraMain(w); });
    } catch (const std::exception&) {
      b.start_failures.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    b.free_slots.pop_back();
    ++b.alive;
    b.started.fetch_add(1, std::memory_order_relaxed);
    b.compensations.fetch_add(1, std::memory_order_relaxed);
  }
}

TaskBase* Scheduler::FindWorkExtra(Worker* w) {
  TaskBase* task = w->owner.Pop();
  if (task == nullptr) task = TakeFromInjector(w);
  if (task == nullptr && shedder_.enabled()) shedder_.QueueEmptied();  // O6
  if (task == nullptr) task = StealFromOthers(w);
  return task;
}

void Scheduler::ExtraMain(Worker* w) {
  std::string name =
      absl::StrCat(options_.thread_name_prefix, "b", w->index - num_core_)
          .substr(0, 15);
  pthread_setname_np(pthread_self(), name.c_str());
  tls_worker_ = w;
  cancel_internal::SetThreadBlockingHook(w);
  BlockingState& b = blocking_;
  IdleEnv env{this};
  for (;;) {
    b.active.fetch_add(1, std::memory_order_seq_cst);  // B6.a
    for (;;) {                                         // B6.b
      TaskBase* task = FindWorkExtra(w);
      if (task == nullptr) break;
      RunTask(w, task, /*owns_queue_ref=*/true);
      if (w->owner.SizeHint() != 0) continue;
      absl::MutexLock lock(&b.mu);
      if (b.alive - b.idle > b.blocked.load(std::memory_order_relaxed)) break;
    }
    idle_.CheckTermination(env, [&b] {  // B6.c
      b.active.fetch_sub(1, std::memory_order_seq_cst);
    });
    absl::MutexLock lock(&b.mu);  // B6.d
    ++b.idle;
    if (!b.stopping && AnyWorkVisible() &&
        b.alive - b.idle < b.blocked.load(std::memory_order_relaxed)) {
      --b.idle;
      continue;
    }
    auto woken = [&b]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(b.mu) {
      return b.wakeups > 0 || b.stopping;
    };
    b.mu.AwaitWithTimeout(absl::Condition(&woken),
                          options_.blocking_thread_keep_alive);
    if (b.wakeups > 0) {  // B7: the waker took us out of `idle`
      --b.wakeups;
      if (!b.stopping) continue;
    } else {
      --b.idle;
    }
    --b.alive;
    b.free_slots.push_back(w->index);
    b.retired.fetch_add(1, std::memory_order_relaxed);
    break;
  }
  cancel_internal::SetThreadBlockingHook(nullptr);
  tls_worker_ = nullptr;
}

void Scheduler::StopExtraThreads() {
  absl::MutexLock lock(&blocking_.mu);  // B8
  blocking_.stopping = true;
}

bool Scheduler::AwaitExtraThreads(absl::Time deadline) {
  absl::MutexLock lock(&blocking_.mu);
  auto none_alive = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(blocking_.mu) {
    return blocking_.alive == 0;
  };
  return blocking_.mu.AwaitWithDeadline(absl::Condition(&none_alive), deadline);
}

}  // namespace pool_internal
}  // namespace cancelpool
