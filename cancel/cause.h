// Copyright 2026 The cancelpool Authors.
//
// Cancellation causes: why a token was cancelled, read from its reason.
//
// MODEL
// Every reason the library makes carries a small absl::Status payload that
// names its cause, so a program can tell a Future::Cancel from a deadline, a
// pool shutdown, a signal or a client disconnect without bookkeeping of its
// own (a server maps them to 499 / 503 / 504). The code and the message of a
// reason are unchanged; the payload is extra.
//
// WHO SETS WHICH CAUSE
//   kRequested   CancellationSource::RequestCancellation() with no reason (the
//                default CancelledError("cancellation requested")),
//                Future::Cancel() and CancelHandle::Cancel() with no reason.
//                A non-OK reason the program passes to those calls itself is
//                kept exactly as given (no payload is added); without a cause
//                payload it reads as kRequested too. Build it with
//                WithCancellationCause to give it another cause.
//   kDeadline    a source's or a task's deadline (DeadlineExceeded).
//   kShutdown    ThreadPool::Shutdown(kCancel), DrainThenCancel and the pool's
//                destructor when they cancel tasks. A reason passed to them
//                keeps its code and message; it gets the kShutdown payload
//                unless it already carries a cause.
//   kSignal      SignalShutdown (pool/signal_shutdown.h); GetCancellationSignal
//                says which signal.
//   kDisconnect  WatchDisconnect (cancel/disconnect.h): the peer hung up.
//   kParent      a child of a std::stop_token that was stop-requested (the
//                cause upstream of a std::stop_token is unknown).
//   kNone        an OK status.
//
// PARENTS
// A child cancelled through a parent link gets its parent's reason with the
// same code, message and cause, plus a "through a parent" marker:
// GetCancellationCause() reports the ORIGINAL cause (a request's source whose
// parent was cancelled by a disconnect reads kDisconnect), and
// CancelledThroughParent() is true. The marker is kept through any number of
// links. Reasons of children therefore compare unequal (operator==, which
// compares payloads) to their parent's reason; compare code() and message().
//
// THREAD SAFETY
// Every function here is a pure function of its arguments.
#ifndef CANCELPOOL_CANCEL_CAUSE_H_
#define CANCELPOOL_CANCEL_CAUSE_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace cancelpool {

enum class CancellationCause {
  kNone,
  kRequested,
  kParent,
  kDeadline,
  kShutdown,
  kSignal,
  kDisconnect,
};

// The cause carried by `status` (see WHO SETS WHICH CAUSE): kNone for an OK
// status, the payload's cause if it has one, otherwise kRequested. Meant for
// cancellation reasons (CancellationToken::Reason(), CancelledException::
// Reason(), the status of a Future that was cancelled): an unrelated error
// status without a payload also reads as kRequested.
CancellationCause GetCancellationCause(const absl::Status& status);

// The signal number of a kSignal cause; nullopt for every other status.
std::optional<int> GetCancellationSignal(const absl::Status& status);

// True if `status` is the reason of a state that was cancelled through a
// parent link (see PARENTS).
bool CancelledThroughParent(const absl::Status& status);

// `status` with its cause set to `cause` (replacing any cause and the
// through-parent marker); code and message are kept. `signo` is recorded for
// kSignal only. kNone removes the cause payload. An OK status is returned
// unchanged (an OK status carries no payload).
absl::Status WithCancellationCause(absl::Status status, CancellationCause cause,
                                   int signo = 0);

// "none", "requested", "parent", "deadline", "shutdown", "signal",
// "disconnect".
absl::string_view CancellationCauseName(CancellationCause cause);

}  // namespace cancelpool

#endif  // CANCELPOOL_CANCEL_CAUSE_H_
