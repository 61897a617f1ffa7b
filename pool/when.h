// Copyright 2026 The cancelpool Authors.
//
// WhenAll / WhenAny: one future for several, that cancels the inputs it no
// longer needs.
//
// MODEL
// Each combinator consumes its input futures (they are empty afterwards) and
// returns a combined future. No thread waits on the inputs: the thread that
// resolves an input (a worker finishing it, or whoever cancelled it)
// updates the combined future (task.h, RESOLVE LISTENER; compose.h,
// COMBINED FUTURE). The inputs may come from any pools.
//
//   WhenAll(std::vector<Future<T>>, WhenAllOptions)
//       -> Future<std::vector<Future<T>::Result>>
//     Resolves when every input has resolved, with every input's result
//     (absl::StatusOr<T> each; absl::Status for Future<void>), in input
//     order; it succeeds even when inputs failed. With fail_fast, the first
//     input to fail or be cancelled fails the combined future at once with
//     that status, and every other input is cancelled (queued ones never
//     run, running ones see their tokens). No inputs: an empty vector.
//   WhenAll(Future<Ts>... futures) -> Future<std::tuple<Future<Ts>::Result...>>
//     The same without fail-fast, for inputs of different types.
//   WhenAny(std::vector<Future<T>>, WhenAnyOptions) -> Future<AnyResult<T>>
//     Resolves with the first input to resolve (its index and its result,
//     whatever its outcome), and cancels every other input ("the losers",
//     also while running). With first_success, the first input to succeed
//     wins; failures and cancellations are skipped; if every input fails the
//     combined future fails with the status of the last one to fail. No
//     inputs: fails with InvalidArgument.
//   WhenAny(Future<T> first, Future<T>... rest): the same as the vector form.
// An empty (default-constructed or moved-from) input counts as an input
// that failed with FailedPrecondition.
//
// CANCELLATION
// Cancelling the combined future before it resolves cancels every input
// (with the reason "future cancelled") and resolves it as cancelled at once.
// Losers are cancelled with CancelledError("cancelled: another input
// decided the outcome"). A loser that ignores its token still runs to its
// end; its result is discarded.
//
// SHUTDOWN
// Inputs resolve as the pool resolves them (kDrain runs them; kCancel
// cancels them); the combined future resolves accordingly -- it never
// hangs while its inputs all resolve, and each input resolves once.
//
// WAITING
// The combined future is not a task of any pool: waiting on it never helps
// (no task is run inline), on a worker or elsewhere; it blocks. A task that
// waits on a WhenAll/WhenAny of tasks queued in its own pool deadlocks when
// every worker of the pool waits like that (with one worker: always). Inside
// tasks prefer Then on the combined future, or a TaskGroup (its Wait helps).
//
// THREAD SAFETY AND COST
// Thread-safe as any function taking its arguments by value. One allocation
// for the combined future (plus its result vector); per input one listener
// registration (one CAS) and no thread.
#ifndef CANCELPOOL_POOL_WHEN_H_
#define CANCELPOOL_POOL_WHEN_H_

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "cancelpool/pool/future.h"
#include "cancelpool/pool/internal/compose.h"

namespace cancelpool {

struct WhenAllOptions {
  // The first failure (or cancellation) fails the combined future and
  // cancels the other inputs.
  bool fail_fast = false;
};

struct WhenAnyOptions {
  // Skip failures: the first success wins.
  bool first_success = false;
};

template <typename T>
Future<std::vector<typename Future<T>::Result>> WhenAll(
    std::vector<Future<T>> futures, WhenAllOptions options = {}) {
  using V = std::vector<typename Future<T>::Result>;
  auto* block = new pool_internal::WhenAllBlock<T>(futures, options.fail_fast);
  Future<V> out = pool_internal::FutureAccess::Adopt<V>(block);
  block->Arm();
  return out;
}

template <typename... Ts>
requires(sizeof...(Ts) > 0)
    Future<std::tuple<typename Future<Ts>::Result...>> WhenAll(
        Future<Ts>... futures) {
  using V = std::tuple<typename Future<Ts>::Result...>;
  auto* block = new pool_internal::WhenAllTupleBlock<Ts...>(futures...);
  Future<V> out = pool_internal::FutureAccess::Adopt<V>(block);
  block->Arm();
  return out;
}

template <typename T>
Future<AnyResult<T>> WhenAny(std::vector<Future<T>> futures,
                             WhenAnyOptions options = {}) {
  auto* block =
      new pool_internal::WhenAnyBlock<T>(futures, options.first_success);
  Future<AnyResult<T>> out =
      pool_internal::FutureAccess::Adopt<AnyResult<T>>(block);
  block->Arm();
  return out;
}

template <typename T, typename... Rest>
requires(std::is_same_v<Future<T>, Rest>&&...) Future<AnyResult<T>> WhenAny(
    Future<T> first, Rest... rest) {
  std::vector<Future<T>> all;
  all.reserve(1 + sizeof...(Rest));
  all.push_back(std::move(first));
  (all.push_back(std::move(rest)), ...);
  return WhenAny(std::move(all));
}

}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_WHEN_H_
