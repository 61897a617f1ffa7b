// Copyright 2026 The cancelpool Authors.
//
// Interruptible waits: block until a condition, a deadline, or cancellation
// of a token, whichever comes first, and say which.
//
// MODEL
// Each wait registers a wake-up on the token for its duration, so a
// cancellation wakes the waiter at once (on the cancelling thread, the
// registration's callback notifies the waiter) instead of the waiter sleeping
// blindly and polling. Each returns a WaitResult:
//   kReady      the condition holds (for the sleeps: never returned);
//   kTimeout    the deadline passed first (for the sleeps: slept in full);
//   kCancelled  the token was cancelled first (its reason: token.Reason()).
// If several hold at once, kReady wins over kCancelled, and kCancelled over
// kTimeout: a waiter never misses a condition that was already true.
// WaitForFd, which can also fail, returns absl::StatusOr<WaitResult>.
//
// CLOCKS
// Every wait measures its limit on the monotonic clock (CLOCK_MONOTONIC): a
// step of the wall clock (settimeofday, NTP, a VM restored from a snapshot)
// never ends a wait early. A duration (SleepFor, Event::WaitFor) is measured
// from the call on that clock alone. An absl::Time deadline is a wall-clock
// time: compute it from absl::Now(); it is converted once, when the wait
// starts, to the point of the monotonic clock at which absl::Now() would
// read it (see cancellation.h, CLOCKS). AwaitWithCancellation sleeps in
// Abseil's timed waits, which in this Abseil take an absolute CLOCK_REALTIME
// time: a backward step of the wall clock during such a wait lengthens that
// sleep by the step. SleepFor, SleepUntil, Event, WaitWithCancellation and
// WaitForFd sleep on the monotonic clock and are not lengthened either.
//
// Every wait takes the token explicitly or, in the overloads without one,
// uses CurrentToken(). Inside a DeferCancellationScope on this thread, a wait
// on the current token ignores its cancellation (see current.h).
//
// POOL THREADS
// A wait that really blocks (its condition does not hold yet, its time has
// not come) runs inside a ScopedBlockingRegion (cancel/blocking.h): on a
// thread pool configured for it, another thread keeps the pool's cores busy
// meanwhile.
//
// BLOCKING AND LOCKS
// The condition-variable and mutex waits lock the caller's mutex from the
// cancelling thread (to wake the waiter without a lost wake-up), exactly as
// std::condition_variable_any's stop_token overloads do. So: do not request
// cancellation of a token while holding a mutex that a waiter on that token
// is waiting with, or the requester deadlocks.
//
// THREAD SAFETY
// The free functions are thread-safe. Event is thread-safe.
#ifndef CANCELPOOL_CANCEL_WAIT_H_
#define CANCELPOOL_CANCEL_WAIT_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/blocking.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/current.h"
#include "cancelpool/cancel/internal/current_context.h"

namespace cancelpool {

enum class WaitResult { kReady, kTimeout, kCancelled };

// "ready", "timeout" or "cancelled".
const char* WaitResultName(WaitResult result);

namespace cancel_internal {
struct SleepUntilFn {
  WaitResult operator()(const CancellationToken& token,
                        absl::Time deadline) const;
  WaitResult operator()(absl::Time deadline) const;  // current token
};
struct SleepForFn {
  WaitResult operator()(const CancellationToken& token,
                        absl::Duration duration) const;
  WaitResult operator()(absl::Duration duration) const;  // current token
};
}  // namespace cancel_internal

// Sleeps until `deadline` (SleepUntil) or for `duration` (SleepFor), or until
// the token is cancelled: `token`, or CurrentToken() when it is left out.
// Returns kTimeout after a full sleep, kCancelled if woken by cancellation
// (immediately if the token is already cancelled). A duration is measured on
// the monotonic clock only (see CLOCKS).
//   cancelpool::SleepFor(token, absl::Milliseconds(5));
// SleepFor and SleepUntil are function objects, not functions, so that
// `using cancelpool::SleepFor;` followed by an unqualified
// `SleepFor(absl::Milliseconds(5))` calls this one: a function would be
// ambiguous with absl::SleepFor, which argument-dependent lookup finds for
// an absl::Duration argument (lookup finds an object here, which turns
// argument-dependent lookup off).
inline constexpr cancel_internal::SleepUntilFn SleepUntil{};
inline constexpr cancel_internal::SleepForFn SleepFor{};

// Waits, with `mu` held, until `condition` holds, `token` is cancelled or
// `deadline` passes. Returns with `mu` held. Like absl::Mutex::Await, the
// condition is re-evaluated whenever `mu` is released by any thread.
WaitResult AwaitWithCancellation(absl::Mutex& mu,
                                 const absl::Condition& condition,
                                 const CancellationToken& token,
                                 absl::Time deadline = absl::InfiniteFuture())
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

// Waits on a std::condition_variable, with `lock` held, until `predicate()`
// holds, `token` is cancelled or `deadline` passes. Returns with `lock` held.
// An exception thrown by `predicate` propagates, also with `lock` held.
// The std::condition_variable_any::wait(lock, stop_token, pred) of this
// library.
template <typename Predicate>
WaitResult WaitWithCancellation(std::condition_variable& cv,
                                std::unique_lock<std::mutex>& lock,
                                const CancellationToken& token,
                                Predicate predicate,
                                absl::Time deadline = absl::InfiniteFuture());

// A resettable event (Python's threading.Event): Set() wakes every waiter.
// Waiters sleep on a futex on the event's own word (no mutex). Set() costs
// one atomic read-modify-write plus, only when someone sleeps, one wake-up
// system call; a waiter's cancellation costs one read-modify-write and one
// wake-up call, which also wakes the other waiters briefly (they wait on).
//
// LIFETIME
// A thread that saw the event set (Wait returned kReady, or IsSet() returned
// true) may destroy it at once, even while the Set() that it saw is still
// returning: after its atomic update, Set() does not touch the object. So
// may a waiter whose Wait returned kCancelled or kTimeout, if no other
// thread uses the event.
class Event final {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  // Sets the flag and wakes all waiters. Idempotent. What the calling thread
  // did before Set() happens-before whatever a thread does after it sees
  // the flag set (IsSet, a Wait returning kReady).
  void Set() noexcept;
  // Clears the flag. A waiter that has not yet seen the flag set since the
  // Set() may miss that Set() and wait on (as with a flag polled under a
  // mutex).
  void Clear() noexcept;
  // Acquire load; pairs with the release in Set().
  bool IsSet() const noexcept {
    return (word_.load(std::memory_order_acquire) & kSet) != 0;
  }

