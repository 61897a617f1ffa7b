// Copyright 2026 The cancelpool Authors.
//
// ThreadPool: a work-stealing thread pool whose every task carries its own
// cancellation token, so Future::Cancel() reaches tasks that are already
// running, not only queued ones.
//
// MODEL
// A fixed set of worker threads, each with a local work-stealing deque.
// Tasks submitted from a worker (fork-join children) go to that worker's
// deque; tasks submitted from any other thread (a server's request threads)
// go to a shared injection queue. Idle workers steal, spin briefly, then
// park; a submission wakes at most one parked worker, and none while another
// worker is already searching. docs/architecture.md maps the internal
// protocols and the files that implement them.
//
// TASKS AND TOKENS
// Submit(f, args...) runs f(args...) -- or f(token, args...) when f takes a
// CancellationToken (or a std::stop_token) first -- and returns a Future.
// The task's token is cancelled when
//   * its Future (or a CancelHandle) is cancelled   -> reason given to Cancel;
//   * the TaskOptions::parent token is cancelled   -> the parent's reason;
//   * the TaskOptions::deadline passes             -> DeadlineExceeded;
//   * the pool shuts down with ShutdownMode::kCancel -> the shutdown reason.
// While a task runs, its token is also the thread's current token
// (cancelpool/cancel/current.h), so deep code can call
// cancelpool::ThrowIfCancellationRequested() and the interruptible waits of
// cancelpool/cancel/wait.h without a token parameter. A task cancelled
// before it starts never runs (see future.h). An exception escaping a task
// never terminates a worker: the future reports it.
//
// COST
// One heap allocation per Submit of a callable that fits (the task's token,
// future state and callable share one block). No pool-wide lock or
// registration per task: reaching running tasks at shutdown uses a per-worker
// slot. A task that takes a std::stop_token costs one more allocation (the
// bridge) when it first asks for it. Freed task blocks of up to 512 bytes
// are kept for reuse, process-wide and shared by all pools: up to 1024 per
// size class in each thread, and up to 32 MiB per 64-byte size class (eight
// classes) in a central pool. After a burst, that memory stays with the
// process instead of going back to malloc (it is reused by later tasks).
// Builds with AddressSanitizer do not cache.
//
// SUBMITTING -- thread-safe, from any thread, including from inside tasks.
// Never blocks (admission control answers at once):
//   * after Shutdown() began, a Submit from outside the pool returns a future
//     already failed with absl::FailedPreconditionError. A Submit from inside
//     a running task is still accepted while draining (so fork-join children
//     can finish) and resolved as cancelled (never run) while cancelling.
//   * a Submit from on_worker_stop (the pool has terminated) returns a
//     future already failed with absl::FailedPreconditionError; one from
//     on_worker_start is accepted and runs.
//   * with ThreadPoolOptions::max_queued_tasks set, a Submit that finds that
//     many tasks queued (tasks cancelled while queued included, see
//     options.h) returns a future already failed with
//     absl::ResourceExhaustedError.
//   * a task whose TaskOptions::deadline has already passed is never queued:
//     its future is already cancelled with absl::DeadlineExceededError.
//   * with ThreadPoolOptions::queue_delay_target set, a queued task may be
//     shed when a worker takes it (CoDel, options.h): never run, its
//     callable destroyed, its future failed with
//     absl::ResourceExhaustedError.
//
// TASKS THAT BLOCK
// A task blocked in a wait holds its thread. With
// ThreadPoolOptions::max_blocking_threads above 0, a thread of the pool
// that blocks inside a ScopedBlockingRegion (cancelpool/cancel/blocking.h;
// the waits of cancelpool/cancel/wait.h enter one) while tasks are queued
// and no other thread is free gets an extra thread in its place, so that
// num_workers threads keep running tasks; extra threads retire when idle.
// Shutdown, AwaitTermination and destruction wait for them like workers.
//
// SHUTDOWN -- thread-safe, from any thread, any number of times,
// concurrently, and from inside a task:
//   * Shutdown(kDrain): stop admitting outside work; everything queued runs;
//     running tasks finish.
//   * Shutdown(kCancel, reason): stop admitting; every queued task resolves
//     as cancelled without running; every running task's token is cancelled
//     with `reason`; they finish when they observe it.
//     kCancel after kDrain escalates; kDrain after kCancel is a no-op.
//   * AwaitTermination(deadline): blocks until every task has finished and
//     every worker has exited, or until `deadline`; returns which. From
//     inside a pool task it cannot wait for itself: returns at once whether
//     the pool has terminated (false).
//   * DrainThenCancel(grace, cancel_timeout): the usual server grace period.
//     From inside a pool task it cannot wait either: it starts the drain,
//     has the cancel happen when `grace` ends (on the shared deadline-timer
//     thread, cancelpool/cancel), and returns at once (terminated == false).
//   Shutdown does not block; it does run cancellation callbacks of running
//   tasks on the calling thread (kCancel).
//
// DESTRUCTION
// ~ThreadPool never loses a task silently: it drains for
// ThreadPoolOptions::destructor_grace (default 10 s), then cancels everything
// still queued or running, then waits for the running tasks to return and
// joins the workers. It never hangs on a task that observes its token; a task
// that ignores its token keeps the destructor waiting. Destroying the pool
// from inside one of its own tasks starts the same drain but cannot wait for
// it: the workers are detached, finish the remaining work (cancelled, as
// above, if it is still there when the grace ends -- the shared
// deadline-timer thread does that), and free the pool's internals when the
// last one exits. The same holds wherever the library runs user code on a
// thread the pool's termination may be waiting for: a callable destroyed
// because its task was cancelled before it started (the handle it held may
// be the pool's last: Future::Cancel, a parent, a deadline on the shared
// timer thread, Shutdown(kCancel)), and on_worker_start / on_worker_stop.
// So a pool owned only by its own queued task is destroyed without a hang
// when that task is cancelled, and the timer thread is never blocked by it.
//
// FORK
// fork() copies only the calling thread; the parent pool's workers do not
// exist in the child. In the child (full rules: docs/fork.md):
//   * create and use new pools, tokens, deadlines and waits freely;
//   * never touch an inherited pool or its futures (no Submit, Wait, Get,
//     Cancel, Shutdown, Stats, nor its destructor): leave with _exit() or
//     exec();
//   * use an inherited source or token only if no other parent thread was
//     using it at the fork;
//   * do not fork() while a pool is starting or being destroyed.
//
// IDLENESS AND TERMINATION QUERIES -- thread-safe, from any thread:
//   * WaitForIdle(deadline) / WaitForIdle(token, deadline): block until the
//     pool is idle -- every task submitted so far has resolved (nothing
//     queued or running; a held Then continuation counts as in flight until
//     it resolves) -- without shutting it down, as Java's
//     ExecutorService users expect from BS::thread_pool's wait(). Tasks
//     submitted meanwhile are waited for too, so a steady stream of work
//     never lets it return before its limit. Does not help run tasks: it
//     sleeps (polling the counters with a backoff up to 1 ms). Called from
//     inside a task of this pool it cannot become idle (the caller is in
//     flight): returns false / kTimeout at once.
//   * IsTerminated(): true once the pool has shut down and every task has
//     resolved and every worker has exited (what AwaitTermination waits
//     for). Never blocks.
//
// STATISTICS
// Stats() may be called at any time from any thread; see PoolStats.
#ifndef CANCELPOOL_POOL_THREAD_POOL_H_
#define CANCELPOOL_POOL_THREAD_POOL_H_

