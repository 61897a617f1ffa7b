// Copyright 2026 The cancelpool Authors.
//
// Hedge: a hedged request ("The Tail at Scale"): run a callable; if it has
// not answered within `delay`, run a second copy beside it, and so on up to
// `max_attempts`; the first success wins and the others are cancelled.
//
// MODEL
// Hedge(pool, delay, max_attempts, f, options) returns a Future<T> at once.
// Attempt 0 is submitted to the pool now; attempt k (k >= 1) is submitted
// at start + k * delay if the hedge has not resolved by then, or at once
// when an earlier attempt fails (a failure is a reason to try again, not to
// wait). f is called as f(token) or f(token, attempt) and returns T,
// absl::StatusOr<T> or absl::Status; it is copied once per attempt, so it
// must be copyable and safe to run several times concurrently. Each
// attempt's token is its own, a child of the hedge's token, which is a
// child of options.parent; options.deadline applies to every attempt (no
// attempt starts after it).
//   * The first attempt to succeed resolves the future with its value and
//     cancels every other attempt (queued ones never run; running ones see
//     their tokens).
//   * If every attempt fails (or the deadline passes, or the parent is
//     cancelled, with every started attempt failed), the future fails with
//     the status of the last attempt to fail; it is cancelled (Outcome
//     kCancelled) if the parent's cancellation ended it.
//   * Bad input (max_attempts < 1, a negative delay): a future already
//     failed with InvalidArgument; nothing runs.
// No thread sleeps for the delay: later attempts are started by the shared
// deadline-timer thread (cancelpool/cancel), which only submits them.
//
// CANCELLATION
// Cancelling the returned future cancels every attempt and starts no more;
// it resolves as cancelled at once.
//
// SHUTDOWN
// Attempts are ordinary tasks of the pool. After Shutdown, an attempt the
// timer starts is rejected (FailedPrecondition, counted as a failed
// attempt); kCancel cancels queued and running attempts. The future
// resolves once the attempts it waits for have resolved.
//
// WAITING
// The future is not a task: waiting on it blocks and never helps (when.h,
// WAITING); a task waiting on a hedge whose attempts queue in its own pool
// deadlocks when every worker does the same.
//
// LIFETIME AND THREAD SAFETY
// Hedge is thread-safe. The hedge keeps the pool's internals alive (not
// the ThreadPool object) until it resolves; the returned future may outlive
// the pool.
#ifndef CANCELPOOL_POOL_HEDGE_H_
#define CANCELPOOL_POOL_HEDGE_H_

#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/pool/future.h"
#include "cancelpool/pool/internal/compose.h"
#include "cancelpool/pool/thread_pool.h"

namespace cancelpool {

struct HedgeOptions {
  // The hedge (every attempt) is cancelled when `parent` is.
  CancellationToken parent;
  // Every attempt's deadline; no attempt is started after it.
  absl::Time deadline = absl::InfiniteFuture();
};

template <typename F>
auto Hedge(ThreadPool& pool, absl::Duration delay, int max_attempts, F&& f,
           const HedgeOptions& options = HedgeOptions()) {
  using Fn = std::decay_t<F>;
  using V = typename pool_internal::HedgeTraits<Fn>::Value;
  if (max_attempts < 1) {
    return pool_internal::FailedFuture<V>(
        absl::InvalidArgumentError("Hedge: max_attempts must be at least 1"));
  }
  if (delay < absl::ZeroDuration()) {
    return pool_internal::FailedFuture<V>(
        absl::InvalidArgumentError("Hedge: delay must not be negative"));
  }
  auto* block = new pool_internal::HedgeBlock<Fn>(
      pool_internal::ComposeAccess::Share(pool), Fn(std::forward<F>(f)),
      max_attempts, options.deadline, options.parent);
  Future<V> out = pool_internal::FutureAccess::Adopt<V>(block);
  block->Start(delay);
  return out;
}

}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_HEDGE_H_
