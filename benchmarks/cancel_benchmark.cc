// Copyright 2026 The cancelpool Authors.
//
// Benchmarks for cancel/, each beside its std equivalent so that a ratio
// comes out of one run:
//   * the hot check: BM_Token_Check vs BM_StdStopToken_Check (also through
//     the current token, from two threads, and token copies);
//   * register + deregister: BM_Callback_RegisterDeregister vs
//     BM_StdStopCallback_RegisterDeregister (also two threads on one token);
//   * fan-out to N callbacks: BM_Cancel_FanOut/N vs BM_StdStop_FanOut/N;
//   * a child under a long-lived parent: BM_Link_ChildCreateDestroy vs
//     BM_StdStop_LinkedChildCreateDestroy;
//   * wake latency, a ping-pong round trip of two wakes:
//     BM_WakeLatency_{CondVarWait,EventWait,SleepFor,FdWait} vs
//     BM_WakeLatency_StdCondVarNotify (and std's own interruptible wait,
//     BM_WakeLatency_StdCondVarAnyStopToken).
// Single-threaded results compare best in CPU time on a busy machine; the
// threaded ones use real time. Run with -c opt:
//   tools/bazel run -c opt //benchmarks:cancel_benchmark --
//       --benchmark_repetitions=9 --benchmark_enable_random_interleaving=true
//   (one command line).
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "benchmark/benchmark.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/current.h"
#include "cancelpool/cancel/wait.h"