#include <functional>
#include <memory>
#include <stop_token>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/pool/future.h"
#include "cancelpool/pool/internal/task.h"
#include "cancelpool/pool/options.h"

namespace cancelpool {

namespace pool_internal {
class Scheduler;
class ThreadPoolTestPeer;
struct ComposeAccess;

// Binds `args` after the (optional) token parameter. The bound arguments are
// passed as rvalues (std::move), so the token detection must ask about
// rvalues too: asking about lvalues made a move-only argument (say a
// std::unique_ptr taken by value) hide the token parameter.
template <typename F, typename... Args>
auto BindTask(F&& f, Args&&... args) {
  if constexpr (sizeof...(Args) == 0) {
    return std::decay_t<F>(std::forward<F>(f));
  } else if constexpr (std::is_invocable_v<std::decay_t<F>&, CancellationToken,
                                           std::decay_t<Args>...>) {
    return [fn = std::forward<F>(f), ... a = std::forward<Args>(args)](
               CancellationToken token) mutable -> decltype(auto) {
      return std::invoke(fn, std::move(token), std::move(a)...);
    };
  } else if constexpr (std::is_invocable_v<std::decay_t<F>&, std::stop_token,
                                           std::decay_t<Args>...>) {
    return [fn = std::forward<F>(f), ... a = std::forward<Args>(args)](
               std::stop_token token) mutable -> decltype(auto) {
      return std::invoke(fn, std::move(token), std::move(a)...);
    };
  } else {
    return [fn = std::forward<F>(f),
            ... a = std::forward<Args>(args)]() mutable -> decltype(auto) {
      return std::invoke(fn, std::move(a)...);
    };
  }
}
}  // namespace pool_internal

class ThreadPool final {
 public:
  // Starts the workers. Options outside the ranges of options.h are clamped
  // as described there. If a worker thread cannot be created, the workers
  // already started are stopped and joined, then std::system_error
  // (resource_unavailable_try_again) is thrown; nothing keeps running.
  explicit ThreadPool(ThreadPoolOptions options = {});
  explicit ThreadPool(int num_workers);
  // The same without exceptions: InvalidArgument for options outside the
  // ranges of options.h, ResourceExhausted if a worker thread cannot be
  // created (after stopping and joining the ones already started).
  static absl::StatusOr<std::unique_ptr<ThreadPool>> Create(
      ThreadPoolOptions options = {});
  // See DESTRUCTION.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Submits f(args...) (or f(token, args...)); see SUBMITTING and TASKS AND
  // TOKENS. The future's value type is f's return type, unwrapped:
  // void/absl::Status -> Future<void>, absl::StatusOr<T> -> Future<T>,
  // T -> Future<T>. f may be move-only; args are decay-copied (moved).
  template <typename F, typename... Args>
  auto Submit(F&& f, Args&&... args) {
    return SubmitWith(TaskOptions(), std::forward<F>(f),
                      std::forward<Args>(args)...);
  }
  template <typename F, typename... Args>
  auto SubmitWith(const TaskOptions& options, F&& f, Args&&... args) {
    using Bound = decltype(pool_internal::BindTask(
        std::forward<F>(f), std::forward<Args>(args)...));
    using R = typename pool_internal::CallableTraits<Bound>::Value;
    auto* task = new pool_internal::TaskImpl<Bound>(pool_internal::BindTask(
        std::forward<F>(f), std::forward<Args>(args)...));
    // The block starts with two references: the queue's and the future's.
    SubmitTask(task, options);
    return Future<R>(task);
  }

