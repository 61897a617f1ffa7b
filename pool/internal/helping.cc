// Copyright 2026 The cancelpool Authors.
//
// Helping waits: a worker waiting for a task runs tasks of the wait tree
// instead of sleeping.
//
// PROTOCOL: HELPING WAITS
// Only an unlimited wait helps (no deadline, no waiter token): a task run
// inline cannot be left when a limit is reached, so a limited wait blocks and
// leaves the awaited task (and its children) to the other workers. A task
// run by a helping wait is stacked on top of the waiting task W, which cannot
// resume before it returns. So a worker whose task W waits for task T runs,
// on top of W, only:
//   H1. T itself, if not started (TryStart decides against its queue entry,
//       which is skipped when popped later) and not held (a continuation
//       whose antecedent has not resolved, task.h L4: it is in no queue
//       yet and must not start);
//   H2. its own LIFO slot's task, then entries of its own deque at or above
//       W's mark (the deque's Bottom() when W started, RunningFrame::mark):
//       fork-join children of W or of tasks nested above it (a nested run
//       empties the slot first, W4 of worker.cc, so the slot only holds
//       such a child);
//   H3. "leapfrogging" (Wagner & Calder): entries of the deque of T's runner
//       at or above T's mark (read from T's runner_ word), then its LIFO
//       slot's task (which a nested run empties first, W4 of worker.cc, so
//       while T runs it holds only T's descendants): T's children.
//       After the steal, T must still be unresolved, else the entry is
//       requeued -- the runner only reuses indices above T's mark after T
//       resolved, and a steal that read such a reuse synchronised with it,
//       so the check sees the resolution.
// Never the injection queue or arbitrary victims.
//   H4. Depth guard (only with max_blocking_threads above 0): a waiter
//       already kMaxHelpDepth tasks deep on this thread's stack does not
//       help at once. It waits for T inside a blocking region, so that an
//       extra thread (COMPENSATION, blocking.cc) takes T -- or T's queue
//       entry -- and runs it on its own stack. After each wait slice in
//       which T has not started (no thread came: the limit is reached, or a
//       start failed) it helps as H1-H3 for that wait, so it cannot
//       deadlock: at worst the stack grows as without the guard.
// Races/failures ruled out: an unrelated task stacked on W that waits, even
// indirectly, for W (the help-first deadlock: no queue but the wait tree's
// is ever read while waiting; the chain and three-worker tests of
// pool_wait_test.cc); running T twice (TryStart); stealing below the mark
// (the index is checked before the CAS on top_, and a successful CAS from t
// takes index t); a stale mark after T finished (the H3 re-check). With
// H1-H3 every nested task is one W waits for, or one created by such a
// task, so blocking can only close a cycle the program's own waits form --
// the one remaining case being a task that waits for a task that started
// waiting before it was created (a child waiting on its parent's waiter);
// future.h documents it.
#include <algorithm>

#include "cancelpool/cancel/blocking.h"
#include "cancelpool/cancel/internal/spin.h"
#include "cancelpool/pool/internal/scheduler.h"
#include "cancelpool/pool/internal/worker.h"

