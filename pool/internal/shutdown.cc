// Copyright 2026 The cancelpool Authors.
//
// Shutdown, its deferred escalation (CancelAt), and termination.
//
// PROTOCOL: SHUTDOWN
//   D1. Count this call in shutdowns_in_progress_ (seq_cst, before anything
//       is popped: T2).
//   D2. Under shutdown_mu_: close the injection queue to outside submissions
//       (injection_queue.h, I4), then publish the phase (draining or
//       cancelling) with a release store. A cancel also stores cancel_reason_
//       and sets cancel_running_ (S1 of running_task.h).
//   D3. A cancel then takes the injection queue's entries (SQ1), opens them
//       as a pass to the idle workers (SQ6), reaches the running tasks (S2,
//       CancelRunningTasks) and resolves the queued ones in one pass shared
//       with the workers (CancelQueuedTasks, SQ1-SQ7 below).
//   D4. Under the idle mutex: uncount this call and run the quiescence check
//       (idle.h, Q1-Q6).
// Workers keep running after a shutdown; the pool terminates at quiescence
// (idle.h), which can no longer be left once shutdown started.
//
// PROTOCOL: TERMINATION
// Termination implies every task resolved, and no thread will touch the
// scheduler for a task again. Two holders of tasks outside the queues make
// that so:
//   T1. A task cancelled before its start is resolved by the requesting
//       thread (task.h, step 3), which first updates the statistics here. A
//       worker (or Shutdown) that pops it before it is resolved puts it back
//       in the injection queue instead of dropping it (worker.cc RunTask,
//       CancelQueuedTasks below), so it stays visible until resolved.
//       Submit's rejection path, where the task was never queued, waits for
//       that resolution instead (submit.cc).
//   T2. Shutdown may pop tasks out of the queues and resolve them one by one
//       (kCancel). shutdowns_in_progress_ counts Shutdown calls under way
//       (D1, incremented before anything is popped); quiescence is checked
//       after the queues and requires it to be 0 (Q4, Q5 of idle.h). Shutdown
//       decrements it under the idle mutex and re-checks quiescence (D4).
// Races ruled out: a pool terminating (and being freed) while a canceller
// still updates its statistics (T1); termination while a Shutdown holds
// popped, unresolved tasks (T2); an outside task queued after termination
// (D2: the queue is closed before the phase is published).
//
// PROTOCOL: ONE-PASS CANCEL OF QUEUED TASKS (CancelQueuedTasks)
// A plain pool drops its queue; we must resolve every queued future, each
// with its own token cancelled. Per task that is the request's two RMWs on
// the task's word, the close RMW and the queue reference's release; the rest
// is done once per pass or per batch, and the batches are shared with the
// workers that go idle meanwhile (their running tasks were just cancelled):
//   SQ1. Take the entries: every entry of the injection queue in one lock
//        round trip (InjectionQueue::PopAll into pass_held_, before S2, so
//        that workers whose running task ends find nothing there to race us
//        for), then each worker's deque by steals (after S2; this thread
//        resolves those alone). Held from now on: termination waits for us
//        (T2).
//   SQ2. For each held task (in batches of kClaimBatch): request its
//        cancellation with the hook deferred (TaskBase::ClaimForShutdownCancel:
//        steps 1-3 of the cancel-versus-start protocol, task.h, with the
//        pool's one reason Status: a reference on one shared rep, no
//        allocation). Outcomes: kClaimed (never started, now cancelled,
//        not resolved: ours to resolve); kResolvedByHook (it had callbacks:
//        the request ran in full, the hook counted and resolved it);
//        kStarted (a helping wait runs it: its token is now cancelled, its
//        runner resolves it); kLost (someone else's request or the close was
//        first). A kLost task whose winner is still resolving it
//        (ResolvingBeforeStart) is kept and put back in the injection queue
//        at the end (T1), all others drop the queue's reference.
//   SQ3. Count the batch once: cancelled_before_start_ += claimed,
//        never_ran_ += claimed + resolved by hook, LeftQueue(all dropped) --
//        one RMW each, before any future of the batch resolves, so the
//        statistics are exact for anyone who saw one resolved (as step 3 of
//        task.h requires).
//   SQ4. Resolve each claimed task: result = the reason, destroy the
//        callable (its captures are freed before the future is ready),
//        close with kResolved, wake waiters only if kWaiters is set and run
//        the listener only if kListener is set (task.h, step 5, L2); then
//        drop the queue's reference. All under one ScopedLibraryCallback:
//        user destructors and listeners run here, and one may drop the last
//        ThreadPool handle (keep_alive in Shutdown keeps us alive).
//   SQ5. Requeue the contested tasks of SQ2 (T1), each participant its own,
//        before it counts its batch done (SQ6).
//   SQ6. The pass (HelpCancelPass): pass_held_ in chunks of kClaimBatch.
//        Opened before S2 by a release store of pass_open_ after pass_held_
//        and pass_chunks_ are written (never written again; the reason is
//        cancel_reason_, written before the phase). Participants: this call,
//        and every worker about to park (P0 of idle.h: still searching, so
//        not in the idle list, Q3). Each takes chunk indices by a fetch_add
//        on pass_next_ until one is past the end, does SQ2-SQ5 on the chunk
//        under its own ScopedLibraryCallback, then counts it in pass_done_
//        (release). A worker cancels with its own copy of the reason (equal,
//        on a rep of its own: no reference count shared across cores).
//   SQ7. This call, its own chunks done, waits until pass_done_ reaches
//        pass_chunks_ (acquire), then frees pass_held_ and goes on to D4: so
//        every task it took is resolved or requeued when Shutdown returns,
//        and T2 covers the helpers' chunks (in flight while the count is
//        short).
// Races ruled out: a task started by a worker or a helping wait at the same
// moment (TryStart's CAS and SQ2's request are RMWs on one word: either the
// start comes first and SQ2 sees kStarted -- it leaves the task to its
// runner -- or the request does and TryStart fails: resolved exactly once);
// a Future::Cancel, deadline or parent at the same moment (step 1 of the
// request admits one winner; the loser does nothing); a future resolved
// before its statistics are counted (SQ3 before SQ4); a task lost (every
// taken entry is claimed and resolved, dropped after someone else resolved
// it, or requeued); termination while claimed tasks are unresolved (T2; a
// helper is not in the idle list, and SQ7 keeps this call counted until
// every chunk is done); a chunk resolved twice or never (one fetch_add
// hands out each index once, and SQ7 waits for each); a helper reading
// pass_held_ while it is written or freed (written before the release that
// opens the pass, freed only after the last chunk's release increment was
// acquired; a helper arriving later takes an index past the end and reads
// only pass_chunks_); a push missed by a helping worker (P0 keeps it a
// searcher: its P3 re-check sees the push, idle.h).
// ShutdownReport adds up: each task resolved by SQ4 or by a hook in SQ2 is
// counted once in never_ran and once in stats.cancelled_before_start.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/cause.h"
#include "cancelpool/cancel/internal/cancel_state.h"
#include "cancelpool/cancel/internal/cause_payload.h"
#include "cancelpool/cancel/internal/spin.h"
#include "cancelpool/pool/internal/scheduler.h"
#include "cancelpool/pool/internal/worker.h"

