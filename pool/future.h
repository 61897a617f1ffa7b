// Copyright 2026 The cancelpool Authors.
//
// Future<R>: the result of a task submitted to a ThreadPool, and the handle
// that cancels it. CancelHandle: a copyable handle that can only cancel.
//
// RESULTS
// A task ends in exactly one of three ways, reported by Get() in one
// Abseil-style value -- absl::StatusOr<R> (absl::Status for Future<void>) --
// and, without ambiguity, by Outcome():
//   * succeeded: Get() is OK and holds the value;
//       Outcome() == TaskOutcome::kSucceeded.
//   * failed: the task returned a non-OK absl::Status / absl::StatusOr, or
//     threw (an exception never escapes into a worker: it becomes
//     absl::UnknownError("task threw: <what()>")), or the pool rejected it
//     (FailedPrecondition after shutdown, ResourceExhausted when full);
//       Outcome() == TaskOutcome::kFailed; Get() holds that status.
//   * cancelled: it never ran because its token was cancelled first, or it
//     acknowledged a cancellation that reached it while running (threw
//     CancelledException, or returned a kCancelled status or the token's own
//     reason); Outcome() == TaskOutcome::kCancelled; Get() holds the
//     cancellation reason: kCancelled for Future::Cancel() and shutdown,
//     kDeadlineExceeded for a deadline, the parent's reason for a parent;
//     GetCancellationCause (cancel/cause.h) tells them apart.
// One rule decides between failed and cancelled, for a thrown
// CancelledException and a returned status alike: the outcome is cancelled
// only if the task's own token was cancelled by the time the task returned
// or threw. A CancelledException thrown, or a kCancelled status returned,
// without that (say, a cancellation of some other token passed on) is a
// failure: kFailed, with that status, counted in PoolStats::failed. A task
// whose token was cancelled but that returned normally has its real result
// (succeeded or failed).
//
// CANCELLATION -- Cancel(reason):
//   (a) task not started: it never runs; the future resolves as cancelled at
//       once, on the calling thread, and the callable is destroyed there and
//       then (captured resources are released), even while the task still
//       sits in a worker's deque (it is skipped when popped);
//   (b) task running: its token is cancelled (callbacks run on the calling
//       thread, interruptible waits wake); the future resolves when the task
//       returns, as described above;
//   (c) already finished: no effect.
// Returns true if the request arrived before the task finished. Never blocks
// on the task; safe from any thread, inside tasks and inside cancellation
// callbacks. On an empty (default-constructed or moved-from) future: false.
//
// WAITING
// Wait*/Get block the caller until the task resolves. Called from a worker
// of the task's pool they never deadlock, even with one worker, as long as
// the program's own waits form no cycle: while it waits, the worker runs
// (1) the awaited task itself, if nobody has started it (its queue entry is
// then skipped), and (2) tasks created by the waiting task or by the awaited
// one -- fork-join children, which is how a parent waiting on a stolen child
// keeps the core busy ("leapfrogging"). It never runs unrelated queued work
// meanwhile: stacked on top of the waiting task, such a task could wait
// (even indirectly) for it, and neither could finish. When nothing of that
// kind is runnable, the worker blocks; other workers take the rest.
// Only an unlimited wait (Wait(), Get()) helps. A limited one -- WaitFor,
// WaitUntil, Wait(token, deadline) -- never runs a task inline, since it
// could not leave that task when its deadline passes or its token is
// cancelled: on a worker it blocks, returns at its limit, and leaves the
// awaited task and its children to the other workers. (So a limited wait on
// a task that only the waiting worker could run -- a pool with one worker
// -- returns only at its limit, unless the pool has max_blocking_threads:
// a limited wait inside a task is a blocking region, so an extra thread may
// run the awaited task.)
// One case remains that threads would survive and we do not: a child task,
// run under a helping wait of W as in (2), that itself waits for W (or for
// a task that waits for W) -- do not hand a task's own future, or a future
// that waits on it, to the tasks it spawns and then wait inside it.
// Depth: a task run by a helping wait runs on the waiting worker's stack,
// so nested waits (a task that submits a child and waits for it, and so on)
// are bounded by the worker thread's stack (8 MiB by default on Linux):
// thousands of levels, fewer in sanitizer builds. Deeper recursion must be
// flattened (a loop, or a bounded fan-out) -- or run on a pool with
// ThreadPoolOptions::max_blocking_threads: there a waiter 128 levels deep
// first waits (in a blocking region) for an extra thread to run the awaited
// task on its own stack, so each thread holds at most about 128 levels while
// extra threads last (10,000 levels need about 80 of them).
// Waiting on a future from inside the very task that produces it (or a task
// nested under it by a helping wait) would deadlock: Wait() returns at once,
// WaitFor/WaitUntil return false, and Get() returns
// absl::FailedPreconditionError. Waits on an empty future return at once
// (IsReady() is true; Get() returns FailedPrecondition).
//
// THREAD SAFETY
// Future is move-only. Its const methods may be called concurrently from
// several threads; Get() takes the value and must be called once, by one
// thread (a second call returns FailedPrecondition). CancelHandle is
// copyable and fully thread-safe.
//
// LIFETIME
// A future may outlive its pool: once the pool is destroyed every task has
// resolved, and the future keeps the result.
//
// CONTINUATIONS -- std::move(future).Then(pool, f, options):
// Consumes the future and returns a Future<U> for f's result, run as a task
// of `pool` once this future resolves. No thread waits meanwhile: the
// resolving thread queues the continuation (task.h, RESOLVE LISTENER). f is
// called as f(value) (f() for Future<void>) -- or, to see failures,
// f(Result) with the whole absl::StatusOr<R> / absl::Status -- optionally
// with a CancellationToken (the continuation's own) first. U is f's return
// type unwrapped as for Submit.
//   * This future succeeded: f runs.
//   * It failed: a value-taking f does not run; the continuation resolves
//     failed with the same status (as a task of `pool`, so it counts there
//     as failed). A Result-taking f runs and sees it.
//   * It was cancelled: a value-taking f does not run; the continuation
//     resolves as cancelled with the same reason. A Result-taking f runs.
//   * Cancelling the continuation before it starts cancels this future too
//     (and so on up a chain: cancelling the last future of a chain cancels
//     every step not yet finished); once it runs, Cancel reaches f through
//     its token as for any task. options.parent and options.deadline apply
//     to the continuation's token as for SubmitWith (a parent cancelled
//     before the antecedent resolved cancels the chain upstream too).
//   * Shutdown: the continuation is submitted when this future resolves. A
//     pool shut down by then rejects it (FailedPrecondition) unless it is
//     queued from one of its own running tasks while draining (it runs) or
//     cancelling (resolved cancelled, never run). Until then it counts as
//     submitted and in flight in the pool's statistics (WaitForIdle waits
//     for it). The continuation keeps `pool`'s internals alive, not the
//     ThreadPool object.
//   * Waiting on a continuation's future helps as any wait does, except
//     that, while the antecedent has not resolved, the continuation is not
//     runnable: a helping wait then runs only the waiting task's own
//     children, and does not run the antecedent either (it is no child of
//     the waiter). So a task that waits on a continuation whose antecedent
//     is still queued in the same pool deadlocks if every worker waits the
//     same way (a pool with one worker: always). Wait on the antecedent
//     first, or do not wait inside tasks: chain another Then instead.
// On an empty future: returns a future already failed with
// FailedPrecondition (f never runs). Then consumes the future; it is empty
// afterwards.
#ifndef CANCELPOOL_POOL_FUTURE_H_
#define CANCELPOOL_POOL_FUTURE_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/internal/task.h"
#include "cancelpool/pool/options.h"

