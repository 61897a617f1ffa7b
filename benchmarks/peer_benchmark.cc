// Copyright 2026 The cancelpool Authors.
//
// The peer-comparison suite: cancelpool beside oneTBB, Boost.Asio's
// thread_pool, a plain mutex+condition_variable pool (support/plain_pool.h)
// and std::async, on the same scenarios. See benchmarks/README.md for what
// each scenario measures, and //benchmarks:report for the table and chart.
//
// Layout: the systems as adapters (a small common interface), then one
// section per scenario, written once and generic over the adapter where the
// code is the same for every system, then kBenchmarks: the one table that
// names and registers every benchmark, BM_<System>_<Scenario>[/args].
// Systems: Cancelpool (and variants CancelpoolLatch, CancelpoolParent,
// CancelpoolEvent), Tbb, TbbGroup, Asio, Plain, Async, Seq (sequential
// baseline), Calib (calibration rows).
//
// Every pool has NumWorkers() (= cores) threads that run tasks, built outside
// the timed loop. TBB: a fork-join arena of NumWorkers() slots, one of them
// the calling thread's (TBB's natural use: the caller works while it waits),
// and a worker arena of NumWorkers() slots reserved for TBB's own threads
// (for "submit from outside" scenarios, the same shape as the other pools).
//
// Flags (besides Google Benchmark's): --cancelpool_quick shrinks the fixed
// iteration counts so the whole suite runs in seconds (CI smoke test).
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <future>
#include <latch>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "benchmarks/support/alloc_counter.h"
#include "benchmarks/support/bench_util.h"
#include "benchmarks/support/plain_pool.h"
#include "benchmarks/support/pool_fib.h"
#include "boost/asio/post.hpp"
#include "boost/asio/thread_pool.hpp"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/parallel_for.h"
#include "cancelpool/pool/task_group.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/pool/when.h"
#include "oneapi/tbb/blocked_range.h"
#include "oneapi/tbb/global_control.h"
#include "oneapi/tbb/parallel_for.h"
#include "oneapi/tbb/task_arena.h"
#include "oneapi/tbb/task_group.h"

namespace cancelpool_bench {
namespace {

using cancelpool::CancellationSource;
using cancelpool::CancellationToken;
using cancelpool::TaskOptions;
using cancelpool::TaskOutcome;
using cancelpool::ThreadPool;
using cancelpool::WaitResult;

bool g_quick = false;
// Fixed iteration counts (manual-time scenarios with per-iteration set-up).
int Iters(int full) { return g_quick ? std::max(1, full / 50) : full; }

constexpr int kFibN = 30;
constexpr int kLeafCutoff = 20;     // scenario 1b
constexpr int kTasks = 100000;      // scenarios 2, 3, 7a
constexpr int kAsyncTasks = 10000;  // std::async: one thread per task
constexpr int kChain = 1000000;     // scenario 5
constexpr int kAsyncChain = 10000;
constexpr int kPforN = 1 << 20;     // scenario 6
constexpr int kAllocTasks = 10000;  // scenario 8
constexpr int kFanOut = 1000;       // scenario 11
constexpr int kAsyncAllocTasks = 1000;

tbb::task_arena* g_tbb_fork_join = nullptr;  // NumWorkers() slots, 1 caller
tbb::task_arena* g_tbb_workers = nullptr;    // NumWorkers() worker slots

// ---------------------------------------------------------------------------
// The systems. An adapter owns its pool for one benchmark run (built when the
// benchmark function starts, outside the timed loop; joined when it ends) and
// offers what its system can do:
//   Post(f)       f runs on the system, fire and forget (from outside or
//                 from inside a task): Cancelpool (the future is dropped),
//                 Tbb (the worker arena), Asio, Plain.
//   Spawn(f), Get(future), Wait(future), Future<T>
//                 f runs and a future holds its result: Cancelpool, Async.
//   Fib(n)        fork-join fib(n), a task per call that has children, run
//                 to completion: Cancelpool, Tbb (the others have no helping
//                 wait; see README).
// What is left differs per system and is written out in its scenario.

int TbbFib(int n) {
  if (n < 2) return n;
  int x = 0;
  tbb::task_group group;
  group.run([&x, n] { x = TbbFib(n - 1); });
  const int y = TbbFib(n - 2);
  group.wait();
  return x + y;
}

class CancelpoolSystem {
 public:
  template <typename T>
  using Future = cancelpool::Future<T>;

  ThreadPool& pool() { return pool_; }
  template <typename F>
  void Post(F f) {
    pool_.Submit(std::move(f));
  }
  template <typename F>
  auto Spawn(F f) {
    return pool_.Submit(std::move(f));
  }
  static int Get(Future<int>& f) {
    auto r = f.Get();
    return r.ok() ? *r : -1;
  }
  static void Wait(Future<void>& f) { f.Wait(); }
  int64_t Fib(int n) {
    return *pool_.Submit([&pool = pool_, n] { return PoolFib(pool, n); }).Get();
  }
  // Returns report(state): the pool's steals and parks per iteration since
  // this call.
  auto StatsSince() {
    return [this, before = pool_.Stats()](benchmark::State& state) {
      const cancelpool::PoolStats after = pool_.Stats();
      const double iters = static_cast<double>(state.iterations());
      state.counters["steals"] = (after.steals - before.steals) / iters;
      state.counters["parks"] = (after.parks - before.parks) / iters;
    };
  }

 private:
  ThreadPool pool_{NumWorkers()};
};

class TbbSystem {
 public:
  template <typename F>
  void Post(F f) {
    g_tbb_workers->enqueue(std::move(f));
  }
  int64_t Fib(int n) {
    int64_t r = 0;
    g_tbb_fork_join->execute([&] { r = TbbFib(n); });
    return r;
  }
  auto StatsSince() {  // TBB exposes no such counters: reports nothing
    return [](benchmark::State&) {};
  }
};

class AsioSystem {
 public:
  AsioSystem() : pool_(NumWorkers()) {}
  ~AsioSystem() { pool_.join(); }
  template <typename F>
  void Post(F f) {
    boost::asio::post(pool_, std::move(f));
  }

 private:
  boost::asio::thread_pool pool_;
};

class PlainSystem {
 public:
  template <typename F>
  void Post(F f) {
    pool_.Submit(std::move(f));
  }

 private:
  PlainPool pool_{NumWorkers()};
};

// std::async(std::launch::async): a thread per task, no pool.
class AsyncSystem {
 public:
  template <typename T>
  using Future = std::future<T>;

