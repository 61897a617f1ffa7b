// Copyright 2026 The cancelpool Authors.
//
// Futex wait and wake on a 32-bit atomic word, with relative timeouts: the
// kernel measures a relative FUTEX_WAIT timeout on CLOCK_MONOTONIC, so no
// wall-clock step shortens or lengthens it.
#ifndef CANCELPOOL_CANCEL_INTERNAL_FUTEX_H_
#define CANCELPOOL_CANCEL_INTERNAL_FUTEX_H_

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace cancelpool {
namespace cancel_internal {

// Sleeps while `*word == expected`, at most `timeout` (InfiniteDuration():
// no limit; zero or less: returns at once). Returns early on any wake-up,
// a signal, or a spurious wake-up: the caller re-checks its condition.
void FutexWait(const std::atomic<uint32_t>* word, uint32_t expected,
               absl::Duration timeout) noexcept;
// Wakes every thread sleeping in FutexWait on `word`. `word` may already be
// gone (freed memory is never written: the kernel only looks the address up).
void FutexWakeAll(const std::atomic<uint32_t>* word) noexcept;

}  // namespace cancel_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_CANCEL_INTERNAL_FUTEX_H_
