// Copyright 2026 The cancelpool Authors.
#include "cancelpool/cancel/blocking.h"

#include "cancelpool/cancel/internal/blocking_hook.h"

namespace cancelpool {

using cancel_internal::tls_blocking_context;

ScopedBlockingRegion::ScopedBlockingRegion() noexcept {
  cancel_internal::ThreadBlockingContext& ctx = tls_blocking_context;
  if (ctx.depth++ == 0 && ctx.hook != nullptr) ctx.hook->EnterBlocking();
}

ScopedBlockingRegion::~ScopedBlockingRegion() {
  cancel_internal::ThreadBlockingContext& ctx = tls_blocking_context;
  if (--ctx.depth == 0 && ctx.hook != nullptr) ctx.hook->ExitBlocking();
}

bool ScopedBlockingRegion::InRegion() noexcept {
  return tls_blocking_context.depth > 0;
}

}  // namespace cancelpool