  template <typename F>
  static auto Spawn(F f) {
    return std::async(std::launch::async, std::move(f));
  }
  static int Get(Future<int>& f) { return f.get(); }
  static void Wait(Future<void>& f) { f.get(); }
};

// TBB's idiom for "run these and wait": task_group run/wait in the fork-join
// arena. The calling thread takes a slot and runs tasks itself while it
// waits. Runs `task` `n` times.
template <typename F>
void TbbGroupRun(int n, F task) {
  g_tbb_fork_join->execute([&] {
    tbb::task_group group;
    for (int i = 0; i < n; ++i) group.run(task);
    group.wait();
  });
}

// ---------------------------------------------------------------------------
// Scenario 1: fork-join fib(30), one task per call that has children.

void CheckFib(benchmark::State& state, int64_t got, int n) {
  if (got != FibValue(n)) state.SkipWithError("wrong fib value");
  state.SetItemsProcessed(state.iterations() * FibSpawns(n));
  state.counters["spawns"] = static_cast<double>(FibSpawns(n));
}

void SeqFib30(benchmark::State& state) {
  int n = kFibN;
  int64_t r = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(n);
    r = SeqFib(n);
    benchmark::DoNotOptimize(r);
  }
  CheckFib(state, r, kFibN);
}

template <typename System>
void Fib30(benchmark::State& state) {
  System sys;
  int64_t r = 0;
  auto report_stats = sys.StatsSince();
  CoresBusy busy;
  for (auto _ : state) {
    r = sys.Fib(kFibN);
    benchmark::DoNotOptimize(r);
  }
  busy.Report(state);
  report_stats(state);
  CheckFib(state, r, kFibN);
}

// ---------------------------------------------------------------------------
// Scenario 1b: fib(30) split at n <= 20 into 144 independent leaves, all
// submitted from the calling thread and summed: what a pool without helping
// waits (plain, asio) or without cheap tasks (std::async) can run.

void Leaves(int n, std::vector<int>* out) {
  if (n <= kLeafCutoff) {
    out->push_back(n);
    return;
  }
  Leaves(n - 1, out);
  Leaves(n - 2, out);
}
const std::vector<int>& FibLeaves() {
  static const std::vector<int>* leaves = [] {
    auto* v = new std::vector<int>;
    Leaves(kFibN, v);
    return v;
  }();
  return *leaves;
}

void CheckLeaves(benchmark::State& state, int64_t got) {
  if (got != FibValue(kFibN)) state.SkipWithError("wrong fib value");
  state.SetItemsProcessed(state.iterations() *
                          static_cast<int64_t>(FibLeaves().size()));
  state.counters["leaves"] = static_cast<double>(FibLeaves().size());
}

void SeqFib30Leaves(benchmark::State& state) {
  const auto& leaves = FibLeaves();
  int64_t sum = 0;
  for (auto _ : state) {
    sum = 0;
    for (int n : leaves) sum += SeqFib(n);
    benchmark::DoNotOptimize(sum);
  }
  CheckLeaves(state, sum);
}

// A future per leaf (Cancelpool, Async).
template <typename System>
void SpawnFib30Leaves(benchmark::State& state) {
  System sys;
  const auto& leaves = FibLeaves();
  std::vector<typename System::template Future<int>> futures;
  futures.reserve(leaves.size());
  int64_t sum = 0;
  for (auto _ : state) {
    for (int n : leaves)
      futures.push_back(sys.Spawn([n] { return SeqFib(n); }));
    sum = 0;
    for (auto& f : futures) sum += System::Get(f);
    futures.clear();
  }
  CheckLeaves(state, sum);
}

// Each leaf writes its slot (TbbGroup: task_group; Asio, Plain: Post + latch).
template <typename RunLeaves>
void SlotFib30Leaves(benchmark::State& state, RunLeaves run_leaves) {
  const auto& leaves = FibLeaves();
  std::vector<int> results(leaves.size());
  int64_t sum = 0;
  for (auto _ : state) {
    run_leaves(leaves, results);
    sum = 0;
    for (int v : results) sum += v;
  }
  CheckLeaves(state, sum);
}

void TbbFib30Leaves(benchmark::State& state) {
  SlotFib30Leaves(
      state, [](const std::vector<int>& leaves, std::vector<int>& results) {
        g_tbb_fork_join->execute([&] {
          tbb::task_group group;
          for (size_t i = 0; i < leaves.size(); ++i) {
            group.run([&, i] { results[i] = SeqFib(leaves[i]); });
          }
          group.wait();
        });
      });
}

template <typename System>
void PostFib30Leaves(benchmark::State& state) {
  System sys;
  SlotFib30Leaves(
      state, [&](const std::vector<int>& leaves, std::vector<int>& results) {
        std::latch done(static_cast<std::ptrdiff_t>(leaves.size()));
        for (size_t i = 0; i < leaves.size(); ++i) {
          sys.Post([&, i] {
            results[i] = SeqFib(leaves[i]);
            done.count_down();
          });
        }
        done.wait();
      });
}

// ---------------------------------------------------------------------------
// Scenario 2: empty tasks from one outside thread, then wait for all.
// Scenario 3: the same from several outside threads at once (the total is
// split between them).

// `ran` counters below are relaxed: a plain count, read only after the
// latch, future or group wait that orders every task's increment before it.
void FinishTasks(benchmark::State& state, int64_t per_iteration,
                 int64_t ran_last) {
  if (ran_last != per_iteration) state.SkipWithError("a task did not run");
  state.SetItemsProcessed(state.iterations() * per_iteration);
  state.counters["tasks"] = static_cast<double>(per_iteration);
}

// Submits `count` empty tasks to `pool` and waits for their futures; returns
// how many succeeded.
int64_t CancelpoolBatch(ThreadPool& pool, int count,
                        std::vector<cancelpool::Future<void>>& futures) {
  for (int i = 0; i < count; ++i) futures.push_back(pool.Submit([] {}));
  int64_t ok = 0;
  for (auto& f : futures) {
    f.Wait();
    ok += f.Outcome() == TaskOutcome::kSucceeded;
  }
  futures.clear();
  return ok;
}

void CancelpoolEmptyTasks100k(benchmark::State& state) {
  ThreadPool pool(NumWorkers());
  std::vector<cancelpool::Future<void>> futures;
  futures.reserve(kTasks);
  int64_t ok = 0;
  for (auto _ : state) ok = CancelpoolBatch(pool, kTasks, futures);
  FinishTasks(state, kTasks, ok);
}

// The CancelpoolBatch variant: the same tasks and futures, submitted with
// ThreadPool::SubmitBatch (one queue push and one wake-up per group of
// tasks instead of per task).
struct EmptyTask {
  void operator()() const {}
};

int64_t CancelpoolSubmitBatch(ThreadPool& pool, int count) {
  std::vector<cancelpool::Future<void>> futures =
      pool.SubmitBatch(std::vector<EmptyTask>(count));
  int64_t ok = 0;
  for (auto& f : futures) {
    f.Wait();
    ok += f.Outcome() == TaskOutcome::kSucceeded;
  }
  return ok;
}

void CancelpoolBatchEmptyTasks100k(benchmark::State& state) {
  ThreadPool pool(NumWorkers());
  int64_t ok = 0;
  for (auto _ : state) ok = CancelpoolSubmitBatch(pool, kTasks);
  FinishTasks(state, kTasks, ok);
}

void CancelpoolBatchEmptyTasks100kMulti(benchmark::State& state) {
  const int submitters = static_cast<int>(state.range(0));
  const int share = kTasks / submitters;
  ThreadPool pool(NumWorkers());
  std::atomic<int64_t> ok{0};
  SubmitterGroup group(submitters, [&](int) {
    ok.fetch_add(CancelpoolSubmitBatch(pool, share));
  });
  for (auto _ : state) {
    ok.store(0);
    group.Run();
  }
  FinishTasks(state, int64_t{share} * submitters, ok.load());
}

// Peers, and the CancelpoolLatch variant (the futures are dropped at once --
// separates the submit path from per-future waiting): the tasks count down a
// latch.
template <typename System>
void PostEmptyTasks100k(benchmark::State& state) {
  System sys;
  std::atomic<int64_t> ran{0};
  for (auto _ : state) {
    ran.store(0, std::memory_order_relaxed);
    std::latch done(kTasks);
    for (int i = 0; i < kTasks; ++i) {
      sys.Post([&] {
        ran.fetch_add(1, std::memory_order_relaxed);
        done.count_down();
      });
    }
    done.wait();
  }
  FinishTasks(state, kTasks, ran.load());
}

void TbbGroupEmptyTasks100k(benchmark::State& state) {
  std::atomic<int64_t> ran{0};
  for (auto _ : state) {
    ran.store(0, std::memory_order_relaxed);
    TbbGroupRun(kTasks, [&] { ran.fetch_add(1, std::memory_order_relaxed); });
  }
  FinishTasks(state, kTasks, ran.load());
}

void AsyncEmptyTasks100k(benchmark::State& state) {
  state.SetLabel("10k tasks (a thread each)");
  std::vector<std::future<void>> futures;
  futures.reserve(kAsyncTasks);
  std::atomic<int64_t> ran{0};
  for (auto _ : state) {
    ran.store(0, std::memory_order_relaxed);
    for (int i = 0; i < kAsyncTasks; ++i) {
      futures.push_back(std::async(std::launch::async, [&] {
        ran.fetch_add(1, std::memory_order_relaxed);
      }));
    }
    for (auto& f : futures) f.get();
    futures.clear();
  }
  FinishTasks(state, kAsyncTasks, ran.load());
}

// Scenario 3. state.range(0) outside threads submit kTasks in total.
void CancelpoolEmptyTasks100kMulti(benchmark::State& state) {
  const int submitters = static_cast<int>(state.range(0));
  const int share = kTasks / submitters;
  ThreadPool pool(NumWorkers());
  std::vector<std::vector<cancelpool::Future<void>>> futures(submitters);
  for (auto& v : futures) v.reserve(share);
  std::atomic<int64_t> ok{0};
  SubmitterGroup group(submitters, [&](int i) {
    ok.fetch_add(CancelpoolBatch(pool, share, futures[i]));
  });
  for (auto _ : state) {
    ok.store(0);
    group.Run();
  }
  FinishTasks(state, int64_t{share} * submitters, ok.load());
}

// Peers: each submitter posts its share; the tasks count down one latch.
template <typename System>
void PostEmptyTasks100kMulti(benchmark::State& state) {
  System sys;
  const int submitters = static_cast<int>(state.range(0));
  const int share = kTasks / submitters;
  std::atomic<int64_t> ran{0};
  std::latch* done = nullptr;
  SubmitterGroup group(submitters, [&](int) {
    for (int i = 0; i < share; ++i) {
      sys.Post([&ran, done] {
        ran.fetch_add(1, std::memory_order_relaxed);
        done->count_down();
      });
    }
  });
  for (auto _ : state) {
    ran.store(0, std::memory_order_relaxed);
    std::latch latch(int64_t{share} * submitters);
    done = &latch;
    group.Run();
    latch.wait();
  }
  FinishTasks(state, int64_t{share} * submitters, ran.load());
}

void AsyncEmptyTasks100kMulti(benchmark::State& state) {
  state.SetLabel("10k tasks (a thread each)");
  const int submitters = static_cast<int>(state.range(0));
  const int share = kAsyncTasks / submitters;
  std::atomic<int64_t> ran{0};
  std::vector<std::vector<std::future<void>>> futures(submitters);
  SubmitterGroup group(submitters, [&](int s) {
    for (int i = 0; i < share; ++i) {
      futures[s].push_back(std::async(std::launch::async, [&] {
        ran.fetch_add(1, std::memory_order_relaxed);
      }));
    }
    for (auto& f : futures[s]) f.get();
    futures[s].clear();
  });
  for (auto _ : state) {
    ran.store(0);
    group.Run();
  }
  FinishTasks(state, int64_t{share} * submitters, ran.load());
}

// ---------------------------------------------------------------------------
// Scenario 4: round trip -- submit one task from outside, get its result, on
// an otherwise idle pool; back to back. Each trip is timed on its own;
// p50_ns/p99_ns counters.

template <typename Trip>
void RoundTrips(benchmark::State& state, Trip trip) {
  Latencies lat;
  int64_t bad = 0;
  for (auto _ : state) {
    const int64_t t0 = NowNs();
    const int r = trip();
    const int64_t t1 = NowNs();
    bad += r != 42;
    lat.Add(t1 - t0);
  }
  if (bad != 0) state.SkipWithError("wrong result");
  lat.Report(state);
  state.SetItemsProcessed(state.iterations());
}

// The task's own future (Cancelpool, Async).
template <typename System>
void SpawnRoundTrip(benchmark::State& state) {
  System sys;
  RoundTrips(state, [&] {
    auto f = sys.Spawn([] { return 42; });
    return System::Get(f);
  });
}

// Peers: a std::promise the task sets.
template <typename System>
void PostRoundTrip(benchmark::State& state) {
  System sys;
  RoundTrips(state, [&] {
    std::promise<int> p;
    auto f = p.get_future();
    sys.Post([&p] { p.set_value(42); });
    return f.get();
  });
}

// ---------------------------------------------------------------------------
// Scenario 5: chained spawn -- each task submits the next; 1M long.

struct ChainState {
  int remaining = 0;  // touched by one task at a time (each submits the next)
  std::latch* done = nullptr;
};

void FinishChain(benchmark::State& state, const ChainState& c, int length) {
  if (c.remaining != 0) state.SkipWithError("chain incomplete");
  state.SetItemsProcessed(state.iterations() * length);
  state.counters["length"] = length;
}

// Per iteration, one chain of `length`: start(&c) starts it, then its end is
// awaited.
template <typename Start>
void Chains(benchmark::State& state, int length, Start start) {
  ChainState c;
  for (auto _ : state) {
    std::latch done(1);
    c.remaining = length;
    c.done = &done;
    start(&c);
    done.wait();
  }
  FinishChain(state, c, length);
}

template <typename System>
void PostStep(System* sys, ChainState* c) {
  if (--c->remaining == 0) {
    c->done->count_down();
    return;
  }
  sys->Post([sys, c] { PostStep(sys, c); });
}

// Each link posts the next (Cancelpool, Asio, Plain).
template <typename System>
void PostChain1M(benchmark::State& state) {
  System sys;
  Chains(state, kChain,
         [&](ChainState* c) { sys.Post([&sys, c] { PostStep(&sys, c); }); });
}

void TbbStep(tbb::task_group* group, ChainState* c) {
  if (--c->remaining == 0) {
    c->done->count_down();
    return;
  }
  group->run([group, c] { TbbStep(group, c); });
}

// TBB: task_group::run from inside the group's tasks, in the fork-join arena.
void TbbChain1M(benchmark::State& state) {
  Chains(state, kChain, [](ChainState* c) {
    g_tbb_fork_join->execute([&] {
      tbb::task_group group;
      group.run([&] { TbbStep(&group, c); });
      group.wait();
    });
  });
}

struct AsyncChain {
  ChainState c;
  std::vector<std::future<void>> futures;
};

void AsyncStep(AsyncChain* a, int index) {
  if (--a->c.remaining == 0) {
    a->c.done->count_down();
    return;
  }
  a->futures[index + 1] =
      std::async(std::launch::async, AsyncStep, a, index + 1);
}

// Async: each link a new thread; the finished threads are joined in the
// timed loop.
void AsyncChain1M(benchmark::State& state) {
  state.SetLabel("10k long (a thread each)");
  AsyncChain a;
  for (auto _ : state) {
    std::latch done(1);
    a.c.remaining = kAsyncChain;
    a.c.done = &done;
    a.futures.clear();
    a.futures.resize(kAsyncChain);
    a.futures[0] = std::async(std::launch::async, AsyncStep, &a, 0);
    done.wait();
    a.futures.clear();  // joins the finished threads
  }
  FinishChain(state, a.c, kAsyncChain);
}

// ---------------------------------------------------------------------------
// Scenario 6: parallel-for over 2^20 small items:
// out[i] = sqrt(in[i]) * k + 1, k changing every iteration (so a stale result
// is caught by the check). Cancelpool: cancelpool::ParallelFor (lazy
// splitting by work stealing, a chunk body; called from outside the pool).
// TBB: parallel_for, default partitioner. Asio, Plain, Async (no
// parallel-for of their own): 4 static chunks per worker, submitted from the
// calling thread.

struct PforData {
  std::vector<float> in, out;
  PforData() : in(kPforN), out(kPforN) {
    for (int i = 0; i < kPforN; ++i) in[i] = static_cast<float>(i % 1000);
  }
};
PforData& Pfor() {
  static PforData* d = new PforData;
  return *d;
}
inline void PforRange(float k, int begin, int end) {
  const float* in = Pfor().in.data();
  float* out = Pfor().out.data();
  for (int i = begin; i < end; ++i) out[i] = std::sqrt(in[i]) * k + 1.0f;
}
int PforChunks() { return 4 * NumWorkers(); }

// Runs body(k) per iteration (the data built beforehand), then checks.
template <typename Body>
void RunPfor(benchmark::State& state, Body body) {
  Pfor();
  float k = 0;
  for (auto _ : state) {
    k = k == 0.5f ? 1.5f : 0.5f;
    body(k);
    benchmark::ClobberMemory();
  }
  const auto& d = Pfor();
  for (int i = 0; i < kPforN; i += 4099) {
    if (d.out[i] != std::sqrt(d.in[i]) * k + 1.0f) {
      state.SkipWithError("wrong parallel-for result");
      break;
    }
  }
  if (d.out[kPforN - 1] != std::sqrt(d.in[kPforN - 1]) * k + 1.0f) {
    state.SkipWithError("wrong parallel-for result (last item)");
  }
  state.SetItemsProcessed(state.iterations() * kPforN);
}

template <typename Submit>
void ChunkedPfor(float k, Submit submit) {
  const int chunks = PforChunks();
  for (int c = 0; c < chunks; ++c) {
    const int begin = static_cast<int>(int64_t{kPforN} * c / chunks);
    const int end = static_cast<int>(int64_t{kPforN} * (c + 1) / chunks);
    submit([k, begin, end] { PforRange(k, begin, end); });
  }
}

void SeqParallelFor1M(benchmark::State& state) {
  RunPfor(state, [](float k) { PforRange(k, 0, kPforN); });
}

// A future per chunk (Cancelpool, Async).
template <typename System>
void SpawnParallelFor1M(benchmark::State& state) {
  Pfor();
  System sys;
  std::vector<typename System::template Future<void>> futures;
  futures.reserve(PforChunks());
  RunPfor(state, [&](float k) {
    ChunkedPfor(k, [&](auto f) { futures.push_back(sys.Spawn(std::move(f))); });
    for (auto& f : futures) System::Wait(f);
    futures.clear();
  });
}

void CancelpoolParallelFor1M(benchmark::State& state) {
  Pfor();
  ThreadPool pool(NumWorkers());
  RunPfor(state, [&](float k) {
    cancelpool::ParallelForResult r = cancelpool::ParallelFor(
        pool, 0, kPforN, [k](const CancellationToken&, int64_t lo, int64_t hi) {
          PforRange(k, static_cast<int>(lo), static_cast<int>(hi));
        });
    if (!r.status.ok()) state.SkipWithError("ParallelFor failed");
  });
}

void TbbParallelFor1M(benchmark::State& state) {
  RunPfor(state, [&](float k) {
    g_tbb_fork_join->execute([&] {
      tbb::parallel_for(tbb::blocked_range<int>(0, kPforN),
                        [k](const tbb::blocked_range<int>& r) {
                          PforRange(k, r.begin(), r.end());
                        });
    });
  });
}

// Chunks posted, a latch counted down (Asio, Plain).
template <typename System>
void PostParallelFor1M(benchmark::State& state) {
  Pfor();
  System sys;
  RunPfor(state, [&](float k) {
    std::latch done(PforChunks());
    ChunkedPfor(k, [&](auto f) {
      sys.Post([f, &done] {
        f();
        done.count_down();
      });
    });
    done.wait();
  });
}

// ---------------------------------------------------------------------------
// Scenario 11: fan-out/join of 1,000 empty tasks from an outside thread, as a
// request handler would: Cancelpool: a TaskGroup (Run x1000, Wait);
// CancelpoolSubmit: the same with plain Submit and a Wait on every future
// (the group's own cost is the difference); Tbb: tbb::task_group run x1000
// and wait, inside the fork-join arena (the caller takes a slot and helps).

void CancelpoolFanOut1000(benchmark::State& state) {
  ThreadPool pool(NumWorkers());
  for (auto _ : state) {
    cancelpool::TaskGroup group(pool, cancelpool::TaskGroup::Policy::kWaitAll);
    for (int i = 0; i < kFanOut; ++i) group.Run([] {});
    if (!group.Wait().ok()) state.SkipWithError("group failed");
  }
  state.SetItemsProcessed(state.iterations() * kFanOut);
}

void CancelpoolSubmitFanOut1000(benchmark::State& state) {
  ThreadPool pool(NumWorkers());
  std::vector<cancelpool::Future<void>> fs;
  fs.reserve(kFanOut);
  for (auto _ : state) {
    for (int i = 0; i < kFanOut; ++i) fs.push_back(pool.Submit([] {}));
    for (auto& f : fs) f.Wait();
    fs.clear();
  }
  state.SetItemsProcessed(state.iterations() * kFanOut);
}

void TbbFanOut1000(benchmark::State& state) {
  for (auto _ : state) {
    g_tbb_fork_join->execute([] {
      tbb::task_group group;
      for (int i = 0; i < kFanOut; ++i) group.run([] {});
      group.wait();
    });
  }
  state.SetItemsProcessed(state.iterations() * kFanOut);
}

// ---------------------------------------------------------------------------
// Scenario 12: first success, losers still running. NumWorkers() tasks: one
// winner and NumWorkers() - 1 losers that spin on the CPU until told to
// stop. Timed: from the winner's success (its last timestamp before it
// returns) until every loser has returned. Cancelpool: WhenAny cancels the
// losers through their tokens (each loser polls its token); peers have no
// per-task cancellation: a hand-wired std::atomic<bool> flag set by the
// winner, polled by the losers, completion through a latch.

struct LoserTimes {
  std::atomic<int64_t> win{0};
  std::atomic<int64_t> last_loser{0};
  void LoserDone() {
    const int64_t t = NowNs();
    int64_t prev = last_loser.load(std::memory_order_relaxed);
    while (prev < t && !last_loser.compare_exchange_weak(
                           prev, t, std::memory_order_relaxed)) {
    }
  }
};

void FinishLosers(benchmark::State& state, Latencies& lat, int64_t bad) {
  if (bad != 0) state.SkipWithError("a loser did not stop, or a loser won");
  lat.Report(state);
  state.SetItemsProcessed(state.iterations());
}

void CancelpoolWhenAnyLosers(benchmark::State& state) {
  ThreadPool pool(NumWorkers());
  const int losers = std::max(1, NumWorkers() - 1);
  Latencies lat;
  int64_t bad = 0;
  for (auto _ : state) {
    LoserTimes times;
    std::latch started(losers);
    std::vector<cancelpool::Future<int>> fs;
    for (int i = 0; i < losers; ++i) {
      fs.push_back(
          pool.Submit([&](CancellationToken token) -> absl::StatusOr<int> {
            started.count_down();
            while (!token.IsCancellationRequested()) {
            }
            times.LoserDone();
            return token.Reason();
          }));
    }
    fs.push_back(pool.Submit([&] {
      started.wait();
      times.win.store(NowNs(), std::memory_order_relaxed);
      return 1;
    }));
    auto any = cancelpool::WhenAny(std::move(fs));
    auto r = any.Get();
    bad += !r.ok() || r->index != static_cast<size_t>(losers);
    pool.WaitForIdle();
    const int64_t d = times.last_loser.load() - times.win.load();
    state.SetIterationTime(d * 1e-9);
    lat.Add(d);
  }
  FinishLosers(state, lat, bad);
}

// Tbb, Asio, Plain: posted; the winner sets the flag.
template <typename System>
void FlagWhenAnyLosers(benchmark::State& state) {
  System sys;
  const int losers = std::max(1, NumWorkers() - 1);
  Latencies lat;
  int64_t bad = 0;
  for (auto _ : state) {
    LoserTimes times;
    std::atomic<bool> stop{false};
    std::latch started(losers);
    std::latch done(losers + 1);
    for (int i = 0; i < losers; ++i) {
      sys.Post([&] {
        started.count_down();
        while (!stop.load(std::memory_order_acquire)) {
        }
        times.LoserDone();
        done.count_down();
      });
    }
    sys.Post([&] {
      started.wait();
      times.win.store(NowNs(), std::memory_order_relaxed);
      stop.store(true, std::memory_order_release);
      done.count_down();
    });
    done.wait();
    const int64_t d = times.last_loser.load() - times.win.load();
    bad += d < 0;
    state.SetIterationTime(std::max<int64_t>(d, 0) * 1e-9);
    lat.Add(std::max<int64_t>(d, 0));
  }
  FinishLosers(state, lat, bad);
}

// ---------------------------------------------------------------------------
// Scenario 7a: cancel 100k queued tasks -- every worker is held by a blocker
// task, 100k tasks are queued behind them (untimed), then the timed part:
// cancel, and wait until every task is resolved (ours: every future; TBB: the
// group's wait returns; flag-based peers: every task has run, seen the flag
// and returned -- the blockers are released inside the timed part, since
// those tasks cannot resolve otherwise). Manual time.

// Blocks NumWorkers() workers of any pool until Release().
class Blockers {
 public:
  template <typename System>
  explicit Blockers(System& sys) {
    for (int i = 0; i < NumWorkers(); ++i) {
      sys.Post([this] {
        started_.fetch_add(1);
        {
          std::unique_lock<std::mutex> lock(mu_);
          cv_.wait(lock, [this] { return released_; });
        }
        exited_.fetch_add(1);  // the last touch of *this
      });
    }
    SpinUntil([this] { return started_.load() == NumWorkers(); });
  }
  // Waits until every blocker has let go of this object.
  ~Blockers() {
    Release();
    SpinUntil([this] { return exited_.load() == NumWorkers(); });
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::atomic<int> started_{0};
  std::atomic<int> exited_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
};

void FinishCancelQueued(benchmark::State& state, int64_t ran) {
  if (ran != 0) state.SkipWithError("a cancelled task ran");
  state.SetItemsProcessed(state.iterations() * kTasks);
  state.counters["tasks"] = kTasks;
}

// Cancelpool: Future::Cancel on each; CancelpoolParent (kParent): the tasks
// are children of one parent token (TaskOptions::parent) and one
// RequestCancellation cancels them all (the group cancel).
template <bool kParent>
void CancelpoolCancelQueued100k(benchmark::State& state) {
  CancelpoolSystem sys;
  std::vector<cancelpool::Future<void>> futures;
  futures.reserve(kTasks);
  std::atomic<int64_t> ran{0};
  for (auto _ : state) {
    Blockers blockers(sys);
    CancellationSource parent;
    TaskOptions options;
    if constexpr (kParent) options.parent = parent.Token();
    for (int i = 0; i < kTasks; ++i) {
      futures.push_back(
          sys.pool().SubmitWith(options, [&] { ran.fetch_add(1); }));
    }
    const int64_t t0 = NowNs();
    if constexpr (kParent) {
      parent.RequestCancellation();
    } else {
      for (auto& f : futures) f.Cancel();
    }
    for (auto& f : futures) {
      if (!f.IsReady()) f.Wait();
    }
    const int64_t t1 = NowNs();
    state.SetIterationTime((t1 - t0) * 1e-9);
    for (auto& f : futures) {
      if (f.Outcome() != TaskOutcome::kCancelled) ran.fetch_add(1);
    }
    blockers.Release();
    futures.clear();
  }
  FinishCancelQueued(state, ran.load());
}

// TBB: task_group::cancel + wait.
void TbbCancelQueued100k(benchmark::State& state) {
  std::atomic<int64_t> ran{0};
  for (auto _ : state) {
    // The fork-join arena has one TBB worker (the other slot is the
    // caller's): block it, then queue the tasks in the caller's slot.
    std::atomic<int> started{0};
    std::atomic<bool> released{false};
    std::atomic<bool> exited{false};
    g_tbb_fork_join->enqueue([&] {
      started.store(1);
      released.wait(false);
      exited.store(true);  // the last touch of this iteration's locals
    });
    SpinUntil([&] { return started.load() == 1; });
    int64_t elapsed = 0;
    g_tbb_fork_join->execute([&] {
      tbb::task_group group;
      for (int i = 0; i < kTasks; ++i) {
        group.run([&] { ran.fetch_add(1); });
      }
      const int64_t t0 = NowNs();
      group.cancel();
      released.store(true);
      released.notify_all();
      const auto status = group.wait();
      elapsed = NowNs() - t0;
      if (status != tbb::task_group_status::canceled) ran.fetch_add(1);
    });
    state.SetIterationTime(elapsed * 1e-9);
    // The blocker must be gone before its locals are (the next iteration
    // reuses their addresses).
    SpinUntil([&] { return exited.load(); });
  }
  FinishCancelQueued(state, ran.load());
}

// Asio, Plain: a shared flag the tasks check.
template <typename System>
void FlagCancelQueued100k(benchmark::State& state) {
  System sys;
  std::atomic<int64_t> ran{0};
  for (auto _ : state) {
    Blockers blockers(sys);
    std::atomic<bool> cancelled{false};
    std::latch done(kTasks);
    for (int i = 0; i < kTasks; ++i) {
      sys.Post([&] {
        // Pairs with the release store of `cancelled` below.
        if (!cancelled.load(std::memory_order_acquire)) ran.fetch_add(1);
        done.count_down();
      });
    }
    const int64_t t0 = NowNs();
    cancelled.store(true, std::memory_order_release);
    blockers.Release();
    done.wait();
    state.SetIterationTime((NowNs() - t0) * 1e-9);
  }
  FinishCancelQueued(state, ran.load());
}

// ---------------------------------------------------------------------------
// Scenario 7b: a running task blocked in an interruptible wait; time from the
// cancellation request to the submitter seeing the task finished. The request
// is made only once the task's thread sleeps in the kernel. Ours: the task's
// own token (Future::Cancel) wakes SleepFor / Event::Wait. Peers have no
// per-task cancellation that reaches a blocked task: the task waits on a
// condition variable with a flag that the canceller sets and notifies.

void FinishCancelWait(benchmark::State& state, Latencies& lat, int64_t bad) {
  if (bad != 0) state.SkipWithError("task did not observe cancellation");
  lat.Report(state);
  state.SetItemsProcessed(state.iterations());
}

WaitResult SleepAnHour(const CancellationToken& token) {
  return cancelpool::SleepFor(token, absl::Hours(1));
}
WaitResult WaitForNeverSetEvent(const CancellationToken& token) {
  cancelpool::Event never_set;
  return never_set.Wait(token);
}

// Cancelpool: SleepAnHour; CancelpoolEvent: WaitForNeverSetEvent.
template <WaitResult (*kWait)(const CancellationToken&)>
void CancelpoolCancelBlockedWait(benchmark::State& state) {
  ThreadPool pool(NumWorkers());
  Latencies lat;
  int64_t bad = 0;
  for (auto _ : state) {
    std::atomic<int64_t> tid{0};
    auto f = pool.Submit([&](CancellationToken token) -> absl::Status {
      // Pairs with WaitUntilSleeping's acquire loads.
      tid.store(CurrentTid(), std::memory_order_release);
      if (kWait(token) != WaitResult::kCancelled)
        return absl::InternalError("x");
      return token.Reason();
    });
    WaitUntilSleeping(tid);
    const int64_t t0 = NowNs();
    f.Cancel();
    f.Wait();
    const int64_t t1 = NowNs();
    state.SetIterationTime((t1 - t0) * 1e-9);
    lat.Add(t1 - t0);
    bad += f.Outcome() != TaskOutcome::kCancelled;
  }
  FinishCancelWait(state, lat, bad);
}

// The peers' closest equivalent: a per-task flag + condition variable.
struct FlagWait {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::atomic<int64_t> tid{0};
  // In the task.
  int Run() {
    // Pairs with WaitUntilSleeping's acquire loads.
    tid.store(CurrentTid(), std::memory_order_release);
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [this] { return stop; });
    return 42;
  }
  void Cancel() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    cv.notify_one();
  }
};

