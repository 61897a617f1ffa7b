// Copyright 2026 The cancelpool Authors.
//
// PlainPool: the textbook thread pool -- one std::deque of std::function
// under one std::mutex, one std::condition_variable, notify_one per submit --
// written here as the "what you would write yourself" peer. No work stealing,
// no futures, no cancellation: tasks that must be stoppable wait on a flag of
// their own (see WaitUntilStopping for the shutdown baseline).
#ifndef CANCELPOOL_BENCHMARKS_SUPPORT_PLAIN_POOL_H_
#define CANCELPOOL_BENCHMARKS_SUPPORT_PLAIN_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace cancelpool_bench {

class PlainPool {
 public:
  explicit PlainPool(int num_workers) {
    workers_.reserve(num_workers);
    for (int i = 0; i < num_workers; ++i) {
      workers_.emplace_back([this] { WorkerLoop(); });
    }
  }
  // Runs everything queued, then joins.
  ~PlainPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      draining_ = true;
    }
    cv_.notify_all();
    Join();
  }
  PlainPool(const PlainPool&) = delete;
  PlainPool& operator=(const PlainPool&) = delete;

  void Submit(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

  // The shutdown baseline: drop everything queued, set the stop flag,
  // broadcast, join. Running tasks that wait in WaitUntilStopping() return.
  void ShutdownNow() {
    std::deque<std::function<void()>> dropped;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      dropped.swap(queue_);
    }
    cv_.notify_all();
    stop_cv_.notify_all();
    Join();
  }

  // For a task: blocks until ShutdownNow() (the pool-wide equivalent of an
  // interruptible wait; a plain pool has no per-task cancellation).
  void WaitUntilStopping() {
    std::unique_lock<std::mutex> lock(mu_);
    stop_cv_.wait(lock, [this] { return stopping_; });
  }

  int num_workers() const { return static_cast<int>(workers_.size()); }

 private:
  void WorkerLoop() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock,
                 [this] { return stopping_ || draining_ || !queue_.empty(); });
        if (stopping_ || queue_.empty()) return;  // stop, or drained
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }
  void Join() {
    for (auto& t : workers_) {
      if (t.joinable()) t.join();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;       // workers wait here for tasks
  std::condition_variable stop_cv_;  // tasks wait here for ShutdownNow
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  bool draining_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace cancelpool_bench

#endif  // CANCELPOOL_BENCHMARKS_SUPPORT_PLAIN_POOL_H_
