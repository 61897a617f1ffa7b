// Copyright 2026 The cancelpool Authors.
#include "cancelpool/cancel/internal/clock.h"

#include <time.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "absl/time/clock.h"

namespace cancelpool {
namespace cancel_internal {

absl::Duration MonotonicNow() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return absl::DurationFromTimespec(ts);
}

absl::Time RealtimeNow() noexcept {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return absl::TimeFromTimespec(ts);
}

absl::Duration ToMonotonic(absl::Time deadline) noexcept {
  if (deadline == absl::InfiniteFuture()) return absl::InfiniteDuration();
  if (deadline == absl::InfinitePast()) return -absl::InfiniteDuration();
  // The wall clock is read first: time passing between the two reads then
  // moves the monotonic point later, never earlier, so a deadline cannot
  // fire before absl::Now() reaches it. (In one expression the order of the
  // two reads would be unspecified.)
  const absl::Time wall = absl::Now();
  const absl::Duration monotonic = MonotonicNow();
  return monotonic + (deadline - wall);
}

int PollTimeoutMillis(absl::Duration left) noexcept {
  if (left == absl::InfiniteDuration()) return -1;
  if (left <= absl::ZeroDuration()) return 0;
  const int64_t ms =
      absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)));
  return static_cast<int>(
      std::min<int64_t>(ms, std::numeric_limits<int>::max()));
}

}  // namespace cancel_internal
}  // namespace cancelpool
