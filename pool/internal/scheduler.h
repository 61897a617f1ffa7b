// Copyright 2026 The cancelpool Authors.
//
// pool_internal::Scheduler: the worker threads, their deques, the injection
// queue, parking, and shutdown. ThreadPool (thread_pool.h) is a handle to a
// shared Scheduler; worker threads hold a reference too, so a pool destroyed
// from inside one of its own tasks stays alive until its workers exit.
//
// WHERE WORK GOES
//   * A task submitted by a worker of this pool goes to that worker's deque
//     (DequeOwner::Push). If the deque is full, half of it plus the new task
//     move to the injection queue in one batch (the overflow path).
//   * A task submitted from any other thread goes to the injection queue.
//   * A worker looks, in order: its own deque (LIFO), the injection queue
//     (taking a batch into its deque), then -- now "searching" -- the deques
//     of the other workers from a random start (FIFO steal) and the injection
//     queue again, for `idle_spin_rounds` rounds, then it parks.
//
// PROTOCOL: PARKING (no lost wake-ups, no thundering herd)
// Shared: `searching_` (workers looking for work, including ones just woken
// and not yet looking), `sleepers_` (workers in the idle list), and the idle
// list itself under `idle_mu_`.
// Notify (after every push, by the pusher):
//   N1. The push ends with a seq_cst store (deque bottom, or the injection
//       queue's size).
//   N2. If searching_ > 0 (seq_cst load): return; a searcher will find it.
//   N3. If sleepers_ == 0 (seq_cst load): return; every worker is busy and
//       will look at the queues before it parks.
//   N4. Under idle_mu_: pop one sleeper, sleepers_ -= 1, searching_ += 1 on
//       its behalf; unpark it after unlocking.
// Park (by a worker that found nothing):
//   P1. Under idle_mu_: push self on the idle list, sleepers_ += 1 (seq_cst).
//   P2. searching_ -= 1 (seq_cst RMW).
//   P3. Re-check every queue (seq_cst loads). If any has work: under
//       idle_mu_, remove self from the idle list if still there (sleepers_
//       -= 1, searching_ += 1) and go back to searching; if a notifier
//       already took us off the list, our unpark is coming: consume it.
//   P4. Sleep until unparked. Wake up as a searcher (the notifier counted
//       us).
// Leaving the searching state because work was found: searching_ -= 1; if
// that made it 0, Notify (the found work may have siblings; spread it).
// Why no wake-up is lost: a push either sees searching_ > 0 at N2 -- then the
// last searcher to leave does so after N2 and either finds work (and, being
// last, notifies) or parks, and its P3 re-check comes after its P2, which is
// after N2 and so after N1 in the seq_cst order: it sees the push -- or sees
// sleepers_ == 0 at N3 -- then any worker that parks later does P1 after N3
// and its P3 sees the push -- or wakes a sleeper at N4.
// Why no herd: one push wakes at most one worker, and none while somebody is
// searching.
//
// PROTOCOL: HELPING WAITS (scheduler.cc, HelpUntil)
// Only an unlimited wait helps (no deadline, no waiter token): a task run
// inline cannot be left when a limit is reached, so a limited wait blocks.
// A worker whose task W waits for task T without limit runs, on top of W,
// only:
//   H1. T itself, if not started (TryStart decides against its queue entry);
//   H2. entries of its own deque at or above W's mark (the deque's Bottom()
//       when W started): children of W or of tasks nested above it;
//   H3. entries of the deque of T's runner at or above T's mark (read from
//       T's runner_ word): T's children. After the steal, T must still be
//       unresolved, else the entry is requeued -- the runner only reuses
//       indices above T's mark after T resolved, and a steal that read such
//       a reuse synchronised with it, so the check sees the resolution.
// Races/failures ruled out: an unrelated task stacked on W that waits for W
// (the help-first deadlock: no queue but the wait tree's is ever read while
// waiting); running T twice (TryStart); stealing below the mark (the index
// is checked before the CAS on top_, and a successful CAS from t takes index
// t); a stale mark after T finished (the H3 re-check).
//
// PROTOCOL: REACHING RUNNING TASKS AT SHUTDOWN (without a pool-wide token)
// Each worker publishes the task it is running in `current_` (one per
// worker; a helping wait nests tasks, restoring the outer one after).
//   R1. Worker, before running task T: CAS current_ from the outer task (or
//       null) to T (seq_cst); then if cancel_running_ (seq_cst load) is set,
//       cancel T itself. While a shutdown holds a claim on the outer task
//       (S2), wait until it is released: a plain store would overwrite the
//       claim, and the claimer's release would then overwrite T.
//   R2. Worker, after T returns: CAS current_ from T back to the outer task
//       (or null). The CAS fails only while a shutdown has claimed the slot
//       (T with its low bit set); spin until it is released. Then, if
//       cancel_running_ is set and there is an outer task, cancel it (the
//       shutdown may have seen only T).
//   S1. Shutdown: cancel_running_ = true (seq_cst store).
//   S2. For each worker: load current_; if a task, CAS it to "claimed" (low
//       bit); on success the task cannot be freed (R2 waits), so take a
//       reference, release the claim, request cancellation, drop the
//       reference.
// Dekker's argument on (R1 CAS, R1 load) vs (S1 store, S2 load): either
// the worker sees the flag or the shutdown sees the task. Nested tasks: the
// outer one is re-checked at R2.
//
// PROTOCOL: TERMINATION
// Shutdown sets phase_ (draining or cancelling) and closes the injection
// queue to outside submissions. Workers keep running. Quiescence -- every
// worker in the idle list and every queue empty -- can then no longer be
// left (no running task can submit, and outside submissions are refused),
// so the worker that completes it at P1 (or Shutdown itself, if all were
// already idle) sets terminated_ and unparks everybody; workers exit.
// Termination implies every task resolved, and no thread will touch the
// scheduler for a task again. Two holders of tasks outside the queues make
// that so:
//   T1. A task cancelled before its start is resolved by the requesting
//       thread (task.h, step 3), which first updates the statistics here. A
//       worker (or Shutdown) that pops it before it is resolved puts it back
//       in the injection queue instead of dropping it, so it stays visible
//       until resolved. Submit's rejection path, where the task was never
//       queued, waits for that resolution instead.
//   T2. Shutdown may pop tasks out of the queues and resolve them one by one
//       (kCancel). shutdowns_in_progress_ counts Shutdown calls under way
//       (seq_cst, incremented before anything is popped); quiescence is
//       checked after the queues and requires it to be 0. Shutdown
//       decrements it under idle_mu_ and re-checks quiescence.
#ifndef CANCELPOOL_POOL_INTERNAL_SCHEDULER_H_
#define CANCELPOOL_POOL_INTERNAL_SCHEDULER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/internal/task.h"
#include "cancelpool/pool/internal/work_stealing_deque.h"
#include "cancelpool/pool/options.h"