  // Submits every element of `callables` as its own task, in order, and
  // returns their futures in the same order: what a loop of
  // SubmitWith(options, std::move(c)) returns, each task with its own token,
  // future and (one) allocation, under the same rules (SUBMITTING, TASKS AND
  // TOKENS) -- a rejection or an expired deadline resolves every future of
  // the batch alike. The difference is the cost: the tasks are queued in
  // groups (up to 256 per group) with one lock round trip and at most one
  // wake-up per group, where a loop pays both per task; `options` is applied
  // to every task (one parent, one deadline). Submitted from a worker of
  // this pool, the tasks go to its own deque as Submit's would. An empty
  // vector returns an empty vector. Thread-safety and blocking: as Submit
  // (never blocks). If constructing a task throws (std::bad_alloc, or the
  // callable's move), the tasks of the callables before it are submitted
  // (they run; their futures are dropped) and the exception propagates. F may
  // be move-only; a heterogeneous batch can use absl::AnyInvocable.
  template <typename F>
  auto SubmitBatch(std::vector<F> callables) {
    return SubmitBatchWith(TaskOptions(), std::move(callables));
  }
  template <typename F>
  auto SubmitBatchWith(const TaskOptions& options, std::vector<F> callables) {
    using R = typename pool_internal::CallableTraits<F>::Value;
    constexpr size_t kGroup = 256;
    std::vector<Future<R>> futures;
    futures.reserve(callables.size());
    pool_internal::TaskBase* group[kGroup];
    size_t k = 0;
    try {
      for (F& f : callables) {
        // Two references, as in SubmitWith: the queue's and the future's.
        auto* task = new pool_internal::TaskImpl<F>(std::move(f));
        futures.push_back(Future<R>(task));
        group[k++] = task;
        if (k == kGroup) {
          SubmitTasks(group, k, options);
          k = 0;
        }
      }
    } catch (...) {
      SubmitTasks(group, k, options);
      throw;
    }
    SubmitTasks(group, k, options);
    return futures;
  }

