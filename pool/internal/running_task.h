// Copyright 2026 The cancelpool Authors.
//
// RunningTaskSlot: the task a worker is running, published so that a cancel
// shutdown can reach it without a pool-wide token.
//
// PROTOCOL: REACHING RUNNING TASKS AT SHUTDOWN
// Each worker publishes the task it is running in its slot (a helping wait
// nests tasks, restoring the outer one after). `cancel_running_` is the
// scheduler's flag (scheduler.h); RunTask (worker.cc) does R1/R2 through
// Publish/Restore, Shutdown (shutdown.cc) does S1/S2 through CancelCurrent.
//   R1. Worker, before running task T: CAS the slot from the outer task (or
//       null) to T (seq_cst); then if cancel_running_ (seq_cst load) is set,
//       cancel T itself. While a shutdown holds a claim on the outer task
//       (S2), wait until it is released: a plain store would overwrite the
//       claim, and the claimer's release would then overwrite T (our R2 CAS
//       would spin forever), or we would save the tagged value as the outer
//       task and later restore it and cancel through it.
//   R2. Worker, after T returns: CAS the slot from T back to the outer task
//       (or null). The CAS fails only while a shutdown has claimed the slot
//       (T with its low bit set); spin until it is released. Then, if
//       cancel_running_ is set and there is an outer task, cancel it (the
//       shutdown may have seen only T).
//   S1. Shutdown: cancel_running_ = true (seq_cst store).
//   S2. For each worker: load the slot; if a task, CAS it to "claimed" (low
//       bit); on success the task cannot be freed (R2 waits), so take a
//       reference, release the claim, request cancellation, drop the
//       reference.
// Dekker's argument on (R1 CAS, R1 load) vs (S1 store, S2 load): either the
// worker sees the flag or the shutdown sees the task. Nested tasks: the outer
// one is re-checked at R2.
#ifndef CANCELPOOL_POOL_INTERNAL_RUNNING_TASK_H_
#define CANCELPOOL_POOL_INTERNAL_RUNNING_TASK_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "cancelpool/cancel/internal/spin.h"
#include "cancelpool/pool/internal/task.h"

namespace cancelpool {
namespace pool_internal {

class RunningTaskSlot final {
 public:
  // R1 (the publication): replaces the outer task (or null) with `task`,
  // waiting out a shutdown's claim. Returns the outer task, for Restore.
  uintptr_t Publish(TaskBase* task) {
    // Relaxed: only a first guess for the CAS.
    uintptr_t outer = current_.load(std::memory_order_relaxed);
    cancel_internal::SpinWait claim_spin;
    for (;;) {
      if ((outer & kClaimedBit) != 0) {
        claim_spin.Once();
        outer = current_.load(std::memory_order_relaxed);
        continue;
      }
      // seq_cst: the R1 half of Dekker's argument (with the caller's seq_cst
      // load of cancel_running_ after it).
      if (current_.compare_exchange_weak(
              outer, reinterpret_cast<uintptr_t>(task),
              std::memory_order_seq_cst, std::memory_order_relaxed)) {
        return outer;
      }
    }
  }

  // R2 (the restoration): puts `outer` back in place of `task`, waiting out a
  // shutdown's claim.
  void Restore(TaskBase* task, uintptr_t outer) {
    cancel_internal::SpinWait spin;
    for (;;) {
      uintptr_t expected = reinterpret_cast<uintptr_t>(task);
      // acq_rel: acquire pairs with the claimer's release of its claim;
      // release publishes the end of `task` to the next S2 load.
      if (current_.compare_exchange_weak(expected, outer,
                                         std::memory_order_acq_rel,
                                         std::memory_order_relaxed)) {
        return;
      }
      spin.Once();
    }
  }

  // S2 for this slot: requests cancellation of the task it holds, if any.
  void CancelCurrent(const absl::Status& reason) {
    cancel_internal::SpinWait spin;
    for (;;) {
      // Acquire: pairs with the worker's seq_cst CAS at R1 (the task block
      // it points to is fully constructed and referenced).
      uintptr_t p = current_.load(std::memory_order_acquire);
      if (p == 0) return;
      if ((p & kClaimedBit) != 0) {  // another shutdown thread holds it
        spin.Once();
        continue;
      }
      // acq_rel: the claim; relaxed on failure (we reload).
      if (!current_.compare_exchange_weak(p, p | kClaimedBit,
                                          std::memory_order_acq_rel,
                                          std::memory_order_relaxed)) {
        continue;
      }
      auto* task = reinterpret_cast<TaskBase*>(p);
      task->Ref();
      // Release the claim; pairs with R2's acquire.
      current_.store(p, std::memory_order_release);
      task->RequestCancellation(reason);
      task->Unref();
      return;
    }
  }

 private:
  static constexpr uintptr_t kClaimedBit = 1;

  std::atomic<uintptr_t> current_{0};
};

}  // namespace pool_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_INTERNAL_RUNNING_TASK_H_
