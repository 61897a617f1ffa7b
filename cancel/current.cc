// Copyright 2026 The cancelpool Authors.
#include "cancelpool/cancel/current.h"

#include <exception>

namespace cancelpool {

using cancel_internal::tls_cancel_context;

CancellationToken CurrentToken() {
  return CancellationToken::FromStateInternal(tls_cancel_context.state);
}

void ThrowIfCancellationRequested() {
  if (IsCancellationRequested()) {
    throw CancelledException(tls_cancel_context.state->Reason());
  }
}

DeferCancellationScope::DeferCancellationScope() noexcept
    : uncaught_at_entry_(std::uncaught_exceptions()) {
  ++tls_cancel_context.defer_depth;
}

DeferCancellationScope::~DeferCancellationScope() noexcept(false) {
  if (!active_) return;
  active_ = false;
  if (--tls_cancel_context.defer_depth == 0 &&
      std::uncaught_exceptions() == uncaught_at_entry_) {
    ThrowIfCancellationRequested();
  }
}

void DeferCancellationScope::Exit() {
  if (!active_) return;
  active_ = false;
  if (--tls_cancel_context.defer_depth == 0) ThrowIfCancellationRequested();
}

}  // namespace cancelpool
