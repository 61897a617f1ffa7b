// Copyright 2026 The cancelpool Authors.
//
// The protocols implemented here (parking, reaching running tasks, and
// termination) are written down at the top of scheduler.h.
#include "cancelpool/pool/internal/scheduler.h"

#include <pthread.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cancelpool/cancel/internal/spin.h"

namespace cancelpool {
namespace pool_internal {

using cancel_internal::CpuRelax;
using cancel_internal::SpinWait;

namespace {
constexpr uintptr_t kClaimedBit = 1;
constexpr size_t kMaxInjectorBatch = 32;

// Owner-only counter increment: one writer, any number of relaxed readers.
inline void Bump(std::atomic<uint64_t>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1,
                std::memory_order_relaxed);
}
}  // namespace

struct Scheduler::Worker {
  Worker(Scheduler* s, int i, size_t capacity)
      : scheduler(s),
        index(i),
        deque(capacity),
        owner(&deque),
        stealer(&deque),
        rng(0x9E3779B97F4A7C15ull * static_cast<uint64_t>(i + 1)) {}

  uint64_t NextRandom() {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  }

  Scheduler* const scheduler;
  const int index;
  WorkStealingDeque<TaskBase*> deque;
  DequeOwner<TaskBase*> owner;
  DequeStealer<TaskBase*> stealer;
  // The running task (see REACHING RUNNING TASKS). seq_cst store at R1,
  // acq_rel CASes at R2/S2.
  alignas(64) std::atomic<uintptr_t> current{0};
  Parker parker;
  // Owner-only state.
  bool searching = false;
  uint64_t rng;
  std::thread thread;
  // Statistics written only by this worker (Bump), read by Stats().
  alignas(64) std::atomic<uint64_t> submitted{0};
  std::atomic<uint64_t> completed{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> cancelled_running{0};
  std::atomic<uint64_t> steals{0};
  std::atomic<uint64_t> parks{0};
};

thread_local Scheduler::Worker* Scheduler::tls_worker_ = nullptr;

// ---------------------------------------------------------------------------
// InjectionQueue

InjectionQueue::PushResult InjectionQueue::Push(TaskBase* first,
                                                TaskBase* last, size_t count,
                                                bool outside, size_t limit) {
  absl::MutexLock lock(&mu_);
  if (outside && closed_) return PushResult::kClosed;
  const size_t size = size_.load(std::memory_order_relaxed);
  if (outside && limit != 0 && size + count > limit) return PushResult::kFull;
  last->next_in_queue = nullptr;
  if (tail_ == nullptr) {
    head_ = first;
  } else {
    tail_->next_in_queue = first;
  }
  tail_ = last;
  // seq_cst: N1 of the parking protocol.
  size_.store(size + count, std::memory_order_seq_cst);
  return PushResult::kOk;
}

TaskBase* InjectionQueue::PopBatch(size_t max, size_t* count) {
  absl::MutexLock lock(&mu_);
  TaskBase* first = head_;
  size_t n = 0;
  TaskBase* last = nullptr;
  for (TaskBase* t = head_; t != nullptr && n < max; t = t->next_in_queue) {
    last = t;
    ++n;
  }
  if (n == 0) {
    *count = 0;
    return nullptr;
  }
  head_ = last->next_in_queue;
  if (head_ == nullptr) tail_ = nullptr;
  last->next_in_queue = nullptr;
  size_.store(size_.load(std::memory_order_relaxed) - n,
              std::memory_order_seq_cst);
  *count = n;
  return first;
}

void InjectionQueue::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

// ---------------------------------------------------------------------------
// Parker

void Parker::Park() {
  for (;;) {
    if (state_.exchange(0, std::memory_order_seq_cst) == 1) return;
    FutexWaitWord(&state_, 0, absl::InfiniteFuture());
  }
}

void Parker::Unpark() {
  state_.store(1, std::memory_order_seq_cst);
  FutexWakeAll(&state_);
}

// ---------------------------------------------------------------------------
// Scheduler

Scheduler::Scheduler(ThreadPoolOptions options) : options_(std::move(options)) {
  int n = options_.num_workers;
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  workers_.reserve(n);
  for (int i = 0; i < n; ++i) {
    workers_.push_back(
        std::make_unique<Worker>(this, i, options_.local_queue_capacity));
  }
  idle_.reserve(n);
}

Scheduler::~Scheduler() { JoinOrDetachWorkers(); }

void Scheduler::Start() {
  for (auto& w : workers_) {
    Worker* worker = w.get();
    worker->thread = std::thread(
        [self = shared_from_this(), worker] { self->WorkerMain(worker); });
  }
}

bool Scheduler::OnWorkerThread() const {
  return tls_worker_ != nullptr && tls_worker_->scheduler == this;
}

void Scheduler::WorkerMain(Worker* w) {
  std::string name =
      absl::StrCat(options_.thread_name_prefix, w->index).substr(0, 15);
  pthread_setname_np(pthread_self(), name.c_str());
  tls_worker_ = w;
  if (options_.on_worker_start) options_.on_worker_start(w->index);
  for (;;) {
    TaskBase* task = FindWork(w);
    if (task != nullptr) {
      RunTask(w, task, /*owns_queue_ref=*/true);
      continue;
    }
    if (!Park(w)) break;
  }
  if (options_.on_worker_stop) options_.on_worker_stop(w->index);
  tls_worker_ = nullptr;
  absl::MutexLock lock(&exit_mu_);
  ++exited_workers_;
}

void Scheduler::BecomeSearching(Worker* w) {
  if (w->searching) return;
  w->searching = true;
  searching_.fetch_add(1, std::memory_order_seq_cst);
}

void Scheduler::LeaveSearching(Worker* w) {
  if (!w->searching) return;
  w->searching = false;
  if (searching_.fetch_sub(1, std::memory_order_seq_cst) == 1) Notify();
}

TaskBase* Scheduler::FindWorkOnce(Worker* w) {
  TaskBase* task = StealFromOthers(w);
  if (task == nullptr) task = TakeFromInjector(w);
  return task;
}

TaskBase* Scheduler::FindWork(Worker* w) {
  TaskBase* task = w->owner.Pop();
  if (task == nullptr) task = TakeFromInjector(w);
  if (task == nullptr) {
    BecomeSearching(w);
    for (int round = 0; round < options_.idle_spin_rounds; ++round) {
      task = FindWorkOnce(w);
      if (task != nullptr) break;
      if (terminated_.load(std::memory_order_acquire)) return nullptr;
      if (round < options_.idle_spin_rounds / 2) {
        for (int i = 0; i < 16; ++i) CpuRelax();
      } else {
        std::this_thread::yield();
      }
    }
  }
  if (task != nullptr) LeaveSearching(w);
  return task;
}

TaskBase* Scheduler::TakeFromInjector(Worker* w) {
  if (injector_.SizeHint() == 0) return nullptr;
  const size_t free_slots =
      w->deque.capacity() - std::min(w->deque.capacity(), w->owner.SizeHint());
  size_t want = injector_.SizeHint() / workers_.size() + 1;
  want = std::min({want, kMaxInjectorBatch, free_slots + 1});
  size_t count = 0;
  TaskBase* first = injector_.PopBatch(want, &count);
  if (first == nullptr) return nullptr;
  TaskBase* rest = first->next_in_queue;
  first->next_in_queue = nullptr;
  bool pushed = false;
  while (rest != nullptr) {
    TaskBase* next = rest->next_in_queue;
    rest->next_in_queue = nullptr;
    PushLocal(w, rest);
    pushed = true;
    rest = next;
  }
  if (pushed) Notify();
  return first;
}

TaskBase* Scheduler::StealFromOthers(Worker* w) {
  const size_t n = workers_.size();
  if (n <= 1) return nullptr;
  const size_t start = w->NextRandom() % n;
  for (size_t i = 0; i < n; ++i) {
    Worker* victim = workers_[(start + i) % n].get();
    if (victim == w) continue;
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool lost = false;
      TaskBase* task = victim->stealer.Steal(&lost);
      if (task != nullptr) {
        Bump(w->steals);
        return task;
      }
      if (!lost) break;
    }
  }
  return nullptr;
}

void Scheduler::PushLocal(Worker* w, TaskBase* task) {
  if (w->owner.Push(task)) return;
  // Overflow: move half of the deque plus `task` to the injection queue.
  TaskBase* first = task;
  TaskBase* last = task;
  task->next_in_queue = nullptr;
  size_t count = 1;
  const size_t half = w->deque.capacity() / 2;
  for (size_t i = 0; i < half; ++i) {
    TaskBase* t = w->owner.Pop();
    if (t == nullptr) break;
    t->next_in_queue = first;
    first = t;
    ++count;
  }
  injector_.Push(first, last, count, /*outside=*/false, 0);
}

void Scheduler::Notify() {
  if (searching_.load(std::memory_order_seq_cst) != 0) return;  // N2
  if (sleepers_.load(std::memory_order_seq_cst) == 0) return;   // N3
  Worker* target = nullptr;
  {
    absl::MutexLock lock(&idle_mu_);  // N4
    if (idle_.empty()) return;
    target = idle_.back();
    idle_.pop_back();
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
    searching_.fetch_add(1, std::memory_order_seq_cst);
  }
  target->parker.Unpark();
}

bool Scheduler::AnyWorkVisible() const {
  if (!injector_.MaybeEmpty()) return true;
  for (const auto& w : workers_) {
    if (!w->stealer.MaybeEmpty()) return true;
  }
  return false;
}

bool Scheduler::MaybeTerminateLocked() {
  if (terminated_.load(std::memory_order_relaxed)) return true;
  if (phase_.load(std::memory_order_acquire) == kRunning) return false;
  if (cancel_passes_ != 0) return false;
  if (idle_.size() != workers_.size()) return false;
  if (AnyWorkVisible()) return false;
  terminated_.store(true, std::memory_order_release);
  for (Worker* w : idle_) w->parker.Unpark();
  return true;
}

bool Scheduler::Park(Worker* w) {
  {
    absl::MutexLock lock(&idle_mu_);  // P1
    idle_.push_back(w);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    if (MaybeTerminateLocked()) return false;
  }
  // P2 (w->searching is always true here: FindWork failed while searching).
  w->searching = false;
  searching_.fetch_sub(1, std::memory_order_seq_cst);
  // P3
  if (AnyWorkVisible()) {
    absl::MutexLock lock(&idle_mu_);
    auto it = std::find(idle_.begin(), idle_.end(), w);
    if (it != idle_.end()) {
      idle_.erase(it);
      sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      searching_.fetch_add(1, std::memory_order_seq_cst);
      w->searching = true;
      return true;
    }
    // A notifier already took us off the list; its unpark is coming.
  }
  Bump(w->parks);
  w->parker.Park();  // P4
  if (terminated_.load(std::memory_order_acquire)) return false;
  w->searching = true;  // the notifier counted us as searching
  return true;
}

void Scheduler::RunTask(Worker* w, TaskBase* task, bool owns_queue_ref) {
  if (cancel_running_.load(std::memory_order_seq_cst)) {
    // Cancel shutdown: a queued task never starts.
    task->RequestCancellation(cancel_reason_);
  }
  if (!task->TryStart()) {
    if (owns_queue_ref) {
      DropQueueRef(task);
    } else if (!task->WasStarted()) {
      // A helping wait on a task whose cancellation is being resolved.
      task->BlockUntilResolved(nullptr, absl::InfiniteFuture());
    }
    return;
  }
  if (options_.max_queued_tasks != 0) {
    queued_.fetch_sub(1, std::memory_order_relaxed);
  }
  RunningFrame frame{task, tls_running_frame};
  tls_running_frame = &frame;
  const uintptr_t outer = w->current.load(std::memory_order_relaxed);
  w->current.store(reinterpret_cast<uintptr_t>(task),
                   std::memory_order_seq_cst);  // R1
  if (cancel_running_.load(std::memory_order_seq_cst)) {
    task->RequestCancellation(cancel_reason_);
  }
  const TaskOutcome outcome = task->Execute();
  switch (outcome) {
    case TaskOutcome::kSucceeded:
      Bump(w->completed);
      break;
    case TaskOutcome::kCancelled:
      Bump(w->cancelled_running);
      break;
    default:
      Bump(w->failed);
      break;
  }
  task->Finish(outcome);
  // R2: restore the outer task; wait out a shutdown's claim.
  SpinWait spin;
  for (;;) {
    uintptr_t expected = reinterpret_cast<uintptr_t>(task);
    if (w->current.compare_exchange_weak(expected, outer,
                                         std::memory_order_acq_rel,
                                         std::memory_order_relaxed)) {
      break;
    }
    spin.Once();
  }
  if (outer != 0 && cancel_running_.load(std::memory_order_seq_cst)) {
    reinterpret_cast<TaskBase*>(outer)->RequestCancellation(cancel_reason_);
  }
  tls_running_frame = frame.outer;
  if (owns_queue_ref) task->Unref();
}

void Scheduler::Submit(TaskBase* task, CancelState* parent,
                       absl::Time deadline) {
  task->set_scheduler(this);
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
  const size_t limit = options_.max_queued_tasks;
  if (limit != 0) {
    if (queued_.fetch_add(1, std::memory_order_relaxed) >=
        static_cast<int64_t>(limit)) {
      queued_.fetch_sub(1, std::memory_order_relaxed);
      reject(absl::ResourceExhaustedError(
          absl::StrCat("thread pool queue is full (max_queued_tasks=", limit,
                       ")")));
      return;
    }
  }
  // Only now can anything cancel the task (its token was not handed out).
  task->parent_link().Attach(parent, task);
  if (deadline != absl::InfiniteFuture()) task->ArmDeadline(deadline);
  if (inside && phase == kCancelling) task->RequestCancellation(cancel_reason_);
  if (task->IsResolved()) {  // cancelled already: it is accounted for
    task->Unref();
    return;
  }
  if (inside) {
    PushLocal(w, task);
  } else {
    task->next_in_queue = nullptr;
    if (injector_.Push(task, task, 1, /*outside=*/true, 0) !=
        InjectionQueue::PushResult::kOk) {
      // Shutdown closed the queue after our phase check. Nothing else can
      // have resolved the task unless its parent/deadline fired; then it is
      // already accounted for.
      // If TryStart fails, a parent/deadline cancellation already resolved
      // the task (and undid its admission count).
      if (task->TryStart()) {
        if (limit != 0) queued_.fetch_sub(1, std::memory_order_relaxed);
        rejected_.fetch_add(1, std::memory_order_relaxed);
        task->ResolveRejected(absl::FailedPreconditionError(
            "thread pool is shut down: Submit after Shutdown"));
      }
      DropQueueRef(task);
      return;
    }
  }
  Notify();
}

void Scheduler::OnCancelledBeforeStart() noexcept {
  cancelled_before_start_.fetch_add(1, std::memory_order_relaxed);
  if (options_.max_queued_tasks != 0) {
    queued_.fetch_sub(1, std::memory_order_relaxed);
  }
}

WaitResult Scheduler::HelpUntil(Worker* w, TaskBase* task,
                                CancelState* waiter, absl::Time deadline) {
  for (;;) {
    if (task->IsResolved()) return WaitResult::kReady;
    if (waiter != nullptr && waiter->IsCancellationRequested()) {
      return WaitResult::kCancelled;
    }
    if (deadline != absl::InfiniteFuture() && absl::Now() >= deadline) {
      return WaitResult::kTimeout;
    }
    // The awaited task itself, if nobody started it: run it here. Its queue
    // entry is skipped when popped (TryStart fails there).
    if (!task->WasStarted()) {
      RunTask(w, task, /*owns_queue_ref=*/false);
      continue;
    }
    TaskBase* other = w->owner.Pop();
    if (other == nullptr) other = TakeFromInjector(w);
    if (other == nullptr) other = StealFromOthers(w);
    if (other != nullptr) {
      RunTask(w, other, /*owns_queue_ref=*/true);
      continue;
    }
    // Nothing runnable within reach: the awaited task is running elsewhere.
    // Every other queued task is reachable by other workers, so blocking
    // cannot deadlock.
    switch (task->BlockUntilResolved(waiter, deadline)) {
      case TaskBase::BlockResult::kResolved:
        return WaitResult::kReady;
      case TaskBase::BlockResult::kWaiterCancelled:
        return WaitResult::kCancelled;
      case TaskBase::BlockResult::kTimeout:
        return WaitResult::kTimeout;
    }
  }
}

WaitResult Scheduler::Wait(TaskBase* task, CancelState* waiter,
                           absl::Time deadline) {
  Worker* w = tls_worker_;
  if (w != nullptr && w->scheduler == this) {
    return HelpUntil(w, task, waiter, deadline);
  }
  switch (task->BlockUntilResolved(waiter, deadline)) {
    case TaskBase::BlockResult::kResolved:
      return WaitResult::kReady;
    case TaskBase::BlockResult::kWaiterCancelled:
      return WaitResult::kCancelled;
    case TaskBase::BlockResult::kTimeout:
      break;
  }
  return WaitResult::kTimeout;
}

void Scheduler::CancelTaskForShutdown(TaskBase* task) {
  task->RequestCancellation(cancel_reason_);
}

void Scheduler::DropQueueRef(TaskBase* task) {
  // Not started and not resolved although its start failed: a cancellation
  // request set kRequested, and the requesting thread is resolving the task
  // (destroying its callable, counting it, resolving the future). Wait for
  // it, so nobody can observe termination -- or destroy the pool -- before
  // that thread is done with the task and the Scheduler.
  if (!task->WasStarted() && !task->IsResolved()) {
    task->BlockUntilResolved(nullptr, absl::InfiniteFuture());
  }
  task->Unref();
}

void Scheduler::CancelRunningTasks(const absl::Status& reason) {
  for (auto& w : workers_) {
    SpinWait spin;
    for (;;) {
      uintptr_t p = w->current.load(std::memory_order_acquire);
      if (p == 0) break;
      if ((p & kClaimedBit) != 0) {  // another shutdown thread holds it
        spin.Once();
        continue;
      }
      if (!w->current.compare_exchange_weak(p, p | kClaimedBit,
                                            std::memory_order_acq_rel,
                                            std::memory_order_relaxed)) {
        continue;
      }
      auto* task = reinterpret_cast<TaskBase*>(p);
      task->Ref();
      w->current.store(p, std::memory_order_release);  // release the claim
      task->RequestCancellation(reason);
      task->Unref();
      break;
    }
  }
}

void Scheduler::CancelQueuedTasks(const absl::Status& reason) {
  for (;;) {
    size_t count = 0;
    TaskBase* t = injector_.PopBatch(SIZE_MAX, &count);
    if (t == nullptr) break;
    while (t != nullptr) {
      TaskBase* next = t->next_in_queue;
      t->next_in_queue = nullptr;
      t->RequestCancellation(reason);
      DropQueueRef(t);
      t = next;
    }
  }
  for (auto& w : workers_) {
    for (;;) {
      bool lost = false;
      TaskBase* t = w->stealer.Steal(&lost);
      if (t == nullptr) {
        if (lost) continue;
        break;
      }
      t->RequestCancellation(reason);
      DropQueueRef(t);
    }
  }
}

void Scheduler::Shutdown(ShutdownMode mode, absl::Status reason) {
  if (reason.ok()) reason = absl::CancelledError("thread pool shutdown");
  bool cancel_now = false;
  {
    absl::MutexLock lock(&shutdown_mu_);
    const int phase = phase_.load(std::memory_order_relaxed);
    if (mode == ShutdownMode::kDrain) {
      if (phase != kRunning) return;
      injector_.Close();
      shutdown_reason_ = reason;
      phase_.store(kDraining, std::memory_order_release);
    } else {
      if (phase == kCancelling) return;
      injector_.Close();
      shutdown_reason_ = reason;
      cancel_reason_ = reason;
      {
        // Until this call's queued-task pass is over, the tasks it took out
        // of the queues are unresolved but in no queue: no termination.
        absl::MutexLock idle_lock(&idle_mu_);
        ++cancel_passes_;
      }
      phase_.store(kCancelling, std::memory_order_release);
      cancel_running_.store(true, std::memory_order_seq_cst);  // S1
      cancel_now = true;
    }
  }
  if (cancel_now) {
    CancelRunningTasks(reason);  // S2
    CancelQueuedTasks(reason);
  }
  absl::MutexLock lock(&idle_mu_);
  if (cancel_now) --cancel_passes_;
  MaybeTerminateLocked();
}

bool Scheduler::AwaitTermination(absl::Time deadline) {
  if (OnWorkerThread()) return IsTerminated();  // cannot wait for itself
  const int n = num_workers();
  absl::MutexLock lock(&exit_mu_);
  auto all_exited = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(exit_mu_) {
    return exited_workers_ == n;
  };
  return exit_mu_.AwaitWithDeadline(absl::Condition(&all_exited), deadline);
}

void Scheduler::JoinOrDetachWorkers() {
  absl::MutexLock lock(&join_mu_);
  if (joined_) return;
  joined_ = true;
  const bool from_worker = OnWorkerThread();
  for (auto& w : workers_) {
    if (!w->thread.joinable()) continue;
    if (from_worker) {
      w->thread.detach();
    } else {
      w->thread.join();
    }
  }
}

PoolStats Scheduler::Stats() const {
  PoolStats s;
  s.submitted = outside_submitted_.load(std::memory_order_relaxed);
  s.rejected = rejected_.load(std::memory_order_relaxed);
  s.cancelled_before_start =
      cancelled_before_start_.load(std::memory_order_relaxed);
  for (const auto& w : workers_) {
    s.submitted += w->submitted.load(std::memory_order_relaxed);
    s.completed += w->completed.load(std::memory_order_relaxed);
    s.failed += w->failed.load(std::memory_order_relaxed);
    s.cancelled_while_running +=
        w->cancelled_running.load(std::memory_order_relaxed);
    s.steals += w->steals.load(std::memory_order_relaxed);
    s.parks += w->parks.load(std::memory_order_relaxed);
  }
  return s;
}

}  // namespace pool_internal
}  // namespace cancelpool
