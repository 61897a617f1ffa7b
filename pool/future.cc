// Copyright 2026 The cancelpool Authors.
#include "cancelpool/pool/future.h"

#include "cancelpool/cancel/cause.h"
#include "cancelpool/pool/internal/scheduler.h"

namespace cancelpool {
namespace pool_internal {

absl::Status DefaultFutureCancelReason() {
  // One shared status: copies only bump its reference count (a fresh
  // status with a message would allocate on every Cancel).
  static const absl::Status* const kReason = new absl::Status(
      WithCancellationCause(absl::CancelledError("future cancelled"),
                            CancellationCause::kRequested));
  return *kReason;
}

absl::Status SelfWaitError() {
  return absl::FailedPreconditionError(
      "waiting on a future from inside the task that produces it would "
      "deadlock");
}

WaitResult WaitForTask(TaskBase* task, CancelState* waiter,
                       absl::Time deadline) {
  if (task->IsResolved()) return WaitResult::kReady;
  // Only a started task can be on this thread's stack; skip the walk for
  // the common fork-join case of an awaited task that has not started.
  if (task->WasStarted() && IsRunningOnThisThread(task)) {
    return WaitResult::kTimeout;
  }
  Scheduler* scheduler = task->scheduler();
  if (scheduler != nullptr) return scheduler->Wait(task, waiter, deadline);
  return task->BlockUntilResolved(waiter, deadline);
}

bool CancelTask(TaskBase* task, absl::Status reason) {
  if (reason.ok()) reason = DefaultFutureCancelReason();
  if (task->RequestCancellation(std::move(reason))) return true;
  // Lost: either already cancelled (by a parent, a deadline, the pool) --
  // then the request still arrived before completion if the task has not
  // finished -- or already finished.
  // Acquire: pairs with Resolve's release RMW that set kClosed.
  return (task->word().load(std::memory_order_acquire) &
          CancelState::kClosed) == 0;
}

}  // namespace pool_internal
}  // namespace cancelpool