namespace cancelpool {
namespace pool_internal {

// Multi-producer, multi-consumer FIFO of tasks for submissions from outside
// the pool, and for local-deque overflow: a ring of task pointers under a
// mutex. A batch pop copies contiguous pointers without touching the tasks
// (no pointer chasing inside the lock); the ring doubles when full, so there
// is no allocation per task.
class InjectionQueue final {
 public:
  InjectionQueue();
  // Appends `tasks[0..count)`. `outside` pushes are refused once the queue is
  // closed; pushes by workers (overflow) are always accepted.
  enum class PushResult { kOk, kClosed };
  PushResult Push(TaskBase* const* tasks, size_t count, bool outside)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Pops up to `max` tasks into `out`; returns how many.
  size_t PopBatch(TaskBase** out, size_t max) ABSL_LOCKS_EXCLUDED(mu_);
  // Removes every resolved task (cancelled while queued, or run by a
  // helping wait) and appends it to `removed`, queue reference included;
  // the order of the others is kept. Returns how many.
  size_t RemoveResolved(std::vector<TaskBase*>* removed)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Close() ABSL_LOCKS_EXCLUDED(mu_);
  // seq_cst: part of the parking protocol (N1/P3).
  bool MaybeEmpty() const { return size_.load(std::memory_order_seq_cst) == 0; }
  size_t SizeHint() const { return size_.load(std::memory_order_relaxed); }

