// Copyright 2026 The cancelpool Authors.
#include "cancelpool/pool/thread_pool.h"

#include "cancelpool/pool/internal/scheduler.h"

namespace cancelpool {

ThreadPool::ThreadPool(ThreadPoolOptions options)
    : destructor_grace_(options.destructor_grace) {
  scheduler_ = std::make_shared<pool_internal::Scheduler>(std::move(options));
  scheduler_->Start();
}

ThreadPool::ThreadPool(int num_workers)
    : ThreadPool([num_workers] {
        ThreadPoolOptions options;
        options.num_workers = num_workers;
        return options;
      }()) {}

ThreadPool::~ThreadPool() {
  if (scheduler_->OnWorkerThread()) {
    // Cannot wait for ourselves: drain in the background and cancel what is
    // left when the grace ends, from the deadline timer (see DESTRUCTION).
    scheduler_->Shutdown(ShutdownMode::kDrain,
                         absl::CancelledError("thread pool destroyed"));
    if (destructor_grace_ != absl::InfiniteDuration()) {
      scheduler_->CancelAt(
          absl::Now() + destructor_grace_,
          absl::CancelledError(
              "thread pool destroyed: grace period over, cancelling"));
    }
    scheduler_->JoinOrDetachWorkers();
    return;
  }
  scheduler_->Shutdown(ShutdownMode::kDrain,
                       absl::CancelledError("thread pool destroyed"));
  if (!scheduler_->AwaitTermination(absl::Now() + destructor_grace_)) {
    scheduler_->Shutdown(
        ShutdownMode::kCancel,
        absl::CancelledError(
            "thread pool destroyed: grace period over, cancelling"));
    scheduler_->AwaitTermination(absl::InfiniteFuture());
  }
  scheduler_->JoinOrDetachWorkers();
}

void ThreadPool::SubmitTask(pool_internal::TaskBase* task,
                            const TaskOptions& options) {
  scheduler_->Submit(task, options.parent.StateInternal(), options.deadline);
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
  if (scheduler_->OnWorkerThread()) {
    // Cannot wait for ourselves: start the drain and have the deadline
    // timer escalate to a cancel when the grace ends (see SHUTDOWN).
    scheduler_->Shutdown(ShutdownMode::kDrain, reason);
    if (grace != absl::InfiniteDuration()) {
      scheduler_->CancelAt(absl::Now() + grace, reason);
    }
    return Report();
  }
  scheduler_->Shutdown(ShutdownMode::kDrain, reason);
  if (!scheduler_->AwaitTermination(absl::Now() + grace)) {
    scheduler_->Shutdown(ShutdownMode::kCancel, reason);
    scheduler_->AwaitTermination(absl::Now() + cancel_timeout);
  }
  return Report();
}

ShutdownReport ThreadPool::Report() const {
  ShutdownReport report;
  report.stats = scheduler_->Stats();
  report.terminated = scheduler_->IsTerminated() &&
                      report.stats.in_flight() == 0;
  report.still_running = report.stats.in_flight();
  return report;
}

bool ThreadPool::IsShutdown() const { return scheduler_->IsShutdown(); }
PoolStats ThreadPool::Stats() const { return scheduler_->Stats(); }
int ThreadPool::num_workers() const { return scheduler_->num_workers(); }
bool ThreadPool::OnWorkerThread() const { return scheduler_->OnWorkerThread(); }

}  // namespace cancelpool
