// Copyright 2026 The cancelpool Authors.
//
// The scheduler's life cycle: options, construction, starting the workers
// (START, below), awaiting termination and joining them. The protocols each
// role owns are in the files listed in scheduler.h's MAP.
#include "cancelpool/pool/internal/scheduler.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cancelpool/pool/internal/worker.h"

namespace cancelpool {
namespace pool_internal {

thread_local Scheduler::Worker* Scheduler::tls_worker_ = nullptr;

absl::Status Scheduler::ValidateOptions(const ThreadPoolOptions& options,
                                        size_t local_queue_capacity) {
  if (options.num_workers < 0 ||
      options.num_workers > ThreadPoolOptions::kMaxWorkers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ThreadPoolOptions::num_workers must be 0 (one per CPU) to ",
        ThreadPoolOptions::kMaxWorkers, "; got ", options.num_workers));
  }
  if (options.idle_spin_rounds < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ThreadPoolOptions::idle_spin_rounds must not be negative; got ",
        options.idle_spin_rounds));
  }
  if (options.max_blocking_threads < 0 ||
      options.max_blocking_threads > ThreadPoolOptions::kMaxBlockingThreads) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ThreadPoolOptions::max_blocking_threads must be 0 (off) to ",
        ThreadPoolOptions::kMaxBlockingThreads, "; got ",
        options.max_blocking_threads));
  }
  if (options.blocking_thread_keep_alive < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ThreadPoolOptions::blocking_thread_keep_alive must not be negative; "
        "got ",
        absl::FormatDuration(options.blocking_thread_keep_alive)));
  }
  if (options.queue_delay_target < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ThreadPoolOptions::queue_delay_target must be zero (off) or "
        "positive; got ",
        absl::FormatDuration(options.queue_delay_target)));
  }
  if (options.queue_delay_target > absl::ZeroDuration() &&
      options.queue_delay_target != absl::InfiniteDuration() &&
      (options.queue_delay_interval <= absl::ZeroDuration() ||
       options.queue_delay_interval == absl::InfiniteDuration())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ThreadPoolOptions::queue_delay_interval must be positive and "
        "finite; got ",
        absl::FormatDuration(options.queue_delay_interval)));
  }
  if (local_queue_capacity > kMaxLocalQueueCapacity) {
    return absl::InvalidArgumentError(
        absl::StrCat("local_queue_capacity must be at most ",
                     kMaxLocalQueueCapacity, "; got ", local_queue_capacity));
  }
  return absl::OkStatus();
}

namespace {
// The clamps of options.h, for the constructor (which cannot fail).
ThreadPoolOptions Clamped(ThreadPoolOptions options) {
  options.num_workers =
      std::clamp(options.num_workers, 0, ThreadPoolOptions::kMaxWorkers);
  options.idle_spin_rounds = std::max(options.idle_spin_rounds, 0);
  if (options.destructor_grace < absl::ZeroDuration()) {
    options.destructor_grace = absl::ZeroDuration();
  }
  options.max_blocking_threads = std::clamp(
      options.max_blocking_threads, 0, ThreadPoolOptions::kMaxBlockingThreads);
  if (options.blocking_thread_keep_alive < absl::ZeroDuration()) {
    options.blocking_thread_keep_alive = absl::ZeroDuration();
  }
  if (options.queue_delay_target < absl::ZeroDuration()) {
    options.queue_delay_target = absl::ZeroDuration();
  }
  if (options.queue_delay_interval <= absl::ZeroDuration() ||
      options.queue_delay_interval == absl::InfiniteDuration()) {
    options.queue_delay_interval = absl::Milliseconds(100);
  }
  return options;
}
}  // namespace

int Scheduler::WorkerCount(const ThreadPoolOptions& options) {
  int n = options.num_workers;
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  return std::min(n, ThreadPoolOptions::kMaxWorkers);
}