  // Waits until set (kReady), cancelled (kCancelled) or `deadline`
  // (kTimeout).
  WaitResult Wait(const CancellationToken& token,
                  absl::Time deadline = absl::InfiniteFuture());
  // Waits at most `timeout` (measured on the monotonic clock).
  WaitResult WaitFor(const CancellationToken& token, absl::Duration timeout);
  WaitResult Wait() { return Wait(CurrentToken()); }  // current token

 private:
  // The word (PROTOCOL: EVENT in wait.cc): the flag, "a waiter may sleep",
  // and a counter that a waiter's cancellation bumps in steps of kWakeStep.
  static constexpr uint32_t kSet = 1u << 0;
  static constexpr uint32_t kWaiters = 1u << 1;
  static constexpr uint32_t kWakeStep = 1u << 2;

  // `due`: a point of the monotonic clock (cancel_internal::MonotonicNow).
  WaitResult WaitUntilMonotonic(const CancellationToken& token,
                                absl::Duration due);

  std::atomic<uint32_t> word_{0};
};

// Which readiness WaitForFd waits for.
enum class FdInterest { kReadable, kWritable };

// Waits until `fd` is readable/writable (or has an error or hang-up, so the
// caller's next read or write reports it): kReady; until `token` is
// cancelled: kCancelled; until `deadline`: kTimeout. Uses poll(2) on `fd` and
// a per-thread eventfd that a cancellation callback writes to, so a thread
// blocked on a socket gives up as soon as the work is cancelled. Does not
// read or write `fd`. EINTR is retried. Errors, returned at once and with
// nothing consumed:
//   InvalidArgument    `fd` is negative, or not an open descriptor;
//   ResourceExhausted  the thread's eventfd could not be created (the
//                      process or system is out of descriptors, or of
//                      memory); only a token that can be cancelled needs
//                      one, and a later call tries again;
//   another code       poll(2) failed (errno's code, as absl maps it).
absl::StatusOr<WaitResult> WaitForFd(
    int fd, FdInterest interest, const CancellationToken& token,
    absl::Time deadline = absl::InfiniteFuture());

// True when `result` holds `expected`; an error equals no WaitResult. So
// `WaitForFd(...) == WaitResult::kReady` reads as for the other waits.
inline bool operator==(const absl::StatusOr<WaitResult>& result,
                       WaitResult expected) {
  return result.ok() && *result == expected;
}

// ---------------------------------------------------------------------------
// Implementation details.

namespace cancel_internal {

// Registers a wake-up for the duration of a wait. Unlike CancellationCallback
// it never runs `wake` inline. `wake(node)` runs on the cancelling thread; it
// may call CancelState::CompleteFromCallback(node) (see cancel_state.h,
// "EARLY COMPLETION"), after which neither it nor anything else touches this
// waker, so it must copy its captures to locals before that call. If the
// token is already cancelled when the waker is constructed (including a
// request that lands after the waiter's own check but before the
// registration), nothing is registered and `cancelled()` is true at once, so
// a waiter that watches `cancelled()`, or checks the state after constructing
// the waker, cannot sleep through it. If the token can never be cancelled
// (null state), nothing is registered and `cancelled()` stays false.
template <typename Wake>
class ScopedWaker final : private CallbackNode {
 public:
  ScopedWaker(CancelState* state, Wake wake) noexcept
      : CallbackNode(&Invoke), wake_(wake) {
    if (state == nullptr) return;
    if (state->TryAddCallback(this)) {
      state_ = state;
    } else {
      // TryAddCallback refuses only an already-cancelled state. Relaxed: read
      // by this thread, or by threads that see it through the caller's mutex.
      fired_.store(true, std::memory_order_relaxed);
    }
  }
  ~ScopedWaker() {
    if (state_ != nullptr) state_->RemoveCallback(this);
  }
  // Deregisters while the caller holds `lock`, which the wake-up callback
  // also takes: if the callback is already running on another thread, drops
  // `lock` while waiting for it, then retakes it.
  template <typename Lock>
  void Unregister(Lock& lock) noexcept {
    if (state_ == nullptr) return;
    if (!state_->TryRemoveCallback(this) &&
        !CancelState::IsCallbackComplete(this)) {
      lock.unlock();
      CancelState::WaitCallbackComplete(this);
      lock.lock();
    }
    state_ = nullptr;
  }
  ScopedWaker(const ScopedWaker&) = delete;
  ScopedWaker& operator=(const ScopedWaker&) = delete;

