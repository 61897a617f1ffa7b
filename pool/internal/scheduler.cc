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
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/internal/spin.h"
#include "cancelpool/pool/future.h"

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
  // The running task (see REACHING RUNNING TASKS). seq_cst CAS at R1,
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

// A deadline that escalates a drain to a cancel (CancelAt). The callback
// holds only a weak reference: it must not keep the pool alive, and a pool
// being destroyed has nothing left to cancel.
struct Scheduler::DeferredCancel {
  struct Fire {
    std::weak_ptr<Scheduler> scheduler;
    absl::Status reason;
    void operator()() const noexcept {
      if (std::shared_ptr<Scheduler> s = scheduler.lock()) {
        s->Shutdown(ShutdownMode::kCancel, reason);
      }
    }
  };
  DeferredCancel(absl::Time deadline, Fire fire)
      : source(CancellationSource::WithDeadline(deadline)),
        callback(source.Token(), std::move(fire)) {}

  CancellationSource source;
  CancellationCallback<Fire> callback;
};

// ---------------------------------------------------------------------------
// InjectionQueue

InjectionQueue::InjectionQueue() : ring_(256, nullptr) {}

void InjectionQueue::Grow() {
  std::vector<TaskBase*> bigger(ring_.size() * 2, nullptr);
  const size_t mask = ring_.size() - 1;
  for (size_t i = 0; i < count_; ++i) bigger[i] = ring_[(head_ + i) & mask];
  ring_.swap(bigger);
  head_ = 0;
}

InjectionQueue::PushResult InjectionQueue::Push(TaskBase* const* tasks,
                                                size_t count, bool outside) {
  absl::MutexLock lock(&mu_);
  if (outside && closed_) return PushResult::kClosed;
  while (count_ + count > ring_.size()) Grow();
  const size_t mask = ring_.size() - 1;
  for (size_t i = 0; i < count; ++i) {
    ring_[(head_ + count_ + i) & mask] = tasks[i];
  }
  count_ += count;
  // seq_cst: N1 of the parking protocol.
  size_.store(count_, std::memory_order_seq_cst);
  return PushResult::kOk;
}

size_t InjectionQueue::PopBatch(TaskBase** out, size_t max) {
  absl::MutexLock lock(&mu_);
  const size_t n = std::min(max, count_);
  const size_t mask = ring_.size() - 1;
  for (size_t i = 0; i < n; ++i) out[i] = ring_[(head_ + i) & mask];
  head_ = (head_ + n) & mask;
  count_ -= n;
  size_.store(count_, std::memory_order_seq_cst);
  return n;
}