namespace cancelpool {
namespace {

// A callback that is never expected to run in the registration benchmarks;
// in the fan-out ones it counts.
struct Count {
  int64_t* counter;
  void operator()() const noexcept { ++*counter; }
};

// --- The hot check ---------------------------------------------------------

void BM_Token_Check(benchmark::State& state) {
  CancellationSource source;
  const CancellationToken token = source.Token();
  for (auto _ : state) {
    benchmark::DoNotOptimize(token.IsCancellationRequested());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Token_Check);

void BM_StdStopToken_Check(benchmark::State& state) {
  std::stop_source source;
  const std::stop_token token = source.get_token();
  for (auto _ : state) {
    benchmark::DoNotOptimize(token.stop_requested());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StdStopToken_Check);

// The check without a token parameter: a thread-local read plus the load.
void BM_Token_CheckCurrent(benchmark::State& state) {
  CancellationSource source;
  CurrentTokenScope scope(source.Token());
  for (auto _ : state) {
    benchmark::DoNotOptimize(IsCancellationRequested());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Token_CheckCurrent);

// Many threads polling one token: a read-only load shares the cache line.
void BM_Token_CheckShared(benchmark::State& state) {
  // One source for all threads; a function static is initialised once,
  // safely, whichever thread gets here first. Leaked on purpose.
  static CancellationSource* const source = new CancellationSource();
  const CancellationToken token = source->Token();  // a copy per thread
  for (auto _ : state) {
    benchmark::DoNotOptimize(token.IsCancellationRequested());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Token_CheckShared)->Threads(2)->UseRealTime();

void BM_StdStopToken_CheckShared(benchmark::State& state) {
  static std::stop_source* const source = new std::stop_source();
  const std::stop_token token = source->get_token();
  for (auto _ : state) {
    benchmark::DoNotOptimize(token.stop_requested());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StdStopToken_CheckShared)->Threads(2)->UseRealTime();

// --- Token copies ----------------------------------------------------------

void BM_Token_Copy(benchmark::State& state) {
  CancellationSource source;
  const CancellationToken token = source.Token();
  for (auto _ : state) {
    CancellationToken copy = token;
    benchmark::DoNotOptimize(copy);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Token_Copy);

void BM_StdStopToken_Copy(benchmark::State& state) {
  std::stop_source source;
  const std::stop_token token = source.get_token();
  for (auto _ : state) {
    std::stop_token copy = token;
    benchmark::DoNotOptimize(copy);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StdStopToken_Copy);

// --- Callback registration -------------------------------------------------

void BM_Callback_RegisterDeregister(benchmark::State& state) {
  CancellationSource source;
  const CancellationToken token = source.Token();
  int64_t runs = 0;
  for (auto _ : state) {
    CancellationCallback<Count> callback(token, Count{&runs});
    benchmark::DoNotOptimize(&callback);
    benchmark::ClobberMemory();
  }
  if (runs != 0) state.SkipWithError("a callback ran");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Callback_RegisterDeregister);

void BM_StdStopCallback_RegisterDeregister(benchmark::State& state) {
  std::stop_source source;
  const std::stop_token token = source.get_token();
  int64_t runs = 0;
  for (auto _ : state) {
    std::stop_callback<Count> callback(token, Count{&runs});
    benchmark::DoNotOptimize(&callback);
    benchmark::ClobberMemory();
  }
  if (runs != 0) state.SkipWithError("a callback ran");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StdStopCallback_RegisterDeregister);

// Two threads registering on one token: the list lock is contended.
void BM_Callback_RegisterDeregisterContended(benchmark::State& state) {
  static CancellationSource* const source = new CancellationSource();
  const CancellationToken token = source->Token();
  int64_t runs = 0;
  for (auto _ : state) {
    CancellationCallback<Count> callback(token, Count{&runs});
    benchmark::DoNotOptimize(&callback);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Callback_RegisterDeregisterContended)->Threads(2)->UseRealTime();

void BM_StdStopCallback_RegisterDeregisterContended(benchmark::State& state) {
  static std::stop_source* const source = new std::stop_source();
  const std::stop_token token = source->get_token();
  int64_t runs = 0;
  for (auto _ : state) {
    std::stop_callback<Count> callback(token, Count{&runs});
    benchmark::DoNotOptimize(&callback);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StdStopCallback_RegisterDeregisterContended)
    ->Threads(2)
    ->UseRealTime();

// --- Fan-out ---------------------------------------------------------------
// Each iteration makes a source, registers N callbacks (not timed), then
// times the request that runs all N (manual time). Items: callbacks run.

using Clock = std::chrono::steady_clock;

void BM_Cancel_FanOut(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  auto slots =
      std::make_unique<std::optional<CancellationCallback<Count>>[]>(n);
  int64_t runs = 0;
  for (auto _ : state) {
    CancellationSource source;
    for (int i = 0; i < n; ++i) slots[i].emplace(source.Token(), Count{&runs});
    const Clock::time_point start = Clock::now();
    source.RequestCancellation();
    const Clock::time_point end = Clock::now();
    state.SetIterationTime(std::chrono::duration<double>(end - start).count());
    for (int i = 0; i < n; ++i) slots[i].reset();
  }
  if (runs != state.iterations() * n) state.SkipWithError("wrong run count");
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_Cancel_FanOut)->Arg(1)->Arg(10)->Arg(1000)->UseManualTime();

void BM_StdStop_FanOut(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  auto slots = std::make_unique<std::optional<std::stop_callback<Count>>[]>(n);
  int64_t runs = 0;
  for (auto _ : state) {
    std::stop_source source;
    for (int i = 0; i < n; ++i)
      slots[i].emplace(source.get_token(), Count{&runs});
    const Clock::time_point start = Clock::now();
    source.request_stop();
    const Clock::time_point end = Clock::now();
    state.SetIterationTime(std::chrono::duration<double>(end - start).count());
    for (int i = 0; i < n; ++i) slots[i].reset();
  }
  if (runs != state.iterations() * n) state.SkipWithError("wrong run count");
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_StdStop_FanOut)->Arg(1)->Arg(10)->Arg(1000)->UseManualTime();

// --- Children under a long-lived parent ------------------------------------

void BM_Link_ChildCreateDestroy(benchmark::State& state) {
  CancellationSource parent;
  const CancellationToken parent_token = parent.Token();
  for (auto _ : state) {
    CancellationSource child(parent_token);
    benchmark::DoNotOptimize(child);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Link_ChildCreateDestroy);

// std has no linked sources: a std::stop_source plus a std::stop_callback on
// the parent that requests it is the closest equivalent.
struct RequestStop {
  std::stop_source* child;
  void operator()() const noexcept { child->request_stop(); }
};

void BM_StdStop_LinkedChildCreateDestroy(benchmark::State& state) {
  std::stop_source parent;
  const std::stop_token parent_token = parent.get_token();
  for (auto _ : state) {
    std::stop_source child;
    std::stop_callback<RequestStop> link(parent_token, RequestStop{&child});
    benchmark::DoNotOptimize(child);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StdStop_LinkedChildCreateDestroy);

// --- Wake latency ----------------------------------------------------------
// A ping-pong between the benchmark thread and a partner thread. Round i: the
// benchmark thread cancels ping[i] and blocks until pong[i] is cancelled; the
// partner, blocked in the interruptible wait on ping[i], wakes and cancels
// pong[i]. One iteration is a full round trip (two wakes). Sources are made
// before the timed loop.

// One side's interruptible wait on a token that only cancellation ends.
enum class WaitKind { kCondVar, kEvent, kSleep, kFd };

class Waiter {
 public:
  explicit Waiter(WaitKind kind) : kind_(kind) {
    if (kind_ == WaitKind::kFd) {
      if (pipe(fds_) != 0) fds_[0] = fds_[1] = -1;
    }
  }
  ~Waiter() {
    if (fds_[0] >= 0) {
      close(fds_[0]);
      close(fds_[1]);
    }
  }
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  // Blocks until `token` is cancelled; true if the wait said so.
  bool WaitFor(const CancellationToken& token) {
    switch (kind_) {
      case WaitKind::kCondVar: {
        std::unique_lock<std::mutex> lock(mu_);
        return WaitWithCancellation(cv_, lock, token, [] { return false; }) ==
               WaitResult::kCancelled;
      }
      case WaitKind::kEvent:
        return event_.Wait(token) == WaitResult::kCancelled;
      case WaitKind::kSleep:
        return cancelpool::SleepFor(token, absl::Hours(1)) ==
               WaitResult::kCancelled;
      case WaitKind::kFd:
        return WaitForFd(fds_[0], FdInterest::kReadable, token) ==
               WaitResult::kCancelled;
    }
    return false;
  }

 private:
  const WaitKind kind_;
  std::mutex mu_;
  std::condition_variable cv_;
  Event event_;            // never set
  int fds_[2] = {-1, -1};  // a pipe nobody writes to
};

void RunWakeLatencyPingPong(benchmark::State& state, WaitKind kind) {
  const int64_t rounds = state.max_iterations;
  std::vector<CancellationSource> ping(rounds);
  std::vector<CancellationSource> pong(rounds);
  Waiter main_waiter(kind);
  Waiter partner_waiter(kind);
  bool partner_ok = true;
  std::thread partner([&] {
    for (int64_t i = 0; i < rounds; ++i) {
      partner_ok &= partner_waiter.WaitFor(ping[i].Token());
      pong[i].RequestCancellation();
    }
  });
  int64_t i = 0;
  bool ok = true;
  for (auto _ : state) {
    ping[i].RequestCancellation();
    ok &= main_waiter.WaitFor(pong[i].Token());
    ++i;
  }
  partner.join();
  if (!ok || !partner_ok)
    state.SkipWithError("a wait did not report cancellation");
  state.SetItemsProcessed(state.iterations());
}

void BM_WakeLatency_CondVarWait(benchmark::State& state) {
  RunWakeLatencyPingPong(state, WaitKind::kCondVar);
}
BENCHMARK(BM_WakeLatency_CondVarWait)->UseRealTime();

void BM_WakeLatency_EventWait(benchmark::State& state) {
  RunWakeLatencyPingPong(state, WaitKind::kEvent);
}
BENCHMARK(BM_WakeLatency_EventWait)->UseRealTime();

void BM_WakeLatency_SleepFor(benchmark::State& state) {
  RunWakeLatencyPingPong(state, WaitKind::kSleep);
}
BENCHMARK(BM_WakeLatency_SleepFor)->UseRealTime();

void BM_WakeLatency_FdWait(benchmark::State& state) {
  RunWakeLatencyPingPong(state, WaitKind::kFd);
}
BENCHMARK(BM_WakeLatency_FdWait)->UseRealTime();

// The same round trip with a plain std::condition_variable: set a counter
// under the mutex, notify, the other side's predicate sees it.
struct StdChannel {
  std::mutex mu;
  std::condition_variable cv;
  int64_t value = 0;

  void Send(int64_t v) {
    {
      std::lock_guard<std::mutex> lock(mu);
      value = v;
    }
    cv.notify_all();
  }
  void Receive(int64_t v) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return value == v; });
  }
};

void BM_WakeLatency_StdCondVarNotify(benchmark::State& state) {
  const int64_t rounds = state.max_iterations;
  StdChannel ping;
  StdChannel pong;
  std::thread partner([&] {
    for (int64_t i = 1; i <= rounds; ++i) {
      ping.Receive(i);
      pong.Send(i);
    }
  });
  int64_t i = 1;
  for (auto _ : state) {
    ping.Send(i);
    pong.Receive(i);
    ++i;
  }
  partner.join();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WakeLatency_StdCondVarNotify)->UseRealTime();

// std's own interruptible wait: condition_variable_any with a stop_token,
// woken by request_stop().
void BM_WakeLatency_StdCondVarAnyStopToken(benchmark::State& state) {
  const int64_t rounds = state.max_iterations;
  std::vector<std::stop_source> ping(rounds);
  std::vector<std::stop_source> pong(rounds);
  struct Side {
    std::mutex mu;
    std::condition_variable_any cv;
    bool WaitFor(std::stop_token token) {
      std::unique_lock<std::mutex> lock(mu);
      return !cv.wait(lock, token, [] { return false; });
    }
  };
  Side main_side;
  Side partner_side;
  bool partner_ok = true;
  std::thread partner([&] {
    for (int64_t i = 0; i < rounds; ++i) {
      partner_ok &= partner_side.WaitFor(ping[i].get_token());
      pong[i].request_stop();
    }
  });
  int64_t i = 0;
  bool ok = true;
  for (auto _ : state) {
    ping[i].request_stop();
    ok &= main_side.WaitFor(pong[i].get_token());
    ++i;
  }
  partner.join();
  if (!ok || !partner_ok) state.SkipWithError("a wait did not report a stop");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WakeLatency_StdCondVarAnyStopToken)->UseRealTime();

}  // namespace
}  // namespace cancelpool
