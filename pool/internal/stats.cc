// Copyright 2026 The cancelpool Authors.
//
// PoolStats: a sum of relaxed counters (statistics only; no protocol). Each
// per-worker counter has one writer, its worker (Bump, worker.h); the
// others are updated by any thread with relaxed RMWs.
#include "cancelpool/pool/internal/scheduler.h"
#include "cancelpool/pool/internal/worker.h"

namespace cancelpool {
namespace pool_internal {

PoolStats Scheduler::Stats() const {
  PoolStats s;
  s.submitted =
      outside_submitted_.load(std::memory_order_relaxed) + injector_.Counted();
  s.rejected = rejected_.load(std::memory_order_relaxed);
  s.cancelled_before_start =
      cancelled_before_start_.load(std::memory_order_relaxed);
  s.deadline_passed_at_submit =
      deadline_passed_at_submit_.load(std::memory_order_relaxed);
  s.compensations = blocking_.compensations.load(std::memory_order_relaxed);
  s.blocking_threads_started =
      blocking_.started.load(std::memory_order_relaxed);
  s.blocking_threads_retired =
      blocking_.retired.load(std::memory_order_relaxed);
  s.blocking_thread_start_failures =
      blocking_.start_failures.load(std::memory_order_relaxed);
  for (const auto& w : workers_) {
    s.submitted += w->submitted.load(std::memory_order_relaxed);
    s.completed += w->completed.load(std::memory_order_relaxed);
    s.failed += w->failed.load(std::memory_order_relaxed);
    s.cancelled_while_running +=
        w->cancelled_running.load(std::memory_order_relaxed);
    s.steals += w->steals.load(std::memory_order_relaxed);
    s.parks += w->parks.load(std::memory_order_relaxed);
    s.shed_queue_delay += w->shed.load(std::memory_order_relaxed);
    s.blocking_regions += w->blocking_regions.load(std::memory_order_relaxed);
  }
  return s;
}

}  // namespace pool_internal
}  // namespace cancelpool
