// Copyright 2026 The cancelpool Authors.
//
// Parker: the single-waiter sleep/wake primitive of a worker (P4 of idle.h).
//
// PROTOCOL
// `state_` is 1 while a wake-up is pending, else 0.
//   K1. Park: exchange state_ to 0 (seq_cst RMW); if it was 1, return (the
//       wake-up is consumed). Else FUTEX_WAIT while state_ == 0; repeat.
//   K2. Unpark: store 1 (seq_cst), then FUTEX_WAKE.
// Races ruled out: a lost wake-up (an Unpark between K1's exchange and the
// futex sleep sets the word to 1, so FUTEX_WAIT on 0 returns at once); a
// wake-up consumed twice (the exchange takes it); a spurious return from the
// futex (K1 loops until it takes a pending wake-up). At most one thread
// parks on a Parker; any number may unpark it.
//
// Generic over its synchronisation policy (sync.h), so the parking model
// (tests/reliability/parking_model_test.cc) runs this code.
#ifndef CANCELPOOL_POOL_INTERNAL_PARKER_H_
#define CANCELPOOL_POOL_INTERNAL_PARKER_H_

#include "cancelpool/pool/internal/sync.h"

namespace cancelpool {
namespace pool_internal {

template <typename Sync = StdSync>
class Parker final {
 public:
  void Park() {
    for (;;) {
      if (state_.exchange(0, Sync::seq_cst) == 1) return;  // K1
      Sync::FutexWait(&state_, 0);
    }
  }

  void Unpark() {
    state_.store(1, Sync::seq_cst);  // K2
    Sync::FutexWakeAll(&state_);
  }

 private:
  typename Sync::FutexWord state_{0};
};

}  // namespace pool_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_INTERNAL_PARKER_H_
