// Copyright 2026 The cancelpool Authors.
//
// Small helpers shared by the benchmark binaries: worker count, fib, latency
// percentiles, a group of persistent "outside" submitter threads, "is this
// thread asleep in the kernel".
#ifndef CANCELPOOL_BENCHMARKS_SUPPORT_BENCH_UTIL_H_
#define CANCELPOOL_BENCHMARKS_SUPPORT_BENCH_UTIL_H_

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"

namespace cancelpool_bench {

// Removes our own --cancelpool_quick flag from argv (Google Benchmark rejects
// flags it does not know) and says whether it was there: reduced sizes for
// the CI smoke run.
inline bool TakeQuickFlag(int* argc, char** argv) {
  bool quick = false;
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    if (std::string_view(argv[i]) == "--cancelpool_quick") {
      quick = true;
    } else {
      argv[out++] = argv[i];
    }
  }
  *argc = out;
  return quick;
}

// Worker count for every system: the number of cores.
inline int NumWorkers() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

inline int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// CPU time of the whole process (all threads), for "what does spinning cost".
inline int64_t ProcessCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Whole-process CPU time over wall time while alive: how many cores the
// benchmark kept busy (a pool whose threads block instead of working shows
// less than its worker count). Sets the `cores_busy` counter.
class CoresBusy {
 public:
  CoresBusy() : wall_(NowNs()), cpu_(ProcessCpuNs()) {}
  void Report(benchmark::State& state) {
    const int64_t wall = NowNs() - wall_;
    state.counters["cores_busy"] =
        wall > 0 ? static_cast<double>(ProcessCpuNs() - cpu_) / wall : 0;
  }

 private:
  int64_t wall_, cpu_;
};

// Calls `f` until it returns true, yielding in between.
template <typename F>
void SpinUntil(F f) {
  while (!f()) std::this_thread::yield();
}

// "Is this thread really blocked?" -- the cancellation-latency benchmarks
// cancel only once the task's thread sleeps in the kernel.
inline int64_t CurrentTid() {
  return static_cast<int64_t>(syscall(SYS_gettid));
}

// The state letter of thread `tid` of this process in /proc ('S': asleep in
// the kernel), or '?'.
inline char ThreadState(int64_t tid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/self/task/%lld/stat",
                static_cast<long long>(tid));
  std::ifstream in(path);
  std::string stat;
  std::getline(in, stat);
  const size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return '?';
  return stat[close + 2];
}

// Waits until a task has published its CurrentTid() in `tid` and that thread
// sleeps in the kernel (at most 100000 looks, then returns anyway).
// The acquire loads pair with the task's release store of its tid.
inline void WaitUntilSleeping(const std::atomic<int64_t>& tid) {
  SpinUntil([&] { return tid.load(std::memory_order_acquire) != 0; });
  const int64_t t = tid.load(std::memory_order_acquire);
  for (int i = 0; i < 100000 && ThreadState(t) != 'S'; ++i) {
    std::this_thread::yield();
  }
}

// Plain recursive fib (the sequential baseline).
__attribute__((noinline)) inline int SeqFib(int n) {
  return n < 2 ? n : SeqFib(n - 1) + SeqFib(n - 2);
}
// The true value, computed iteratively (for checking results).
constexpr int64_t FibValue(int n) {
  int64_t a = 0, b = 1;
  for (int i = 0; i < n; ++i) {
    const int64_t c = a + b;
    a = b;
    b = c;
  }
  return a;
}
// Spawns of fork-join fib(n) with one task per call that has children (one
// child spawned, the other computed inline): fib(n+1) - 1.
constexpr int64_t FibSpawns(int n) { return FibValue(n + 1) - 1; }

// Latency samples in nanoseconds; percentiles by nearest rank.
class Latencies {
 public:
  Latencies() { samples_.reserve(1 << 16); }
  void Add(int64_t ns) { samples_.push_back(ns); }
  size_t size() const { return samples_.size(); }
  // p in [0, 100].
  double Percentile(double p) {
    if (samples_.empty()) return 0;
    std::sort(samples_.begin(), samples_.end());
    size_t rank = static_cast<size_t>(p / 100.0 * samples_.size());
    if (rank >= samples_.size()) rank = samples_.size() - 1;
    return static_cast<double>(samples_[rank]);
  }
  // Sets p50_ns and p99_ns counters (and the sample count).
  void Report(benchmark::State& state) {
    state.counters["p50_ns"] = Percentile(50);
    state.counters["p99_ns"] = Percentile(99);
    state.counters["samples"] = static_cast<double>(samples_.size());
  }

 private:
  std::vector<int64_t> samples_;
};

// `n` persistent threads that run body(index) together each time Run() is
// called; Run() returns when all have returned. Built outside the timed loop
// so thread creation is not measured.
class SubmitterGroup {
 public:
  SubmitterGroup(int n, std::function<void(int)> body)
      : body_(std::move(body)) {
    for (int i = 0; i < n; ++i) {
      threads_.emplace_back([this, i] { Loop(i); });
    }
  }
  ~SubmitterGroup() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      exit_ = true;
      ++generation_;
    }
    start_cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    running_ = static_cast<int>(threads_.size());
    ++generation_;
    start_cv_.notify_all();
    done_cv_.wait(lock, [this] { return running_ == 0; });
  }

 private:
  void Loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        start_cv_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (exit_) return;
      }
      body_(index);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (--running_ == 0) done_cv_.notify_one();
      }
    }
  }

  std::function<void(int)> body_;
  std::mutex mu_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  uint64_t generation_ = 0;
  int running_ = 0;
  bool exit_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace cancelpool_bench

#endif  // CANCELPOOL_BENCHMARKS_SUPPORT_BENCH_UTIL_H_
