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
// MAP: each file owns one protocol, written down at its top.
//   work_stealing_deque.h  the Chase-Lev deque (owner push/pop, steal)
//   injection_queue.h      the shared FIFO (I1-I4)
//   parker.h               a worker's sleep/wake word (K1-K2)
//   idle.h                 parking N1-N4 / P1-P4, quiescence Q1-Q6
//   sync.h                 the policy idle/parker/injection are generic over
//   running_task.h         reaching running tasks at shutdown (R1/R2, S1/S2)
//   worker.h, worker.cc    the worker loop, stealing, RunTask
//   helping.cc             helping waits (H1-H3)
//   blocking.h, blocking.cc  blocking regions, extra threads (COMPENSATION)
//   overload.h, overload.cc  shedding by queueing delay (O1-O5)
//   submit.cc              Submit and admission control (ADMISSION)
//   shutdown.cc            Shutdown, CancelAt, termination (T1/T2)
//   scheduler.cc           construction, START, joining
//   stats.cc               PoolStats
//   task.h, task.cc        the task block (CANCEL VERSUS START)
#ifndef CANCELPOOL_POOL_INTERNAL_SCHEDULER_H_
#define CANCELPOOL_POOL_INTERNAL_SCHEDULER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/internal/blocking.h"
#include "cancelpool/pool/internal/idle.h"
#include "cancelpool/pool/internal/injection_queue.h"
#include "cancelpool/pool/internal/overload.h"
#include "cancelpool/pool/internal/task.h"
#include "cancelpool/pool/options.h"

namespace cancelpool {
namespace pool_internal {

class Scheduler final : public std::enable_shared_from_this<Scheduler> {
 public:
  // The capacity of each worker's deque: rounded up to a power of two; 0 to
  // kMaxLocalQueueCapacity (values below 2 mean 2; the constructor treats a
  // larger value as kMaxLocalQueueCapacity). Only tests choose another than
  // the default (testing.h): small values exercise the overflow path.
  static constexpr size_t kDefaultLocalQueueCapacity = 1024;
  static constexpr size_t kMaxLocalQueueCapacity = size_t{1} << 20;

  Scheduler(ThreadPoolOptions options, size_t local_queue_capacity);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // InvalidArgument for options outside the ranges of options.h, or a
  // capacity above kMaxLocalQueueCapacity (the constructor clamps them
  // instead).
  static absl::Status ValidateOptions(const ThreadPoolOptions& options,
                                      size_t local_queue_capacity);

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
  // Submit for `n` constructed blocks at once (ThreadPool::SubmitBatch), in
  // order: the same checks, admission and attachment per task, then the
  // admitted ones queued kSubmitChunk at a time with one injection-queue
  // lock round trip and one Notify per chunk (submit.cc).
  static constexpr size_t kSubmitChunk = 256;
  void SubmitBatch(TaskBase* const* tasks, size_t n, CancelState* parent,
                   absl::Time deadline);

  // Queues a held continuation block (task.h, L4) whose antecedent has
  // resolved, transferring one reference. Unlike Submit the block is
  // already shared (its future is out, a cancellation may resolve it at any
  // time) and was counted as submitted by CountSubmitted when it was
  // created; its parent and deadline were attached then. Rejection as in
  // Submit (after shutdown from outside, after termination, queue full).
  void SubmitHeld(TaskBase* task);
  // Counts a submission without queueing anything yet (a held block), and
  // sets the block's scheduler. Before sharing the block only.
  void CountSubmitted(TaskBase* task);
  // True if the calling thread is a worker of this pool whose own deque
  // looks empty (nothing for a thief to take): lazy splitting asks this.
  // False on any other thread.
  bool LocalDequeLooksEmpty() const;

  // Waits for `task` from the current thread: a helping wait on a worker of
  // this pool without a limit, else a blocking one (helping.cc). Returns
  // kReady, kCancelled (waiter's token) or kTimeout.
  WaitResult Wait(TaskBase* task, CancelState* waiter, absl::Time deadline);

  void Shutdown(ShutdownMode mode, absl::Status reason)
      ABSL_LOCKS_EXCLUDED(shutdown_mu_);
  bool AwaitTermination(absl::Time deadline);
  // Escalates to Shutdown(kCancel, reason) at `deadline`, from the shared
  // deadline timer's thread, without anybody waiting: DrainThenCancel called
  // from inside a task. The earliest of several requests wins.
  void CancelAt(absl::Time deadline, absl::Status reason)
      ABSL_LOCKS_EXCLUDED(shutdown_mu_);
  // Joins the worker threads, or detaches them when called from one of them
  // or with `detach` (they then free the scheduler when the last one exits).
  // Joining waits for termination first (the workers exit only after it),
  // then stops and joins the extra threads (B8, blocking.cc).
  void JoinOrDetachWorkers(bool detach) ABSL_LOCKS_EXCLUDED(join_mu_);
  bool IsShutdown() const {
    return phase_.load(std::memory_order_acquire) != kRunning;
  }
  // True once a Shutdown(kCancel) published its phase (acquire: pairs with
  // its release store).
  bool IsCancelling() const {
    return phase_.load(std::memory_order_acquire) == kCancelling;
  }
  bool IsTerminated() const { return idle_.IsTerminated(); }
  bool OnWorkerThread() const;

