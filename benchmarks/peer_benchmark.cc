// Copyright 2026 The cancelpool Authors.
//
// The peer-comparison suite: cancelpool beside oneTBB, Boost.Asio's
// thread_pool, a plain mutex+condition_variable pool (support/plain_pool.h)
// and std::async, on the same scenarios. See benchmarks/README.md for what
// each scenario measures, and //benchmarks:report for the table and chart.
//
// Naming: BM_<System>_<Scenario>[/args]. Systems: Cancelpool (and variants
// CancelpoolLatch, CancelpoolParent, CancelpoolEvent), Tbb, TbbGroup, Asio,
// Plain, Async, Seq (sequential baseline), Calib (calibration rows).
//
// Every pool has NumWorkers() (= cores) threads that run tasks, built outside
// the timed loop. TBB: a fork-join arena of NumWorkers() slots, one of them
// the calling thread's (TBB's natural use: the caller works while it waits),
// and a worker arena of NumWorkers() slots reserved for TBB's own threads
// (for "submit from outside" scenarios, the same shape as the other pools).
//
// Flags (besides Google Benchmark's): --cancelpool_quick shrinks the fixed
// iteration counts so the whole suite runs in seconds (CI smoke test).
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <fstream>
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
#include "boost/asio/post.hpp"
#include "boost/asio/thread_pool.hpp"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/thread_pool.h"
#include "oneapi/tbb/blocked_range.h"
#include "oneapi/tbb/global_control.h"
#include "oneapi/tbb/parallel_for.h"
#include "oneapi/tbb/task_arena.h"
#include "oneapi/tbb/task_group.h"

