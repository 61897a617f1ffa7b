// Copyright 2026 The cancelpool Authors.
//
// ScopedBlockingRegion: declares that the calling thread is about to block
// (a client library's blocking call: a database driver, a DNS lookup, a
// blocking read) so that the thread pool running it can keep its cores busy
// meanwhile.
//
// MODEL
// Inside a task of a cancelpool::ThreadPool whose
// ThreadPoolOptions::max_blocking_threads is above 0, entering the outermost
// region on a thread tells the pool that one of its threads stops running
// tasks. If tasks are queued and no other thread of the pool is free, the
// pool wakes an idle extra thread or starts one (at most
// max_blocking_threads extra threads, each retiring after
// blocking_thread_keep_alive without work). When the region ends the thread
// carries on with its task; once more threads are free than the pool's
// num_workers, the extra ones stop taking new tasks and retire (the same
// idea as Java's ForkJoinPool.managedBlock, Go's hand-off of a blocked
// thread's processor, Tokio's block_in_place).
//
// The interruptible waits of cancelpool/cancel/wait.h (SleepFor,
// SleepUntil, Event::Wait, AwaitWithCancellation, WaitWithCancellation,
// WaitForFd) enter a region themselves when they really block, and so do a
// Future's waits that block instead of helping (a limited wait inside a
// task). A helping wait (Future::Wait without a limit, inside a task) runs
// other tasks and is not a region.
//
// COST
// Outside a pool thread: a thread-local load and an increment. On a pool
// thread: the same plus a counter (PoolStats::blocking_regions) and, with
// max_blocking_threads above 0, a mutex per outermost region.
//
// THREAD SAFETY AND LIFETIME
// A region belongs to the thread that created it: destroy it on the same
// thread, in reverse order of creation (it is a scope guard; it cannot be
// moved or copied). Regions nest; only the outermost one counts. Keep only
// the blocking call inside: a region that runs pool tasks (a helping wait
// inside it) makes the pool count a busy thread as blocked, so it may run
// more threads than num_workers for that time.
//
// CANCELLATION AND SHUTDOWN
// A region does not make the blocking call interruptible: pair it with the
// call's own timeout or with a cancellation callback that interrupts it.
// After the pool shut down, a region still counts, but no extra thread is
// started for work the pool no longer admits.
#ifndef CANCELPOOL_CANCEL_BLOCKING_H_
#define CANCELPOOL_CANCEL_BLOCKING_H_

namespace cancelpool {

class ScopedBlockingRegion final {
 public:
  ScopedBlockingRegion() noexcept;
  ~ScopedBlockingRegion();
  ScopedBlockingRegion(const ScopedBlockingRegion&) = delete;
  ScopedBlockingRegion& operator=(const ScopedBlockingRegion&) = delete;

  // True if the calling thread is inside a region.
  static bool InRegion() noexcept;
};

}  // namespace cancelpool

#endif  // CANCELPOOL_CANCEL_BLOCKING_H_
