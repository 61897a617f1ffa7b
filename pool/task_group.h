// Copyright 2026 The cancelpool Authors.
//
// TaskGroup: a scope for the tasks of one request. No task outlives it.
//
// MODEL
// A group owns a cancellation source (a child of Options::parent, say the
// request's token). Run(f) submits f to the pool as a task whose token is a
// child of the group's token, and returns its Future as Submit does (keep it
// for the result, or drop it). Wait() joins every task run so far and
// returns the group's status under its policy:
//   kWaitAll       every task runs to its end; Wait returns OK, or the
//                  first failure (by time) if any failed.
//   kFailFast      (default) the first failure cancels the group: queued
//                  siblings never run, running ones see their tokens; Wait
//                  returns that first failure.
//   kFirstSuccess  the first success cancels the rest; Wait returns OK if
//                  some task succeeded, else the first failure (NotFound
//                  if none failed either, e.g. no task was run).
// A failure is a task that returned a non-OK status, threw, was cancelled
// on its own (its Future::Cancel), or never ran (cancelled before its start
// by anything but the group -- a pool shutdown included -- or rejected by
// the pool). Once the group is cancelled (by a policy, Cancel(), or its
// parent), later failures are not recorded; Wait then returns the first
// failure recorded before, or else the group's cancellation reason.
//
// BLOCKING
// Run never blocks (it is Submit). Wait blocks until every task run through
// the group has resolved. Called on a worker of the group's pool it helps
// (future.h, WAITING): it runs the group's unstarted tasks and their
// children itself, so a group waited for inside a task does not deadlock,
// even with one worker. Elsewhere it sleeps.
//
// CANCELLATION
// Cancel(reason) cancels the group's token: every task run through it,
// queued or running, as Future::Cancel would; tasks run later resolve as
// cancelled without running. Cancelling the parent does the same.
//
// SHUTDOWN
// Tasks are ordinary tasks of the pool: Shutdown(kDrain) runs them,
// kCancel resolves queued ones as cancelled (they count as failures that
// never ran, unless the group was cancelled) and cancels running ones. Run
// after Shutdown: the task is rejected (FailedPrecondition, counted as a
// failure). Wait returns once they all resolved.
//
// LIFETIME
// The destructor cancels the group (CancelledError("task group
// destroyed")) and then waits as Wait() does: no task outlives its group.
// The pool must outlive the group. Futures returned by Run may outlive it.
//
// THREAD SAFETY
// Run, Cancel, Token may be called concurrently from any thread, including
// from the group's own tasks (nested fan-out). Wait may be called from
// several threads and more than once; each call joins every task run
// before it returned. Do not destroy the group while another thread uses
// it, nor from inside one of its tasks (it would wait for itself).
//
// COST
// Per task: the pool's one allocation (the group's bookkeeping is inside
// the task's callable), one reference count, a short mutex hold to remember
// the task for helping waits.
#ifndef CANCELPOOL_POOL_TASK_GROUP_H_
#define CANCELPOOL_POOL_TASK_GROUP_H_

#include <utility>

#include "absl/status/status.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/pool/future.h"
#include "cancelpool/pool/internal/compose.h"
#include "cancelpool/pool/thread_pool.h"

namespace cancelpool {

class TaskGroup final {
 public:
  enum class Policy {
    kWaitAll = static_cast<int>(pool_internal::GroupState::Policy::kWaitAll),
    kFailFast = static_cast<int>(pool_internal::GroupState::Policy::kFailFast),
    kFirstSuccess =
        static_cast<int>(pool_internal::GroupState::Policy::kFirstSuccess),
  };
  struct Options {
    Policy policy = Policy::kFailFast;
    // The group is cancelled when `parent` is (a request's token).
    CancellationToken parent;
  };

  explicit TaskGroup(ThreadPool& pool) : TaskGroup(pool, Options()) {}
  TaskGroup(ThreadPool& pool, Options options);
  TaskGroup(ThreadPool& pool, Policy policy,
            CancellationToken parent = CancellationToken())
      : TaskGroup(pool, Options{policy, std::move(parent)}) {}
  // See LIFETIME.
  ~TaskGroup();
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  // Submits f(args...) -- or f(token, args...) with the task's own token
  // (a child of the group's) -- to the pool. Returns its Future.
  template <typename F, typename... Args>
  auto Run(F&& f, Args&&... args) {
    using Bound = decltype(pool_internal::BindTask(
        std::forward<F>(f), std::forward<Args>(args)...));
    pool_internal::GroupCall<Bound> call(
        state_, pool_internal::BindTask(std::forward<F>(f),
                                        std::forward<Args>(args)...));
    state_->AddPending();
    TaskOptions options;
    options.parent = state_->Token();
    auto future = pool_->SubmitWith(options, std::move(call));
    Remember(future);
    return future;
  }

  // See MODEL and BLOCKING.
  absl::Status Wait();
  // See CANCELLATION. An OK reason means CancelledError("task group
  // cancelled").
  void Cancel(absl::Status reason = absl::OkStatus());
  // The group's token (a child of Options::parent).
  CancellationToken Token() const { return state_->Token(); }

 private:
  template <typename R>
  void Remember(Future<R>& future) {
    pool_internal::FutureState<R>* s =
        pool_internal::FutureAccess::Release(future);
    state_->Remember(s);
    future = pool_internal::FutureAccess::Adopt<R>(s);
  }

  ThreadPool* pool_;
  pool_internal::GroupState* state_;
};

}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_TASK_GROUP_H_
