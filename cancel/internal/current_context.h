// Copyright 2026 The cancelpool Authors.
//
// The calling thread's cancellation context: the state of its current token
// (installed by CurrentTokenScope, or by the pool around a task) and the
// depth of its deferred regions (DeferCancellationScope). Thread-local: only
// the owning thread reads or writes it, so it needs no synchronization.
#ifndef CANCELPOOL_CANCEL_INTERNAL_CURRENT_CONTEXT_H_
#define CANCELPOOL_CANCEL_INTERNAL_CURRENT_CONTEXT_H_

#include "cancelpool/cancel/internal/cancel_state.h"

namespace cancelpool {
namespace cancel_internal {

struct ThreadCancelContext {
  CancelState* state = nullptr;  // owned by the innermost CurrentTokenScope
  int defer_depth = 0;
};
inline thread_local ThreadCancelContext tls_cancel_context;

// True when `state` is this thread's current state and a deferred region is
// active, so waits and checks must not see its cancellation.
inline bool IsDeferredHere(const CancelState* state) noexcept {
  const ThreadCancelContext& ctx = tls_cancel_context;
  return ctx.defer_depth > 0 && state != nullptr && state == ctx.state;
}

}  // namespace cancel_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_CANCEL_INTERNAL_CURRENT_CONTEXT_H_
