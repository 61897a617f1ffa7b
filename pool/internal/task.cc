// Copyright 2026 The cancelpool Authors.
#include "cancelpool/pool/internal/task.h"

#include "absl/strings/str_cat.h"
#include "cancelpool/cancel/internal/clock.h"
#include "cancelpool/cancel/internal/futex.h"
#include "cancelpool/cancel/internal/spin.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/future.h"
#include "cancelpool/pool/internal/scheduler.h"

namespace cancelpool {

const char* TaskOutcomeName(TaskOutcome outcome) {
  switch (outcome) {
    case TaskOutcome::kPending:
      return "pending";
    case TaskOutcome::kSucceeded:
      return "succeeded";
    case TaskOutcome::kFailed:
      return "failed";
    case TaskOutcome::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

namespace pool_internal {

// About 1-5 microseconds of pause instructions: long enough for a round
// trip on an idle pool, short enough not to starve a resolver sharing this
// CPU (benchmarks/FINDINGS.md, "Wait spin length").
constexpr int kWaitSpinIterations = 64;

TaskBase::~TaskBase() { parent_link_.Detach(); }

void TaskBase::AttachParent(CancelState* parent) noexcept {
  parent_link_.Attach(parent, this);
}

TaskOutcome TaskBase::Execute() noexcept {
  absl::Status status;
  bool threw_cancelled = false;
  {
    // Install our token as the thread's current token without touching the
    // reference count (the runner holds a reference for the whole run).
    const cancel_internal::ThreadCancelContext saved =
        cancel_internal::tls_cancel_context;
    cancel_internal::tls_cancel_context = {this, 0};
    bool threw = true;
    try {
      // Restores `saved` and destroys the callable on return: captured
      // resources are released before the future becomes ready.
      status = InvokeAndDestroyCallable(saved);
      threw = false;
    } catch (const CancelledException& e) {
      status = e.Reason();
      threw_cancelled = true;
    } catch (const std::exception& e) {
      status = absl::UnknownError(absl::StrCat("task threw: ", e.what()));
    } catch (...) {
      status = absl::UnknownError(
          "task threw an exception not derived from std::exception");
    }
    if (threw) {
      cancel_internal::tls_cancel_context = saved;
      DestroyCallable();
    }
  }
  // One rule for a thrown CancelledException and a returned status: the
  // task acknowledged a cancellation only if its token was cancelled
  // (future.h, RESULTS). A CancelledException thrown without one is a
  // failure like any other error.
  TaskOutcome outcome;
  if (status.ok()) {
    outcome = TaskOutcome::kSucceeded;
  } else if (IsCancellationRequested() &&
             (threw_cancelled ||
              status.code() == absl::StatusCode::kCancelled ||
              status.code() == Reason().code())) {
    outcome = TaskOutcome::kCancelled;
  } else {
    outcome = TaskOutcome::kFailed;
  }
  if (!status.ok()) SetError(std::move(status));
  return outcome;
}

void TaskBase::ResolveRejected(absl::Status status) noexcept {
  DestroyCallable();
  SetError(std::move(status));
  Resolve(TaskOutcome::kFailed);
}

void TaskBase::ResolveCancelledUnstarted(const absl::Status& reason) noexcept {
  SetError(reason);
  DestroyCallable();
  // Step 5 as Resolve does it, with Close's RMW as one fetch_or: this thread
  // won the request (kRequested is set, ClaimForShutdownCancel), so Close
  // would have nothing to wait for.
  outcome_ = TaskOutcome::kCancelled;
  // acq_rel, as Close's: the release publishes the result and `outcome_` to
  // whoever acquires kResolved; the acquire pairs with AddListener's release
  // (L2).
  const uint32_t previous =
      word().fetch_or(kClosed | kResolved, std::memory_order_acq_rel);
  if ((previous & kWaiters) != 0) cancel_internal::FutexWakeAll(&word());
  if ((previous & kListener) != 0) listener_->on_resolved(listener_, this);
}

void TaskBase::OnCancellationRequested(CancelState* state,
                                       uint32_t previous_word) noexcept {
  // Reads nothing of the task before this test: a started task may be
  // finishing and being destroyed on its runner's thread right now.
  if ((previous_word & kStarted) != 0) return;  // running: it sees its token
  // Cancelled before start: this thread resolves (see the protocol). The
  // pool's statistics first: the callable's destructor is user code and may
  // destroy the pool (it may hold the last ThreadPool handle), after which
  // the scheduler must not be touched from here. Meanwhile the block stays
  // in its queue, unresolved, so the pool cannot terminate (and free
  // itself) before the statistics are updated. The destructor runs as a
  // library callback: a pool destroyed there does not wait for its
  // termination (which waits for this very resolution), see
  // ThreadPool::~ThreadPool. The block is alive: its queue reference is
  // dropped only once it is resolved. static_cast from the non-virtual
  // base: no vtable read.
  auto* task = static_cast<TaskBase*>(state);
  task->SetError(task->Reason());
  if (task->scheduler_ != nullptr) task->scheduler_->OnCancelledBeforeStart();
  {
    cancel_internal::ScopedLibraryCallback in_callback;
    task->DestroyCallable();
  }
  task->Resolve(TaskOutcome::kCancelled);
}

void TaskBase::Resolve(TaskOutcome outcome) noexcept {
  outcome_ = outcome;
  // Close: acq_rel RMW; its release publishes `outcome_` and the result to
  // anyone who acquires kResolved.
  const uint32_t previous = Close(kResolved);
  if ((previous & kWaiters) != 0) {
    cancel_internal::FutexWakeAll(&word());
    tls_woke_waiter = true;
  }
  // L2: Close's acquire pairs with AddListener's release CAS.
  if ((previous & kListener) != 0) listener_->on_resolved(listener_, this);
}

WaitResult TaskBase::BlockUntilResolved(CancelState* waiter,
                                        absl::Time deadline) {
  auto wake = [this](cancel_internal::CallbackNode*) noexcept {
    // Changing the word makes a concurrent FUTEX_WAIT fail, so the waiter
    // re-checks its token. Relaxed: the waiter's acquire load of its own
    // token's state provides the ordering that matters.
    word().fetch_xor(kWakeToggle, std::memory_order_relaxed);
    cancel_internal::FutexWakeAll(&word());
  };
  // A short spin first: a task that finishes within microseconds (the
  // common round trip) is seen without a futex sleep and wake-up.
  for (int i = 0; i < kWaitSpinIterations; ++i) {
    if (IsResolved()) return WaitResult::kReady;
    cancel_internal::CpuRelax();
  }
  cancel_internal::ScopedWaker<decltype(wake)> waker(waiter, wake);
  // The deadline, converted once to the monotonic clock (clock.h): the
  // futex sleeps take a relative timeout from it.
  const absl::Duration due = cancel_internal::ToMonotonic(deadline);
  // Acquire loads of the word here pair with Resolve's release RMW.
  uint32_t w = word().load(std::memory_order_acquire);
  for (;;) {
    if ((w & kResolved) != 0) return WaitResult::kReady;
    if (waiter != nullptr && waiter->IsCancellationRequested()) {
      return WaitResult::kCancelled;
    }
    if (due != absl::InfiniteDuration() &&
        cancel_internal::MonotonicNow() >= due) {
      return WaitResult::kTimeout;
    }
    if ((w & kWaiters) == 0) {
      // Relaxed on failure: we reload with acquire below anyway.
      if (!word().compare_exchange_weak(w, w | kWaiters,
                                        std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
        continue;
      }
      w |= kWaiters;
    }
    cancel_internal::FutexWait(&word(), w,
                               due - cancel_internal::MonotonicNow());
    w = word().load(std::memory_order_acquire);
  }
}

}  // namespace pool_internal
}  // namespace cancelpool