namespace cancelpool {
namespace pool_internal {

TaskBase* Scheduler::Leapfrog(Worker* w, TaskBase* task) {
  int index = 0;
  int64_t mark = 0;
  if (!task->runner(&index, &mark) || index == w->index) return nullptr;
  Worker* const runner = workers_[static_cast<size_t>(index)].get();
  TaskBase* stolen = StealFrom(w, runner, mark);
  if (stolen == nullptr) {
    // The runner's LIFO slot holds a task pushed by `task` or one nested
    // above it (W4 of worker.cc) -- or, once `task` resolved, anything: the
    // check below covers both as for the deque.
    stolen = runner->stealer.TakeLifo();
    if (stolen != nullptr) Bump(w->steals);
  }
  // H3: `mark` is only meaningful while `task` runs. Checked after the
  // steal: if `task` is still unresolved now, the victim was inside it (or
  // above it) when it pushed what we took -- the victim can only reuse those
  // indices for other work after popping below `mark` (or fill its slot for
  // other work), which it does only after `task` resolved, and our steal's
  // seq_cst load of its bottom (or our RMW on its slot) would then have
  // synchronised with that later push, making the resolution visible here.
  if (stolen != nullptr && task->IsResolved()) {
    Requeue(stolen);  // maybe unrelated: leave it to the main loops
    return nullptr;
  }
  return stolen;
}

WaitResult Scheduler::HelpUntil(Worker* w, TaskBase* task, CancelState* waiter,
                                absl::Time deadline) {
  if (options_.max_blocking_threads != 0 && tls_running_frame != nullptr &&
      tls_running_frame->depth >= kMaxHelpDepth) {
    // H4. Slices grow so that a slow thread start (a loaded machine) is
    // waited for rather than helped past.
    absl::Duration slice = absl::Milliseconds(2);
    for (;;) {
      if (task->IsResolved()) return WaitResult::kReady;
      WaitResult r;
      {
        ScopedBlockingRegion region;
        r = task->BlockUntilResolved(waiter, absl::Now() + slice);
      }
      if (r != WaitResult::kTimeout) return r;
      if (!task->WasStarted() && !task->ResolvingBeforeStart()) break;
      slice = std::min(slice * 2, absl::Milliseconds(100));
    }
  }
  const int64_t own_mark =
      tls_running_frame != nullptr ? tls_running_frame->mark : INT64_MIN;
  // Sleep slices once nothing is runnable: short at first (new stealable
  // work appears within microseconds in fork-join), growing to a bound so a
  // long wait costs almost nothing. A resolved task wakes us at once.
  constexpr absl::Duration kMinSlice = absl::Microseconds(50);
  constexpr absl::Duration kMaxSlice = absl::Milliseconds(5);
  int idle_rounds = 0;
  absl::Duration slice = kMinSlice;
  for (;;) {
    if (task->IsResolved()) return WaitResult::kReady;
    if (waiter != nullptr && waiter->IsCancellationRequested()) {
      return WaitResult::kCancelled;
    }
    // H2 first: in fork-join our newest child is usually the awaited one.
    // The LIFO slot holds the newest of all, pushed by this task or one
    // nested above it (W4 of worker.cc).
    TaskBase* other = w->owner.PopLifo();
    if (other == nullptr) other = w->owner.PopAbove(own_mark);
    if (other == nullptr && !task->WasStarted() && !task->IsHeld() &&
        !task->ResolvingBeforeStart()) {
      // H1. Our own reference: the entry's may be dropped meanwhile, and the
      // caller's future is the only other holder.
      task->Ref();
      RunTask(w, task, /*owns_queue_ref=*/false);
      task->Unref();
      continue;
    }
    if (other == nullptr) other = Leapfrog(w, task);  // H3
    if (other != nullptr) {
      RunTask(w, other, /*owns_queue_ref=*/true);
      idle_rounds = 0;
      slice = kMinSlice;
      continue;
    }
    if (deadline != absl::InfiniteFuture() && absl::Now() >= deadline) {
      return WaitResult::kTimeout;
    }
    // Nothing of the wait tree within reach: T runs elsewhere and its
    // children (if any) are taken. Keep looking for a while (T usually
    // pushes more soon), then sleep in slices. Every other queued task is
    // reachable by the other workers' main loops.
    if (idle_rounds < options_.idle_spin_rounds) {
      ++idle_rounds;
      for (int i = 0; i < 16; ++i) cancel_internal::CpuRelax();
      continue;
    }
    const absl::Time until = std::min(deadline, absl::Now() + slice);
    slice = std::min(slice * 2, kMaxSlice);
    const WaitResult r = task->BlockUntilResolved(waiter, until);
    if (r != WaitResult::kTimeout) return r;
    // Timed out: look for work again.
  }
}

WaitResult Scheduler::Wait(TaskBase* task, CancelState* waiter,
                           absl::Time deadline) {
  Worker* w = tls_worker_;
  if (w != nullptr && w->scheduler == this && waiter == nullptr &&
      deadline == absl::InfiniteFuture()) {
    return HelpUntil(w, task, waiter, deadline);
  }
  if (task->IsResolved()) return WaitResult::kReady;
  // A wait that blocks instead of helping: on a pool thread, another may
  // take its place (COMPENSATION, blocking.cc).
  ScopedBlockingRegion region;
  return task->BlockUntilResolved(waiter, deadline);
}

}  // namespace pool_internal
}  // namespace cancelpool
