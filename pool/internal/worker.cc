// Copyright 2026 The cancelpool Authors.
//
// The worker loop: finding work (own deque, injection queue, stealing),
// running it, and parking through the idle protocol.
//
// PROTOCOL: THE WORKER LOOP (WHERE WORK GOES, scheduler.h)
//   W1. Take the own LIFO slot (L2 of work_stealing_deque.h), unless
//       kMaxLifoStreak tasks in a row came from it: then move the slot's
//       task onto the own deque (stealable), notify, and look at the
//       injection queue first (fairness: a chain cannot hold a worker
//       forever while outside work waits). Else pop the own deque (LIFO),
//       else take a batch from the injection queue (the first task runs now;
//       the rest go to the own deque, stealable, followed by a Notify).
//   W2. Nothing: become searching (idle.h); yield the core once if the task
//       this worker resolved woke a waiter (task.h, tls_woke_waiter); then,
//       for idle_spin_rounds rounds,
//       steal from the other workers (random start, FIFO), look at the
//       injection queue again, and take another worker's LIFO slot task if
//       that worker pushed nothing into its slot since our last look (L3:
//       it looks stuck -- preempted, or blocked in its task). A shutdown
//       ends the spin at once.
//   W3. Found work while searching: leave the searching state (idle.h: the
//       last searcher to leave notifies). Nothing: park (P1-P4); exit once
//       the pool terminated.
//   W4. RunTask: a cancel shutdown cancels a queued task before it starts
//       (S1 seen); TryStart decides against a concurrent cancellation (task.h,
//       step 2); a task that another thread is still resolving is requeued
//       (T1, shutdown.cc); the running task is published for shutdown
//       (R1/R2, running_task.h) and its deque mark set for helping waits
//       (H2/H3, helping.cc). A nested run (a helping wait) first moves the
//       LIFO slot's task onto the deque (W7), so the slot only ever holds a
//       task pushed by the innermost running task or one nested above it
//       (what H2 may run).
//   W5. Every push (LIFO slot, local, overflow, requeue) is followed by a
//       Notify (N1-N4). A task submitted on a worker goes to its LIFO slot;
//       the task it displaces goes onto the deque.
//   W6. With queue-delay shedding on, a task popped from a queue and started
//       (W4) may be resolved as shed instead of run (O1-O5, overload.h).
//   W7. FlushLifo: before a worker blocks (ScopedBlockingRegion, and so
//       every blocking Future wait on a worker) and before a nested run, the
//       slot's task moves onto the deque, followed by a Notify: stealable at
//       once, not only after W2's staleness check.
// Races ruled out here: a pushed task nobody wakes up for (W5 + idle.h; the
// slot counts in every seq_cst emptiness check, L4); a task in a LIFO slot
// whose owner blocks or is preempted forever while the other workers park
// (the push notified as any push does; a woken or searching worker keeps
// finding the slot non-empty at P3, so it does not park while the task sits
// there, and takes it at W2 once no new push shows progress, or at once
// after W7); a queued task run after a cancel shutdown (W4; the shutdown's
// drain takes the slot too, L4); a task dropped while its canceller still
// updates the statistics (W4, T1).
#include "cancelpool/pool/internal/worker.h"

#include <pthread.h>

#include <algorithm>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cancelpool/cancel/internal/blocking_hook.h"
#include "cancelpool/cancel/internal/spin.h"
#include "cancelpool/pool/future.h"
#include "cancelpool/pool/internal/scheduler.h"

