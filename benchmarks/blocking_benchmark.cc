// Copyright 2026 The cancelpool Authors.
//
// Blocking-aware workers (ThreadPoolOptions::max_blocking_threads): the
// issue-14 "/sleep" case. Each iteration runs kTasks tasks that each sleep
// 5 ms in cancelpool::SleepFor (an interruptible wait, so a blocking region),
// submitted from one outside thread, and waits for all of them:
//   BM_Sleep_Pool/2/0    2 workers, compensation off: 2 sleeps at a time;
//   BM_Sleep_Pool/2/62   2 workers + up to 62 extra threads (64 in all);
//   BM_Sleep_Pool/64/0   64 workers, compensation off (idle ones spin, park);
//   BM_Sleep_PlainThreads/64  the same waits on 64 plain threads (a mutex +
//                        condvar pool): what "running the waits on their own
//                        threads" gives.
// Counters: tasks_per_s, and ctx_switches_per_task (voluntary + involuntary,
// getrusage(RUSAGE_SELF), over the iteration: spinning idle workers show up
// here). Results: benchmarks/FINDINGS.md, "Blocking-aware workers".
//   tools/bazel run -c opt //benchmarks:blocking_benchmark
#include <sys/resource.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "benchmarks/support/bench_util.h"
#include "benchmarks/support/plain_pool.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/thread_pool.h"

namespace {

constexpr int kTasks = 256;
constexpr absl::Duration kSleep = absl::Milliseconds(5);

int64_t ContextSwitches() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_nvcsw + usage.ru_nivcsw;
}

void Report(benchmark::State& state, int64_t switches) {
  const double tasks = static_cast<double>(state.iterations()) * kTasks;
  state.counters["tasks_per_s"] =
      benchmark::Counter(tasks, benchmark::Counter::kIsRate);
  state.counters["ctx_switches_per_task"] =
      static_cast<double>(switches) / tasks;
}

void BM_Sleep_Pool(benchmark::State& state) {
  cancelpool::ThreadPoolOptions options;
  options.num_workers = static_cast<int>(state.range(0));
  options.max_blocking_threads = static_cast<int>(state.range(1));
  cancelpool::ThreadPool pool(std::move(options));
  int64_t switches = 0;
  for (auto _ : state) {
    const int64_t before = ContextSwitches();
    std::vector<cancelpool::Future<void>> futures;
    futures.reserve(kTasks);
    for (int i = 0; i < kTasks; ++i) {
      futures.push_back(pool.Submit([] { cancelpool::SleepFor(kSleep); }));
    }
    for (auto& f : futures) f.Wait();
    switches += ContextSwitches() - before;
  }
  Report(state, switches);
  const cancelpool::PoolStats s = pool.Stats();
  state.counters["extra_threads_started"] =
      static_cast<double>(s.blocking_threads_started);
}
BENCHMARK(BM_Sleep_Pool)
    ->ArgNames({"workers", "max_blocking"})
    ->Args({2, 0})
    ->Args({2, 62})
    ->Args({64, 0})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.5);

void BM_Sleep_PlainThreads(benchmark::State& state) {
  cancelpool_bench::PlainPool pool(static_cast<int>(state.range(0)));
  int64_t switches = 0;
  for (auto _ : state) {
    const int64_t before = ContextSwitches();
    std::atomic<int> left{kTasks};
    absl::Notification done;
    for (int i = 0; i < kTasks; ++i) {
      pool.Submit([&left, &done] {
        absl::SleepFor(kSleep);
        if (left.fetch_sub(1) == 1) done.Notify();
      });
    }
    done.WaitForNotification();
    switches += ContextSwitches() - before;
  }
  Report(state, switches);
}
BENCHMARK(BM_Sleep_PlainThreads)
    ->ArgNames({"threads"})
    ->Arg(64)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.5);

}  // namespace

BENCHMARK_MAIN();