namespace cancelpool {

class ThreadPool;
template <typename R>
class Future;

namespace pool_internal {
struct FutureAccess;
}  // namespace pool_internal

// How a task ended (Future::Outcome()).
enum class TaskOutcome : int {
  kPending = 0,  // not resolved yet
  kSucceeded,    // returned a value / OK status
  kFailed,       // returned a non-OK status, threw, or was rejected by the pool
  kCancelled,    // never ran because it was cancelled, or acknowledged a
                 // cancellation of its token (after it, threw
                 // CancelledException or returned the token's reason / a
                 // kCancelled status)
};

// "pending", "succeeded", "failed" or "cancelled".
const char* TaskOutcomeName(TaskOutcome outcome);

namespace pool_internal {
// Waits for `task`; see "WAITING" above. `waiter` may be null.
WaitResult WaitForTask(TaskBase* task, CancelState* waiter,
                       absl::Time deadline);
// Cancel(reason) on a task block.
bool CancelTask(TaskBase* task, absl::Status reason);
absl::Status DefaultFutureCancelReason();
absl::Status SelfWaitError();
}  // namespace pool_internal

// A copyable handle that can only cancel a task (for a connection-closed
// callback, say). Cheap to copy; keeps the task's small state alive, not the
// pool.
class CancelHandle final {
 public:
  CancelHandle() = default;
  // See Future::Cancel.
  bool Cancel(
      absl::Status reason = pool_internal::DefaultFutureCancelReason()) const {
    return task_ && pool_internal::CancelTask(get(), std::move(reason));
  }
  // True once the task resolved (any outcome), as Future::IsReady(). An
  // empty handle is not ready (it has no task).
  bool IsReady() const { return task_ && get()->IsResolved(); }

