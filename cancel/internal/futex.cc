// Copyright 2026 The cancelpool Authors.
#include "cancelpool/cancel/internal/futex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>

namespace cancelpool {
namespace cancel_internal {

void FutexWait(const std::atomic<uint32_t>* word, uint32_t expected,
               absl::Duration timeout) noexcept {
  timespec ts;
  timespec* relative = nullptr;
  if (timeout != absl::InfiniteDuration()) {
    if (timeout <= absl::ZeroDuration()) return;
    ts = absl::ToTimespec(timeout);
    relative = &ts;
  }
  // EAGAIN (the word changed), EINTR and ETIMEDOUT all mean "re-check".
  syscall(SYS_futex, reinterpret_cast<const uint32_t*>(word),
          FUTEX_WAIT_PRIVATE, expected, relative, nullptr, 0);
}

void FutexWakeAll(const std::atomic<uint32_t>* word) noexcept {
  // A stale address wakes nobody, or spuriously wakes a waiter on memory
  // that reused it; every FutexWait caller re-checks its condition.
  syscall(SYS_futex, reinterpret_cast<const uint32_t*>(word),
          FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace cancel_internal
}  // namespace cancelpool