namespace cancelpool {
namespace pool_internal {

namespace {
constexpr size_t kMaxInjectorBatch = 32;
// W1's fairness bound: tasks in a row from the LIFO slot.
constexpr int kMaxLifoStreak = 32;
}  // namespace

void Scheduler::IdleEnv::CountPark(int worker) const {
  Bump(s->workers_[static_cast<size_t>(worker)]->parks);
}

void Scheduler::WorkerMain(Worker* w) {
  start_gate_.WaitForNotification();  // START, step 2
  if (start_failed_) return;          // START, step 3
  std::string name =
      absl::StrCat(options_.thread_name_prefix, w->index).substr(0, 15);
  pthread_setname_np(pthread_self(), name.c_str());
  tls_worker_ = w;
  cancel_internal::SetThreadBlockingHook(w);  // B1, blocking.cc
  if (options_.on_worker_start) options_.on_worker_start(w->index);
  IdleEnv env{this};
  for (;;) {
    TaskBase* task = FindWork(w);
    if (task != nullptr) {
      RunTask(w, task, /*owns_queue_ref=*/true);
      continue;
    }
    if (!idle_.Park(w->index, env)) break;  // W3
  }
  // Terminated: the extra threads stop too (B8, blocking.cc).
  if (options_.max_blocking_threads != 0) StopExtraThreads();
  if (options_.on_worker_stop) options_.on_worker_stop(w->index);
  cancel_internal::SetThreadBlockingHook(nullptr);
  tls_worker_ = nullptr;
  absl::MutexLock lock(&exit_mu_);
  ++exited_workers_;
}

TaskBase* Scheduler::FindWorkOnce(Worker* w) {
  TaskBase* task = StealFromOthers(w);
  if (task == nullptr) task = TakeFromInjector(w);
  if (task == nullptr) task = StealStaleLifo(w);
  return task;
}

TaskBase* Scheduler::FindWork(Worker* w) {
  TaskBase* task = nullptr;
  if (w->lifo_streak < kMaxLifoStreak) {  // W1
    task = w->owner.PopLifo();
    if (task != nullptr) {
      ++w->lifo_streak;
      return task;
    }
  } else if (TaskBase* slot = w->owner.PopLifo()) {
    // The bound: the slot's task becomes stealable; outside work first.
    PushToDeque(w, slot);
    idle_.Notify();
    task = TakeFromInjector(w);
  }
  w->lifo_streak = 0;
  if (task == nullptr) task = w->owner.Pop();
  if (task == nullptr) task = TakeFromInjector(w);
  if (task == nullptr) {
    if (shedder_.enabled()) shedder_.QueueEmptied();  // O6, overload.h
    idle_.BecomeSearching(w->index);                  // W2
    // A thread this worker just woke (the waiter of the task it resolved:
    // task.h, tls_woke_waiter) is often placed on this core; pausing here
    // would hold the core from it for the first half of the spin
    // (benchmarks/FINDINGS.md, 13.8). So yield once first. With nothing
    // else runnable here the yield returns at once.
    if (std::exchange(tls_woke_waiter, false)) std::this_thread::yield();
    for (int round = 0; round < options_.idle_spin_rounds; ++round) {
      task = FindWorkOnce(w);
      if (task != nullptr) break;
      if (idle_.IsTerminated()) return nullptr;
      // Shutdown ends the spin at once: termination needs every worker in
      // the idle list, so a spinning worker would hold it off for up to
      // idle_spin_rounds rounds. Parking instead is always safe (idle.h):
      // work pushed later still wakes a worker. Acquire: pairs with
      // Shutdown's release store.
      if (phase_.load(std::memory_order_acquire) != kRunning) break;
      if (round < options_.idle_spin_rounds / 2) {
        for (int i = 0; i < 16; ++i) cancel_internal::CpuRelax();
      } else {
        std::this_thread::yield();
      }
    }
  }
  if (task != nullptr) idle_.LeaveSearching(w->index);  // W3
  return task;
}

TaskBase* Scheduler::TakeFromInjector(Worker* w) {
  const size_t queued = injector_.SizeHint();
  if (queued == 0) return nullptr;
  const size_t free_slots =
      w->deque.capacity() - std::min(w->deque.capacity(), w->owner.SizeHint());
  size_t want = queued / static_cast<size_t>(num_core_) + 1;
  want = std::min({want, kMaxInjectorBatch, free_slots + 1});
  TaskBase* batch[kMaxInjectorBatch];
  const size_t n = injector_.PopBatch(batch, want);
  if (n == 0) return nullptr;
  // Keep the first to run now; the rest go to our deque, stealable.
  for (size_t i = n - 1; i >= 1; --i) PushToDeque(w, batch[i]);
  if (n > 1) idle_.Notify();
  return batch[0];
}

TaskBase* Scheduler::StealFromOthers(Worker* w) {
  const size_t n = workers_.size();
  if (n <= 1) return nullptr;
  const size_t start = w->NextRandom() % n;
  for (size_t i = 0; i < n; ++i) {
    Worker* victim = workers_[(start + i) % n].get();
    if (victim == w) continue;
    if (TaskBase* task = StealFrom(w, victim, INT64_MIN)) return task;
  }
  return nullptr;
}

TaskBase* Scheduler::StealFrom(Worker* w, Worker* victim, int64_t min_index) {
  // A lost race means the deque was not empty: try once more.
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool lost = false;
    TaskBase* task = victim->stealer.StealAbove(min_index, &lost);
    if (task != nullptr) {
      Bump(w->steals);
      return task;
    }
    if (!lost) break;
  }
  return nullptr;
}

TaskBase* Scheduler::StealStaleLifo(Worker* w) {
  const size_t n = workers_.size();
  if (n <= 1) return nullptr;
  // The candidate from our previous look: take its slot's task if its owner
  // pushed nothing since (L3); keep it while unchanged and occupied.
  if (w->lifo_victim < n) {
    Worker* victim = workers_[w->lifo_victim].get();
    uint64_t seen = w->lifo_seen;
    if (TaskBase* task = victim->stealer.StealLifo(&seen)) {
      w->lifo_victim = SIZE_MAX;
      Bump(w->steals);
      return task;
    }
    if (seen == w->lifo_seen && victim->stealer.LifoOccupied()) return nullptr;
    w->lifo_victim = SIZE_MAX;
  }
  // A new candidate: the first occupied slot from a random start.
  const size_t start = w->NextRandom() % n;
  for (size_t i = 0; i < n; ++i) {
    const size_t v = (start + i) % n;
    Worker* victim = workers_[v].get();
    if (victim == w) continue;
    const uint64_t pushes = victim->stealer.LifoPushes();
    if (victim->stealer.LifoOccupied()) {
      w->lifo_victim = v;
      w->lifo_seen = pushes;
      break;
    }
  }
  return nullptr;
}

void Scheduler::PushLocal(Worker* w, TaskBase* task) {
  if (w->extra) {  // an extra thread has no LIFO slot (FindWorkExtra)
    PushToDeque(w, task);
    return;
  }
  if (TaskBase* displaced = w->owner.PushLifo(task)) PushToDeque(w, displaced);
}

void Scheduler::FlushLifo(Worker* w) {
  TaskBase* task = w->owner.PopLifo();
  if (task == nullptr) return;
  PushToDeque(w, task);
  idle_.Notify();
}

void Scheduler::PushToDeque(Worker* w, TaskBase* task) {
  if (w->owner.Push(task)) return;
  // Overflow: move half of the deque plus `task` to the injection queue.
  const size_t half = w->deque.capacity() / 2;
  std::vector<TaskBase*> moved;
  moved.reserve(half + 1);
  for (size_t i = 0; i < half; ++i) {
    TaskBase* t = w->owner.Pop();
    if (t == nullptr) break;
    moved.push_back(t);
  }
  moved.push_back(task);
  injector_.Push(moved.data(), moved.size(), /*outside=*/false);
}

bool Scheduler::AnyWorkVisible() const {
  if (!injector_.MaybeEmpty()) return true;
  for (const auto& w : workers_) {
    if (!w->stealer.MaybeEmpty()) return true;
  }
  return false;
}

void Scheduler::Requeue(TaskBase* task) {
  injector_.Push(&task, 1, /*outside=*/false);
  idle_.Notify();  // W5
}

bool Scheduler::MaybeShed(Worker* w, TaskBase* task) {
  // O1-O5 (overload.h). The task is started (TryStart won), so nothing else
  // resolves it: as its runner, resolve it without running it.
  absl::Duration delay;
  if (!shedder_.ShouldShed(task->enqueued_ns(), &delay)) return false;
  Bump(w->shed);
  task->ResolveRejected(shedder_.ShedStatus(delay));
  task->Unref();
  return true;
}

void Scheduler::RunTask(Worker* w, TaskBase* task, bool owns_queue_ref) {
  if (cancel_running_.load(std::memory_order_seq_cst)) {
    // Cancel shutdown: a queued task never starts.
    if (task->RequestCancellation(cancel_reason_)) {
      never_ran_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (!task->TryStart()) {
    if (owns_queue_ref && task->ResolvingBeforeStart()) {
      // Another thread won a cancellation before the start and is still
      // resolving the task (updating our statistics, destroying the
      // callable). Keep the task in a queue until it has resolved, so the
      // pool cannot terminate -- and be freed -- under that thread (T1).
      Requeue(task);
      std::this_thread::yield();
      return;
    }
    if (owns_queue_ref) {
      LeftQueue(1);
      task->Unref();
    }
    return;
  }
  // ADMISSION (submit.cc): checked here too, to skip the call when off.
  if (owns_queue_ref && queue_limit_ != 0) LeftQueue(1);
  if (owns_queue_ref && shedder_.enabled() && MaybeShed(w, task)) return;
  // Helping (H2/H3): entries pushed onto our deque from now on (at or above
  // `mark`) belong to this task's wait tree; a helper waiting on it may take
  // them.
  RunningFrame* const outer_frame = tls_running_frame;
  // W4: a nested run starts with an empty LIFO slot (W7).
  if (outer_frame != nullptr) FlushLifo(w);
  const int64_t mark = w->owner.Bottom();
  task->set_runner(w->index, mark);
  RunningFrame frame{task, outer_frame, mark,
                     outer_frame != nullptr ? outer_frame->depth + 1 : 0};
  tls_running_frame = &frame;
  // R1: publish the task in place of the outer one (null unless a helping
  // wait nests us).
  const uintptr_t outer = w->current.Publish(task);
  if (cancel_running_.load(std::memory_order_seq_cst)) {
    task->RequestCancellation(cancel_reason_);
  }
  const TaskOutcome outcome = task->Execute();
  switch (outcome) {
    case TaskOutcome::kSucceeded:
      Bump(w->completed);
      break;
    case TaskOutcome::kCancelled:
      Bump(w->cancelled_running);
      break;
    default:
      Bump(w->failed);
      break;
  }
  // R2: restore the outer task; wait out a shutdown's claim.
  w->current.Restore(task, outer);
  if (outer != 0 && cancel_running_.load(std::memory_order_seq_cst)) {
    reinterpret_cast<TaskBase*>(outer)->RequestCancellation(cancel_reason_);
  }
  tls_running_frame = frame.outer;
  // F1-F3 (task.h): a task whose future is gone is destroyed without being
  // resolved; else it resolves (step 5) and the queue's reference goes.
  if (owns_queue_ref && task->ReleaseIfSoleOwner()) return;
  task->Finish(outcome);
  if (owns_queue_ref) task->Unref();
}

}  // namespace pool_internal
}  // namespace cancelpool
