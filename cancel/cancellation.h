// Copyright 2026 The cancelpool Authors.
//
// Cooperative cancellation: CancellationSource, CancellationToken,
// CancellationCallback, CancelledException.
//
// MODEL
// Threads cannot be killed safely, so cancellation is a request that running
// code observes and acts on. A CancellationSource is held by whoever may
// decide to cancel (a request handler, a deadline, a pool). It hands out
// CancellationTokens to the code doing the work. That code:
//   * checks `token.IsCancellationRequested()` each loop turn (one atomic
//     load: no lock, no allocation), or calls
//     `token.ThrowIfCancellationRequested()`, which throws CancelledException
//     carrying the reason so the stack unwinds through RAII cleanup;
//   * waits with the interruptible waits of cancelpool/cancel/wait.h, which
//     return early when the token is cancelled, instead of sleeping blindly;
//   * registers a CancellationCallback to wake whatever it is blocked on
//     (close a socket, notify a condition variable).
// The first request wins and carries an absl::Status reason (CancelledError by
// default, DeadlineExceeded for deadlines, a parent's reason for links); later
// requests report that they lost and change nothing. Every reason the library
// makes names its cause in a payload (cancel/cause.h: GetCancellationCause),
// and a child's reason is its parent's with a through-parent marker, so it
// compares unequal to the parent's; compare code() and message().
//
// WHO HOLDS WHAT
//   * Hold a CancellationSource where the decision to cancel is made. Copies
//     share one state; any copy may request cancellation.
//   * Pass CancellationTokens to the work. Tokens cannot cancel. A
//     default-constructed token can never be cancelled and costs nothing to
//     make or copy (no allocation, no atomic operation).
//
// LINKING AND DEADLINES
// A source may be created with parent tokens (ours or std::stop_token) and a
// deadline. It is cancelled when any parent is cancelled (with that parent's
// reason) or when its deadline passes (DeadlineExceeded), even if nobody polls:
// callbacks run and blocked waiters wake. Cancelling a child never affects a
// parent. A child unlinks from its parents when its state goes away (the last
// source and token copy destroyed), so creating and destroying many children
// under a long-lived parent keeps memory flat. Deadlines are served by one
// shared timer thread (started on first use, joined at exit), never a thread
// per deadline. That thread is the requester of a deadline cancellation, so
// the callbacks of a source cancelled by its deadline (and of its children)
// run on it: keep them short, as a slow one delays every other deadline. A
// token reports its effective deadline: the earliest of its own and its
// parents'.
//
// CLOCKS
// Timeouts are measured on the monotonic clock (CLOCK_MONOTONIC), so a step
// of the wall clock (settimeofday, NTP, a VM restored from a snapshot) makes
// no deadline fire early or late. A relative timeout (WithTimeout) is
// measured from its creation on that clock alone. An absolute deadline
// (WithDeadline, Options::deadline) is a wall-clock time: compute it from
// absl::Now(); it is converted once, when the source is created, to the
// point of the monotonic clock at which absl::Now() would read it, and a
// later step of the wall clock does not move it. Deadline() reports the wall
// -clock time (for WithTimeout: absl::Now() + timeout at creation).
//
// THREAD SAFETY
// Every operation of every type here is safe to call concurrently from any
// thread on the same or different objects, except that one object must not be
// assigned to or destroyed while another thread uses that same object (the
// usual rule for value types; copies are independent).
//
// MEMORY ORDERING
// Everything the requesting thread did before RequestCancellation()
// happens-before everything a thread does after it observes
// IsCancellationRequested() == true on a token of that source (or of a linked
// child), after a CancellationCallback for it starts running, or after an
// interruptible wait returns WaitResult::kCancelled.
#ifndef CANCELPOOL_CANCEL_CANCELLATION_H_
#define CANCELPOOL_CANCEL_CANCELLATION_H_

#include <exception>
#include <initializer_list>
#include <memory>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "cancelpool/cancel/internal/cancel_state.h"

