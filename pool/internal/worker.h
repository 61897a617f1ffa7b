// Copyright 2026 The cancelpool Authors.
//
// Scheduler::Worker: one worker's deque, its running-task slot and its
// statistics (the loop itself is in worker.cc). Included only by the
// scheduler's .cc files.
#ifndef CANCELPOOL_POOL_INTERNAL_WORKER_H_
#define CANCELPOOL_POOL_INTERNAL_WORKER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>

#include "cancelpool/cancel/internal/blocking_hook.h"
#include "cancelpool/pool/internal/running_task.h"
#include "cancelpool/pool/internal/scheduler.h"
#include "cancelpool/pool/internal/task.h"
#include "cancelpool/pool/internal/work_stealing_deque.h"

namespace cancelpool {
namespace pool_internal {

// Owner-only counter increment: one writer, any number of relaxed readers.
inline void Bump(std::atomic<uint64_t>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1,
                std::memory_order_relaxed);
}

// A worker (index < num_workers) or an extra thread's slot (blocking.cc).
// It is its thread's blocking hook: ScopedBlockingRegion reaches the
// scheduler through it (COMPENSATION, blocking.cc).
struct Scheduler::Worker final : cancel_internal::BlockingHook {
  Worker(Scheduler* s, int i, size_t capacity, bool is_extra)
      : scheduler(s),
        index(i),
        extra(is_extra),
        deque(capacity),
        owner(&deque),
        stealer(&deque),
        rng(0x9E3779B97F4A7C15ull * static_cast<uint64_t>(i + 1)) {}

  uint64_t NextRandom() {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  }

  // A worker about to block first makes its LIFO slot stealable at once
  // (W7, worker.cc).
  void EnterBlocking() noexcept override {
    scheduler->FlushLifo(this);
    scheduler->EnterBlocking(this);
  }
  void ExitBlocking() noexcept override { scheduler->ExitBlocking(); }

  Scheduler* const scheduler;
  const int index;
  const bool extra;  // an extra thread's slot
  WorkStealingDeque<TaskBase*> deque;
  DequeOwner<TaskBase*> owner;
  DequeStealer<TaskBase*> stealer;
  // The running task (running_task.h).
  alignas(64) RunningTaskSlot current;
  // Owner-only state.
  uint64_t rng;
  // Tasks in a row taken from the LIFO slot (W1's fairness bound).
  int lifo_streak = 0;
  // W2's candidate: the worker whose occupied LIFO slot we last saw
  // (SIZE_MAX: none) and its slot's push count then (L3 of
  // work_stealing_deque.h). No per-victim table: nothing to allocate.
  size_t lifo_victim = SIZE_MAX;
  uint64_t lifo_seen = 0;
  std::thread thread;
  // Statistics written only by this worker (Bump), read by Stats().
  alignas(64) std::atomic<uint64_t> submitted{0};
  std::atomic<uint64_t> completed{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> cancelled_running{0};
  std::atomic<uint64_t> steals{0};
  std::atomic<uint64_t> parks{0};
  std::atomic<uint64_t> shed{0};
  std::atomic<uint64_t> blocking_regions{0};
};

}  // namespace pool_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_INTERNAL_WORKER_H_