// `start(flag)` runs flag->Run() on the system and returns a std::future.
template <typename Start>
void FlagCancelWait(benchmark::State& state, Start start) {
  Latencies lat;
  int64_t bad = 0;
  for (auto _ : state) {
    FlagWait flag;
    std::future<int> f = start(&flag);
    WaitUntilSleeping(flag.tid);
    const int64_t t0 = NowNs();
    flag.Cancel();
    const int r = f.get();
    const int64_t t1 = NowNs();
    state.SetIterationTime((t1 - t0) * 1e-9);
    lat.Add(t1 - t0);
    bad += r != 42;
  }
  FinishCancelWait(state, lat, bad);
}

// Tbb, Asio, Plain: the task posted, its result through a std::promise.
template <typename System>
void PostCancelBlockedWait(benchmark::State& state) {
  System sys;
  FlagCancelWait(state, [&](FlagWait* w) {
    auto p = std::make_shared<std::promise<int>>();
    auto f = p->get_future();
    sys.Post([p, w] { p->set_value(w->Run()); });
    return f;
  });
}

void AsyncCancelBlockedWait(benchmark::State& state) {
  FlagCancelWait(state, [](FlagWait* w) {
    return std::async(std::launch::async, [w] { return w->Run(); });
  });
}

// ---------------------------------------------------------------------------
// Scenario 8: heap allocations per submitted task (malloc-level count, see
// support/alloc_counter.h): kAllocTasks tasks submitted from outside and
// waited for, (a) AllocsPerTask: as in scenario 2 (peers: fire-and-forget +
// latch; ours: the future Submit always returns), (b) AllocsPerTaskWithResult:
// with a result the submitter reads (peers: std::promise per task); and
// (c) AllocsPerSpawn: per spawn of fork-join fib(20).

