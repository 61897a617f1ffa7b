// Copyright 2026 The cancelpool Authors.
#include "cancelpool/pool/thread_pool.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <system_error>

#include "cancelpool/pool/internal/scheduler.h"

namespace cancelpool {
namespace {

ShutdownReport ReportOf(const pool_internal::Scheduler& scheduler) {
  ShutdownReport report;
  report.stats = scheduler.Stats();
  report.terminated = scheduler.IsTerminated() && report.stats.InFlight() == 0;
  report.never_ran = scheduler.NeverRan();
  return report;
}

}  // namespace

ThreadPool::ThreadPool(ThreadPoolOptions options)
    : ThreadPool(std::move(options),
                 pool_internal::Scheduler::kDefaultLocalQueueCapacity) {}

ThreadPool::ThreadPool(ThreadPoolOptions options, size_t local_queue_capacity)
    : ThreadPool(NotStarted{}, std::move(options), local_queue_capacity) {
  if (absl::Status status = scheduler_->Start(); !status.ok()) {
    // The started workers are joined already. This object counts as
    // constructed (the delegated-to constructor finished), so ~ThreadPool
    // runs on the throw: with no scheduler it has nothing to stop.
    scheduler_.reset();
    throw std::system_error(
        std::make_error_code(std::errc::resource_unavailable_try_again),
        std::string(status.message()));
  }
}

ThreadPool::ThreadPool(NotStarted, ThreadPoolOptions options,
                       size_t local_queue_capacity)
    : destructor_grace_(options.destructor_grace) {
  scheduler_ = std::make_shared<pool_internal::Scheduler>(std::move(options),
                                                          local_queue_capacity);
}

absl::StatusOr<std::unique_ptr<ThreadPool>> ThreadPool::Create(
    ThreadPoolOptions options) {
  return Create(std::move(options),
                pool_internal::Scheduler::kDefaultLocalQueueCapacity);
}

absl::StatusOr<std::unique_ptr<ThreadPool>> ThreadPool::Create(
    ThreadPoolOptions options, size_t local_queue_capacity) {
  if (absl::Status status = pool_internal::Scheduler::ValidateOptions(
          options, local_queue_capacity);
      !status.ok()) {
    return status;
  }
  std::unique_ptr<ThreadPool> pool(
      new ThreadPool(NotStarted{}, std::move(options), local_queue_capacity));
  if (absl::Status status = pool->scheduler_->Start(); !status.ok()) {
    pool->scheduler_.reset();  // nothing to shut down: no worker runs
    return status;
  }
  return pool;
}

ThreadPool::ThreadPool(int num_workers)
    : ThreadPool([num_workers] {
        ThreadPoolOptions options;
        options.num_workers = num_workers;
        return options;
      }()) {}

ThreadPool::~ThreadPool() {
  if (scheduler_ == nullptr) return;  // it failed to start
  // Inside one of our workers we cannot wait for ourselves, nor, inside a
  // cancellation resolving one of our tasks, for that resolution: the drain
  // then runs in the background, the deadline timer cancels what is left
  // when the grace ends, and the workers, detached, free the scheduler (see
  // DESTRUCTION).
  const bool can_wait =
      !scheduler_->OnWorkerThread() && !cancel_internal::InLibraryCallback();
  if (can_wait && scheduler_->IsCancelling()) {
    // Cancelled already: nothing is left to drain and no grace to bound, so
    // the drain, its termination wait and the cancel it would escalate to
    // change nothing. Joining waits for termination by itself (a worker
    // exits only after it), one thread hop fewer than waiting for the
    // termination first and then joining.
    scheduler_->JoinOrDetachWorkers(/*detach=*/false);
    return;
  }
  DrainThenCancelImpl(
      destructor_grace_, absl::InfiniteDuration(),
      absl::CancelledError("thread pool destroyed"),
      absl::CancelledError(
          "thread pool destroyed: grace period over, cancelling"),
      can_wait);
  scheduler_->JoinOrDetachWorkers(/*detach=*/!can_wait);
}

void ThreadPool::SubmitTask(pool_internal::TaskBase* task,
                            const TaskOptions& options) {
  scheduler_->Submit(task, cancel_internal::TokenAccess::State(options.parent),
                     options.deadline);
}

void ThreadPool::SubmitTasks(pool_internal::TaskBase* const* tasks, size_t n,
                             const TaskOptions& options) {
  scheduler_->SubmitBatch(tasks, n,
                          cancel_internal::TokenAccess::State(options.parent),
                          options.deadline);
}

void ThreadPool::Shutdown(ShutdownMode mode, absl::Status reason) {
  scheduler_->Shutdown(mode, std::move(reason));
}

bool ThreadPool::AwaitTermination(absl::Time deadline) {
  return scheduler_->AwaitTermination(deadline);
}

ShutdownReport ThreadPool::DrainThenCancel(absl::Duration grace,
                                           absl::Duration cancel_timeout,
                                           absl::Status reason) {
  return DrainThenCancelImpl(grace, cancel_timeout, reason, reason,
                             /*can_wait=*/!scheduler_->OnWorkerThread());
}

ShutdownReport ThreadPool::DrainThenCancelImpl(absl::Duration grace,
                                               absl::Duration cancel_timeout,
                                               absl::Status drain_reason,
                                               absl::Status cancel_reason,
                                               bool can_wait) {
  // Our own reference: cancelling may destroy a callable that held the
  // last handle to this pool.
  const std::shared_ptr<pool_internal::Scheduler> scheduler = scheduler_;
  scheduler->Shutdown(ShutdownMode::kDrain, std::move(drain_reason));
  if (!can_wait) {
    // Cannot wait for ourselves: have the deadline timer escalate to a
    // cancel when the grace ends (see SHUTDOWN).
    if (grace != absl::InfiniteDuration()) {
      scheduler->CancelAt(absl::Now() + grace, std::move(cancel_reason));
    }
    return ReportOf(*scheduler);
  }
  if (!scheduler->AwaitTermination(absl::Now() + grace)) {
    scheduler->Shutdown(ShutdownMode::kCancel, std::move(cancel_reason));
    scheduler->AwaitTermination(absl::Now() + cancel_timeout);
  }
  return ReportOf(*scheduler);
}

ShutdownReport ThreadPool::Report() const { return ReportOf(*scheduler_); }

bool ThreadPool::IsShutdown() const { return scheduler_->IsShutdown(); }

bool ThreadPool::IsTerminated() const {
  return ReportOf(*scheduler_).terminated;
}

bool ThreadPool::WaitForIdle(absl::Time deadline) const {
  return WaitForIdle(CancellationToken(), deadline) == WaitResult::kReady;
}

WaitResult ThreadPool::WaitForIdle(const CancellationToken& token,
                                   absl::Time deadline) const {
  if (scheduler_->OnWorkerThread()) return WaitResult::kTimeout;
  // Idle: a snapshot with nothing in flight, confirmed by a second one with
  // the same number of submissions (the counters are read one by one, so a
  // single snapshot may catch a completion before its submission).
  absl::Duration backoff = absl::Microseconds(20);
  uint64_t idle_at = UINT64_MAX;
  for (;;) {
    const PoolStats stats = scheduler_->Stats();
    if (stats.InFlight() == 0) {
      if (idle_at == stats.submitted) return WaitResult::kReady;
      idle_at = stats.submitted;
      continue;
    }
    idle_at = UINT64_MAX;
    if (token.IsCancellationRequested()) return WaitResult::kCancelled;
    const absl::Time now = absl::Now();
    if (now >= deadline) return WaitResult::kTimeout;
    const WaitResult slept =
        SleepUntil(token, std::min(deadline, now + backoff));
    if (slept == WaitResult::kCancelled) return WaitResult::kCancelled;
    backoff = std::min(backoff * 2, absl::Milliseconds(1));
  }
}
PoolStats ThreadPool::Stats() const { return scheduler_->Stats(); }
int ThreadPool::NumWorkers() const { return scheduler_->num_workers(); }
bool ThreadPool::OnWorkerThread() const { return scheduler_->OnWorkerThread(); }

}  // namespace cancelpool