  // True once the wake-up ran or the token was found already cancelled.
  // Acquire: pairs with the release store in Invoke (the requester's writes
  // before the request are visible once this returns true).
  bool cancelled() const noexcept {
    return fired_.load(std::memory_order_acquire);
  }

 private:
  static void Invoke(CallbackNode* node) noexcept {
    auto* self = static_cast<ScopedWaker*>(node);
    // Release: pairs with the acquire in cancelled().
    self->fired_.store(true, std::memory_order_release);
    self->wake_(node);  // may complete the node: *self is off limits after
  }

  Wake wake_;
  CancelState* state_ = nullptr;  // caller's token keeps it alive
  std::atomic<bool> fired_{false};
};

// `deadline` (from absl::Now()) as a steady_clock (CLOCK_MONOTONIC) time;
// clamped a century ahead, so that std::chrono arithmetic cannot overflow.
std::chrono::steady_clock::time_point ToSteadyClock(absl::Time deadline);

// The state a wait on `token` must watch: null if it can never be cancelled
// or if a deferred region on this thread hides its cancellation.
inline CancelState* WatchedState(const CancellationToken& token) noexcept {
  CancelState* state = TokenAccess::State(token);
  return IsDeferredHere(state) ? nullptr : state;
}

}  // namespace cancel_internal

template <typename Predicate>
WaitResult WaitWithCancellation(std::condition_variable& cv,
                                std::unique_lock<std::mutex>& lock,
                                const CancellationToken& token,
                                Predicate predicate, absl::Time deadline) {
  cancel_internal::CancelState* state = cancel_internal::WatchedState(token);
  if (predicate()) return WaitResult::kReady;
  if (state != nullptr && state->IsCancellationRequested()) {
    return WaitResult::kCancelled;
  }
  std::mutex* mu = lock.mutex();
  // On the cancelling thread: take the waiter's mutex, so the notification
  // cannot fall between the waiter's check and its wait, and hold it over the
  // notification. The waiter returns only after retaking the mutex, that is
  // after the unlock below, so the node is completed early (the waiter does
  // not wait for the notify) and what follows touches only `mu` and `cv`.
  auto wake = [mu, &cv](cancel_internal::CallbackNode* node) noexcept {
    std::mutex* const m = mu;  // copies: the closure lives in the node
    std::condition_variable* const c = &cv;
    m->lock();
    cancel_internal::CancelState::CompleteFromCallback(node);
    c->notify_all();
    m->unlock();
  };
  cancel_internal::ScopedWaker<decltype(wake)> waker(state, wake);
  // Declared after the waker: the region ends before the waker unregisters.
  ScopedBlockingRegion region;
  const bool infinite = deadline == absl::InfiniteFuture();
  // On the monotonic clock (CLOCKS): std::condition_variable's steady_clock
  // waits use CLOCK_MONOTONIC.
  const std::chrono::steady_clock::time_point steady_deadline =
      infinite ? std::chrono::steady_clock::time_point::max()
               : cancel_internal::ToSteadyClock(deadline);
  WaitResult result;
  try {
    for (;;) {
      if (predicate()) {
        result = WaitResult::kReady;
        break;
      }
      if (state != nullptr && state->IsCancellationRequested()) {
        result = WaitResult::kCancelled;
        break;
      }
      if (infinite) {
        cv.wait(lock);
      } else if (cv.wait_until(lock, steady_deadline) ==
                 std::cv_status::timeout) {
        result = predicate() ? WaitResult::kReady
                 : (state != nullptr && state->IsCancellationRequested())
                     ? WaitResult::kCancelled
                     : WaitResult::kTimeout;
        break;
      }
    }
  } catch (...) {
    // The predicate threw with `lock` held. ~ScopedWaker would wait for a
    // wake-up running on the cancelling thread while holding the mutex that
    // wake-up needs; Unregister drops the lock for that wait.
    waker.Unregister(lock);
    throw;
  }
  waker.Unregister(lock);
  return result;
}

}  // namespace cancelpool

#endif  // CANCELPOOL_CANCEL_WAIT_H_