void ReportAllocs(benchmark::State& state, uint64_t allocs, int64_t tasks) {
  if (!AllocCountingAvailable()) {
    state.counters["allocs_per_task"] = -1;
    return;
  }
  state.counters["allocs_per_task"] =
      static_cast<double>(allocs) / static_cast<double>(tasks);
  state.SetItemsProcessed(tasks);
}

// Runs batch() once to warm up, then once per iteration under an
// AllocCounter; batch() returns how many tasks it ran.
template <typename Batch>
void CountAllocs(benchmark::State& state, Batch batch) {
  batch();
  uint64_t allocs = 0;
  int64_t tasks = 0;
  for (auto _ : state) {
    AllocCounter counter;
    tasks += batch();
    allocs += counter.Stop();
  }
  ReportAllocs(state, allocs, tasks);
}

// (a)
void CancelpoolAllocsPerTask(benchmark::State& state) {
  ThreadPool pool(NumWorkers());
  std::vector<cancelpool::Future<void>> futures;
  futures.reserve(kAllocTasks);
  CountAllocs(state,
              [&] { return CancelpoolBatch(pool, kAllocTasks, futures); });
}

// Peers, fire-and-forget: the tasks count down a latch.
template <typename System>
void PostAllocsPerTask(benchmark::State& state) {
  System sys;
  CountAllocs(state, [&] {
    std::latch done(kAllocTasks);
    for (int i = 0; i < kAllocTasks; ++i)
      sys.Post([&done] { done.count_down(); });
    done.wait();
    return int64_t{kAllocTasks};
  });
}

