// Copyright 2026 The cancelpool Authors.
//
// Plain value types of the pool's public API: construction options, task
// options, statistics and the shutdown report. See thread_pool.h for the
// contracts of the operations that use them.
#ifndef CANCELPOOL_POOL_OPTIONS_H_
#define CANCELPOOL_POOL_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"

namespace cancelpool {

// Each field's accepted range is given with it. ThreadPool::Create rejects
// a value outside its range with absl::InvalidArgumentError; the
// ThreadPool constructor (which cannot return a status) clamps it to the
// nearest accepted value instead, as described per field.
struct ThreadPoolOptions {
  // The most workers a pool may have.
  static constexpr int kMaxWorkers = 4096;

  // Number of worker threads, 0 to kMaxWorkers. 0 means
  // std::thread::hardware_concurrency() (at least 1). The constructor treats
  // a negative value as 0 and a larger one as kMaxWorkers.
  int num_workers = 0;
  // Worker threads are named "<prefix><index>" (truncated to 15 bytes, the
  // Linux limit), as shown by top -H and gdb's "info threads".
  std::string thread_name_prefix = "cancelpool-";
  // Admission control: the most tasks that may be queued (submitted but not
  // yet started) at once. A Submit beyond it returns a future already failed
  // with absl::ResourceExhaustedError; nothing blocks and nothing is dropped
  // silently. Tasks cancelled while queued count until they are taken out of
  // the queues (a full pool first reclaims those in the shared queue, so
  // submit-then-cancel cannot grow memory without bound). 0 means unlimited
  // (no admission bookkeeping at all). Any value is accepted; values above
  // INT64_MAX act as INT64_MAX.
  size_t max_queued_tasks = 0;
  // How many rounds an idle worker searches the other queues (spinning with a
  // CPU pause between rounds) before it parks; larger trades CPU for
  // wake-up latency. 0 to INT_MAX (the constructor treats a negative value
  // as 0). Shutdown ends a spin at once: a spinning worker checks for it
  // every round. (How the default was chosen: benchmarks/FINDINGS.md,
  // section 8.)
  int idle_spin_rounds = 64;
  // Called on each worker thread when it starts and just before it exits,
  // with the worker's index. Must not throw. on_worker_start may submit to
  // the pool (the task runs); a Submit from on_worker_stop comes after the
  // pool terminated and is rejected (FailedPrecondition), never lost.
  absl::AnyInvocable<void(int worker_index)> on_worker_start;
  absl::AnyInvocable<void(int worker_index)> on_worker_stop;
  // Blocking-aware workers. When a task blocks inside a blocking region
  // (cancelpool/cancel/blocking.h: the interruptible waits of
  // cancelpool/cancel/wait.h enter one themselves) while tasks are queued
  // and no other thread of the pool is free, the pool wakes or starts an
  // extra thread, so that num_workers threads keep running tasks. At most
  // `max_blocking_threads` extra threads exist at once; 0 (the default)
  // turns compensation off. 0 to kMaxBlockingThreads (the constructor treats
  // a negative value as 0 and a larger one as kMaxBlockingThreads). Extra
  // threads are named "<prefix>b<slot>"; they take tasks like workers (the
  // queues, stealing, helping waits) but do not run on_worker_start /
  // on_worker_stop. Each possible extra thread reserves a task deque (about
  // 8 KiB) when the pool is created. Shutdown and destruction wait for the
  // extra threads as they do for the workers; a failure to create one is
  // counted (PoolStats::blocking_thread_start_failures), never fatal.
  static constexpr int kMaxBlockingThreads = 4096;
  int max_blocking_threads = 0;
  // An extra thread that found no work for this long exits. Any non-negative
  // value (zero: at once; absl::InfiniteDuration(): never before shutdown);
  // the constructor treats a negative value as zero.
  absl::Duration blocking_thread_keep_alive = absl::Seconds(10);

  // Overload shedding by queueing delay (CoDel, as in "Fail at Scale"): a
  // task taken from a queue after waiting longer than `queue_delay_target`,
  // while no task taken during the last `queue_delay_interval` waited less,
  // is not run: its future fails with absl::ResourceExhaustedError (counted
  // in PoolStats::shed_queue_delay) and its callable is destroyed. Tasks a
  // helping wait runs inline are never shed. absl::ZeroDuration() (the
  // default) or absl::InfiniteDuration() turns it off, and then no enqueue
  // time is even read. A negative target, or a non-positive or infinite
  // interval while a target is set, is rejected by ThreadPool::Create; the
  // constructor treats a negative target as off and such an interval as
  // 100 ms.
  absl::Duration queue_delay_target = absl::ZeroDuration();
  absl::Duration queue_delay_interval = absl::Milliseconds(100);