  PoolStats Stats() const;
  uint64_t NeverRan() const {
    return never_ran_.load(std::memory_order_relaxed);
  }
  int num_workers() const { return num_core_; }

  // Called by a task block resolved as cancelled before it started.
  void OnCancelledBeforeStart() noexcept;

 private:
  struct Worker;  // worker.h
  // A deadline that escalates a drain to a cancel (CancelAt, shutdown.cc). The
  // callback holds only a weak reference: it must not keep the pool alive, and
  // a pool being destroyed has nothing left to cancel.
  struct DeferredCancel {
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
  // The scheduler side of the idle protocol (idle.h, THE ENV).
  struct IdleEnv {
    Scheduler* s;
    bool AnyWorkVisible() const { return s->AnyWorkVisible(); }
    bool ShutdownStarted() const {
      // Acquire: pairs with Shutdown's release store (Q2 of idle.h).
      return s->phase_.load(std::memory_order_acquire) != kRunning;
    }
    bool ShutdownsInProgress() const {
      // seq_cst: Q5 of idle.h, T2 of shutdown.cc; extra threads that may
      // hold a task count the same way (B6, blocking.cc).
      return s->shutdowns_in_progress_.load(std::memory_order_seq_cst) != 0 ||
             s->blocking_.active.load(std::memory_order_seq_cst) != 0;
    }
    void CountPark(int worker) const;
    void HelpShutdown() const { s->HelpCancelPass(); }
  };
  enum Phase : int { kRunning = 0, kDraining = 1, kCancelling = 2 };

  static int WorkerCount(const ThreadPoolOptions& options);

  // worker.cc
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
  // A task submitted on worker `w`: into its LIFO slot (the task it
  // displaces, if any, onto its deque); an extra thread's onto its deque.
  void PushLocal(Worker* w, TaskBase* task);
  // Onto `w`'s deque (the ring), or the overflow path.
  void PushToDeque(Worker* w, TaskBase* task);
  // W7 (worker.cc): moves `w`'s LIFO slot task, if any, onto its deque and
  // notifies. Owner thread only.
  void FlushLifo(Worker* w);
  // W2: a task from another worker's LIFO slot that looks stuck (L3 of
  // work_stealing_deque.h).
  TaskBase* StealStaleLifo(Worker* w);
  // The common end of Submit and SubmitHeld, after admission: drops a task
  // already cancelled, stamps the enqueue time for shedding, pushes it on
  // the worker's deque (inside) or the injection queue, wakes a worker. If
  // shutdown closed the injection queue meanwhile, the task is rejected
  // with FailedPrecondition(closed_message) unless a cancellation got it.
  // `count_outside`: count it in PoolStats::submitted (the injection push
  // does, I5 of injection_queue.h, or this on the paths that do not push).
  void EnqueueAdmitted(Worker* w, bool inside, TaskBase* task,
                       bool count_outside, absl::string_view closed_message);
  // The same for SubmitBatch's tasks[0..n) (reordered in place): one push of
  // all that are not cancelled yet, one Notify.
  void EnqueueAdmittedBatch(Worker* w, bool inside, TaskBase** tasks, size_t n,
                            bool count_outside,
                            absl::string_view closed_message);
  // The closed-queue end of both: rejects tasks[0..n) or waits for their
  // cancellers.
  void RejectClosed(TaskBase* const* tasks, size_t n, bool count_outside,
                    absl::string_view closed_message);
  // Submit's general path (inside, parent, deadline, queue limit, shut
  // down).
  void SubmitSlow(TaskBase* task, CancelState* parent, absl::Time deadline);
  // Resolution of a submission that is refused (submit.cc): rejected with
  // `status` / queue full / deadline already passed; drops the queue's
  // reference.
  void Reject(TaskBase* task, absl::Status status);
  void RejectQueueFull(TaskBase* task);
  void RefuseDeadlinePassed(TaskBase* task);
  // Puts a popped task back into the injection queue (queue reference
  // included): one that another thread is still resolving.
  void Requeue(TaskBase* task);
  // Every queue, seq_cst (P3 and Q4 of idle.h).
  bool AnyWorkVisible() const;

  // blocking.cc (COMPENSATION)
  void EnterBlocking(Worker* w) noexcept;
  void ExitBlocking() noexcept;
  // B3: wakes or starts an extra thread if the pool needs one.
  void MaybeCompensateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(blocking_.mu);
  // B5: after a push, when some thread is blocked.
  void CompensateAfterPush();
  void ExtraMain(Worker* w);
  TaskBase* FindWorkExtra(Worker* w);
  // B8: no extra thread starts any more; the idle ones exit.
  void StopExtraThreads() ABSL_LOCKS_EXCLUDED(blocking_.mu);
  // Waits until every extra thread exited, or `deadline`.
  bool AwaitExtraThreads(absl::Time deadline) ABSL_LOCKS_EXCLUDED(blocking_.mu);
  // RunTask's shedding (O1-O5, overload.h): true if `task` (popped from a
  // queue) was shed and resolved.
  bool MaybeShed(Worker* w, TaskBase* task);