void TbbGroupAllocsPerTask(benchmark::State& state) {
  CountAllocs(state, [] {
    std::atomic<int> ran{0};
    TbbGroupRun(kAllocTasks, [&ran] { ran.fetch_add(1); });
    return int64_t{kAllocTasks};
  });
}

// No warm-up: every task is a new thread.
template <typename Spawn>
void AsyncAllocs(benchmark::State& state, Spawn spawn) {
  state.SetLabel("1k tasks (a thread each)");
  uint64_t allocs = 0;
  int64_t tasks = 0;
  for (auto _ : state) {
    AllocCounter counter;
    tasks += spawn();
    allocs += counter.Stop();
  }
  ReportAllocs(state, allocs, tasks);
}

void AsyncAllocsPerTask(benchmark::State& state) {
  std::vector<std::future<void>> futures;
  futures.reserve(kAsyncAllocTasks);
  AsyncAllocs(state, [&] {
    for (int i = 0; i < kAsyncAllocTasks; ++i)
      futures.push_back(std::async(std::launch::async, [] {}));
    for (auto& f : futures) f.get();
    futures.clear();
    return int64_t{kAsyncAllocTasks};
  });
}

// (b)
void CancelpoolAllocsPerTaskWithResult(benchmark::State& state) {
  ThreadPool pool(NumWorkers());
  std::vector<cancelpool::Future<int>> futures;
  futures.reserve(kAllocTasks);
  CountAllocs(state, [&] {
    for (int i = 0; i < kAllocTasks; ++i)
      futures.push_back(pool.Submit([i] { return i; }));
    int64_t ok = 0;
    for (int i = 0; i < kAllocTasks; ++i) {
      auto r = futures[i].Get();
      ok += r.ok() && *r == i;
    }
    futures.clear();
    return ok;
  });
}