namespace cancelpool {

class CancellationSource;
class CancellationToken;

namespace cancel_internal {
// The library's access to a token's state (the pool hands each task a token
// over its embedded state; waits and callbacks register on the state).
// Defined below CancellationToken. Not for users.
struct TokenAccess {
  static CancellationToken FromState(CancelState* state);
  static CancelState* State(const CancellationToken& token) noexcept;
};
}  // namespace cancel_internal

// Thrown by the throwing checks. Carries the cancellation reason. Catch it
// (or let a pool task propagate it: the pool reports the task as cancelled).
class CancelledException : public std::exception {
 public:
  explicit CancelledException(absl::Status reason);
  const absl::Status& Reason() const noexcept { return reason_; }
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  absl::Status reason_;
  std::string what_;
};

// A cheap, copyable view of a cancellation state that can observe but not
// request cancellation.
class CancellationToken {
 public:
  // A token that can never be cancelled. No allocation.
  CancellationToken() noexcept = default;
  CancellationToken(const CancellationToken&) noexcept = default;
  CancellationToken(CancellationToken&&) noexcept = default;
  CancellationToken& operator=(const CancellationToken&) noexcept = default;
  CancellationToken& operator=(CancellationToken&&) noexcept = default;

  // True once cancellation was requested. One acquire load; never blocks.
  bool IsCancellationRequested() const noexcept {
    return state_ && state_->IsCancellationRequested();
  }
  // False for a default-constructed token (it can never be cancelled).
  bool CanBeCancelled() const noexcept { return static_cast<bool>(state_); }
  // The winning request's reason; OkStatus() while not cancelled.
  absl::Status Reason() const noexcept {
    return state_ ? state_->Reason() : absl::OkStatus();
  }
  // The effective deadline (earliest of own and parents'), or
  // absl::InfiniteFuture() if none.
  absl::Time Deadline() const noexcept {
    return state_ ? state_->Deadline() : absl::InfiniteFuture();
  }
  // Throws CancelledException(Reason()) if cancellation was requested.
  void ThrowIfCancellationRequested() const {
    if (IsCancellationRequested()) ThrowCancelled();
  }

  // A std::stop_token that is stop-requested when this token is cancelled,
  // for code written against std::jthread / std::stop_token: the requester
  // requests it before running this token's callbacks, and a thread that
  // has seen IsCancellationRequested() gets a requested one (std callbacks
  // on it run on whichever of the two gets there first). The bridge is
  // created on first use (one allocation per state) and shared afterwards.
  // For a default-constructed token, returns a std::stop_token that can never
  // be stopped.
  std::stop_token ToStopToken() const;

  // True if both tokens observe the same state (two default tokens compare
  // equal).
  friend bool operator==(const CancellationToken& a,
                         const CancellationToken& b) noexcept {
    return a.state_.get() == b.state_.get();
  }

 private:
  friend struct cancel_internal::TokenAccess;

  [[noreturn]] void ThrowCancelled() const;

  cancel_internal::StateRef state_;
};

namespace cancel_internal {
inline CancellationToken TokenAccess::FromState(CancelState* state) {
  CancellationToken token;
  token.state_ = StateRef::Share(state);
  return token;
}
inline CancelState* TokenAccess::State(
    const CancellationToken& token) noexcept {
  return token.state_.get();
}
}  // namespace cancel_internal

// Creates and requests cancellation of a state; hands out tokens.
class CancellationSource {
 public:
  struct Options {
    // Parents: this source is cancelled when any of them is.
    std::vector<CancellationToken> parents;
    std::vector<std::stop_token> std_parents;
    // Cancel with DeadlineExceeded at this time. InfiniteFuture: none.
    absl::Time deadline = absl::InfiniteFuture();
  };

  // A new independent source. One allocation.
  CancellationSource();
  // A child of `parent`. One allocation.
  explicit CancellationSource(const CancellationToken& parent);
  // A child of every token in `parents`.
  explicit CancellationSource(absl::Span<const CancellationToken> parents);
  // A child of a std::stop_token: cancelled with CancelledError("std::stop
  // requested") when it is stop-requested.
  explicit CancellationSource(std::stop_token parent);
  explicit CancellationSource(const Options& options);