Scheduler::Scheduler(ThreadPoolOptions options, size_t local_queue_capacity)
    : options_(Clamped(std::move(options))),
      num_core_(WorkerCount(options_)),
      idle_(WorkerCount(options_)),
      shedder_(options_.queue_delay_target, options_.queue_delay_interval),
      queue_limit_(options_.max_queued_tasks > static_cast<size_t>(INT64_MAX)
                       ? INT64_MAX
                       : static_cast<int64_t>(options_.max_queued_tasks)) {
  const size_t capacity =
      std::clamp(local_queue_capacity, size_t{2}, kMaxLocalQueueCapacity);
  const int n = num_core_;
  const int extra = options_.max_blocking_threads;
  workers_.reserve(static_cast<size_t>(n + extra));
  for (int i = 0; i < n + extra; ++i) {
    workers_.push_back(std::make_unique<Worker>(this, i, capacity, i >= n));
  }
  absl::MutexLock lock(&blocking_.mu);
  // Slots are taken from the back: the lowest index first.
  for (int i = n + extra - 1; i >= n; --i) blocking_.free_slots.push_back(i);
}

Scheduler::~Scheduler() { JoinOrDetachWorkers(/*detach=*/false); }

absl::Status Scheduler::Start() {
  // START. Every worker first waits at start_gate_, so that a failure to
  // create thread k leaves workers 0..k-1 untouched by any work:
  //   1. Create the threads; stop at the first failure.
  //   2. start_failed_ = (a creation failed); then open the gate (Notify
  //      publishes start_failed_ to every WaitForNotification).
  //   3. On failure the started workers see start_failed_ and return at once
  //      (no on_worker_start, no queue, no parking): join them, and report.
  // Rules out: workers left running after the constructor reported failure;
  // a pool waiting forever for the idle list to hold workers that were
  // never created (termination needs all of them).
  absl::Status status;
  for (int i = 0; i < num_core_; ++i) {
    Worker* worker = workers_[static_cast<size_t>(i)].get();
    try {
      worker->thread = std::thread(
          [self = shared_from_this(), worker] { self->WorkerMain(worker); });
    } catch (const std::exception& e) {
      status = absl::ResourceExhaustedError(
          absl::StrCat("cannot start worker thread ", worker->index, " of ",
                       num_core_, ": ", e.what()));
      break;
    }
  }
  start_failed_ = !status.ok();
  start_gate_.Notify();
  if (!status.ok()) {
    absl::MutexLock lock(&join_mu_);
    joined_ = true;
    for (auto& w : workers_) {
      if (w->thread.joinable()) w->thread.join();
    }
  }
  return status;
}

bool Scheduler::OnWorkerThread() const {
  return tls_worker_ != nullptr && tls_worker_->scheduler == this;
}

bool Scheduler::AwaitTermination(absl::Time deadline) {
  if (OnWorkerThread()) return IsTerminated();  // cannot wait for itself
  const int n = num_workers();
  {
    absl::MutexLock lock(&exit_mu_);
    auto all_exited = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(exit_mu_) {
      return exited_workers_ == n;
    };
    if (!exit_mu_.AwaitWithDeadline(absl::Condition(&all_exited), deadline)) {
      return false;
    }
  }
  // The workers exited, so the pool terminated and the extra threads are
  // stopping (B8): wait for them too.
  return AwaitExtraThreads(deadline);
}

void Scheduler::JoinOrDetachWorkers(bool detach) {
  absl::MutexLock lock(&join_mu_);
  if (joined_) return;
  joined_ = true;
  const bool from_worker = detach || OnWorkerThread();
  // The core workers first: joining one waits until the pool terminated
  // (they exit only then), which may need the extra threads still (one may
  // hold a task: B6.a). No extra-slot handle is touched meanwhile.
  if (!from_worker) {
    for (int i = 0; i < num_core_; ++i) {
      std::thread& t = workers_[static_cast<size_t>(i)]->thread;
      if (t.joinable()) t.join();
    }
  }
  // B8: no extra thread starts after this; the slots' threads are ours.
  StopExtraThreads();
  for (auto& w : workers_) {
    if (!w->thread.joinable()) continue;
    if (from_worker) {
      w->thread.detach();
    } else {
      w->thread.join();
    }
  }
}

}  // namespace pool_internal
}  // namespace cancelpool