namespace cancelpool {
namespace pool_internal {

void Scheduler::CancelRunningTasks(const absl::Status& reason) {
  for (auto& w : workers_) w->current.CancelCurrent(reason);  // S2
}

void Scheduler::CancelHeldBatch(TaskBase* const* tasks, size_t n,
                                const absl::Status& reason,
                                std::vector<TaskBase*>* contested) {
  constexpr size_t kPrefetchAhead = 4;
  TaskBase* claimed[kClaimBatch];
  size_t n_claimed = 0;
  uint64_t by_hook = 0;
  int64_t dropped = 0;
  for (size_t i = 0; i < n; ++i) {  // SQ2
    TaskBase* t = tasks[i];
    // The blocks were written by their submitters, likely on other cores
    // or evicted: start fetching the next ones' words for the RMW.
    if (i + kPrefetchAhead < n) {
      __builtin_prefetch(tasks[i + kPrefetchAhead], /*rw=*/1);
    }
    switch (t->ClaimForShutdownCancel(reason)) {
      case TaskBase::ShutdownClaim::kClaimed:
        claimed[n_claimed++] = t;
        continue;
      case TaskBase::ShutdownClaim::kResolvedByHook:
        ++by_hook;
        break;
      case TaskBase::ShutdownClaim::kStarted:
        break;
      case TaskBase::ShutdownClaim::kLost:
        if (t->ResolvingBeforeStart()) {
          contested->push_back(t);
          continue;
        }
        break;
    }
    ++dropped;
    t->Unref();
  }
  // SQ3
  if (n_claimed != 0) {
    cancelled_before_start_.fetch_add(n_claimed, std::memory_order_relaxed);
  }
  if (n_claimed + by_hook != 0) {
    never_ran_.fetch_add(n_claimed + by_hook, std::memory_order_relaxed);
  }
  if (n_claimed + dropped != 0) {
    LeftQueue(static_cast<int64_t>(n_claimed) + dropped);
  }
  for (size_t k = 0; k < n_claimed; ++k) {  // SQ4
    claimed[k]->ResolveCancelledUnstarted(reason);
    claimed[k]->Unref();
  }
}

namespace {

// An equal Status on a rep of its own: every task of a chunk takes two
// references on its reason's rep (the token's reason and the result), so
// participants sharing one rep would bounce its reference count between
// their cores on every task.
absl::Status PrivateCopy(const absl::Status& reason) {
  absl::Status copy(reason.code(), reason.message());
  reason.ForEachPayload(
      [&copy](absl::string_view type_url, const absl::Cord& payload) {
        copy.SetPayload(type_url, payload);
      });
  return copy;
}

}  // namespace

void Scheduler::HelpCancelPass() {
  // SQ6. Acquire: pairs with the release store that opened the pass, so
  // pass_held_, pass_chunks_ and cancel_reason_ are visible.
  if (!pass_open_.load(std::memory_order_acquire)) return;
  const bool helper = OnWorkerThread();
  cancel_internal::ScopedLibraryCallback in_callback;  // SQ4
  std::vector<TaskBase*> contested;
  absl::Status own_reason;  // a helper's private copy, made on its first chunk
  for (;;) {
    // Relaxed: it only hands out chunk indices, each to one thread; the
    // chunks' contents were published by the acquire above.
    const size_t chunk = pass_next_.fetch_add(1, std::memory_order_relaxed);
    if (chunk >= pass_chunks_) return;
    if (helper && own_reason.ok()) own_reason = PrivateCopy(cancel_reason_);
    const size_t begin = chunk * kClaimBatch;
    const size_t n = std::min(kClaimBatch, pass_held_.size() - begin);
    CancelHeldBatch(pass_held_.data() + begin, n,
                    helper ? own_reason : cancel_reason_, &contested);
    for (TaskBase* t : contested) Requeue(t);  // SQ5
    contested.clear();
    // Release: pairs with the acquire of the Shutdown call's wait (SQ7): the
    // chunk's resolutions and requeues happen before that call's D4.
    pass_done_.fetch_add(1, std::memory_order_release);
  }
}

void Scheduler::CancelQueuedTasks(const absl::Status& reason) {
  // SQ1 (continued): the workers' deques, after S2. Resolved by this thread
  // alone (usually none: a running task's children).
  std::vector<TaskBase*> stolen;
  for (auto& w : workers_) {
    for (;;) {
      bool lost = false;
      TaskBase* t = w->stealer.Steal(&lost);
      if (t == nullptr) {
        if (lost) continue;
        break;
      }
      stolen.push_back(t);
    }
  }
  if (!stolen.empty()) {
    cancel_internal::ScopedLibraryCallback in_callback;  // SQ4
    std::vector<TaskBase*> contested;
    for (size_t begin = 0; begin < stolen.size(); begin += kClaimBatch) {
      CancelHeldBatch(stolen.data() + begin,
                      std::min(kClaimBatch, stolen.size() - begin), reason,
                      &contested);
    }
    for (TaskBase* t : contested) Requeue(t);  // SQ5
  }
  if (pass_chunks_ == 0) return;
  HelpCancelPass();  // SQ6: our share of the injection queue's entries
  // SQ7. Every chunk is taken; wait until the helpers' are done. Acquire:
  // pairs with their release increments.
  cancel_internal::SpinWait spin;
  while (pass_done_.load(std::memory_order_acquire) != pass_chunks_) {
    spin.Once();
  }
  // Relaxed: only a shortcut for later parks; a helper that still sees it
  // set takes an index past the end and leaves (SQ6).
  pass_open_.store(false, std::memory_order_relaxed);
  // No helper reads pass_held_ any more (every index is past the end).
  std::vector<TaskBase*>().swap(pass_held_);
}

void Scheduler::Shutdown(ShutdownMode mode, absl::Status reason) {
  // Cancelling queued tasks destroys their callables here; one may hold the
  // last ThreadPool handle, whose destruction must not free us mid-call.
  const std::shared_ptr<Scheduler> keep_alive = shared_from_this();
  // Every reason a shutdown cancels with says so (cause.h): the default, or
  // the caller's with kShutdown unless it already carries a cause. A drain
  // cancels nothing: its reason is not used (nor built: adding the cause
  // allocates, and the destructor drains after every cancel).
  if (mode == ShutdownMode::kCancel) {
    if (reason.ok()) {
      reason = cancel_internal::DefaultShutdownReason();
    } else {
      reason = cancel_internal::WithCauseIfAbsent(std::move(reason),
                                                  CancellationCause::kShutdown);
    }
  }
  // D1: holds termination off while this call may hold tasks it took out
  // of the queues (CancelQueuedTasks): they are not resolved yet (T2).
  shutdowns_in_progress_.fetch_add(1, std::memory_order_seq_cst);
  bool cancel_now = false;
  {
    absl::MutexLock lock(&shutdown_mu_);
    // Relaxed: phase_ is only written under shutdown_mu_, which we hold.
    const int phase = phase_.load(std::memory_order_relaxed);
    if (mode == ShutdownMode::kDrain) {
      if (phase == kRunning) {
        injector_.Close();
        phase_.store(kDraining, std::memory_order_release);
      }
    } else if (phase != kCancelling) {
      injector_.Close();
      cancel_reason_ = reason;
      phase_.store(kCancelling, std::memory_order_release);
      cancel_running_.store(true, std::memory_order_seq_cst);  // S1
      cancel_now = true;
    }
  }
  if (cancel_now) {  // D3
    // pass_held_ is this call's alone: only one Shutdown ever cancels.
    pass_held_.reserve(injector_.SizeHint());
    injector_.PopAll(&pass_held_);  // SQ1
    pass_chunks_ = (pass_held_.size() + kClaimBatch - 1) / kClaimBatch;
    if (pass_chunks_ != 0) {
      // SQ6: open the pass before S2, so that workers whose running task
      // ends find it before they park. Release: pairs with HelpCancelPass's
      // acquire.
      pass_open_.store(true, std::memory_order_release);
    }
    CancelRunningTasks(reason);  // S2
    CancelQueuedTasks(reason);   // SQ1 (deques), SQ6, SQ7
  }
  IdleEnv env{this};
  idle_.CheckTermination(env, [this] {  // D4
    shutdowns_in_progress_.fetch_sub(1, std::memory_order_seq_cst);
  });
}

void Scheduler::CancelAt(absl::Time deadline, absl::Status reason) {
  if (deadline == absl::InfiniteFuture()) return;
  // Built without the lock: if the deadline already passed, the callback
  // runs right here and takes shutdown_mu_ itself.
  auto fresh = std::make_unique<DeferredCancel>(
      deadline, DeferredCancel::Fire{weak_from_this(), std::move(reason)});
  {
    absl::MutexLock lock(&shutdown_mu_);
    if (deferred_cancel_ == nullptr ||
        deadline < deferred_cancel_->source.Deadline()) {
      std::swap(fresh, deferred_cancel_);
    }
  }
  // `fresh` (the later request, if any) is destroyed here, unlocked.
}

}  // namespace pool_internal
}  // namespace cancelpool