template <typename System>
void PostAllocsPerTaskWithResult(benchmark::State& state) {
  System sys;
  std::vector<std::promise<int>> promises;
  std::vector<std::future<int>> futures;
  promises.reserve(kAllocTasks);
  futures.reserve(kAllocTasks);
  CountAllocs(state, [&] {
    for (int i = 0; i < kAllocTasks; ++i) {
      promises.emplace_back();
      futures.push_back(promises.back().get_future());
      std::promise<int>* p = &promises.back();
      sys.Post([p, i] { p->set_value(i); });
    }
    int64_t ok = 0;
    for (int i = 0; i < kAllocTasks; ++i) ok += futures[i].get() == i;
    futures.clear();
    promises.clear();
    return ok;
  });
}

void AsyncAllocsPerTaskWithResult(benchmark::State& state) {
  std::vector<std::future<int>> futures;
  futures.reserve(kAsyncAllocTasks);
  AsyncAllocs(state, [&] {
    for (int i = 0; i < kAsyncAllocTasks; ++i) {
      futures.push_back(std::async(std::launch::async, [i] { return i; }));
    }
    int64_t ok = 0;
    for (int i = 0; i < kAsyncAllocTasks; ++i) ok += futures[i].get() == i;
    futures.clear();
    return ok;
  });
}

