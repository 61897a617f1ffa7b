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

#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "cancelpool/cancel/cause.h"
#include "cancelpool/pool/internal/scheduler.h"
#include "cancelpool/pool/internal/worker.h"

namespace cancelpool {
namespace pool_internal {

void Scheduler::Submit(TaskBase* task, CancelState* parent,
                       absl::Time deadline) {
  // The common case first: from outside, no parent, no deadline, no queue
  // limit, pool running -- the checks below in the same order, minus the
  // ones that cannot apply.
  if (parent == nullptr && deadline == absl::InfiniteFuture() &&
      queue_limit_ == 0) {
    Worker* w = tls_worker_;
    const int phase = phase_.load(std::memory_order_acquire);
    if (w == nullptr || w->scheduler != this) {
      if (phase == kRunning) {
        task->set_scheduler(this);
        EnqueueAdmitted(nullptr, /*inside=*/false, task,
                        /*count_outside=*/true,
                        "thread pool is shut down: Submit after Shutdown");
        return;
      }
    } else if (phase != kCancelling && tls_running_frame != nullptr) {
      // From a task running on a worker of this pool (a chain link, a
      // fork-join spawn): the pool has not terminated (a running task holds
      // off termination, idle.h), nothing can have cancelled the task (its
      // token is not handed out yet: no parent, no deadline), and no cancel
      // shutdown has begun (seen above; one that begins after is S1's
      // business, as for any queued task). So: count, stamp, push, notify
      // -- SubmitSlow and EnqueueAdmitted minus the checks that cannot
      // apply.
      task->set_scheduler(this);
      Bump(w->submitted);
      if (shedder_.enabled()) {
        task->set_enqueued_ns(QueueDelayShedder::NowNanos());
      }
      PushLocal(w, task);
      idle_.Notify();                                                 // W5
      if (options_.max_blocking_threads != 0) CompensateAfterPush();  // B5
      return;
    }
  }
  SubmitSlow(task, parent, deadline);
}

void Scheduler::SubmitSlow(TaskBase* task, CancelState* parent,
                           absl::Time deadline) {
  task->set_scheduler(this);
  const bool plain = parent == nullptr && deadline == absl::InfiniteFuture();
  // A parent or a deadline can cancel the task while it is being attached
  // below, on this thread or another; that runs the callable's destructor,
  // which may destroy the last ThreadPool handle (the callable held it).
  // Keep the scheduler alive until we are done with it.
  std::shared_ptr<Scheduler> keep_alive;
  if (!plain) keep_alive = shared_from_this();
  Worker* w = tls_worker_;
  const bool inside = w != nullptr && w->scheduler == this;
  // An outside submission is counted by the injection push (I5 of
  // injection_queue.h), or below on every path that does not reach it.
  if (inside) Bump(w->submitted);
  const int phase = phase_.load(std::memory_order_acquire);
  if (ABSL_PREDICT_FALSE(!inside && phase != kRunning)) {
    outside_submitted_.fetch_add(1, std::memory_order_relaxed);
    Reject(task, absl::FailedPreconditionError(
                     "thread pool is shut down: Submit after Shutdown"));
    return;
  }
  // A worker of this pool submitting after termination: from
  // on_worker_stop (no task runs then, so no race with termination). Nothing
  // would run the task. Acquire: pairs with Q6 of idle.h.
  if (inside && idle_.IsTerminated()) {
    Reject(task, absl::FailedPreconditionError(
                     "thread pool has terminated: Submit from on_worker_stop"));
    return;
  }
  // A deadline that has passed already: refused before admission (it takes
  // no queue place), resolved as cancelled with DeadlineExceeded by this
  // thread (task.h, step 3: counted in cancelled_before_start).
  if (deadline != absl::InfiniteFuture() && deadline <= absl::Now()) {
    if (!inside) outside_submitted_.fetch_add(1, std::memory_order_relaxed);
    RefuseDeadlinePassed(task);
    return;
  }
  if (queue_limit_ != 0 && !Admit()) {
    if (!inside) outside_submitted_.fetch_add(1, std::memory_order_relaxed);
    RejectQueueFull(task);
    return;
  }
  // Only now can anything cancel the task (its token was not handed out).
  if (!plain) task->AttachParentAndDeadline(parent, deadline);
  if (inside && phase == kCancelling &&
      task->RequestCancellation(cancel_reason_)) {
    never_ran_.fetch_add(1, std::memory_order_relaxed);
  }
  EnqueueAdmitted(w, inside, task, /*count_outside=*/!inside,
                  "thread pool is shut down: Submit after Shutdown");
}

void Scheduler::SubmitBatch(TaskBase* const* tasks, size_t n,
                            CancelState* parent, absl::Time deadline) {
  if (n == 0) return;
  for (size_t i = 0; i < n; ++i) tasks[i]->set_scheduler(this);
  const bool plain = parent == nullptr && deadline == absl::InfiniteFuture();
  std::shared_ptr<Scheduler> keep_alive;  // as in Submit
  if (!plain) keep_alive = shared_from_this();
  Worker* w = tls_worker_;
  const bool inside = w != nullptr && w->scheduler == this;
  if (inside) {
    w->submitted.store(w->submitted.load(std::memory_order_relaxed) + n,
                       std::memory_order_relaxed);  // Bump, n times
  }
  const int phase = phase_.load(std::memory_order_acquire);
  if (!inside && phase != kRunning) {
    outside_submitted_.fetch_add(n, std::memory_order_relaxed);
    for (size_t i = 0; i < n; ++i) {
      Reject(tasks[i],
             absl::FailedPreconditionError(
                 "thread pool is shut down: SubmitBatch after Shutdown"));
    }
    return;
  }
  if (inside && idle_.IsTerminated()) {  // acquire: pairs with Q6 of idle.h
    for (size_t i = 0; i < n; ++i) {
      Reject(tasks[i], absl::FailedPreconditionError(
                           "thread pool has terminated: SubmitBatch from "
                           "on_worker_stop"));
    }
    return;
  }
  if (deadline != absl::InfiniteFuture() && deadline <= absl::Now()) {
    if (!inside) outside_submitted_.fetch_add(n, std::memory_order_relaxed);
    for (size_t i = 0; i < n; ++i) RefuseDeadlinePassed(tasks[i]);
    return;
  }
  // Admission and attachment task by task, in submission order; the
  // admitted ones are queued kSubmitChunk at a time: one injection-queue
  // lock round trip and one Notify per chunk.
  TaskBase* chunk[kSubmitChunk];
  size_t k = 0;
  for (size_t i = 0; i < n; ++i) {
    TaskBase* task = tasks[i];
    if (queue_limit_ != 0 && !Admit()) {
      if (!inside) outside_submitted_.fetch_add(1, std::memory_order_relaxed);
      RejectQueueFull(task);
      continue;
    }
    if (!plain) task->AttachParentAndDeadline(parent, deadline);
    if (inside && phase == kCancelling &&
        task->RequestCancellation(cancel_reason_)) {
      never_ran_.fetch_add(1, std::memory_order_relaxed);
    }
    chunk[k++] = task;
    if (k == kSubmitChunk) {
      EnqueueAdmittedBatch(
          w, inside, chunk, k, /*count_outside=*/!inside,
          "thread pool is shut down: SubmitBatch after Shutdown");
      k = 0;
    }
  }
  if (k != 0) {
    EnqueueAdmittedBatch(
        w, inside, chunk, k, /*count_outside=*/!inside,
        "thread pool is shut down: SubmitBatch after Shutdown");
  }
}

void Scheduler::Reject(TaskBase* task, absl::Status status) {
  rejected_.fetch_add(1, std::memory_order_relaxed);
  task->ResolveRejected(std::move(status));
  task->Unref();
}

void Scheduler::RejectQueueFull(TaskBase* task) {
  Reject(task, absl::ResourceExhaustedError(
                   absl::StrCat("thread pool queue is full (max_queued_tasks=",
                                options_.max_queued_tasks, ")")));
}

void Scheduler::RefuseDeadlinePassed(TaskBase* task) {
  deadline_passed_at_submit_.fetch_add(1, std::memory_order_relaxed);
  task->RequestCancellation(WithCancellationCause(
      absl::DeadlineExceededError(
          "task deadline had passed when it was submitted"),
      CancellationCause::kDeadline));
  task->Unref();  // the queue's reference: it is never queued
}

void Scheduler::EnqueueAdmitted(Worker* w, bool inside, TaskBase* task,
                                bool count_outside,
                                absl::string_view closed_message) {
  if (task->IsResolved()) {  // cancelled already: never queued
    if (count_outside) {
      outside_submitted_.fetch_add(1, std::memory_order_relaxed);
    }
    LeftQueue(1);
    task->Unref();
    return;
  }
  if (shedder_.enabled()) task->set_enqueued_ns(QueueDelayShedder::NowNanos());
  if (inside) {
    PushLocal(w, task);
  } else if (ABSL_PREDICT_FALSE(
                 injector_.Push(&task, 1, /*outside=*/true, count_outside) !=
                 InjectionQueue<TaskBase*>::PushResult::kOk)) {
    RejectClosed(&task, 1, count_outside, closed_message);
    return;
  }
  idle_.Notify();
  if (options_.max_blocking_threads != 0) CompensateAfterPush();  // B5
}

void Scheduler::EnqueueAdmittedBatch(Worker* w, bool inside, TaskBase** tasks,
                                     size_t n, bool count_outside,
                                     absl::string_view closed_message) {
  size_t k = 0;  // the tasks still to queue, compacted in place
  for (size_t i = 0; i < n; ++i) {
    TaskBase* task = tasks[i];
    if (task->IsResolved()) {  // cancelled already: never queued
      if (count_outside) {
        outside_submitted_.fetch_add(1, std::memory_order_relaxed);
      }
      LeftQueue(1);
      task->Unref();
      continue;
    }
    tasks[k++] = task;
  }
  if (k == 0) return;
  if (shedder_.enabled()) {
    const int64_t now = QueueDelayShedder::NowNanos();
    for (size_t i = 0; i < k; ++i) tasks[i]->set_enqueued_ns(now);
  }
  if (inside) {
    for (size_t i = 0; i < k; ++i) PushLocal(w, tasks[i]);
  } else if (injector_.Push(tasks, k, /*outside=*/true, count_outside) !=
             InjectionQueue<TaskBase*>::PushResult::kOk) {
    RejectClosed(tasks, k, count_outside, closed_message);
    return;
  }
  // N2-N4 once for the whole push (its last store is N1).
  idle_.Notify();
  if (options_.max_blocking_threads != 0) CompensateAfterPush();  // B5
}

void Scheduler::RejectClosed(TaskBase* const* tasks, size_t n,
                             bool count_outside,
                             absl::string_view closed_message) {
  // Shutdown closed the queue after our phase check. Nothing else can have
  // resolved a task unless its parent/deadline fired; then it is accounted
  // for by that cancellation. Either way it was admitted but never queued.
  if (count_outside) {
    outside_submitted_.fetch_add(n, std::memory_order_relaxed);
  }
  LeftQueue(static_cast<int64_t>(n));
  for (size_t i = 0; i < n; ++i) {
    TaskBase* task = tasks[i];
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
  }
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
  // Counted as submitted by CountSubmitted already.
  EnqueueAdmitted(w, inside, task, /*count_outside=*/false,
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