  // submit.cc: admission control (ADMISSION); only with a queue limit.
  bool Admit();
  // `n` queue entries left the queues for good (ADMISSION).
  void LeftQueue(int64_t n) noexcept;

  // helping.cc. H4: the helping depth beyond which a waiter first lets an
  // extra thread run the awaited task.
  static constexpr int kMaxHelpDepth = 128;
  WaitResult HelpUntil(Worker* w, TaskBase* task, CancelState* waiter,
                       absl::Time deadline);
  // H3: steals a child of `task` from the worker running it.
  TaskBase* Leapfrog(Worker* w, TaskBase* task);

  // shutdown.cc
  void CancelRunningTasks(const absl::Status& reason);
  // SQ1-SQ7 (shutdown.cc): resolves the workers' deques' entries, then its
  // share of pass_held_ (the injection queue's), then waits for the helpers.
  void CancelQueuedTasks(const absl::Status& reason);
  // SQ2-SQ4 for tasks[0..n) (n <= kClaimBatch); the contested ones are
  // appended to *contested for SQ5.
  void CancelHeldBatch(TaskBase* const* tasks, size_t n,
                       const absl::Status& reason,
                       std::vector<TaskBase*>* contested);
  // SQ6: takes chunks of an open pass until none is left. By the cancelling
  // Shutdown call and by workers about to park (IdleEnv::HelpShutdown).
  void HelpCancelPass();
  static constexpr size_t kClaimBatch = 128;

  static thread_local Worker* tls_worker_;

  ThreadPoolOptions options_;
  // The workers (0 .. num_core_-1), then one slot per possible extra thread
  // (blocking.cc). Fixed at construction.
  std::vector<std::unique_ptr<Worker>> workers_;
  int num_core_ = 0;
  InjectionQueue<TaskBase*> injector_;
  Idle<> idle_;

  BlockingState blocking_;
  QueueDelayShedder shedder_;
  // Counters updated by any thread. Relaxed: statistics only.
  std::atomic<uint64_t> deadline_passed_at_submit_{0};

  // Admission control (only when max_queued_tasks > 0): queue entries,
  // resolved ones included (ADMISSION, submit.cc). Relaxed: a bound, not a
  // synchronisation.
  alignas(64) std::atomic<int64_t> queued_{0};
  // max_queued_tasks as a signed bound (INT64_MAX for larger values).
  int64_t queue_limit_ = 0;
  // cancelled_before_start_ at the last reclaim (Admit). Relaxed: a hint.
  std::atomic<uint64_t> reclaimed_at_{0};

  // Counters updated by non-worker threads. Relaxed: statistics only.
  // outside_submitted_ counts the outside submissions that the injection
  // queue did not count (I5 of injection_queue.h): refused ones.
  alignas(64) std::atomic<uint64_t> outside_submitted_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> cancelled_before_start_{0};
  // Tasks a cancel shutdown resolved without running (ShutdownReport::
  // never_ran). Relaxed: statistics only.
  std::atomic<uint64_t> never_ran_{0};

  // Written under shutdown_mu_ with release (after the injection queue is
  // closed); read with acquire by Submit and the termination check, which
  // then also see the closed queue and the reasons.
  std::atomic<int> phase_{kRunning};
  // seq_cst: S1 of the running-task protocol (running_task.h).
  std::atomic<bool> cancel_running_{false};
  // Shutdown calls under way (T2, shutdown.cc). seq_cst.
  std::atomic<int> shutdowns_in_progress_{0};
  absl::Mutex shutdown_mu_;
  // Set by CancelAt. Destroyed only without shutdown_mu_ held: destruction
  // waits for its callback, which may be in Shutdown on the timer thread.
  std::unique_ptr<DeferredCancel> deferred_cancel_
      ABSL_GUARDED_BY(shutdown_mu_);
  // Read by workers after observing cancel_running_ (acquire via the seq_cst
  // load); written once before it is set.
  absl::Status cancel_reason_;

  // The one-pass cancel of the injection queue's entries, shared with the
  // idle workers (SQ6, shutdown.cc). pass_held_ and pass_chunks_ are
  // written by the one cancelling Shutdown call before pass_open_ is set
  // (release) and read by helpers after its acquire; pass_held_ is freed by
  // that call once every chunk is done (SQ7).
  std::vector<TaskBase*> pass_held_;
  size_t pass_chunks_ = 0;
  std::atomic<bool> pass_open_{false};
  // The next chunk to take (relaxed fetch_add: indices only) and the chunks
  // finished (release increments; the Shutdown call's acquire wait, SQ7).
  alignas(64) std::atomic<size_t> pass_next_{0};
  alignas(64) std::atomic<size_t> pass_done_{0};

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