 private:
  template <typename R>
  friend class Future;
  explicit CancelHandle(pool_internal::TaskBase* task)
      : task_(cancel_internal::StateRef::Share(task)) {}
  pool_internal::TaskBase* get() const {
    return static_cast<pool_internal::TaskBase*>(task_.get());
  }

  cancel_internal::StateRef task_;
};

template <typename R>
class Future final {
 public:
  // absl::StatusOr<R>, or absl::Status for R = void.
  using Result = typename pool_internal::ResultSlot<R>::Type;

  Future() noexcept = default;
  Future(Future&& other) noexcept
      : state_(std::exchange(other.state_, nullptr)), taken_(other.taken_) {}
  Future& operator=(Future&& other) noexcept {
    if (this != &other) {
      Reset();
      state_ = std::exchange(other.state_, nullptr);
      taken_ = other.taken_;
    }
    return *this;
  }
  Future(const Future&) = delete;
  Future& operator=(const Future&) = delete;
  ~Future() { Reset(); }

  // False for a default-constructed or moved-from future.
  bool IsValid() const noexcept { return state_ != nullptr; }

  // True if Get() would not block.
  bool IsReady() const noexcept {
    return state_ == nullptr || state_->IsResolved();
  }

  // Blocks until resolved (see WAITING for the helping and self-wait rules).
  void Wait() const { WaitUntilInternal(nullptr, absl::InfiniteFuture()); }
  // Returns true if resolved within `timeout` / by `deadline`.
  bool WaitFor(absl::Duration timeout) const {
    return WaitUntil(absl::Now() + timeout);
  }
  bool WaitUntil(absl::Time deadline) const {
    return WaitUntilInternal(nullptr, deadline) == WaitResult::kReady;
  }
  // Waits until resolved (kReady), the waiter's own `token` is cancelled
  // (kCancelled; the task is NOT cancelled), or `deadline` (kTimeout).
  WaitResult Wait(const CancellationToken& token,
                  absl::Time deadline = absl::InfiniteFuture()) const {
    return WaitUntilInternal(cancel_internal::TokenAccess::State(token),
                             deadline);
  }

  // Waits, then takes the result (see RESULTS). Call once.
  Result Get() {
    if (state_ == nullptr) {
      return absl::FailedPreconditionError("Get() on an empty Future");
    }
    if (WaitUntilInternal(nullptr, absl::InfiniteFuture()) !=
        WaitResult::kReady) {
      return pool_internal::SelfWaitError();
    }
    if (taken_) {
      return absl::FailedPreconditionError(
          "Future::Get() called twice: the result was already taken");
    }
    taken_ = true;
    return std::move(state_->result());
  }

  // kPending until resolved, then how the task ended.
  TaskOutcome Outcome() const noexcept {
    if (state_ == nullptr || !state_->IsResolved())
      return TaskOutcome::kPending;
    return state_->outcome();
  }

  // See CANCELLATION above.
  bool Cancel(
      absl::Status reason = pool_internal::DefaultFutureCancelReason()) const {
    return state_ != nullptr &&
           pool_internal::CancelTask(state_, std::move(reason));
  }
  CancelHandle GetCancelHandle() const { return CancelHandle(state_); }
  // The task's own token (observe only).
  CancellationToken Token() const {
    return cancel_internal::TokenAccess::FromState(state_);
  }

  // See CONTINUATIONS. Defined in pool/internal/then.h (thread_pool.h).
  template <typename F>
  auto Then(ThreadPool& pool, F&& f,
            const TaskOptions& options = TaskOptions()) &&;

 private:
  friend class ThreadPool;
  friend struct pool_internal::FutureAccess;
  // Adopts one reference.
  explicit Future(pool_internal::FutureState<R>* state) : state_(state) {}

  WaitResult WaitUntilInternal(cancel_internal::CancelState* waiter,
                               absl::Time deadline) const {
    if (state_ == nullptr || state_->IsResolved()) return WaitResult::kReady;
    return pool_internal::WaitForTask(state_, waiter, deadline);
  }
  void Reset() {
    if (state_ != nullptr) state_->Unref();
    state_ = nullptr;
  }

  pool_internal::FutureState<R>* state_ = nullptr;
  bool taken_ = false;
};

}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_FUTURE_H_