size_t InjectionQueue::RemoveResolved(std::vector<TaskBase*>* removed) {
  absl::MutexLock lock(&mu_);
  const size_t mask = ring_.size() - 1;
  size_t kept = 0;
  for (size_t i = 0; i < count_; ++i) {
    TaskBase* t = ring_[(head_ + i) & mask];
    if (t->IsResolved()) {
      removed->push_back(t);
    } else {
      ring_[(head_ + kept) & mask] = t;
      ++kept;
    }
  }
  const size_t n = count_ - kept;
  count_ = kept;
  size_.store(count_, std::memory_order_seq_cst);
  return n;
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

absl::Status Scheduler::ValidateOptions(const ThreadPoolOptions& options) {
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
  if (options.local_queue_capacity >
      ThreadPoolOptions::kMaxLocalQueueCapacity) {
    return absl::InvalidArgumentError(
        absl::StrCat("ThreadPoolOptions::local_queue_capacity must be at most ",
                     ThreadPoolOptions::kMaxLocalQueueCapacity, "; got ",
                     options.local_queue_capacity));
  }
  return absl::OkStatus();
}

namespace {
// The clamps of options.h, for the constructor (which cannot fail).
ThreadPoolOptions Clamped(ThreadPoolOptions options) {
  options.num_workers =
      std::clamp(options.num_workers, 0, ThreadPoolOptions::kMaxWorkers);
  options.idle_spin_rounds = std::max(options.idle_spin_rounds, 0);
  options.local_queue_capacity =
      std::clamp(options.local_queue_capacity, size_t{2},
                 ThreadPoolOptions::kMaxLocalQueueCapacity);
  if (options.destructor_grace < absl::ZeroDuration()) {
    options.destructor_grace = absl::ZeroDuration();
  }
  return options;
}
}  // namespace

Scheduler::Scheduler(ThreadPoolOptions options)
    : options_(Clamped(std::move(options))),
      queue_limit_(options_.max_queued_tasks > static_cast<size_t>(INT64_MAX)
                       ? INT64_MAX
                       : static_cast<int64_t>(options_.max_queued_tasks)) {
  int n = options_.num_workers;
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  n = std::min(n, ThreadPoolOptions::kMaxWorkers);
  workers_.reserve(n);
  for (int i = 0; i < n; ++i) {
    workers_.push_back(
        std::make_unique<Worker>(this, i, options_.local_queue_capacity));
  }
  idle_.reserve(n);
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
  for (auto& w : workers_) {
    Worker* worker = w.get();
    try {
      worker->thread = std::thread(
          [self = shared_from_this(), worker] { self->WorkerMain(worker); });
    } catch (const std::exception& e) {
      status = absl::ResourceExhaustedError(
          absl::StrCat("cannot start worker thread ", worker->index, " of ",
                       workers_.size(), ": ", e.what()));
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

void Scheduler::WorkerMain(Worker* w) {
  start_gate_.WaitForNotification();  // START, step 2
  if (start_failed_) return;          // START, step 3
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
      // Shutdown ends the spin at once: termination needs every worker in
      // the idle list, so a spinning worker would hold it off for up to
      // idle_spin_rounds rounds. Parking instead is always safe (PARKING):
      // work pushed later still wakes a worker. Acquire: pairs with
      // Shutdown's release store.
      if (phase_.load(std::memory_order_acquire) != kRunning) break;
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
  const size_t queued = injector_.SizeHint();
  if (queued == 0) return nullptr;
  const size_t free_slots =
      w->deque.capacity() - std::min(w->deque.capacity(), w->owner.SizeHint());
  size_t want = queued / workers_.size() + 1;
  want = std::min({want, kMaxInjectorBatch, free_slots + 1});
  TaskBase* batch[kMaxInjectorBatch];
  const size_t n = injector_.PopBatch(batch, want);
  if (n == 0) return nullptr;
  // Keep the first to run now; the rest go to our deque, stealable.
  for (size_t i = n - 1; i >= 1; --i) PushLocal(w, batch[i]);
  if (n > 1) Notify();
  return batch[0];
}

TaskBase* Scheduler::StealFromOthers(Worker* w) {
  const size_t n = workers_.size();
  if (n <= 1) return nullptr;
  const size_t start = w->NextRandom() % n;
  for (size_t i = 0; i < n; ++i) {
    Worker* victim = workers_[(start + i) % n].get();
    if (victim == w) continue;
    if (TaskBase* task = StealFrom(w, victim, INT64_MIN)) return task;
  }
  return nullptr;
}

TaskBase* Scheduler::StealFrom(Worker* w, Worker* victim, int64_t min_index) {
  // A lost race means the deque was not empty: try once more.
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool lost = false;
    TaskBase* task = victim->stealer.StealAbove(min_index, &lost);
    if (task != nullptr) {
      Bump(w->steals);
      return task;
    }
    if (!lost) break;
  }
  return nullptr;
}

void Scheduler::PushLocal(Worker* w, TaskBase* task) {
  if (w->owner.Push(task)) return;
  // Overflow: move half of the deque plus `task` to the injection queue.
  const size_t half = w->deque.capacity() / 2;
  std::vector<TaskBase*> moved;
  moved.reserve(half + 1);
  for (size_t i = 0; i < half; ++i) {
    TaskBase* t = w->owner.Pop();
    if (t == nullptr) break;
    moved.push_back(t);
  }
  moved.push_back(task);
  injector_.Push(moved.data(), moved.size(), /*outside=*/false);
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

void Scheduler::Requeue(TaskBase* task) {
  injector_.Push(&task, 1, /*outside=*/false);
  Notify();
}

bool Scheduler::MaybeTerminateLocked() {
  if (terminated_.load(std::memory_order_relaxed)) return true;
  if (phase_.load(std::memory_order_acquire) == kRunning) return false;
  if (idle_.size() != workers_.size()) return false;
  if (AnyWorkVisible()) return false;
  // After AnyWorkVisible (seq_cst): a Shutdown that emptied a queue
  // incremented this before it popped, so we see it (TERMINATION).
  if (shutdowns_in_progress_.load(std::memory_order_seq_cst) != 0) {
    return false;
  }
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
    if (owns_queue_ref && task->ResolvingBeforeStart()) {
      // Another thread won a cancellation before the start and is still
      // resolving the task (updating our statistics, destroying the
      // callable). Keep the task in a queue until it has resolved, so the
      // pool cannot terminate -- and be freed -- under that thread.
      Requeue(task);
      std::this_thread::yield();
      return;
    }
    if (owns_queue_ref) {
      LeftQueue(1);
      task->Unref();
    }
    return;
  }
  if (owns_queue_ref) LeftQueue(1);
  // HELPING: entries pushed onto our deque from now on (at or above `mark`)
  // belong to this task's wait tree; a helper waiting on it may take them.
  const int64_t mark = w->owner.Bottom();
  task->set_runner(w->index, mark);
  RunningFrame frame{task, tls_running_frame, mark};
  tls_running_frame = &frame;
  // R1: publish the task in place of the outer one (null unless a helping
  // wait nests us). A CAS, not a store: a cancel shutdown may be holding a
  // claim on the outer task (S2, low bit set). A store would overwrite the
  // claim, and the claimer's release would then overwrite our task (our R2
  // CAS would spin forever), or we would save the tagged value as `outer`
  // and later restore it and cancel through it. Wait the claim out instead.
  uintptr_t outer = w->current.load(std::memory_order_relaxed);
  SpinWait claim_spin;
  for (;;) {
    if ((outer & kClaimedBit) != 0) {
      claim_spin.Once();
      outer = w->current.load(std::memory_order_relaxed);
      continue;
    }
    if (w->current.compare_exchange_weak(
            outer, reinterpret_cast<uintptr_t>(task), std::memory_order_seq_cst,
            std::memory_order_relaxed)) {
      break;
    }
  }
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
  // would run the task. Acquire: pairs with the store in
  // MaybeTerminateLocked.
  if (inside && terminated_.load(std::memory_order_acquire)) {
    reject(absl::FailedPreconditionError(
        "thread pool has terminated: Submit from on_worker_stop"));
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
  if (inside && phase == kCancelling) task->RequestCancellation(cancel_reason_);
  if (task->IsResolved()) {  // cancelled already: never queued
    LeftQueue(1);
    task->Unref();
    return;
  }
  if (inside) {
    PushLocal(w, task);
  } else {
    if (injector_.Push(&task, 1, /*outside=*/true) !=
        InjectionQueue::PushResult::kOk) {
      // Shutdown closed the queue after our phase check. Nothing else can
      // have resolved the task unless its parent/deadline fired; then it is
      // accounted for by that cancellation. Either way it was admitted but
      // never queued.
      LeftQueue(1);
      if (task->TryStart()) {
        rejected_.fetch_add(1, std::memory_order_relaxed);
        task->ResolveRejected(absl::FailedPreconditionError(
            "thread pool is shut down: Submit after Shutdown"));
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
  Notify();
}

void Scheduler::OnCancelledBeforeStart() noexcept {
  cancelled_before_start_.fetch_add(1, std::memory_order_relaxed);
}

void Scheduler::LeftQueue(int64_t n) noexcept {
  if (queue_limit_ != 0) queued_.fetch_sub(n, std::memory_order_relaxed);
}

bool Scheduler::Admit() {
  // ADMISSION. queued_ counts queue entries: a task is counted from its
  // admission until its entry leaves the queues for good (RunTask pops it to
  // start or to drop it, CancelQueuedTasks resolves it, RemoveResolved
  // reclaims it) -- not until it starts, so tasks cancelled while queued
  // (resolved blocks still sitting in a queue) count too and cannot grow
  // memory past the limit. A full pool first reclaims the resolved entries
  // of the injection queue (only when a cancellation before start happened
  // since the last reclaim, so a flood of rejections does not rescan), then
  // tries once more. Entries in worker deques are reclaimed by their workers.
  if (queued_.fetch_add(1, std::memory_order_relaxed) < queue_limit_) {
    return true;
  }
  queued_.fetch_sub(1, std::memory_order_relaxed);
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

TaskBase* Scheduler::Leapfrog(Worker* w, TaskBase* task) {
  int index = 0;
  int64_t mark = 0;
  if (!task->runner(&index, &mark) || index == w->index) return nullptr;
  TaskBase* stolen =
      StealFrom(w, workers_[static_cast<size_t>(index)].get(), mark);
  // H3: `mark` is only meaningful while `task` runs. Checked after the
  // steal: if `task` is still unresolved now, the victim was inside it (or
  // above it) when it pushed what we took -- the victim can only reuse those
  // indices for other work after popping below `mark`, which it does only
  // after `task` resolved, and our steal's seq_cst load of its bottom would
  // then have synchronised with that later push, making the resolution
  // visible here.
  if (stolen != nullptr && task->IsResolved()) {
    Requeue(stolen);  // maybe unrelated: leave it to the main loops
    return nullptr;
  }
  return stolen;
}

WaitResult Scheduler::HelpUntil(Worker* w, TaskBase* task, CancelState* waiter,
                                absl::Time deadline) {
  // HELPING. A task run by a helping wait is stacked on top of the waiting
  // task W, which cannot resume before it returns. So a waiting worker runs
  // only tasks of W's wait tree:
  //   H1. the awaited task T itself, if nobody started it;
  //   H2. entries of its own deque pushed since W started (fork-join
  //       children of W, or of tasks nested above it);
  //   H3. "leapfrogging" (Wagner & Calder): entries of the deque of the
  //       worker running T, pushed since T started (T's children).
  // Never the injection queue or arbitrary victims: a stacked unrelated
  // task that waits, even indirectly, for W would deadlock although the
  // program's waits form no cycle (the chain and three-worker tests in
  // pool_wait_test.cc). With H1-H3 every nested task is one W waits for, or
  // one created by such a task, so blocking can only close a cycle the
  // program's own waits form -- the one remaining case being a task that
  // waits for a task that started waiting before it was created (a child
  // waiting on its parent's waiter); future.h documents it.
  const int64_t own_mark =
      tls_running_frame != nullptr ? tls_running_frame->mark : INT64_MIN;
  // Sleep slices once nothing is runnable: short at first (new stealable
  // work appears within microseconds in fork-join), growing to a bound so a
  // long wait costs almost nothing. A resolved task wakes us at once.
  constexpr absl::Duration kMinSlice = absl::Microseconds(50);
  constexpr absl::Duration kMaxSlice = absl::Milliseconds(5);
  int idle_rounds = 0;
  absl::Duration slice = kMinSlice;
  for (;;) {
    if (task->IsResolved()) return WaitResult::kReady;
    if (waiter != nullptr && waiter->IsCancellationRequested()) {
      return WaitResult::kCancelled;
    }
    // H2 first: in fork-join our newest child is usually the awaited one.
    TaskBase* other = w->owner.PopAbove(own_mark);
    if (other == nullptr && !task->WasStarted() &&
        !task->ResolvingBeforeStart()) {
      // H1. Its queue entry is skipped when popped (TryStart fails there).
      // Our own reference: the entry's may be dropped meanwhile, and the
      // caller's future is the only other holder.
      task->Ref();
      RunTask(w, task, /*owns_queue_ref=*/false);
      task->Unref();
      continue;
    }
    if (other == nullptr) other = Leapfrog(w, task);  // H3
    if (other != nullptr) {
      RunTask(w, other, /*owns_queue_ref=*/true);
      idle_rounds = 0;
      slice = kMinSlice;
      continue;
    }
    if (deadline != absl::InfiniteFuture() && absl::Now() >= deadline) {
      return WaitResult::kTimeout;
    }
    // Nothing of the wait tree within reach: T runs elsewhere and its
    // children (if any) are taken. Keep looking for a while (T usually
    // pushes more soon), then sleep in slices. Every other queued task is
    // reachable by the other workers' main loops.
    if (idle_rounds < options_.idle_spin_rounds) {
      ++idle_rounds;
      for (int i = 0; i < 16; ++i) CpuRelax();
      continue;
    }
    const absl::Time until = std::min(deadline, absl::Now() + slice);
    slice = std::min(slice * 2, kMaxSlice);
    switch (task->BlockUntilResolved(waiter, until)) {
      case TaskBase::BlockResult::kResolved:
        return WaitResult::kReady;
      case TaskBase::BlockResult::kWaiterCancelled:
        return WaitResult::kCancelled;
      case TaskBase::BlockResult::kTimeout:
        break;  // look for work again
    }
  }
}

WaitResult Scheduler::Wait(TaskBase* task, CancelState* waiter,
                           absl::Time deadline) {
  Worker* w = tls_worker_;
  // Only an unlimited wait helps: a task run inline cannot be left when the
  // deadline passes or the waiter's token is cancelled, so a limited wait
  // would return only when that task finished. A limited wait blocks and
  // leaves the awaited task (and its children) to the other workers.
  if (w != nullptr && w->scheduler == this && waiter == nullptr &&
      deadline == absl::InfiniteFuture()) {
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

void Scheduler::CancelRunningTasks(const absl::Status& reason) {
  for (auto& w : workers_) {
    SpinWait spin;
    for (;;) {
      // Acquire: pairs with the worker's seq_cst store at R1 (the task block
      // it points to is fully constructed and referenced).
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
  // Tasks that another thread is still resolving (it won a cancellation
  // first) go back to the injection queue once we are done, for the workers
  // to drop when resolved (see RunTask); popping them again here would spin.
  std::vector<TaskBase*> contested;
  auto cancel = [&](TaskBase* t) {
    if (!t->RequestCancellation(reason) && t->ResolvingBeforeStart()) {
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
  if (reason.ok()) reason = absl::CancelledError("thread pool shutdown");
  // Holds termination off while this call may hold tasks it took out of the
  // queues (CancelQueuedTasks): they are not resolved yet (TERMINATION).
  shutdowns_in_progress_.fetch_add(1, std::memory_order_seq_cst);
  bool cancel_now = false;
  {
    absl::MutexLock lock(&shutdown_mu_);
    // Relaxed: phase_ is only written under shutdown_mu_, which we hold.
    const int phase = phase_.load(std::memory_order_relaxed);
    if (mode == ShutdownMode::kDrain) {
      if (phase == kRunning) {
        injector_.Close();
        shutdown_reason_ = reason;
        phase_.store(kDraining, std::memory_order_release);
      }
    } else if (phase != kCancelling) {
      injector_.Close();
      shutdown_reason_ = reason;
      cancel_reason_ = reason;
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
  shutdowns_in_progress_.fetch_sub(1, std::memory_order_seq_cst);
  MaybeTerminateLocked();
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

bool Scheduler::AwaitTermination(absl::Time deadline) {
  if (OnWorkerThread()) return IsTerminated();  // cannot wait for itself
  const int n = num_workers();
  absl::MutexLock lock(&exit_mu_);
  auto all_exited = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(exit_mu_) {
    return exited_workers_ == n;
  };
  return exit_mu_.AwaitWithDeadline(absl::Condition(&all_exited), deadline);
}

void Scheduler::JoinOrDetachWorkers(bool detach) {
  absl::MutexLock lock(&join_mu_);
  if (joined_) return;
  joined_ = true;
  const bool from_worker = detach || OnWorkerThread();
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
