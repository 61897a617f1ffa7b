// Copyright 2026 The cancelpool Authors.
//
// Pool-level benchmarks:
//   * BM_Pool_*/spin:N -- the ThreadPoolOptions::idle_spin_rounds sweep (fork-
//     join fib, back-to-back round trips, a burst of outside submissions),
//     with the whole process's CPU time per operation beside the wall time,
//     so the default can be chosen by benchmark.
//   * BM_Cancelpool_ShutdownCancel / BM_Plain_ShutdownBroadcast -- time from
//     a cancel-shutdown to every worker joined, with one running task per
//     worker blocked in an interruptible wait, and optionally 10k tasks
//     queued behind them; the baseline is a plain condition-variable pool's
//     broadcast-and-join (support/plain_pool.h), in the same binary.
//
// Flags (besides Google Benchmark's): --cancelpool_quick shrinks the fixed
// iteration counts.
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "benchmarks/support/bench_util.h"
#include "benchmarks/support/plain_pool.h"
#include "benchmarks/support/pool_fib.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/thread_pool.h"

namespace cancelpool_bench {
namespace {

using cancelpool::CancellationToken;
using cancelpool::Future;
using cancelpool::ShutdownMode;
using cancelpool::TaskOutcome;
using cancelpool::ThreadPool;
using cancelpool::ThreadPoolOptions;
using cancelpool::WaitResult;

bool g_quick = false;
int Iters(int full) { return g_quick ? std::max(1, full / 20) : full; }

ThreadPoolOptions SpinOptions(int spin_rounds) {
  ThreadPoolOptions options;
  options.num_workers = NumWorkers();
  options.idle_spin_rounds = spin_rounds;
  return options;
}

// Whole-process CPU time per operation, beside the wall time.
class CpuMeter {
 public:
  CpuMeter() : start_(ProcessCpuNs()) {}
  void Report(benchmark::State& state, int64_t ops) {
    state.counters["cpu_ns_per_op"] =
        static_cast<double>(ProcessCpuNs() - start_) / static_cast<double>(ops);
  }