  // Sources cancelled with DeadlineExceeded at `deadline` / after `timeout`,
  // optionally under parents (see CLOCKS above). A child's own deadline
  // fires even when a parent's is earlier and that parent finishes (a pool
  // task's token is closed when the task ends) without being cancelled.
  static CancellationSource WithDeadline(
      absl::Time deadline, absl::Span<const CancellationToken> parents = {});
  static CancellationSource WithTimeout(
      absl::Duration timeout, absl::Span<const CancellationToken> parents = {});

  // Copies share the state. A moved-from source has no state: its Token() is
  // a never-cancelled token and RequestCancellation() returns false.
  CancellationSource(const CancellationSource&) noexcept = default;
  CancellationSource(CancellationSource&&) noexcept = default;
  CancellationSource& operator=(const CancellationSource&) noexcept = default;
  CancellationSource& operator=(CancellationSource&&) noexcept = default;
  ~CancellationSource() = default;

  CancellationToken Token() const noexcept {
    return cancel_internal::TokenAccess::FromState(state_.get());
  }

  // Requests cancellation with `reason` (an OK status means the default,
  // CancelledError("cancellation requested")). Returns true if this was the
  // first request. The winner runs every registered callback on this thread
  // before returning; a loser returns at once. Never blocks on other threads
  // except while another thread holds the state's list lock for a few
  // instructions. Safe from inside a callback.
  bool RequestCancellation(absl::Status reason = absl::OkStatus()) noexcept {
    return state_ && state_->RequestCancellation(std::move(reason));
  }
  bool IsCancellationRequested() const noexcept {
    return state_ && state_->IsCancellationRequested();
  }
  absl::Status Reason() const noexcept {
    return state_ ? state_->Reason() : absl::OkStatus();
  }
  absl::Time Deadline() const noexcept {
    return state_ ? state_->Deadline() : absl::InfiniteFuture();
  }

 private:
  explicit CancellationSource(cancel_internal::StateRef state) noexcept
      : state_(std::move(state)) {}

  cancel_internal::StateRef state_;
};

// RAII registration of a callback on a token.
//
// Contract (std::stop_callback's rules):
//   * If cancellation was already requested, the constructor runs the
//     callback immediately, on the constructing thread.
//   * Otherwise the callback runs exactly once, on the thread that requests
//     cancellation, unless the registration is destroyed before that thread
//     reaches it. Never both, never neither: a registration racing the
//     request gets exactly one of the two.
//   * The destructor deregisters. A callback that has not started by then
//     never runs -- even if cancellation was already requested and the
//     requester is still busy with the token's other callbacks (as with
//     std::stop_callback). If the callback is running on another thread at
//     that moment, the destructor waits for it to return. If the destructor
//     runs inside the callback itself (same thread), it does not wait (no
//     deadlock).
//   * A token that can never be cancelled: the callback never runs.
//   * The callback must not throw (std::terminate). No cancelpool lock is held
//     while it runs, so it may register, deregister, cancel other sources, or
//     request cancellation of the same source (a no-op).
// Not copyable or movable (other threads hold its address while registered).
template <typename Callback>
class CancellationCallback final : private cancel_internal::CallbackNode {
 public:
  static_assert(std::is_invocable_v<Callback&>,
                "the callback must be invocable with no arguments");

  template <typename C>
  explicit CancellationCallback(const CancellationToken& token, C&& callback)
      : CallbackNode(&Invoke), callback_(std::forward<C>(callback)) {
    cancel_internal::CancelState* state =
        cancel_internal::TokenAccess::State(token);
    if (state == nullptr) return;
    if (state->TryAddCallback(this)) {
      state_ = cancel_internal::StateRef::Share(state);
    } else {
      RunCallback();
    }
  }
  ~CancellationCallback() {
    if (state_) state_->RemoveCallback(this);
  }
  CancellationCallback(const CancellationCallback&) = delete;
  CancellationCallback& operator=(const CancellationCallback&) = delete;

 private:
  static void Invoke(CallbackNode* node) noexcept {
    static_cast<CancellationCallback*>(node)->RunCallback();
  }
  void RunCallback() noexcept { callback_(); }

  Callback callback_;
  cancel_internal::StateRef state_;
};

template <typename Callback>
CancellationCallback(const CancellationToken&, Callback)
    -> CancellationCallback<Callback>;

}  // namespace cancelpool

#endif  // CANCELPOOL_CANCEL_CANCELLATION_H_
