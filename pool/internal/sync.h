// Copyright 2026 The cancelpool Authors.
//
// The synchronisation policy of the scheduler's generic parts (idle.h,
// parker.h, injection_queue.h): what they use instead of naming std::atomic,
// absl::Mutex and the futex directly, so that a model checker can run the
// very same code over its own primitives (tests/reliability/relacy_atomics.h,
// RelacySync; checked by tests/reliability/parking_model_test.cc).
//
// A policy provides:
//   * everything of the deque's Atomics policy (work_stealing_deque.h):
//     `template <typename T> Atomic`, and the orders relaxed / acquire /
//     release / acq_rel / seq_cst;
//   * `Mutex` and `Lock` (a scoped lock constructed from a Mutex*);
//   * `FutexWord` (an atomic 32-bit word) with static
//     `FutexWait(FutexWord*, expected)` (sleeps while the word holds
//     `expected`; may return spuriously) and `FutexWakeAll(FutexWord*)`.
//
// TEST-ONLY BUG INJECTION
// A model's policy may define `static constexpr bool` switches that
// re-insert known bugs, so its "has teeth" tests can show the checker
// catches them; the production policy defines none, and each resolves at
// compile time to the correct order (no cost):
//   kInjectBugRelaxedNotifyLoad  N2 of idle.h loads searching_ relaxed (a
//                                notifier trusting a stale "somebody is
//                                searching" skips the wake-up);
//   kInjectBugRelaxedSizeLoad    the injection queue's MaybeEmpty loads its
//                                size relaxed (the P3 re-check of idle.h
//                                may miss a push).
#ifndef CANCELPOOL_POOL_INTERNAL_SYNC_H_
#define CANCELPOOL_POOL_INTERNAL_SYNC_H_

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/internal/futex.h"
#include "cancelpool/pool/internal/work_stealing_deque.h"

namespace cancelpool {
namespace pool_internal {

// The production policy.
struct StdSync : StdAtomics {
  static constexpr std::memory_order acq_rel = std::memory_order_acq_rel;
  using Mutex = absl::Mutex;
  using Lock = absl::MutexLock;
  using FutexWord = std::atomic<uint32_t>;
  static void FutexWait(FutexWord* word, uint32_t expected) noexcept {
    cancel_internal::FutexWait(word, expected, absl::InfiniteDuration());
  }
  static void FutexWakeAll(FutexWord* word) noexcept {
    cancel_internal::FutexWakeAll(word);
  }
};

// The switches of TEST-ONLY BUG INJECTION: false unless the policy opts in.
template <typename S, typename = void>
struct InjectRelaxedNotifyLoad : std::false_type {};
template <typename S>
struct InjectRelaxedNotifyLoad<
    S, std::void_t<decltype(S::kInjectBugRelaxedNotifyLoad)>>
    : std::bool_constant<S::kInjectBugRelaxedNotifyLoad> {};

template <typename S, typename = void>
struct InjectRelaxedSizeLoad : std::false_type {};
template <typename S>
struct InjectRelaxedSizeLoad<
    S, std::void_t<decltype(S::kInjectBugRelaxedSizeLoad)>>
    : std::bool_constant<S::kInjectBugRelaxedSizeLoad> {};

}  // namespace pool_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_INTERNAL_SYNC_H_