namespace cancelpool_bench {
namespace {

using cancelpool::CancellationSource;
using cancelpool::CancellationToken;
using cancelpool::Future;
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

tbb::task_arena* g_tbb_fork_join = nullptr;  // NumWorkers() slots, 1 caller
tbb::task_arena* g_tbb_workers = nullptr;    // NumWorkers() worker slots

// Calls `f` until it returns true, yielding in between.
template <typename F>
void SpinUntil(F f) {
  while (!f()) std::this_thread::yield();
}

// ---------------------------------------------------------------------------
// "Is this thread really blocked?" -- for the cancellation-latency scenarios
// we cancel only once the task's thread sleeps in the kernel.

int64_t CurrentTid() { return static_cast<int64_t>(syscall(SYS_gettid)); }

char ThreadState(int64_t tid) {
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

void WaitUntilSleeping(const std::atomic<int64_t>& tid) {
  SpinUntil([&] { return tid.load(std::memory_order_acquire) != 0; });
  const int64_t t = tid.load(std::memory_order_acquire);
  for (int i = 0; i < 100000 && ThreadState(t) != 'S'; ++i) {
    std::this_thread::yield();
  }
}

// ---------------------------------------------------------------------------
// Scenario 1: fork-join fib(30), one task per call that has children.

int PoolFib(ThreadPool& pool, int n) {
  if (n < 2) return n;
  auto child = pool.Submit([&pool, n] { return PoolFib(pool, n - 1); });
  const int y = PoolFib(pool, n - 2);
  const auto x = child.Get();
  return *x + y;
}

int TbbFib(int n) {
  if (n < 2) return n;
  int x = 0;
  tbb::task_group group;
  group.run([&x, n] { x = TbbFib(n - 1); });
  const int y = TbbFib(n - 2);
  group.wait();
  return x + y;
}

void CheckFib(benchmark::State& state, int64_t got, int n) {
  if (got != FibValue(n)) state.SkipWithError("wrong fib value");
  state.SetItemsProcessed(state.iterations() * FibSpawns(n));
  state.counters["spawns"] = static_cast<double>(FibSpawns(n));
}

void BM_Seq_Fib30(benchmark::State& state) {
  int n = kFibN;
  int64_t r = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(n);
    r = SeqFib(n);
    benchmark::DoNotOptimize(r);
  }
  CheckFib(state, r, kFibN);
}

void BM_Cancelpool_Fib30(benchmark::State& state) {
  ThreadPool pool(NumWorkers());
  int64_t r = 0;
  const cancelpool::PoolStats before = pool.Stats();
  CoresBusy busy;
  for (auto _ : state) {
    r = *pool.Submit([&pool] { return PoolFib(pool, kFibN); }).Get();
    benchmark::DoNotOptimize(r);
  }
  busy.Report(state);
  const cancelpool::PoolStats after = pool.Stats();
  const double iters = static_cast<double>(state.iterations());
  state.counters["steals"] = (after.steals - before.steals) / iters;
  state.counters["parks"] = (after.parks - before.parks) / iters;
  CheckFib(state, r, kFibN);
}

void BM_Tbb_Fib30(benchmark::State& state) {
  int64_t r = 0;
  CoresBusy busy;
  for (auto _ : state) {
    g_tbb_fork_join->execute([&] { r = TbbFib(kFibN); });
    benchmark::DoNotOptimize(r);
  }
  busy.Report(state);
  CheckFib(state, r, kFibN);
}

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

void BM_Seq_Fib30Leaves(benchmark::State& state) {
  const auto& leaves = FibLeaves();
  int64_t sum = 0;
  for (auto _ : state) {
    sum = 0;
    for (int n : leaves) sum += SeqFib(n);
    benchmark::DoNotOptimize(sum);
  }
  CheckLeaves(state, sum);
}

void BM_Cancelpool_Fib30Leaves(benchmark::State& state) {
  ThreadPool pool(NumWorkers());
  const auto& leaves = FibLeaves();
  std::vector<Future<int>> futures;
  futures.reserve(leaves.size());
  int64_t sum = 0;
  for (auto _ : state) {
    for (int n : leaves)
      futures.push_back(pool.Submit([n] { return SeqFib(n); }));
    sum = 0;
    for (auto& f : futures) sum += *f.Get();
    futures.clear();
  }
  CheckLeaves(state, sum);
}

void BM_Tbb_Fib30Leaves(benchmark::State& state) {
  const auto& leaves = FibLeaves();
  std::vector<int> results(leaves.size());
  int64_t sum = 0;
  for (auto _ : state) {
    g_tbb_fork_join->execute([&] {
      tbb::task_group group;
      for (size_t i = 0; i < leaves.size(); ++i) {
        group.run([&, i] { results[i] = SeqFib(leaves[i]); });
      }
      group.wait();
    });
    sum = 0;
    for (int v : results) sum += v;
  }
  CheckLeaves(state, sum);
}

void BM_Asio_Fib30Leaves(benchmark::State& state) {
  boost::asio::thread_pool pool(NumWorkers());
  const auto& leaves = FibLeaves();
  std::vector<int> results(leaves.size());
  int64_t sum = 0;
  for (auto _ : state) {
    std::latch done(static_cast<std::ptrdiff_t>(leaves.size()));
    for (size_t i = 0; i < leaves.size(); ++i) {
      boost::asio::post(pool, [&, i] {
        results[i] = SeqFib(leaves[i]);
        done.count_down();
      });
    }
    done.wait();
    sum = 0;
    for (int v : results) sum += v;
  }
  pool.join();
  CheckLeaves(state, sum);
}

void BM_Plain_Fib30Leaves(benchmark::State& state) {
  PlainPool pool(NumWorkers());
  const auto& leaves = FibLeaves();
  std::vector<int> results(leaves.size());
  int64_t sum = 0;
  for (auto _ : state) {
    std::latch done(static_cast<std::ptrdiff_t>(leaves.size()));
    for (size_t i = 0; i < leaves.size(); ++i) {
      pool.Submit([&, i] {
        results[i] = SeqFib(leaves[i]);
        done.count_down();
      });
    }
    done.wait();
    sum = 0;
    for (int v : results) sum += v;
  }
  CheckLeaves(state, sum);
}

void BM_Async_Fib30Leaves(benchmark::State& state) {
  const auto& leaves = FibLeaves();
  std::vector<std::future<int>> futures;
  futures.reserve(leaves.size());
  int64_t sum = 0;
  for (auto _ : state) {
    for (int n : leaves) {
      futures.push_back(
          std::async(std::launch::async, [n] { return SeqFib(n); }));
    }
    sum = 0;
    for (auto& f : futures) sum += f.get();
    futures.clear();
  }
  CheckLeaves(state, sum);
}

// ---------------------------------------------------------------------------
// Scenario 2: empty tasks from one outside thread, then wait for all.
// Scenario 3: the same from several outside threads at once (the total is
// split between them).

void FinishTasks(benchmark::State& state, int64_t per_iteration,
                 int64_t ran_last) {
  if (ran_last != per_iteration) state.SkipWithError("a task did not run");
  state.SetItemsProcessed(state.iterations() * per_iteration);
  state.counters["tasks"] = static_cast<double>(per_iteration);
}

// Submits `count` empty tasks to `pool` and waits for their futures; returns
// how many succeeded.
int64_t CancelpoolBatch(ThreadPool& pool, int count,
                        std::vector<Future<void>>& futures) {
  for (int i = 0; i < count; ++i) futures.push_back(pool.Submit([] {}));
  int64_t ok = 0;
  for (auto& f : futures) {
    f.Wait();
    ok += f.Outcome() == TaskOutcome::kSucceeded;
  }
  futures.clear();
  return ok;
}

void BM_Cancelpool_EmptyTasks100k(benchmark::State& state) {
  ThreadPool pool(NumWorkers());
  std::vector<Future<void>> futures;
  futures.reserve(kTasks);
  int64_t ok = 0;
  for (auto _ : state) ok = CancelpoolBatch(pool, kTasks, futures);
  FinishTasks(state, kTasks, ok);
}

// Variant: the futures are dropped at once and the tasks count down a latch,
// as the peers do -- separates the submit path from per-future waiting.
void BM_CancelpoolLatch_EmptyTasks100k(benchmark::State& state) {
  ThreadPool pool(NumWorkers());
  std::atomic<int64_t> ran{0};
  for (auto _ : state) {
    ran.store(0, std::memory_order_relaxed);
    std::latch done(kTasks);
    for (int i = 0; i < kTasks; ++i) {
      pool.Submit([&] {
        ran.fetch_add(1, std::memory_order_relaxed);
        done.count_down();
      });
    }
    done.wait();
  }
  FinishTasks(state, kTasks, ran.load());
}

void BM_Tbb_EmptyTasks100k(benchmark::State& state) {
  std::atomic<int64_t> ran{0};
  for (auto _ : state) {
    ran.store(0, std::memory_order_relaxed);
    std::latch done(kTasks);
    for (int i = 0; i < kTasks; ++i) {
      g_tbb_workers->enqueue([&] {
        ran.fetch_add(1, std::memory_order_relaxed);
        done.count_down();
      });
    }
    done.wait();
  }
  FinishTasks(state, kTasks, ran.load());
}

// TBB's idiom for "run these and wait": task_group run/wait. The calling
// thread takes a slot and runs tasks itself while it waits.
void BM_TbbGroup_EmptyTasks100k(benchmark::State& state) {
  std::atomic<int64_t> ran{0};
  for (auto _ : state) {
    ran.store(0, std::memory_order_relaxed);
    g_tbb_fork_join->execute([&] {
      tbb::task_group group;
      for (int i = 0; i < kTasks; ++i) {
        group.run([&] { ran.fetch_add(1, std::memory_order_relaxed); });
      }
      group.wait();
    });
  }
  FinishTasks(state, kTasks, ran.load());
}

void BM_Asio_EmptyTasks100k(benchmark::State& state) {
  boost::asio::thread_pool pool(NumWorkers());
  std::atomic<int64_t> ran{0};
  for (auto _ : state) {
    ran.store(0, std::memory_order_relaxed);
    std::latch done(kTasks);
    for (int i = 0; i < kTasks; ++i) {
      boost::asio::post(pool, [&] {
        ran.fetch_add(1, std::memory_order_relaxed);
        done.count_down();
      });
    }
    done.wait();
  }
  pool.join();
  FinishTasks(state, kTasks, ran.load());
}

void BM_Plain_EmptyTasks100k(benchmark::State& state) {
  PlainPool pool(NumWorkers());
  std::atomic<int64_t> ran{0};
  for (auto _ : state) {
    ran.store(0, std::memory_order_relaxed);
    std::latch done(kTasks);
    for (int i = 0; i < kTasks; ++i) {
      pool.Submit([&] {
        ran.fetch_add(1, std::memory_order_relaxed);
        done.count_down();
      });
    }
    done.wait();
  }
  FinishTasks(state, kTasks, ran.load());
}

void BM_Async_EmptyTasks100k(benchmark::State& state) {
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
void BM_Cancelpool_EmptyTasks100kMulti(benchmark::State& state) {
  const int submitters = static_cast<int>(state.range(0));
  const int share = kTasks / submitters;
  ThreadPool pool(NumWorkers());
  std::vector<std::vector<Future<void>>> futures(submitters);
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
template <typename Post>
void PeerMulti(benchmark::State& state, int total, Post post) {
  const int submitters = static_cast<int>(state.range(0));
  const int share = total / submitters;
  std::atomic<int64_t> ran{0};
  std::latch* done = nullptr;
  SubmitterGroup group(submitters, [&](int) {
    for (int i = 0; i < share; ++i) {
      post([&ran, done] {
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

void BM_Tbb_EmptyTasks100kMulti(benchmark::State& state) {
  PeerMulti(state, kTasks,
            [](auto f) { g_tbb_workers->enqueue(std::move(f)); });
}

void BM_Asio_EmptyTasks100kMulti(benchmark::State& state) {
  boost::asio::thread_pool pool(NumWorkers());
  PeerMulti(state, kTasks,
            [&](auto f) { boost::asio::post(pool, std::move(f)); });
  pool.join();
}

void BM_Plain_EmptyTasks100kMulti(benchmark::State& state) {
  PlainPool pool(NumWorkers());
  PeerMulti(state, kTasks, [&](auto f) { pool.Submit(std::move(f)); });
}

void BM_Async_EmptyTasks100kMulti(benchmark::State& state) {
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

void BM_Cancelpool_RoundTrip(benchmark::State& state) {
  ThreadPool pool(NumWorkers());
  RoundTrips(state, [&] {
    auto r = pool.Submit([] { return 42; }).Get();
    return r.ok() ? *r : -1;
  });
}

void BM_Tbb_RoundTrip(benchmark::State& state) {
  RoundTrips(state, [&] {
    std::promise<int> p;
    auto f = p.get_future();
    g_tbb_workers->enqueue([&p] { p.set_value(42); });
    return f.get();
  });
}

void BM_Asio_RoundTrip(benchmark::State& state) {
  boost::asio::thread_pool pool(NumWorkers());
  RoundTrips(state, [&] {
    std::promise<int> p;
    auto f = p.get_future();
    boost::asio::post(pool, [&p] { p.set_value(42); });
    return f.get();
  });
  pool.join();
}

void BM_Plain_RoundTrip(benchmark::State& state) {
  PlainPool pool(NumWorkers());
  RoundTrips(state, [&] {
    std::promise<int> p;
    auto f = p.get_future();
    pool.Submit([&p] { p.set_value(42); });
    return f.get();
  });
}

void BM_Async_RoundTrip(benchmark::State& state) {
  RoundTrips(state, [] {
    return std::async(std::launch::async, [] { return 42; }).get();
  });
}

// ---------------------------------------------------------------------------
// Scenario 5: chained spawn -- each task submits the next; 1M long.

struct ChainState {
  int remaining = 0;  // touched by one task at a time (each submits the next)
  std::latch* done = nullptr;
};

void CancelpoolStep(ThreadPool* pool, ChainState* c) {
  if (--c->remaining == 0) {
    c->done->count_down();
    return;
  }
  pool->Submit([pool, c] { CancelpoolStep(pool, c); });
}

void FinishChain(benchmark::State& state, const ChainState& c, int length) {
  if (c.remaining != 0) state.SkipWithError("chain incomplete");
  state.SetItemsProcessed(state.iterations() * length);
  state.counters["length"] = length;
}

void BM_Cancelpool_Chain1M(benchmark::State& state) {
  ThreadPool pool(NumWorkers());
  ChainState c;
  for (auto _ : state) {
    std::latch done(1);
    c.remaining = kChain;
    c.done = &done;
    pool.Submit([&] { CancelpoolStep(&pool, &c); });
    done.wait();
  }
  FinishChain(state, c, kChain);
}

void TbbStep(tbb::task_group* group, ChainState* c) {
  if (--c->remaining == 0) {
    c->done->count_down();
    return;
  }
  group->run([group, c] { TbbStep(group, c); });
}

void BM_Tbb_Chain1M(benchmark::State& state) {
  ChainState c;
  for (auto _ : state) {
    std::latch done(1);
    c.remaining = kChain;
    c.done = &done;
    g_tbb_fork_join->execute([&] {
      tbb::task_group group;
      group.run([&] { TbbStep(&group, &c); });
      group.wait();
    });
    done.wait();
  }
  FinishChain(state, c, kChain);
}

void AsioStep(boost::asio::thread_pool* pool, ChainState* c) {
  if (--c->remaining == 0) {
    c->done->count_down();
    return;
  }
  boost::asio::post(*pool, [pool, c] { AsioStep(pool, c); });
}

void BM_Asio_Chain1M(benchmark::State& state) {
  boost::asio::thread_pool pool(NumWorkers());
  ChainState c;
  for (auto _ : state) {
    std::latch done(1);
    c.remaining = kChain;
    c.done = &done;
    boost::asio::post(pool, [&] { AsioStep(&pool, &c); });
    done.wait();
  }
  pool.join();
  FinishChain(state, c, kChain);
}

void PlainStep(PlainPool* pool, ChainState* c) {
  if (--c->remaining == 0) {
    c->done->count_down();
    return;
  }
  pool->Submit([pool, c] { PlainStep(pool, c); });
}

void BM_Plain_Chain1M(benchmark::State& state) {
  PlainPool pool(NumWorkers());
  ChainState c;
  for (auto _ : state) {
    std::latch done(1);
    c.remaining = kChain;
    c.done = &done;
    pool.Submit([&] { PlainStep(&pool, &c); });
    done.wait();
  }
  FinishChain(state, c, kChain);
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

void BM_Async_Chain1M(benchmark::State& state) {
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
// is caught by the check). Non-TBB systems: 4 static chunks per worker,
// submitted from the calling thread. TBB: parallel_for, default partitioner.

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

template <typename Body>
void RunPfor(benchmark::State& state, Body body) {
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

void BM_Seq_ParallelFor1M(benchmark::State& state) {
  Pfor();
  RunPfor(state, [](float k) { PforRange(k, 0, kPforN); });
}

void BM_Cancelpool_ParallelFor1M(benchmark::State& state) {
  Pfor();
  ThreadPool pool(NumWorkers());
  std::vector<Future<void>> futures;
  futures.reserve(PforChunks());
  RunPfor(state, [&](float k) {
    ChunkedPfor(k,
                [&](auto f) { futures.push_back(pool.Submit(std::move(f))); });
    for (auto& f : futures) f.Wait();
    futures.clear();
  });
}

void BM_Tbb_ParallelFor1M(benchmark::State& state) {
  Pfor();
  RunPfor(state, [&](float k) {
    g_tbb_fork_join->execute([&] {
      tbb::parallel_for(tbb::blocked_range<int>(0, kPforN),
                        [k](const tbb::blocked_range<int>& r) {
                          PforRange(k, r.begin(), r.end());
                        });
    });
  });
}

void BM_Asio_ParallelFor1M(benchmark::State& state) {
  Pfor();
  boost::asio::thread_pool pool(NumWorkers());
  RunPfor(state, [&](float k) {
    std::latch done(PforChunks());
    ChunkedPfor(k, [&](auto f) {
      boost::asio::post(pool, [f, &done] {
        f();
        done.count_down();
      });
    });
    done.wait();
  });
  pool.join();
}

void BM_Plain_ParallelFor1M(benchmark::State& state) {
  Pfor();
  PlainPool pool(NumWorkers());
  RunPfor(state, [&](float k) {
    std::latch done(PforChunks());
    ChunkedPfor(k, [&](auto f) {
      pool.Submit([f, &done] {
        f();
        done.count_down();
      });
    });
    done.wait();
  });
}

void BM_Async_ParallelFor1M(benchmark::State& state) {
  Pfor();
  std::vector<std::future<void>> futures;
  RunPfor(state, [&](float k) {
    ChunkedPfor(k, [&](auto f) {
      futures.push_back(std::async(std::launch::async, std::move(f)));
    });
    for (auto& f : futures) f.get();
    futures.clear();
  });
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
  template <typename Post>
  explicit Blockers(Post post) {
    for (int i = 0; i < NumWorkers(); ++i) {
      post([this] {
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

void BM_Cancelpool_CancelQueued100k(benchmark::State& state) {
  ThreadPool pool(NumWorkers());
  std::vector<Future<void>> futures;
  futures.reserve(kTasks);
  std::atomic<int64_t> ran{0};
  for (auto _ : state) {
    Blockers blockers([&](auto f) { pool.Submit(std::move(f)); });
    for (int i = 0; i < kTasks; ++i) {
      futures.push_back(pool.Submit([&] { ran.fetch_add(1); }));
    }
    const int64_t t0 = NowNs();
    for (auto& f : futures) f.Cancel();
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

// Variant: the tasks are children of one parent token (TaskOptions::parent);
// one RequestCancellation cancels them all (the group cancel).
void BM_CancelpoolParent_CancelQueued100k(benchmark::State& state) {
  ThreadPool pool(NumWorkers());
  std::vector<Future<void>> futures;
  futures.reserve(kTasks);
  std::atomic<int64_t> ran{0};
  for (auto _ : state) {
    Blockers blockers([&](auto f) { pool.Submit(std::move(f)); });
    CancellationSource parent;
    TaskOptions options;
    options.parent = parent.Token();
    for (int i = 0; i < kTasks; ++i) {
      futures.push_back(pool.SubmitWith(options, [&] { ran.fetch_add(1); }));
    }
    const int64_t t0 = NowNs();
    parent.RequestCancellation();
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

void BM_Tbb_CancelQueued100k(benchmark::State& state) {
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

template <typename Post>
void FlagCancelQueued(benchmark::State& state, Post post) {
  std::atomic<int64_t> ran{0};
  for (auto _ : state) {
    Blockers blockers(post);
    std::atomic<bool> cancelled{false};
    std::latch done(kTasks);
    for (int i = 0; i < kTasks; ++i) {
      post([&] {
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

void BM_Asio_CancelQueued100k(benchmark::State& state) {
  boost::asio::thread_pool pool(NumWorkers());
  FlagCancelQueued(state,
                   [&](auto f) { boost::asio::post(pool, std::move(f)); });
  pool.join();
}

void BM_Plain_CancelQueued100k(benchmark::State& state) {
  PlainPool pool(NumWorkers());
  FlagCancelQueued(state, [&](auto f) { pool.Submit(std::move(f)); });
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

template <typename Wait>
void CancelpoolCancelWait(benchmark::State& state, Wait wait) {
  ThreadPool pool(NumWorkers());
  Latencies lat;
  int64_t bad = 0;
  for (auto _ : state) {
    std::atomic<int64_t> tid{0};
    auto f = pool.Submit([&](CancellationToken token) -> absl::Status {
      tid.store(CurrentTid(), std::memory_order_release);
      if (wait(token) != WaitResult::kCancelled)
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

void BM_Cancelpool_CancelBlockedWait(benchmark::State& state) {
  CancelpoolCancelWait(state, [](const CancellationToken& token) {
    return cancelpool::SleepFor(token, absl::Hours(1));
  });
}

void BM_CancelpoolEvent_CancelBlockedWait(benchmark::State& state) {
  CancelpoolCancelWait(state, [](const CancellationToken& token) {
    cancelpool::Event never_set;
    return never_set.Wait(token);
  });
}

// The peers' closest equivalent: a per-task flag + condition variable.
struct FlagWait {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::atomic<int64_t> tid{0};
  // In the task.
  int Run() {
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
void PeerCancelWait(benchmark::State& state, Start start) {
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

void BM_Tbb_CancelBlockedWait(benchmark::State& state) {
  PeerCancelWait(state, [&](FlagWait* w) {
    auto p = std::make_shared<std::promise<int>>();
    auto f = p->get_future();
    g_tbb_workers->enqueue([p, w] { p->set_value(w->Run()); });
    return f;
  });
}

void BM_Asio_CancelBlockedWait(benchmark::State& state) {
  boost::asio::thread_pool pool(NumWorkers());
  PeerCancelWait(state, [&](FlagWait* w) {
    auto p = std::make_shared<std::promise<int>>();
    auto f = p->get_future();
    boost::asio::post(pool, [p, w] { p->set_value(w->Run()); });
    return f;
  });
  pool.join();
}

void BM_Plain_CancelBlockedWait(benchmark::State& state) {
  PlainPool pool(NumWorkers());
  PeerCancelWait(state, [&](FlagWait* w) {
    auto p = std::make_shared<std::promise<int>>();
    auto f = p->get_future();
    pool.Submit([p, w] { p->set_value(w->Run()); });
    return f;
  });
}

void BM_Async_CancelBlockedWait(benchmark::State& state) {
  PeerCancelWait(state, [](FlagWait* w) {
    return std::async(std::launch::async, [w] { return w->Run(); });
  });
}

// ---------------------------------------------------------------------------
// Scenario 8: heap allocations per submitted task (malloc-level count, see
// support/alloc_counter.h): kAllocTasks tasks submitted from outside and
// waited for, (a) as in scenario 2 (peers: fire-and-forget + latch; ours: the
// future Submit always returns), (b) with a result the submitter reads
// (peers: std::promise per task); and per spawn of fork-join fib(20).

void ReportAllocs(benchmark::State& state, uint64_t allocs, int64_t tasks) {
  if (!AllocCountingAvailable()) {
    state.counters["allocs_per_task"] = -1;
    return;
  }
  state.counters["allocs_per_task"] =
      static_cast<double>(allocs) / static_cast<double>(tasks);
  state.SetItemsProcessed(tasks);
}

void BM_Cancelpool_AllocsPerTask(benchmark::State& state) {
  ThreadPool pool(NumWorkers());
  std::vector<Future<void>> futures;
  futures.reserve(kAllocTasks);
  CancelpoolBatch(pool, kAllocTasks, futures);  // warm up
  uint64_t allocs = 0;
  int64_t tasks = 0;
  for (auto _ : state) {
    AllocCounter counter;
    tasks += CancelpoolBatch(pool, kAllocTasks, futures);
    allocs += counter.Stop();
  }
  ReportAllocs(state, allocs, tasks);
}

// Peers, fire-and-forget: post(f) runs f; the tasks count down a latch.
template <typename Post>
void PeerAllocs(benchmark::State& state, int n, Post post) {
  auto batch = [&] {
    std::latch done(n);
    for (int i = 0; i < n; ++i) post([&done] { done.count_down(); });
    done.wait();
  };
  batch();  // warm up
  uint64_t allocs = 0;
  int64_t tasks = 0;
  for (auto _ : state) {
    AllocCounter counter;
    batch();
    allocs += counter.Stop();
    tasks += n;
  }
  ReportAllocs(state, allocs, tasks);
}

void BM_Tbb_AllocsPerTask(benchmark::State& state) {
  PeerAllocs(state, kAllocTasks,
             [](auto f) { g_tbb_workers->enqueue(std::move(f)); });
}

void BM_TbbGroup_AllocsPerTask(benchmark::State& state) {
  auto batch = [] {
    g_tbb_fork_join->execute([] {
      tbb::task_group group;
      std::atomic<int> ran{0};
      for (int i = 0; i < kAllocTasks; ++i)
        group.run([&ran] { ran.fetch_add(1); });
      group.wait();
    });
  };
  batch();
  uint64_t allocs = 0;
  int64_t tasks = 0;
  for (auto _ : state) {
    AllocCounter counter;
    batch();
    allocs += counter.Stop();
    tasks += kAllocTasks;
  }
  ReportAllocs(state, allocs, tasks);
}

void BM_Asio_AllocsPerTask(benchmark::State& state) {
  boost::asio::thread_pool pool(NumWorkers());
  PeerAllocs(state, kAllocTasks,
             [&](auto f) { boost::asio::post(pool, std::move(f)); });
  pool.join();
}

void BM_Plain_AllocsPerTask(benchmark::State& state) {
  PlainPool pool(NumWorkers());
  PeerAllocs(state, kAllocTasks, [&](auto f) { pool.Submit(std::move(f)); });
}

void BM_Async_AllocsPerTask(benchmark::State& state) {
  state.SetLabel("1k tasks (a thread each)");
  std::vector<std::future<void>> futures;
  futures.reserve(1000);
  uint64_t allocs = 0;
  int64_t tasks = 0;
  for (auto _ : state) {
    AllocCounter counter;
    for (int i = 0; i < 1000; ++i)
      futures.push_back(std::async(std::launch::async, [] {}));
    for (auto& f : futures) f.get();
    futures.clear();
    allocs += counter.Stop();
    tasks += 1000;
  }
  ReportAllocs(state, allocs, tasks);
}

// (b) with a result.
void BM_Cancelpool_AllocsPerTaskWithResult(benchmark::State& state) {
  ThreadPool pool(NumWorkers());
  std::vector<Future<int>> futures;
  futures.reserve(kAllocTasks);
  auto batch = [&] {
    for (int i = 0; i < kAllocTasks; ++i)
      futures.push_back(pool.Submit([i] { return i; }));
    int64_t ok = 0;
    for (int i = 0; i < kAllocTasks; ++i) {
      auto r = futures[i].Get();
      ok += r.ok() && *r == i;
    }
    futures.clear();
    return ok;
  };
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

template <typename Post>
void PeerAllocsWithResult(benchmark::State& state, int n, Post post) {
  std::vector<std::promise<int>> promises;
  std::vector<std::future<int>> futures;
  promises.reserve(n);
  futures.reserve(n);
  auto batch = [&] {
    for (int i = 0; i < n; ++i) {
      promises.emplace_back();
      futures.push_back(promises.back().get_future());
      std::promise<int>* p = &promises.back();
      post([p, i] { p->set_value(i); });
    }
    int64_t ok = 0;
    for (int i = 0; i < n; ++i) ok += futures[i].get() == i;
    futures.clear();
    promises.clear();
    return ok;
  };
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

void BM_Tbb_AllocsPerTaskWithResult(benchmark::State& state) {
  PeerAllocsWithResult(state, kAllocTasks,
                       [](auto f) { g_tbb_workers->enqueue(std::move(f)); });
}

void BM_Asio_AllocsPerTaskWithResult(benchmark::State& state) {
  boost::asio::thread_pool pool(NumWorkers());
  PeerAllocsWithResult(state, kAllocTasks,
                       [&](auto f) { boost::asio::post(pool, std::move(f)); });
  pool.join();
}

void BM_Plain_AllocsPerTaskWithResult(benchmark::State& state) {
  PlainPool pool(NumWorkers());
  PeerAllocsWithResult(state, kAllocTasks,
                       [&](auto f) { pool.Submit(std::move(f)); });
}

void BM_Async_AllocsPerTaskWithResult(benchmark::State& state) {
  state.SetLabel("1k tasks (a thread each)");
  std::vector<std::future<int>> futures;
  futures.reserve(1000);
  uint64_t allocs = 0;
  int64_t tasks = 0;
  for (auto _ : state) {
    AllocCounter counter;
    for (int i = 0; i < 1000; ++i) {
      futures.push_back(std::async(std::launch::async, [i] { return i; }));
    }
    for (int i = 0; i < 1000; ++i) tasks += futures[i].get() == i;
    futures.clear();
    allocs += counter.Stop();
  }
  ReportAllocs(state, allocs, tasks);
}

// (c) per spawn of fork-join fib(20).
void BM_Cancelpool_AllocsPerSpawn(benchmark::State& state) {
  ThreadPool pool(NumWorkers());
  uint64_t allocs = 0;
  int64_t spawns = 0, r = 0;
  for (auto _ : state) {
    AllocCounter counter;
    r = *pool.Submit([&pool] { return PoolFib(pool, 20); }).Get();
    allocs += counter.Stop();
    spawns += FibSpawns(20);
  }
  if (r != FibValue(20)) state.SkipWithError("wrong fib value");
  ReportAllocs(state, allocs, spawns);
}

void BM_Tbb_AllocsPerSpawn(benchmark::State& state) {
  uint64_t allocs = 0;
  int64_t spawns = 0, r = 0;
  for (auto _ : state) {
    AllocCounter counter;
    g_tbb_fork_join->execute([&] { r = TbbFib(20); });
    allocs += counter.Stop();
    spawns += FibSpawns(20);
  }
  if (r != FibValue(20)) state.SkipWithError("wrong fib value");
  ReportAllocs(state, allocs, spawns);
}

// ---------------------------------------------------------------------------
// Scenario 9: calibration rows for this machine.

void BM_Calib_FetchAdd(benchmark::State& state) {
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
void BM_Calib_CvPingPong(benchmark::State& state) {
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

void RegisterAll() {
  using benchmark::RegisterBenchmark;
  auto ms = [](benchmark::internal::Benchmark* b) {
    return b->UseRealTime()->Unit(benchmark::kMillisecond);
  };
  auto us = [](benchmark::internal::Benchmark* b) {
    return b->UseRealTime()->Unit(benchmark::kMicrosecond);
  };
  auto ns = [](benchmark::internal::Benchmark* b) {
    return b->UseRealTime()->Unit(benchmark::kNanosecond);
  };
  // Per-iteration set-up outside the timed part: manual time, fixed counts.
  auto manual = [](benchmark::internal::Benchmark* b, int iters,
                   benchmark::TimeUnit unit) {
    return b->UseManualTime()->Iterations(Iters(iters))->Unit(unit);
  };

  // 1
  ms(RegisterBenchmark("BM_Seq_Fib30", BM_Seq_Fib30));
  ms(RegisterBenchmark("BM_Cancelpool_Fib30", BM_Cancelpool_Fib30));
  ms(RegisterBenchmark("BM_Tbb_Fib30", BM_Tbb_Fib30));
  // 1b
  ms(RegisterBenchmark("BM_Seq_Fib30Leaves", BM_Seq_Fib30Leaves));
  ms(RegisterBenchmark("BM_Cancelpool_Fib30Leaves", BM_Cancelpool_Fib30Leaves));
  ms(RegisterBenchmark("BM_Tbb_Fib30Leaves", BM_Tbb_Fib30Leaves));
  ms(RegisterBenchmark("BM_Asio_Fib30Leaves", BM_Asio_Fib30Leaves));
  ms(RegisterBenchmark("BM_Plain_Fib30Leaves", BM_Plain_Fib30Leaves));
  ms(RegisterBenchmark("BM_Async_Fib30Leaves", BM_Async_Fib30Leaves));
  // 2
  ms(RegisterBenchmark("BM_Cancelpool_EmptyTasks100k",
                       BM_Cancelpool_EmptyTasks100k));
  ms(RegisterBenchmark("BM_CancelpoolLatch_EmptyTasks100k",
                       BM_CancelpoolLatch_EmptyTasks100k));
  ms(RegisterBenchmark("BM_Tbb_EmptyTasks100k", BM_Tbb_EmptyTasks100k));
  ms(RegisterBenchmark("BM_TbbGroup_EmptyTasks100k",
                       BM_TbbGroup_EmptyTasks100k));
  ms(RegisterBenchmark("BM_Asio_EmptyTasks100k", BM_Asio_EmptyTasks100k));
  ms(RegisterBenchmark("BM_Plain_EmptyTasks100k", BM_Plain_EmptyTasks100k));
  ms(RegisterBenchmark("BM_Async_EmptyTasks100k", BM_Async_EmptyTasks100k));
  // 3
  for (auto* b : {
           RegisterBenchmark("BM_Cancelpool_EmptyTasks100kMulti",
                             BM_Cancelpool_EmptyTasks100kMulti),
           RegisterBenchmark("BM_Tbb_EmptyTasks100kMulti",
                             BM_Tbb_EmptyTasks100kMulti),
           RegisterBenchmark("BM_Asio_EmptyTasks100kMulti",
                             BM_Asio_EmptyTasks100kMulti),
           RegisterBenchmark("BM_Plain_EmptyTasks100kMulti",
                             BM_Plain_EmptyTasks100kMulti),
           RegisterBenchmark("BM_Async_EmptyTasks100kMulti",
                             BM_Async_EmptyTasks100kMulti),
       }) {
    ms(b)->ArgName("submitters")->Arg(2)->Arg(4);
  }
  // 4
  us(RegisterBenchmark("BM_Cancelpool_RoundTrip", BM_Cancelpool_RoundTrip));
  us(RegisterBenchmark("BM_Tbb_RoundTrip", BM_Tbb_RoundTrip));
  us(RegisterBenchmark("BM_Asio_RoundTrip", BM_Asio_RoundTrip));
  us(RegisterBenchmark("BM_Plain_RoundTrip", BM_Plain_RoundTrip));
  us(RegisterBenchmark("BM_Async_RoundTrip", BM_Async_RoundTrip));
  // 5
  ms(RegisterBenchmark("BM_Cancelpool_Chain1M", BM_Cancelpool_Chain1M));
  ms(RegisterBenchmark("BM_Tbb_Chain1M", BM_Tbb_Chain1M));
  ms(RegisterBenchmark("BM_Asio_Chain1M", BM_Asio_Chain1M));
  ms(RegisterBenchmark("BM_Plain_Chain1M", BM_Plain_Chain1M));
  ms(RegisterBenchmark("BM_Async_Chain1M", BM_Async_Chain1M));
  // 6
  us(RegisterBenchmark("BM_Seq_ParallelFor1M", BM_Seq_ParallelFor1M));
  us(RegisterBenchmark("BM_Cancelpool_ParallelFor1M",
                       BM_Cancelpool_ParallelFor1M));
  us(RegisterBenchmark("BM_Tbb_ParallelFor1M", BM_Tbb_ParallelFor1M));
  us(RegisterBenchmark("BM_Asio_ParallelFor1M", BM_Asio_ParallelFor1M));
  us(RegisterBenchmark("BM_Plain_ParallelFor1M", BM_Plain_ParallelFor1M));
  us(RegisterBenchmark("BM_Async_ParallelFor1M", BM_Async_ParallelFor1M));
  // 7a
  manual(RegisterBenchmark("BM_Cancelpool_CancelQueued100k",
                           BM_Cancelpool_CancelQueued100k),
         20, benchmark::kMillisecond);
  manual(RegisterBenchmark("BM_CancelpoolParent_CancelQueued100k",
                           BM_CancelpoolParent_CancelQueued100k),
         20, benchmark::kMillisecond);
  manual(RegisterBenchmark("BM_Tbb_CancelQueued100k", BM_Tbb_CancelQueued100k),
         20, benchmark::kMillisecond);
  manual(
      RegisterBenchmark("BM_Asio_CancelQueued100k", BM_Asio_CancelQueued100k),
      20, benchmark::kMillisecond);
  manual(
      RegisterBenchmark("BM_Plain_CancelQueued100k", BM_Plain_CancelQueued100k),
      20, benchmark::kMillisecond);
  // 7b
  manual(RegisterBenchmark("BM_Cancelpool_CancelBlockedWait",
                           BM_Cancelpool_CancelBlockedWait),
         500, benchmark::kMicrosecond);
  manual(RegisterBenchmark("BM_CancelpoolEvent_CancelBlockedWait",
                           BM_CancelpoolEvent_CancelBlockedWait),
         500, benchmark::kMicrosecond);
  manual(
      RegisterBenchmark("BM_Tbb_CancelBlockedWait", BM_Tbb_CancelBlockedWait),
      500, benchmark::kMicrosecond);
  manual(
      RegisterBenchmark("BM_Asio_CancelBlockedWait", BM_Asio_CancelBlockedWait),
      500, benchmark::kMicrosecond);
  manual(RegisterBenchmark("BM_Plain_CancelBlockedWait",
                           BM_Plain_CancelBlockedWait),
         500, benchmark::kMicrosecond);
  manual(RegisterBenchmark("BM_Async_CancelBlockedWait",
                           BM_Async_CancelBlockedWait),
         200, benchmark::kMicrosecond);
  // 8
  for (auto* b : {
           RegisterBenchmark("BM_Cancelpool_AllocsPerTask",
                             BM_Cancelpool_AllocsPerTask),
           RegisterBenchmark("BM_Tbb_AllocsPerTask", BM_Tbb_AllocsPerTask),
           RegisterBenchmark("BM_TbbGroup_AllocsPerTask",
                             BM_TbbGroup_AllocsPerTask),
           RegisterBenchmark("BM_Asio_AllocsPerTask", BM_Asio_AllocsPerTask),
           RegisterBenchmark("BM_Plain_AllocsPerTask", BM_Plain_AllocsPerTask),
           RegisterBenchmark("BM_Async_AllocsPerTask", BM_Async_AllocsPerTask),
           RegisterBenchmark("BM_Cancelpool_AllocsPerTaskWithResult",
                             BM_Cancelpool_AllocsPerTaskWithResult),
           RegisterBenchmark("BM_Tbb_AllocsPerTaskWithResult",
                             BM_Tbb_AllocsPerTaskWithResult),
           RegisterBenchmark("BM_Asio_AllocsPerTaskWithResult",
                             BM_Asio_AllocsPerTaskWithResult),
           RegisterBenchmark("BM_Plain_AllocsPerTaskWithResult",
                             BM_Plain_AllocsPerTaskWithResult),
           RegisterBenchmark("BM_Async_AllocsPerTaskWithResult",
                             BM_Async_AllocsPerTaskWithResult),
           RegisterBenchmark("BM_Cancelpool_AllocsPerSpawn",
                             BM_Cancelpool_AllocsPerSpawn),
           RegisterBenchmark("BM_Tbb_AllocsPerSpawn", BM_Tbb_AllocsPerSpawn),
       }) {
    b->UseRealTime()
        ->Unit(benchmark::kMillisecond)
        ->Iterations(g_quick ? 1 : 3);
  }
  // 9
  ns(RegisterBenchmark("BM_Calib_FetchAdd", BM_Calib_FetchAdd));
  ns(RegisterBenchmark("BM_Calib_CvPingPong", BM_Calib_CvPingPong));
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