// (c)
template <typename System>
void AllocsPerSpawn(benchmark::State& state) {
  System sys;
  uint64_t allocs = 0;
  int64_t spawns = 0, r = 0;
  for (auto _ : state) {
    AllocCounter counter;
    r = sys.Fib(20);
    allocs += counter.Stop();
    spawns += FibSpawns(20);
  }
  if (r != FibValue(20)) state.SkipWithError("wrong fib value");
  ReportAllocs(state, allocs, spawns);
}

// ---------------------------------------------------------------------------
// Scenario 9: calibration rows for this machine.

void FetchAdd(benchmark::State& state) {
  std::atomic<uint64_t> x{0};
  for (auto _ : state) {
    x.fetch_add(1, std::memory_order_seq_cst);
  }
  if (x.load() != static_cast<uint64_t>(state.iterations())) {
    state.SkipWithError("lost increments");
  }
  state.SetItemsProcessed(state.iterations());
}

// One iteration = A wakes B, B wakes A (mutex + condition variable).
void CvPingPong(benchmark::State& state) {
  std::mutex mu;
  std::condition_variable cv;
  int64_t turn = 0;  // even: main's turn to send, odd: partner's
  bool stop = false;
  std::thread partner([&] {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return stop || turn % 2 == 1; });
      if (stop) return;
      ++turn;
      cv.notify_one();
    }
  });
  for (auto _ : state) {
    std::unique_lock<std::mutex> lock(mu);
    ++turn;
    cv.notify_one();
    cv.wait(lock, [&] { return turn % 2 == 0; });
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    stop = true;
  }
  cv.notify_one();
  partner.join();
  if (turn != 2 * state.iterations()) state.SkipWithError("lost turns");
  state.SetItemsProcessed(state.iterations());
}

// ---------------------------------------------------------------------------
// The table: every benchmark, registered as BM_<system>_<scenario> with its
// settings. Settings are applied at registration, after --cancelpool_quick
// was read.

using Settings = void (*)(benchmark::internal::Benchmark*);

void Ms(benchmark::internal::Benchmark* b) {
  b->UseRealTime()->Unit(benchmark::kMillisecond);
}
void Us(benchmark::internal::Benchmark* b) {
  b->UseRealTime()->Unit(benchmark::kMicrosecond);
}
void Ns(benchmark::internal::Benchmark* b) {
  b->UseRealTime()->Unit(benchmark::kNanosecond);
}
void Submitters(benchmark::internal::Benchmark* b) {
  Ms(b);
  b->ArgName("submitters")->Arg(2)->Arg(4);
}
// Per-iteration set-up outside the timed part: manual time, fixed counts.
template <int kIters, benchmark::TimeUnit kUnit>
void Manual(benchmark::internal::Benchmark* b) {
  b->UseManualTime()->Iterations(Iters(kIters))->Unit(kUnit);
}
void Allocs(benchmark::internal::Benchmark* b) {
  b->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(g_quick ? 1 : 3);
}

struct Entry {
  const char* system;
  const char* scenario;
  void (*run)(benchmark::State&);
  Settings settings;
};

using Cp = CancelpoolSystem;
using Tbb = TbbSystem;
using Asio = AsioSystem;
using Plain = PlainSystem;
using Async = AsyncSystem;
constexpr auto kCancelQueued = Manual<20, benchmark::kMillisecond>;
constexpr auto kCancelWait = Manual<500, benchmark::kMicrosecond>;

