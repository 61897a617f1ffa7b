// Copyright 2026 The cancelpool Authors.
//
// The shedding protocol (O1-O5) is written down in overload.h.
#include "cancelpool/pool/internal/overload.h"

#include <time.h>

#include "absl/strings/str_cat.h"

namespace cancelpool {
namespace pool_internal {

namespace {
int64_t TargetNanos(absl::Duration target) {
  if (target <= absl::ZeroDuration() || target == absl::InfiniteDuration()) {
    return 0;
  }
  return absl::ToInt64Nanoseconds(target);
}
}  // namespace

QueueDelayShedder::QueueDelayShedder(absl::Duration target,
                                     absl::Duration interval)
    : target_ns_(TargetNanos(target)),
      interval_ns_(interval > absl::ZeroDuration() &&
                           interval != absl::InfiniteDuration()
                       ? absl::ToInt64Nanoseconds(interval)
                       : absl::ToInt64Nanoseconds(absl::Milliseconds(100))) {}

int64_t QueueDelayShedder::NowNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

bool QueueDelayShedder::ShouldShed(int64_t enqueued_ns, absl::Duration* delay) {
  const int64_t now = NowNanos();
  const int64_t d = now - enqueued_ns;  // O1
  *delay = absl::Nanoseconds(d);
  // Relaxed: see overload.h (a heuristic; no data is published through it).
  int64_t first_above = first_above_ns_.load(std::memory_order_relaxed);
  if (d < target_ns_) {  // O2
    if (first_above != 0) first_above_ns_.store(0, std::memory_order_relaxed);
    return false;
  }
  if (first_above == 0) {  // O3
    first_above_ns_.compare_exchange_strong(first_above, now + interval_ns_,
                                            std::memory_order_relaxed);
    return false;
  }
  return now >= first_above;  // O4 / O5
}

absl::Status QueueDelayShedder::ShedStatus(absl::Duration delay) const {
  return absl::ResourceExhaustedError(absl::StrCat(
      "thread pool overloaded: task shed after ", absl::FormatDuration(delay),
      " in the queue (queue_delay_target=",
      absl::FormatDuration(absl::Nanoseconds(target_ns_)),
      ", exceeded for queue_delay_interval=",
      absl::FormatDuration(absl::Nanoseconds(interval_ns_)), ")"));
}

}  // namespace pool_internal
}  // namespace cancelpool
