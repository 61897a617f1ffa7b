// Copyright 2026 The cancelpool Authors.
//
// The state of blocking-aware workers (ThreadPoolOptions::
// max_blocking_threads): how many of the pool's threads are inside a
// blocking region, and the extra threads that stand in for them. The
// protocol (COMPENSATION, B1-B8) is written down at the top of blocking.cc,
// which implements it together with the extra threads' loop.
#ifndef CANCELPOOL_POOL_INTERNAL_BLOCKING_H_
#define CANCELPOOL_POOL_INTERNAL_BLOCKING_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace cancelpool {
namespace pool_internal {

struct BlockingState {
  absl::Mutex mu;
  // Threads of the pool (workers and extra threads) inside a blocking
  // region. Changed under `mu` (seq_cst); read without it by Submit (B5: a
  // Dekker pair with B2).
  std::atomic<int> blocked{0};
  // Extra threads started and not yet exited, and how many of them wait
  // for work (B6/B7).
  int alive ABSL_GUARDED_BY(mu) = 0;
  int idle ABSL_GUARDED_BY(mu) = 0;
  // Wake-ups handed to idle extra threads and not yet taken (B3).
  int wakeups ABSL_GUARDED_BY(mu) = 0;
  // Set once the pool terminated or is being joined: no thread starts, the
  // idle ones exit (B8).
  bool stopping ABSL_GUARDED_BY(mu) = false;
  // Indices (into the scheduler's workers_) of the extra slots without a
  // live thread.
  std::vector<int> free_slots ABSL_GUARDED_BY(mu);
  // Extra threads that may hold a task (searching or running), for the
  // termination check (Q5 of idle.h, B6). seq_cst.
  std::atomic<int> active{0};
  // Statistics. Relaxed.
  std::atomic<uint64_t> compensations{0};
  std::atomic<uint64_t> started{0};
  std::atomic<uint64_t> retired{0};
  std::atomic<uint64_t> start_failures{0};
};

}  // namespace pool_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_INTERNAL_BLOCKING_H_
