// Copyright 2026 The cancelpool Authors.
//
// The current token of a thread, and deferred-cancellation regions.
//
// MODEL
// Whoever runs a piece of work installs the work's token as the thread's
// current token with a CurrentTokenScope (a pool does this for every task).
// Deep code that has no token parameter can then ask
// `cancelpool::IsCancellationRequested()` or call
// `cancelpool::ThrowIfCancellationRequested()` (the equivalents of
// boost::thread's interruption_requested() and interruption_point()). Scopes
// nest; the innermost wins; leaving a scope restores the previous token.
//
// DEFERRED REGIONS
// A DeferCancellationScope marks a critical section that must not be
// interrupted half-way (finishing a file write, holding a lock). Inside it, on
// this thread, the current token reads as not cancelled for
// IsCancellationRequested(), ThrowIfCancellationRequested() and for the
// interruptible waits of wait.h given the current token. Callbacks still run
// (on the requesting thread) and other threads still see the cancellation.
// When the outermost region ends, a cancellation that arrived meanwhile (or
// before) is delivered: the region's destructor throws CancelledException,
// unless an exception is already propagating -- one thrown inside the region,
// or one unwinding through the destructor the region sits in -- (then nothing
// is thrown and the next check sees the cancellation). Use `Exit()` to end a
// region explicitly and get the same delivery at a point of your choosing.
// A region that ends in a destructor with no exception propagating still
// throws out of that destructor, which is std::terminate for a noexcept one:
// there, end the region with `Exit()` inside a try block, or catch around it.
// A CurrentTokenScope installed inside a deferred region starts undeferred
// (nested work, e.g. a task run by a helping wait -- pool/future.h, WAITING
// -- is not deferred by its caller's region); the region resumes when that
// scope ends.
//
// THREAD SAFETY
// All of this is thread-local: each function reads or changes only the
// calling thread's state. Scopes must be destroyed on the thread that created
// them, in reverse order of creation.
#ifndef CANCELPOOL_CANCEL_CURRENT_H_
#define CANCELPOOL_CANCEL_CURRENT_H_

#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/internal/current_context.h"

namespace cancelpool {

// Installs `token` as this thread's current token until destruction.
class CurrentTokenScope final {
 public:
  explicit CurrentTokenScope(CancellationToken token) noexcept
      : token_(std::move(token)), saved_(cancel_internal::tls_cancel_context) {
    cancel_internal::tls_cancel_context = {
        cancel_internal::TokenAccess::State(token_), 0};
  }
  ~CurrentTokenScope() { cancel_internal::tls_cancel_context = saved_; }
  CurrentTokenScope(const CurrentTokenScope&) = delete;
  CurrentTokenScope& operator=(const CurrentTokenScope&) = delete;

 private:
  CancellationToken token_;  // keeps the state alive while installed
  cancel_internal::ThreadCancelContext saved_;
};

// This thread's current token (a never-cancelled token if none installed).
CancellationToken CurrentToken();

// True if the current token is cancelled and no deferred region is active.
// One thread-local read and one atomic load.
inline bool IsCancellationRequested() noexcept {
  const cancel_internal::ThreadCancelContext& ctx =
      cancel_internal::tls_cancel_context;
  return ctx.state != nullptr && ctx.defer_depth == 0 &&
         ctx.state->IsCancellationRequested();
}

// Throws CancelledException with the current token's reason if
// IsCancellationRequested().
void ThrowIfCancellationRequested();

// A region in which cancellation of the current token is deferred (see the
// file comment). Nestable.
class DeferCancellationScope final {
 public:
  DeferCancellationScope() noexcept;
  // Throws CancelledException if this is the outermost region, the current
  // token was cancelled, Exit() was not called, and no exception is
  // propagating (std::uncaught_exceptions() == 0).
  ~DeferCancellationScope() noexcept(false);
  // Ends the region now; throws as the destructor would. Idempotent.
  void Exit();

  DeferCancellationScope(const DeferCancellationScope&) = delete;
  DeferCancellationScope& operator=(const DeferCancellationScope&) = delete;

 private:
  bool active_ = true;
};

}  // namespace cancelpool

#endif  // CANCELPOOL_CANCEL_CURRENT_H_
