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
//   D3. A cancel then reaches the running tasks (S2, CancelRunningTasks) and
//       resolves the queued ones (CancelQueuedTasks).
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
#include <memory>
#include <utility>
#include <vector>

#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/cause.h"
#include "cancelpool/cancel/internal/cause_payload.h"
#include "cancelpool/pool/internal/scheduler.h"
#include "cancelpool/pool/internal/worker.h"

namespace cancelpool {
namespace pool_internal {

void Scheduler::CancelRunningTasks(const absl::Status& reason) {
  for (auto& w : workers_) w->current.CancelCurrent(reason);  // S2
}

void Scheduler::CancelQueuedTasks(const absl::Status& reason) {
  // Tasks that another thread is still resolving (it won a cancellation
  // first) go back to the injection queue once we are done, for the workers
  // to drop when resolved (see RunTask); popping them again here would spin.
  std::vector<TaskBase*> contested;
  auto cancel = [&](TaskBase* t) {
    if (t->RequestCancellation(reason)) {
      never_ran_.fetch_add(1, std::memory_order_relaxed);
      LeftQueue(1);
      t->Unref();
    } else if (t->ResolvingBeforeStart()) {
      contested.push_back(t);
    } else {
      LeftQueue(1);
      t->Unref();
    }
  };
  TaskBase* batch[64];
  while (size_t n = injector_.PopBatch(batch, 64)) {
    for (size_t i = 0; i < n; ++i) cancel(batch[i]);
  }
  for (auto& w : workers_) {
    for (;;) {
      bool lost = false;
      TaskBase* t = w->stealer.Steal(&lost);
      if (t == nullptr) {
        if (lost) continue;
        break;
      }
      cancel(t);
    }
  }
  for (TaskBase* t : contested) Requeue(t);
}

void Scheduler::Shutdown(ShutdownMode mode, absl::Status reason) {
  // Cancelling queued tasks destroys their callables here; one may hold the
  // last ThreadPool handle, whose destruction must not free us mid-call.
  const std::shared_ptr<Scheduler> keep_alive = shared_from_this();
  // Every reason a shutdown cancels with says so (cause.h): the default, or
  // the caller's with kShutdown unless it already carries a cause.
  reason = reason.ok() ? cancel_internal::DefaultShutdownReason()
                       : cancel_internal::WithCauseIfAbsent(
                             std::move(reason), CancellationCause::kShutdown);
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
  if (cancel_now) {              // D3
    CancelRunningTasks(reason);  // S2
    CancelQueuedTasks(reason);
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
