// Copyright 2026 The cancelpool Authors.
//
// The clocks of the cancel library, and the conversions between them.
//
// ONE RULE
// Every timeout and deadline is measured on CLOCK_MONOTONIC, which no
// wall-clock step (settimeofday, NTP, a VM restored from a snapshot) moves:
//   * relative timeouts (CancellationSource::WithTimeout, SleepFor) start
//     from MonotonicNow() and never read the wall clock;
//   * an absl::Time deadline is a wall-clock time by definition, computed by
//     its caller from absl::Now(). It is converted once, when the wait starts
//     or the timer is armed, with absl::Now() -- the clock it was computed
//     with -- into a point on the monotonic clock (ToMonotonic), and measured
//     there from then on. A wall-clock step after that moment neither
//     advances nor delays it.
// Monotonic points are absl::Durations since an arbitrary origin (the boot),
// so that they cannot be mixed up with absl::Time.
//
// FORK
// MonotonicNow() and RealtimeNow() are clock_gettime() through the vDSO: no
// lock, so a thread inside them at fork() leaves nothing held in the child.
// ToMonotonic() calls absl::Now() once (see docs/fork.md, "Not covered");
// relative timeouts do not.
#ifndef CANCELPOOL_CANCEL_INTERNAL_CLOCK_H_
#define CANCELPOOL_CANCEL_INTERNAL_CLOCK_H_

#include "absl/time/time.h"

namespace cancelpool {
namespace cancel_internal {

// clock_gettime(CLOCK_MONOTONIC), as the time since its origin.
absl::Duration MonotonicNow() noexcept;

// clock_gettime(CLOCK_REALTIME). Only for Abseil's timed waits, which take
// an absolute CLOCK_REALTIME time (absl::Mutex::AwaitWithDeadline), so the
// base must be the clock the kernel compares it with.
absl::Time RealtimeNow() noexcept;

// The monotonic point at which the absl::Time `deadline` (computed from
// absl::Now()) falls, never earlier (the wall clock is read first).
// InfiniteFuture() -> InfiniteDuration().
absl::Duration ToMonotonic(absl::Time deadline) noexcept;

// MonotonicNow() + `timeout`, saturating at +-InfiniteDuration().
inline absl::Duration MonotonicAfter(absl::Duration timeout) noexcept {
  return MonotonicNow() + timeout;
}

// The poll(2)/epoll timeout, in milliseconds, for a wait of at most `left`:
// -1 (no timeout) for InfiniteDuration(), 0 for a time already up, else
// `left` rounded up to whole milliseconds (so a poll never returns before
// `left` has passed) and clamped to INT_MAX (about 24.8 days; the caller
// polls again after a clamped timeout). Every poll timeout of cancelpool goes
// through here.
int PollTimeoutMillis(absl::Duration left) noexcept;

}  // namespace cancel_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_CANCEL_INTERNAL_CLOCK_H_