constexpr Entry kBenchmarks[] = {
    // 1
    {"Seq", "Fib30", SeqFib30, Ms},
    {"Cancelpool", "Fib30", Fib30<Cp>, Ms},
    {"Tbb", "Fib30", Fib30<Tbb>, Ms},
    // 1b
    {"Seq", "Fib30Leaves", SeqFib30Leaves, Ms},
    {"Cancelpool", "Fib30Leaves", SpawnFib30Leaves<Cp>, Ms},
    {"Tbb", "Fib30Leaves", TbbFib30Leaves, Ms},
    {"Asio", "Fib30Leaves", PostFib30Leaves<Asio>, Ms},
    {"Plain", "Fib30Leaves", PostFib30Leaves<Plain>, Ms},
    {"Async", "Fib30Leaves", SpawnFib30Leaves<Async>, Ms},
    // 2
    {"Cancelpool", "EmptyTasks100k", CancelpoolEmptyTasks100k, Ms},
    {"CancelpoolLatch", "EmptyTasks100k", PostEmptyTasks100k<Cp>, Ms},
    {"CancelpoolBatch", "EmptyTasks100k", CancelpoolBatchEmptyTasks100k, Ms},
    {"Tbb", "EmptyTasks100k", PostEmptyTasks100k<Tbb>, Ms},
    {"TbbGroup", "EmptyTasks100k", TbbGroupEmptyTasks100k, Ms},
    {"Asio", "EmptyTasks100k", PostEmptyTasks100k<Asio>, Ms},
    {"Plain", "EmptyTasks100k", PostEmptyTasks100k<Plain>, Ms},
    {"Async", "EmptyTasks100k", AsyncEmptyTasks100k, Ms},
    // 3
    {"Cancelpool", "EmptyTasks100kMulti", CancelpoolEmptyTasks100kMulti,
     Submitters},
    {"CancelpoolBatch", "EmptyTasks100kMulti",
     CancelpoolBatchEmptyTasks100kMulti, Submitters},
    {"Tbb", "EmptyTasks100kMulti", PostEmptyTasks100kMulti<Tbb>, Submitters},
    {"Asio", "EmptyTasks100kMulti", PostEmptyTasks100kMulti<Asio>, Submitters},
    {"Plain", "EmptyTasks100kMulti", PostEmptyTasks100kMulti<Plain>,
     Submitters},
    {"Async", "EmptyTasks100kMulti", AsyncEmptyTasks100kMulti, Submitters},
    // 4
    {"Cancelpool", "RoundTrip", SpawnRoundTrip<Cp>, Us},
    {"Tbb", "RoundTrip", PostRoundTrip<Tbb>, Us},
    {"Asio", "RoundTrip", PostRoundTrip<Asio>, Us},
    {"Plain", "RoundTrip", PostRoundTrip<Plain>, Us},
    {"Async", "RoundTrip", SpawnRoundTrip<Async>, Us},
    // 5
    {"Cancelpool", "Chain1M", PostChain1M<Cp>, Ms},
    {"Tbb", "Chain1M", TbbChain1M, Ms},
    {"Asio", "Chain1M", PostChain1M<Asio>, Ms},
    {"Plain", "Chain1M", PostChain1M<Plain>, Ms},
    {"Async", "Chain1M", AsyncChain1M, Ms},
    // 6
    {"Seq", "ParallelFor1M", SeqParallelFor1M, Us},
    {"Cancelpool", "ParallelFor1M", CancelpoolParallelFor1M, Us},
    {"Tbb", "ParallelFor1M", TbbParallelFor1M, Us},
    {"Asio", "ParallelFor1M", PostParallelFor1M<Asio>, Us},
    {"Plain", "ParallelFor1M", PostParallelFor1M<Plain>, Us},
    {"Async", "ParallelFor1M", SpawnParallelFor1M<Async>, Us},
    // 11
    {"Cancelpool", "FanOut1000", CancelpoolFanOut1000, Us},
    {"CancelpoolSubmit", "FanOut1000", CancelpoolSubmitFanOut1000, Us},
    {"Tbb", "FanOut1000", TbbFanOut1000, Us},
    // 12
    {"Cancelpool", "WhenAnyLosers", CancelpoolWhenAnyLosers, kCancelWait},
    {"Tbb", "WhenAnyLosers", FlagWhenAnyLosers<Tbb>, kCancelWait},
    {"Asio", "WhenAnyLosers", FlagWhenAnyLosers<Asio>, kCancelWait},
    {"Plain", "WhenAnyLosers", FlagWhenAnyLosers<Plain>, kCancelWait},
    // 7a
    {"Cancelpool", "CancelQueued100k", CancelpoolCancelQueued100k<false>,
     kCancelQueued},
    {"CancelpoolParent", "CancelQueued100k", CancelpoolCancelQueued100k<true>,
     kCancelQueued},
    {"Tbb", "CancelQueued100k", TbbCancelQueued100k, kCancelQueued},
    {"Asio", "CancelQueued100k", FlagCancelQueued100k<Asio>, kCancelQueued},
    {"Plain", "CancelQueued100k", FlagCancelQueued100k<Plain>, kCancelQueued},
    // 7b
    {"Cancelpool", "CancelBlockedWait",
     CancelpoolCancelBlockedWait<SleepAnHour>, kCancelWait},
    {"CancelpoolEvent", "CancelBlockedWait",
     CancelpoolCancelBlockedWait<WaitForNeverSetEvent>, kCancelWait},
    {"Tbb", "CancelBlockedWait", PostCancelBlockedWait<Tbb>, kCancelWait},
    {"Asio", "CancelBlockedWait", PostCancelBlockedWait<Asio>, kCancelWait},
    {"Plain", "CancelBlockedWait", PostCancelBlockedWait<Plain>, kCancelWait},
    {"Async", "CancelBlockedWait", AsyncCancelBlockedWait,
     Manual<200, benchmark::kMicrosecond>},
    // 8
    {"Cancelpool", "AllocsPerTask", CancelpoolAllocsPerTask, Allocs},
    {"Tbb", "AllocsPerTask", PostAllocsPerTask<Tbb>, Allocs},
    {"TbbGroup", "AllocsPerTask", TbbGroupAllocsPerTask, Allocs},
    {"Asio", "AllocsPerTask", PostAllocsPerTask<Asio>, Allocs},
    {"Plain", "AllocsPerTask", PostAllocsPerTask<Plain>, Allocs},
    {"Async", "AllocsPerTask", AsyncAllocsPerTask, Allocs},
    {"Cancelpool", "AllocsPerTaskWithResult", CancelpoolAllocsPerTaskWithResult,
     Allocs},
    {"Tbb", "AllocsPerTaskWithResult", PostAllocsPerTaskWithResult<Tbb>,
     Allocs},
    {"Asio", "AllocsPerTaskWithResult", PostAllocsPerTaskWithResult<Asio>,
     Allocs},
    {"Plain", "AllocsPerTaskWithResult", PostAllocsPerTaskWithResult<Plain>,
     Allocs},
    {"Async", "AllocsPerTaskWithResult", AsyncAllocsPerTaskWithResult, Allocs},
    {"Cancelpool", "AllocsPerSpawn", AllocsPerSpawn<Cp>, Allocs},
    {"Tbb", "AllocsPerSpawn", AllocsPerSpawn<Tbb>, Allocs},
    // 9
    {"Calib", "FetchAdd", FetchAdd, Ns},
    {"Calib", "CvPingPong", CvPingPong, Ns},
};

void RegisterAll() {
  for (const Entry& e : kBenchmarks) {
    e.settings(benchmark::RegisterBenchmark(
        ("BM_" + std::string(e.system) + "_" + e.scenario).c_str(), e.run));
  }
}

}  // namespace
}  // namespace cancelpool_bench

int main(int argc, char** argv) {
  cancelpool_bench::g_quick = cancelpool_bench::TakeQuickFlag(&argc, argv);
  const int workers = cancelpool_bench::NumWorkers();
  // Let TBB start one worker per core (its default is cores - 1, the caller
  // taking the last slot), so the worker arena has as many threads as ours.
  tbb::global_control control(tbb::global_control::max_allowed_parallelism,
                              workers + 1);
  tbb::task_arena fork_join(workers);        // one slot reserved for the caller
  tbb::task_arena worker_arena(workers, 0);  // TBB's threads only
  fork_join.initialize();
  worker_arena.initialize();
  cancelpool_bench::g_tbb_fork_join = &fork_join;
  cancelpool_bench::g_tbb_workers = &worker_arena;

  cancelpool_bench::RegisterAll();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("workers", std::to_string(workers));
  benchmark::AddCustomContext("alloc_counting",
                              cancelpool_bench::AllocCountingAvailable()
                                  ? "malloc-level"
                                  : "unavailable");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
