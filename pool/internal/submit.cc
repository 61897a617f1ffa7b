// Copyright 2026 The cancelpool Authors.
//
// Submit: admission, the shutdown checks, linking the token, and queueing.
//
// PROTOCOL: ADMISSION (only with ThreadPoolOptions::max_queued_tasks)
// queued_ counts queue entries: a task is counted from its admission until
// its entry leaves the queues for good (RunTask pops it to start or to drop
// it, CancelQueuedTasks resolves it, RemoveResolved reclaims it) -- not until
// it starts, so tasks cancelled while queued (resolved blocks still sitting
// in a queue) count too and cannot grow memory past the limit.
//   A1. Admit: queued_ += 1 (relaxed); under the limit: admitted.
//   A2. Else undo it; if a cancellation before start happened since the last
//       reclaim (reclaimed_at_), reclaim the resolved entries of the
//       injection queue (so a flood of rejections does not rescan), and try
//       A1 once more. Entries in worker deques are reclaimed by their
//       workers.
//   A3. Every exit of an entry from the queues calls LeftQueue once.
// Relaxed throughout: queued_ is a bound, not a synchronisation.
// The rest of Submit, in order: reject an outside submission after Shutdown
// and a worker's after termination; refuse a task whose deadline has passed
// (resolved as cancelled with DeadlineExceeded, never queued); admit; attach
// parent and deadline (only now can anything cancel the task); queue it (a
// worker's own deque, or the injection queue, which a racing Shutdown may have
// closed: then the task is rejected, or its concurrent canceller is waited for,
// T1 of shutdown.cc); Notify (N1-N4, idle.h); with blocking-aware workers, B5
// (blocking.cc). With queue-delay shedding the task is stamped just before it
// is queued.
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cancelpool/cancel/cause.h"
#include "cancelpool/pool/internal/scheduler.h"
#include "cancelpool/pool/internal/worker.h"