 private:
  void Grow() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::vector<TaskBase*> ring_ ABSL_GUARDED_BY(mu_);  // power-of-two size
  size_t head_ ABSL_GUARDED_BY(mu_) = 0;
  size_t count_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  // Mirrors count_: written under mu_ (seq_cst, see MaybeEmpty), read
  // without it.
  std::atomic<size_t> size_{0};
};

// Single-waiter sleep/wake primitive for a worker.
class Parker final {
 public:
  void Park();
  void Unpark();

 private:
  // 1 = a wake-up is pending. Exchange/store are seq_cst RMWs; FUTEX_WAIT on
  // 0 fails once Unpark set it.
  std::atomic<uint32_t> state_{0};
};

class Scheduler final : public std::enable_shared_from_this<Scheduler> {
 public:
  explicit Scheduler(ThreadPoolOptions options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // InvalidArgument for options outside the ranges of options.h (the
  // constructor clamps them instead).
  static absl::Status ValidateOptions(const ThreadPoolOptions& options);

  // Starts the workers (after construction, so they can hold a shared_ptr).
  // If a thread cannot be created, the workers already started are stopped
  // and joined before it returns ResourceExhausted (START, scheduler.cc);
  // the scheduler must then only be destroyed.
  absl::Status Start();

  // Submits a constructed block (one reference is transferred to the queue;
  // the caller keeps its own for the future). Handles admission, shutdown,
  // then links the task's token under `parent` and arms `deadline` -- only
  // then can anything cancel it. The own deadline always fires, even when
  // the parent's is earlier (a parent task's token stops propagating once
  // that task finishes): TaskBase::AttachParentAndDeadline.
  void Submit(TaskBase* task, CancelState* parent, absl::Time deadline);

  // Waits for `task` from the current thread: on a worker of this pool and
  // without a limit (null waiter, infinite deadline), a helping wait that
  // runs only the awaited task and tasks of the wait tree (HelpUntil, steps
  // H1-H3); otherwise it blocks. Returns kReady, kCancelled (waiter's token)
  // or kTimeout.
  WaitResult Wait(TaskBase* task, CancelState* waiter, absl::Time deadline);

  void Shutdown(ShutdownMode mode, absl::Status reason)
      ABSL_LOCKS_EXCLUDED(shutdown_mu_);
  bool AwaitTermination(absl::Time deadline);
  // Escalates to Shutdown(kCancel, reason) at `deadline`, from the shared
  // deadline timer's thread, without anybody waiting: DrainThenCancel called
  // from inside a task. The earliest of several requests wins.
  void CancelAt(absl::Time deadline, absl::Status reason)
      ABSL_LOCKS_EXCLUDED(shutdown_mu_);
  // Joins the worker threads (after termination), or detaches them when
  // called from one of them or with `detach` (they then free the scheduler
  // when the last one exits).
  void JoinOrDetachWorkers(bool detach) ABSL_LOCKS_EXCLUDED(join_mu_);
  bool IsShutdown() const {
    return phase_.load(std::memory_order_acquire) != kRunning;
  }
  bool IsTerminated() const {
    return terminated_.load(std::memory_order_acquire);
  }
  bool OnWorkerThread() const;

  PoolStats Stats() const;
  int num_workers() const { return static_cast<int>(workers_.size()); }

  // Called by a task block resolved as cancelled before it started.
  void OnCancelledBeforeStart() noexcept;

 private:
  struct Worker;
  struct DeferredCancel;
  enum Phase : int { kRunning = 0, kDraining = 1, kCancelling = 2 };

  void WorkerMain(Worker* w);
  TaskBase* FindWork(Worker* w);
  TaskBase* FindWorkOnce(Worker* w);
  TaskBase* TakeFromInjector(Worker* w);
  TaskBase* StealFromOthers(Worker* w);
  // Steals from `victim` an entry at index >= `min_index` (INT64_MIN: any),
  // retrying once after a lost race; counts the steal.
  TaskBase* StealFrom(Worker* w, Worker* victim, int64_t min_index);
  // Runs `task` on worker `w`. `owns_queue_ref`: drop the queue's reference
  // afterwards.
  void RunTask(Worker* w, TaskBase* task, bool owns_queue_ref);
  void PushLocal(Worker* w, TaskBase* task);
  // Admission control (ADMISSION, scheduler.cc); only with a queue limit.
  bool Admit();
  // `n` queue entries left the queues for good (ADMISSION).
  void LeftQueue(int64_t n) noexcept;
  // Puts a popped task back into the injection queue (queue reference
  // included): one that another thread is still resolving.
  void Requeue(TaskBase* task);
  void Notify();
  void BecomeSearching(Worker* w);
  void LeaveSearching(Worker* w);
  // Returns false if the pool terminated while parked.
  bool Park(Worker* w);
  bool AnyWorkVisible() const;
  // Checks quiescence under idle_mu_ and terminates if reached.
  bool MaybeTerminateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(idle_mu_);
  void CancelRunningTasks(const absl::Status& reason);
  void CancelQueuedTasks(const absl::Status& reason);
  void CancelTaskForShutdown(TaskBase* task);
  WaitResult HelpUntil(Worker* w, TaskBase* task, CancelState* waiter,
                       absl::Time deadline);
  // H3 of HelpUntil: steals a child of `task` from the worker running it.
  TaskBase* Leapfrog(Worker* w, TaskBase* task);

  static thread_local Worker* tls_worker_;

  ThreadPoolOptions options_;
  std::vector<std::unique_ptr<Worker>> workers_;
  InjectionQueue injector_;

  alignas(64) std::atomic<int> searching_{0};
  alignas(64) std::atomic<int> sleepers_{0};
  absl::Mutex idle_mu_;
  std::vector<Worker*> idle_ ABSL_GUARDED_BY(idle_mu_);

  // Admission control (only when max_queued_tasks > 0): queue entries,
  // resolved ones included (ADMISSION, scheduler.cc). Relaxed: a bound, not
  // a synchronisation.
  alignas(64) std::atomic<int64_t> queued_{0};
  // max_queued_tasks as a signed bound (INT64_MAX for larger values).
  int64_t queue_limit_ = 0;
  // cancelled_before_start_ at the last reclaim (Admit). Relaxed: a hint.
  std::atomic<uint64_t> reclaimed_at_{0};

  // Counters updated by non-worker threads. Relaxed: statistics only.
  alignas(64) std::atomic<uint64_t> outside_submitted_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> cancelled_before_start_{0};

  // Written under shutdown_mu_ with release (after the injection queue is
  // closed); read with acquire by Submit and the termination check, which
  // then also see the closed queue and the reasons.
  std::atomic<int> phase_{kRunning};
  // seq_cst: S1 of the running-task protocol.
  std::atomic<bool> cancel_running_{false};
  // Set once, under idle_mu_, with release; read with acquire by workers
  // leaving Park/FindWork (pairs with the store) and relaxed under idle_mu_.
  std::atomic<bool> terminated_{false};
  // Shutdown calls under way (TERMINATION). seq_cst.
  std::atomic<int> shutdowns_in_progress_{0};
  absl::Mutex shutdown_mu_;
  absl::Status shutdown_reason_ ABSL_GUARDED_BY(shutdown_mu_);
  // Set by CancelAt. Destroyed only without shutdown_mu_ held: destruction
  // waits for its callback, which may be in Shutdown on the timer thread.
  std::unique_ptr<DeferredCancel> deferred_cancel_
      ABSL_GUARDED_BY(shutdown_mu_);
  // Read by workers after observing cancel_running_ (acquire via the seq_cst
  // load); written once before it is set.
  absl::Status cancel_reason_;

  absl::Mutex exit_mu_;
  int exited_workers_ ABSL_GUARDED_BY(exit_mu_) = 0;

  absl::Mutex join_mu_;
  bool joined_ ABSL_GUARDED_BY(join_mu_) = false;

  // START (scheduler.cc): start_failed_ is written before start_gate_ is
  // notified and read by workers after it.
  absl::Notification start_gate_;
  bool start_failed_ = false;
};

}  // namespace pool_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_INTERNAL_SCHEDULER_H_