  // What the destructor does: drain for `destructor_grace`, then cancel
  // everything still queued or running and wait for the running tasks to
  // return. See ThreadPool::~ThreadPool. Any value: zero or negative cancels
  // at once, absl::InfiniteDuration() drains without a time limit.
  absl::Duration destructor_grace = absl::Seconds(10);
};

// Per-task options for ThreadPool::SubmitWith.
struct TaskOptions {
  // The task's token is cancelled (with the parent's reason) when `parent`
  // is, e.g. the token of the server request the task belongs to.
  CancellationToken parent;
  // The task's token is cancelled with DeadlineExceeded at this time (a task
  // still queued then never runs). A deadline that has already passed when
  // the task is submitted is refused at once: the future resolves as
  // cancelled with absl::DeadlineExceededError, the task is never queued (so
  // it takes no place under max_queued_tasks) and is counted in
  // cancelled_before_start and deadline_passed_at_submit.
  absl::Time deadline = absl::InfiniteFuture();

  static TaskOptions WithTimeout(absl::Duration timeout) {
    TaskOptions options;
    options.deadline = absl::Now() + timeout;
    return options;
  }
};

// Counters, readable at any time without stopping the pool. Each counter is
// exact once the pool has terminated; while it runs, a snapshot may be a few
// tasks behind on any counter (they are read one by one, without a lock).
// Every submitted task ends in exactly one of rejected, completed, failed,
// cancelled_before_start, cancelled_while_running and shed_queue_delay;
// InFlight() is what is left.
struct PoolStats {
  uint64_t submitted = 0;  // every Submit call, rejected ones included
  uint64_t rejected = 0;   // failed at once: after shutdown, or queue full
  uint64_t completed = 0;  // ran and succeeded
  uint64_t failed = 0;     // ran and returned an error or threw
  uint64_t cancelled_before_start = 0;   // never ran
  uint64_t cancelled_while_running = 0;  // ran and acknowledged cancellation
  // Never ran: queued longer than queue_delay_target in an overload
  // (ResourceExhausted).
  uint64_t shed_queue_delay = 0;
  // Of cancelled_before_start: the task's deadline had passed at Submit.
  uint64_t deadline_passed_at_submit = 0;
  uint64_t steals = 0;  // tasks taken from another worker's deque
  uint64_t parks = 0;   // times a worker went to sleep
  // Blocking-aware workers (max_blocking_threads): outermost blocking
  // regions entered on the pool's threads (counted even when compensation
  // is off); times a region or a submission woke or started an extra thread;
  // extra threads started, exited, and failed to start.
  uint64_t blocking_regions = 0;
  uint64_t compensations = 0;
  uint64_t blocking_threads_started = 0;
  uint64_t blocking_threads_retired = 0;
  uint64_t blocking_thread_start_failures = 0;

  // Submitted tasks not yet resolved (queued or running).
  uint64_t InFlight() const {
    const uint64_t done = rejected + completed + failed +
                          cancelled_before_start + cancelled_while_running +
                          shed_queue_delay;
    return submitted > done ? submitted - done : 0;
  }
};

enum class ShutdownMode {
  // Stop admitting outside work; run everything queued; wait for running
  // tasks. Tasks that running tasks submit are still accepted and run.
  kDrain,
  // Stop admitting; resolve every queued task as cancelled without running
  // it; cancel the token of every running task; wait for them.
  kCancel,
};

// What happened to every task the pool was given.
struct ShutdownReport {
  // True if every task finished (nothing left running or queued).
  bool terminated = false;
  // The counters when the report was taken. Tasks still queued or running
  // then (after a cancel shutdown: tasks that ignored their tokens):
  // stats.InFlight().
  PoolStats stats;
  // Tasks that a cancel shutdown (Shutdown(kCancel), the cancel step of
  // DrainThenCancel or of the destructor) resolved as cancelled without
  // running them: queued when it came, or submitted from a running task
  // afterwards. Each is also counted in stats.cancelled_before_start (with
  // the tasks cancelled before their start for any other reason).
  uint64_t never_ran = 0;
};

}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_OPTIONS_H_
