// Copyright 2026 The cancelpool Authors.
//
// QueueDelayShedder: CoDel-style shedding by queueing delay
// (ThreadPoolOptions::queue_delay_target / queue_delay_interval), after
// Nichols & Jacobson's CoDel and the "Fail at Scale" practice: a standing
// queue -- every task of the last interval waited longer than the target --
// is an overload, and then the tasks that waited too long are refused
// instead of run, so the ones behind them meet their deadlines.
//
// PROTOCOL: SHEDDING (at every dequeue of a task that will start; overload.cc)
//   O1. delay = now - the task's enqueue time (monotonic, stamped by Submit
//       only while the option is on).
//   O2. delay < target: the queue drained below the target; clear
//       first_above_ (if set) and run the task.
//   O3. first_above_ is clear: set it to now + interval (CAS from clear: one
//       of several racing dequeuers starts the interval) and run the task.
//   O4. now < first_above_: the interval has not elapsed; run the task.
//   O5. Otherwise every dequeue since the interval began saw a delay at or
//       above the target (any lower one would have cleared it, O2): shed the
//       task. first_above_ stays set: tasks keep being shed until one that
//       waited less than the target is dequeued, or until O6.
//   O6. A thread of the pool found its own deque and the injection queue
//       empty (it starts searching, worker.cc W2): the standing queue is
//       gone; clear first_above_ (QueueEmptied). Without it a queue drained
//       by shedding would leave the state set, and the next task after a
//       quiet period would be shed if it waited just over the target.
// Relaxed throughout: the state is a heuristic shared by the dequeuers; a
// race only changes which task at the border is shed, never whether a task
// is resolved (the caller resolves a shed task itself, worker.cc).
#ifndef CANCELPOOL_POOL_INTERNAL_OVERLOAD_H_
#define CANCELPOOL_POOL_INTERNAL_OVERLOAD_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace cancelpool {
namespace pool_internal {

class QueueDelayShedder final {
 public:
  // `target` zero, negative or infinite: off.
  QueueDelayShedder(absl::Duration target, absl::Duration interval);

  bool enabled() const { return target_ns_ > 0; }
  // The monotonic clock in nanoseconds (the enqueue stamp).
  static int64_t NowNanos();
  // O1-O5 for a task stamped `enqueued_ns`: true to shed it, with `*delay`
  // set to its queueing delay.
  bool ShouldShed(int64_t enqueued_ns, absl::Duration* delay);
  // O6.
  void QueueEmptied() {
    // Relaxed: see the protocol.
    if (first_above_ns_.load(std::memory_order_relaxed) != 0) {
      first_above_ns_.store(0, std::memory_order_relaxed);
    }
  }
  // The status a shed task's future fails with.
  absl::Status ShedStatus(absl::Duration delay) const;

 private:
  const int64_t target_ns_;
  const int64_t interval_ns_;
  // 0: the last dequeued task waited less than the target; else the end of
  // the interval that started when one first waited longer (O3).
  alignas(64) std::atomic<int64_t> first_above_ns_{0};
};

}  // namespace pool_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_INTERNAL_OVERLOAD_H_