  // See SHUTDOWN. An OK `reason` means CancelledError("thread pool
  // shutdown"). Tasks see the reason with CancellationCause::kShutdown
  // (cancel/cause.h) unless it already carries a cause.
  void Shutdown(ShutdownMode mode = ShutdownMode::kDrain,
                absl::Status reason = absl::OkStatus());
  bool AwaitTermination(absl::Time deadline);
  // Drain for `grace`; if work remains, cancel it with `reason` and wait up
  // to `cancel_timeout` more. Returns the report (terminated == false if
  // tasks ignored their tokens past the timeout, or if called from inside a
  // task of this pool).
  ShutdownReport DrainThenCancel(
      absl::Duration grace,
      absl::Duration cancel_timeout = absl::InfiniteDuration(),
      absl::Status reason = absl::OkStatus());
  // The report as of now (for use after AwaitTermination).
  ShutdownReport Report() const;

  bool IsShutdown() const;
  // See IDLENESS AND TERMINATION QUERIES.
  bool IsTerminated() const;
  bool WaitForIdle(absl::Time deadline = absl::InfiniteFuture()) const;
  // kReady once idle, kCancelled when `token` (the waiter's own) is
  // cancelled first, kTimeout at `deadline`.
  WaitResult WaitForIdle(const CancellationToken& token,
                         absl::Time deadline = absl::InfiniteFuture()) const;
  PoolStats Stats() const;
  int NumWorkers() const;
  // True if the calling thread is one of this pool's workers.
  bool OnWorkerThread() const;

 private:
  // Test-only knobs (a worker deque's capacity) through
  // pool_internal::ThreadPoolTestPeer (pool/internal/testing.h).
  friend class pool_internal::ThreadPoolTestPeer;
  // The combinators (Then, TaskGroup, Hedge, ParallelFor) reach the
  // scheduler through it (pool/internal/then.h).
  friend struct pool_internal::ComposeAccess;
  ThreadPool(ThreadPoolOptions options, size_t local_queue_capacity);
  static absl::StatusOr<std::unique_ptr<ThreadPool>> Create(
      ThreadPoolOptions options, size_t local_queue_capacity);
  struct NotStarted {};
  ThreadPool(NotStarted, ThreadPoolOptions options,
             size_t local_queue_capacity);

  // DrainThenCancel with separate reasons for the drain and the cancel.
  // `can_wait` false (the caller is one of our workers, or runs inside a
  // library callback): starts the drain, has the deadline timer cancel when
  // `grace` ends, and returns at once.
  ShutdownReport DrainThenCancelImpl(absl::Duration grace,
                                     absl::Duration cancel_timeout,
                                     absl::Status drain_reason,
                                     absl::Status cancel_reason, bool can_wait);

  void SubmitTask(pool_internal::TaskBase* task, const TaskOptions& options);
  // SubmitTask for tasks[0..n), queued together (n may be 0).
  void SubmitTasks(pool_internal::TaskBase* const* tasks, size_t n,
                   const TaskOptions& options);

  std::shared_ptr<pool_internal::Scheduler> scheduler_;
  absl::Duration destructor_grace_;
};

}  // namespace cancelpool

// Future::Then's definition (it needs ThreadPool).
#include "cancelpool/pool/internal/then.h"  // IWYU pragma: export

#endif  // CANCELPOOL_POOL_THREAD_POOL_H_
