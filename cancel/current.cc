// Copyright 2026 The cancelpool Authors.
#include "cancelpool/cancel/current.h"

#include <exception>

namespace cancelpool {

using cancel_internal::tls_cancel_context;

CancellationToken CurrentToken() {
  return cancel_internal::TokenAccess::FromState(tls_cancel_context.state);
}

void ThrowIfCancellationRequested() {
  if (IsCancellationRequested()) {
    throw CancelledException(tls_cancel_context.state->Reason());
  }
}

DeferCancellationScope::DeferCancellationScope() noexcept {
  ++tls_cancel_context.defer_depth;
}

DeferCancellationScope::~DeferCancellationScope() noexcept(false) { Exit(); }

void DeferCancellationScope::Exit() {
  if (!active_) return;
  active_ = false;
  // Not while any exception is propagating: not only one thrown inside the
  // region, but also one unwinding through the destructor that contains the
  // region (cleanup during unwinding); a second exception there would be
  // std::terminate. The next check delivers it instead.
  if (--tls_cancel_context.defer_depth == 0 &&
      std::uncaught_exceptions() == 0) {
    ThrowIfCancellationRequested();
  }
}

}  // namespace cancelpool