 private:
  int64_t start_;
};

void BM_Pool_Fib30(benchmark::State& state) {
  ThreadPool pool(SpinOptions(static_cast<int>(state.range(0))));
  int64_t r = 0;
  CpuMeter cpu;
  for (auto _ : state) {
    r = *pool.Submit([&pool] { return PoolFib(pool, 30); }).Get();
    benchmark::DoNotOptimize(r);
  }
  cpu.Report(state, state.iterations() * FibSpawns(30));
  if (r != FibValue(30)) state.SkipWithError("wrong fib value");
  state.SetItemsProcessed(state.iterations() * FibSpawns(30));
}

void BM_Pool_RoundTrip(benchmark::State& state) {
  ThreadPool pool(SpinOptions(static_cast<int>(state.range(0))));
  Latencies lat;
  int64_t bad = 0;
  CpuMeter cpu;
  for (auto _ : state) {
    const int64_t t0 = NowNs();
    auto r = pool.Submit([] { return 42; }).Get();
    const int64_t t1 = NowNs();
    bad += !r.ok() || *r != 42;
    lat.Add(t1 - t0);
  }
  cpu.Report(state, state.iterations());
  if (bad != 0) state.SkipWithError("wrong result");
  lat.Report(state);
  state.SetItemsProcessed(state.iterations());
}

// Round trips with a pause between them long enough for the workers to park:
// the wake-up path rather than the spinning one. Manual time (the pause is
// not measured).
void BM_Pool_RoundTripAfterPause(benchmark::State& state) {
  ThreadPool pool(SpinOptions(static_cast<int>(state.range(0))));
  Latencies lat;
  int64_t bad = 0;
  for (auto _ : state) {
    std::this_thread::sleep_for(std::chrono::microseconds(500));
    const int64_t t0 = NowNs();
    auto r = pool.Submit([] { return 42; }).Get();
    const int64_t t1 = NowNs();
    state.SetIterationTime((t1 - t0) * 1e-9);
    bad += !r.ok() || *r != 42;
    lat.Add(t1 - t0);
  }
  if (bad != 0) state.SkipWithError("wrong result");
  lat.Report(state);
  state.SetItemsProcessed(state.iterations());
}

void BM_Pool_EmptyTasks100k(benchmark::State& state) {
  ThreadPool pool(SpinOptions(static_cast<int>(state.range(0))));
  std::vector<Future<void>> futures;
  futures.reserve(100000);
  int64_t ok = 0;
  CpuMeter cpu;
  for (auto _ : state) {
    for (int i = 0; i < 100000; ++i) futures.push_back(pool.Submit([] {}));
    ok = 0;
    for (auto& f : futures) {
      f.Wait();
      ok += f.Outcome() == TaskOutcome::kSucceeded;
    }
    futures.clear();
  }
  cpu.Report(state, state.iterations() * 100000);
  if (ok != 100000) state.SkipWithError("a task did not run");
  state.SetItemsProcessed(state.iterations() * 100000);
}

// ---------------------------------------------------------------------------
// Shutdown: state.range(0) tasks queued behind NumWorkers() blocked ones.

// Waits until `n` tasks have published their thread ids and each of those
// threads sleeps in the kernel.
void WaitBlocked(const std::vector<std::atomic<int64_t>>& tids, int n) {
  for (int i = 0; i < n; ++i) WaitUntilSleeping(tids[i]);
}

void BM_Cancelpool_ShutdownCancel(benchmark::State& state) {
  const int queued = static_cast<int>(state.range(0));
  const int workers = NumWorkers();
  int64_t bad = 0;
  for (auto _ : state) {
    auto pool = std::make_unique<ThreadPool>(workers);
    std::vector<std::atomic<int64_t>> tids(workers);
    std::atomic<int> next{0};
    std::vector<Future<void>> running, waiting;
    for (int i = 0; i < workers; ++i) {
      running.push_back(
          pool->Submit([&](CancellationToken token) -> absl::Status {
            tids[next.fetch_add(1)].store(CurrentTid(),
                                          std::memory_order_release);
            if (cancelpool::SleepFor(token, absl::Hours(1)) !=
                WaitResult::kCancelled) {
              return absl::InternalError("slept in full");
            }
            return token.Reason();
          }));
    }
    WaitBlocked(tids, workers);
    waiting.reserve(queued);
    for (int i = 0; i < queued; ++i) waiting.push_back(pool->Submit([] {}));

    const int64_t t0 = NowNs();
    pool->Shutdown(ShutdownMode::kCancel);
    pool.reset();  // waits for termination, joins the workers
    const int64_t t1 = NowNs();
    state.SetIterationTime((t1 - t0) * 1e-9);

    for (auto& f : running) bad += f.Outcome() != TaskOutcome::kCancelled;
    for (auto& f : waiting) bad += f.Outcome() != TaskOutcome::kCancelled;
  }
  if (bad != 0) state.SkipWithError("a task was not cancelled");
  state.counters["workers"] = workers;
  state.counters["queued"] = queued;
}

void BM_Plain_ShutdownBroadcast(benchmark::State& state) {
  const int queued = static_cast<int>(state.range(0));
  const int workers = NumWorkers();
  std::atomic<int64_t> ran{0};
  for (auto _ : state) {
    auto pool = std::make_unique<PlainPool>(workers);
    std::vector<std::atomic<int64_t>> tids(workers);
    std::atomic<int> next{0};
    for (int i = 0; i < workers; ++i) {
      pool->Submit([&, p = pool.get()] {
        tids[next.fetch_add(1)].store(CurrentTid(), std::memory_order_release);
        p->WaitUntilStopping();
      });
    }
    WaitBlocked(tids, workers);
    for (int i = 0; i < queued; ++i) pool->Submit([&] { ran.fetch_add(1); });

    const int64_t t0 = NowNs();
    pool->ShutdownNow();  // drop queued, broadcast, join
    const int64_t t1 = NowNs();
    state.SetIterationTime((t1 - t0) * 1e-9);
    pool.reset();
  }
  if (ran.load() != 0) state.SkipWithError("a dropped task ran");
  state.counters["workers"] = workers;
  state.counters["queued"] = queued;
}

void RegisterAll() {
  using benchmark::RegisterBenchmark;
  for (int spin : {0, 16, 64, 256}) {
    RegisterBenchmark("BM_Pool_Fib30", BM_Pool_Fib30)
        ->ArgName("spin")
        ->Arg(spin)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    RegisterBenchmark("BM_Pool_RoundTrip", BM_Pool_RoundTrip)
        ->ArgName("spin")
        ->Arg(spin)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
    RegisterBenchmark("BM_Pool_RoundTripAfterPause",
                      BM_Pool_RoundTripAfterPause)
        ->ArgName("spin")
        ->Arg(spin)
        ->UseManualTime()
        ->Iterations(Iters(400))
        ->Unit(benchmark::kMicrosecond);
    RegisterBenchmark("BM_Pool_EmptyTasks100k", BM_Pool_EmptyTasks100k)
        ->ArgName("spin")
        ->Arg(spin)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  for (int queued : {0, 10000}) {
    RegisterBenchmark("BM_Cancelpool_ShutdownCancel",
                      BM_Cancelpool_ShutdownCancel)
        ->ArgName("queued")
        ->Arg(queued)
        ->UseManualTime()
        ->Iterations(Iters(100))
        ->Unit(benchmark::kMicrosecond);
    RegisterBenchmark("BM_Plain_ShutdownBroadcast", BM_Plain_ShutdownBroadcast)
        ->ArgName("queued")
        ->Arg(queued)
        ->UseManualTime()
        ->Iterations(Iters(100))
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace
}  // namespace cancelpool_bench

int main(int argc, char** argv) {
  cancelpool_bench::g_quick = cancelpool_bench::TakeQuickFlag(&argc, argv);
  cancelpool_bench::RegisterAll();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("workers",
                              std::to_string(cancelpool_bench::NumWorkers()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
