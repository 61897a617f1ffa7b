// Copyright 2026 The cancelpool Authors.
//
// The non-template parts of the combinators (pool/internal/compose.h: the
// protocols are written there).
#include "cancelpool/pool/internal/compose.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cancelpool/cancel/internal/futex.h"
#include "cancelpool/pool/internal/scheduler.h"
#include "cancelpool/pool/task_group.h"

namespace cancelpool {
namespace pool_internal {

absl::Status LoserCancelReason() {
  // Shared: copies only bump a reference count.
  static const absl::Status* const kReason = new absl::Status(
      absl::CancelledError("cancelled: another input decided the outcome"));
  return *kReason;
}

absl::Status EmptyInputError() {
  return absl::FailedPreconditionError("empty Future passed to a combinator");
}

void SubmitToScheduler(Scheduler* scheduler, TaskBase* task,
                       const CancellationToken& parent, absl::Time deadline) {
  scheduler->Submit(task, cancel_internal::TokenAccess::State(parent),
                    deadline);
}

int64_t DefaultGrain(int64_t n, int workers) {
  // About 32 chunks per worker if nobody splits, capped so that a piece
  // checks for thieves often enough.
  const int64_t per = n / (static_cast<int64_t>(std::max(workers, 1)) * 32);
  return std::clamp<int64_t>(per, 1, 2048);
}

// ---------------------------------------------------------------------------
// GroupState (G1-G4).

GroupState::GroupState(Policy policy, const CancellationToken& parent)
    : policy_(policy), source_(parent) {}

GroupState::~GroupState() {
  for (TaskBase* t : children_) t->Unref();
}

void GroupState::Cancel(absl::Status reason) {
  if (reason.ok()) reason = absl::CancelledError("task group cancelled");
  source_.RequestCancellation(std::move(reason));
}

void GroupState::Remember(TaskBase* task) {
  task->Ref();
  absl::MutexLock lock(&mu_);
  children_.push_back(task);
}

void GroupState::ReportSuccess() {
  if (policy_ != Policy::kFirstSuccess) return;
  {
    absl::MutexLock lock(&mu_);
    if (any_success_) return;
    any_success_ = true;
  }
  source_.RequestCancellation(
      absl::CancelledError("task group: another task succeeded"));
}

void GroupState::ReportFailure(absl::Status status) {
  if (source_.IsCancellationRequested()) return;
  {
    absl::MutexLock lock(&mu_);
    if (!first_error_.ok()) return;
    first_error_ = status;
  }
  if (policy_ == Policy::kFailFast) {
    source_.RequestCancellation(absl::CancelledError(
        absl::StrCat("task group: a task failed: ", status.ToString())));
  }
}

void GroupState::ReportNeverRan() {
  ReportFailure(absl::AbortedError(
      "task group: a task never ran (cancelled before it started, or "
      "rejected by the pool)"));
}

void GroupState::DonePending() noexcept {
  // Release: publishes this task's reports (G3) to Wait's acquire.
  if (pending_.fetch_sub(1, std::memory_order_release) == 1) {
    cancel_internal::FutexWakeAll(&pending_);
  }
}

absl::Status GroupState::Wait(Scheduler* scheduler) {
  if (scheduler->OnWorkerThread()) {
    // G4: help. Children may be added while we wait (nested Run).
    for (size_t i = 0;; ++i) {
      TaskBase* t;
      {
        absl::MutexLock lock(&mu_);
        if (i >= children_.size()) break;
        t = children_[i];
        t->Ref();
      }
      WaitForTask(t, nullptr, absl::InfiniteFuture());
      t->Unref();
    }
  }
  // Acquire: pairs with DonePending's release.
  for (uint32_t p = pending_.load(std::memory_order_acquire); p != 0;
       p = pending_.load(std::memory_order_acquire)) {
    cancel_internal::FutexWait(&pending_, p, absl::InfiniteDuration());
  }
  std::vector<TaskBase*> done;
  absl::Status result;
  {
    absl::MutexLock lock(&mu_);
    // Every remembered task has resolved: release them.
    done.swap(children_);
    if (policy_ == Policy::kFirstSuccess) {
      if (any_success_) {
        result = absl::OkStatus();
      } else if (!first_error_.ok()) {
        result = first_error_;
      } else if (source_.IsCancellationRequested()) {
        result = source_.Reason();
      } else {
        result = absl::NotFoundError("task group: no task succeeded");
      }
    } else if (!first_error_.ok()) {
      result = first_error_;
    } else if (source_.IsCancellationRequested()) {
      result = source_.Reason();
    }
  }
  // G3 runs just before each task resolves: wait out that last step, so
  // every future of the group is ready when Wait returns.
  for (TaskBase* t : done) {
    if (!t->IsResolved())
      t->BlockUntilResolved(nullptr, absl::InfiniteFuture());
    t->Unref();
  }
  return result;
}

// ---------------------------------------------------------------------------
// LoopState (P3).

void LoopState::Fail(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (!first_error_.ok()) return;
    first_error_ = status;
  }
  source_.RequestCancellation(absl::CancelledError(
      absl::StrCat("parallel_for: a body failed: ", status.ToString())));
}

void LoopState::NotePieceStatus(const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  if (piece_error_.ok()) piece_error_ = status;
}

absl::Status LoopState::FinalStatus() const {
  absl::MutexLock lock(&mu_);
  if (!first_error_.ok()) return first_error_;
  if (source_.IsCancellationRequested()) return source_.Reason();
  return piece_error_;
}

}  // namespace pool_internal

// ---------------------------------------------------------------------------
// TaskGroup.

TaskGroup::TaskGroup(ThreadPool& pool, Options options)
    : pool_(&pool),
      state_(new pool_internal::GroupState(
          static_cast<pool_internal::GroupState::Policy>(options.policy),
          options.parent)) {}

TaskGroup::~TaskGroup() {
  state_->Cancel(absl::CancelledError("task group destroyed"));
  (void)state_->Wait(pool_internal::ComposeAccess::Get(*pool_));
  state_->Unref();
}

absl::Status TaskGroup::Wait() {
  return state_->Wait(pool_internal::ComposeAccess::Get(*pool_));
}

void TaskGroup::Cancel(absl::Status reason) {
  state_->Cancel(std::move(reason));
}

}  // namespace cancelpool