namespace cancelpool {
namespace pool_internal {

void Scheduler::Submit(TaskBase* task, CancelState* parent,
                       absl::Time deadline) {
  task->set_scheduler(this);
  // A parent or a deadline can cancel the task while it is being attached
  // below, on this thread or another; that runs the callable's destructor,
  // which may destroy the last ThreadPool handle (the callable held it).
  // Keep the scheduler alive until we are done with it.
  std::shared_ptr<Scheduler> keep_alive;
  if (parent != nullptr || deadline != absl::InfiniteFuture()) {
    keep_alive = shared_from_this();
  }
  Worker* w = tls_worker_;
  const bool inside = w != nullptr && w->scheduler == this;
  if (inside) {
    Bump(w->submitted);
  } else {
    outside_submitted_.fetch_add(1, std::memory_order_relaxed);
  }
  const int phase = phase_.load(std::memory_order_acquire);
  auto reject = [&](absl::Status status) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    task->ResolveRejected(std::move(status));
    task->Unref();
  };
  if (!inside && phase != kRunning) {
    reject(absl::FailedPreconditionError(
        "thread pool is shut down: Submit after Shutdown"));
    return;
  }
  // A worker of this pool submitting after termination: from
  // on_worker_stop (no task runs then, so no race with termination). Nothing
  // would run the task. Acquire: pairs with Q6 of idle.h.
  if (inside && idle_.IsTerminated()) {
    reject(absl::FailedPreconditionError(
        "thread pool has terminated: Submit from on_worker_stop"));
    return;
  }
  // A deadline that has passed already: refused before admission (it takes
  // no queue place), resolved as cancelled with DeadlineExceeded by this
  // thread (task.h, step 3: counted in cancelled_before_start).
  if (deadline != absl::InfiniteFuture() && deadline <= absl::Now()) {
    deadline_passed_at_submit_.fetch_add(1, std::memory_order_relaxed);
    task->RequestCancellation(WithCancellationCause(
        absl::DeadlineExceededError(
            "task deadline had passed when it was submitted"),
        CancellationCause::kDeadline));
    task->Unref();  // the queue's reference: it is never queued
    return;
  }
  if (queue_limit_ != 0 && !Admit()) {
    reject(absl::ResourceExhaustedError(
        absl::StrCat("thread pool queue is full (max_queued_tasks=",
                     options_.max_queued_tasks, ")")));
    return;
  }
  // Only now can anything cancel the task (its token was not handed out).
  task->AttachParentAndDeadline(parent, deadline);
  if (inside && phase == kCancelling &&
      task->RequestCancellation(cancel_reason_)) {
    never_ran_.fetch_add(1, std::memory_order_relaxed);
  }
  EnqueueAdmitted(w, inside, task,
                  "thread pool is shut down: Submit after Shutdown");
}

void Scheduler::EnqueueAdmitted(Worker* w, bool inside, TaskBase* task,
                                absl::string_view closed_message) {
  if (task->IsResolved()) {  // cancelled already: never queued
    LeftQueue(1);
    task->Unref();
    return;
  }
  if (shedder_.enabled()) task->set_enqueued_ns(QueueDelayShedder::NowNanos());
  if (inside) {
    PushLocal(w, task);
  } else {
    if (injector_.Push(&task, 1, /*outside=*/true) !=
        InjectionQueue<TaskBase*>::PushResult::kOk) {
      // Shutdown closed the queue after our phase check. Nothing else can
      // have resolved the task unless its parent/deadline fired; then it is
      // accounted for by that cancellation. Either way it was admitted but
      // never queued.
      LeftQueue(1);
      if (task->TryStart()) {
        rejected_.fetch_add(1, std::memory_order_relaxed);
        task->ResolveRejected(absl::FailedPreconditionError(closed_message));
      } else if (task->ResolvingBeforeStart()) {
        // That cancellation is still resolving the task on another thread
        // and will update our statistics; the pool may have terminated
        // already (the task was never queued), so the caller -- who may
        // destroy the pool next -- must not return before it is done.
        task->BlockUntilResolved(nullptr, absl::InfiniteFuture());
      }
      task->Unref();
      return;
    }
  }
  idle_.Notify();
  if (options_.max_blocking_threads != 0) CompensateAfterPush();  // B5
}

void Scheduler::CountSubmitted(TaskBase* task) {
  task->set_scheduler(this);
  Worker* w = tls_worker_;
  if (w != nullptr && w->scheduler == this) {
    Bump(w->submitted);
  } else {
    outside_submitted_.fetch_add(1, std::memory_order_relaxed);
  }
}

bool Scheduler::LocalDequeLooksEmpty() const {
  Worker* w = tls_worker_;
  return w != nullptr && w->scheduler == this && w->deque.MaybeEmpty();
}

void Scheduler::SubmitHeld(TaskBase* task) {
  // The block is shared: a cancellation may resolve it concurrently (task.h
  // step 3), so every path below decides with TryStart or IsResolved, never
  // by resolving blindly.
  Worker* w = tls_worker_;
  const bool inside = w != nullptr && w->scheduler == this;
  const int phase = phase_.load(std::memory_order_acquire);
  auto reject = [&](absl::Status status) {
    task->ClearHeld();
    if (task->TryStart()) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
      task->ResolveRejected(std::move(status));
    } else if (task->ResolvingBeforeStart()) {
      // As in Submit: the canceller updates our statistics; do not return
      // (the caller may drop the last handle to the pool) before it is done.
      task->BlockUntilResolved(nullptr, absl::InfiniteFuture());
    }
    task->Unref();
  };
  if (!inside && phase != kRunning) {
    reject(absl::FailedPreconditionError(
        "thread pool is shut down: continuation after Shutdown"));
    return;
  }
  // Acquire: pairs with Q6 of idle.h.
  if (inside && idle_.IsTerminated()) {
    reject(absl::FailedPreconditionError(
        "thread pool has terminated: continuation from on_worker_stop"));
    return;
  }
  if (queue_limit_ != 0 && !Admit()) {
    reject(absl::ResourceExhaustedError(
        absl::StrCat("thread pool queue is full (max_queued_tasks=",
                     options_.max_queued_tasks, ")")));
    return;
  }
  if (inside && phase == kCancelling &&
      task->RequestCancellation(cancel_reason_)) {
    never_ran_.fetch_add(1, std::memory_order_relaxed);
  }
  task->ClearHeld();
  EnqueueAdmitted(w, inside, task,
                  "thread pool is shut down: continuation after Shutdown");
}

void Scheduler::OnCancelledBeforeStart() noexcept {
  cancelled_before_start_.fetch_add(1, std::memory_order_relaxed);
}

void Scheduler::LeftQueue(int64_t n) noexcept {
  if (queue_limit_ != 0) queued_.fetch_sub(n, std::memory_order_relaxed);
}

bool Scheduler::Admit() {
  // A1
  if (queued_.fetch_add(1, std::memory_order_relaxed) < queue_limit_) {
    return true;
  }
  queued_.fetch_sub(1, std::memory_order_relaxed);  // A2
  const uint64_t cancelled =
      cancelled_before_start_.load(std::memory_order_relaxed);
  if (reclaimed_at_.exchange(cancelled, std::memory_order_relaxed) ==
      cancelled) {
    return false;  // no tombstone appeared since the last reclaim
  }
  std::vector<TaskBase*> removed;
  injector_.RemoveResolved(&removed);
  if (removed.empty()) return false;
  LeftQueue(static_cast<int64_t>(removed.size()));
  for (TaskBase* t : removed) t->Unref();
  if (queued_.fetch_add(1, std::memory_order_relaxed) < queue_limit_) {
    return true;
  }
  queued_.fetch_sub(1, std::memory_order_relaxed);
  return false;
}

}  // namespace pool_internal
}  // namespace cancelpool
