// Copyright 2026 The cancelpool Authors.
//
// The child process of the real-signal trials (signal_trials_test.cc): a
// small "server" that installs SignalShutdown first thing in main, runs a
// pool, prints READY on stdout, keeps working according to --scenario until
// the signals shut it down, then prints one REPORT line and exits 0.
//
//   signal_trial_server --scenario=idle|heavy|drain|second --workers=N
//                       --seed=S
//
// Scenarios (what the pool is doing when the parent's kill(2) arrives):
//   idle    nothing queued or running;
//   heavy   a client thread submits short tasks (values, cooperative sleeps,
//           nested submits) as fast as it can until the pool refuses them;
//   drain   a hundred tasks of up to 2 ms are queued: the first signal
//           drains them all (long grace);
//   second  many long cooperative tasks: the drain cannot finish, so the
//           parent's second signal escalates to cancel.
// The REPORT line: terminated, the pool's counters, and `calls` (Submit calls
// this process made), so the parent checks the accounting identity and that
// nothing was lost or invented.
//
// Signals are never unblocked here: SignalShutdown blocks them before any
// other thread exists, and every thread inherits that mask.
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/signal_shutdown.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"

namespace {

using cancelpool::CancellationToken;
using cancelpool::Future;
using cancelpool::SignalShutdown;
using cancelpool::ThreadPool;
using cancelpool::testing_util::SplitMix64;

std::atomic<uint64_t> g_calls{0};

// Submits one task and drops its future (the pool still resolves it; the
// counters are what the parent checks).
void SubmitOne(ThreadPool& pool, int kind, absl::Duration d, int depth) {
  g_calls.fetch_add(1, std::memory_order_relaxed);
  switch (kind % 4) {
    case 0:
      pool.Submit([] { return 1; });
      break;
    case 1:
      pool.Submit([d](CancellationToken t) -> absl::Status {
        if (cancelpool::SleepFor(t, d) == cancelpool::WaitResult::kCancelled) {
          return t.Reason();
        }
        return absl::OkStatus();
      });
      break;
    case 2:
      pool.Submit([d](CancellationToken t) {
        cancelpool::SleepFor(t, d);
        t.ThrowIfCancellationRequested();
      });
      break;
    default:
      pool.Submit([&pool, d, depth] {
        if (depth >= 2) return;
        for (int i = 0; i < 2; ++i) SubmitOne(pool, i + 1, d, depth + 1);
      });
      break;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // First thing: before any other thread exists.
  SignalShutdown::Options ss_options;
  std::string scenario = "idle";
  int workers = 2;
  uint64_t seed = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--scenario=", 0) == 0) scenario = a.substr(11);
    if (a.rfind("--workers=", 0) == 0) workers = std::atoi(a.c_str() + 10);
    if (a.rfind("--seed=", 0) == 0)
      seed = std::strtoull(a.c_str() + 7, nullptr, 10);
  }
  // The drain never times out here (kChildGrace in signal_trials_test.cc).
  ss_options.grace = absl::Seconds(30);
  auto installed = SignalShutdown::Install(std::move(ss_options));
  if (!installed.ok()) {
    std::printf("ERROR %s\n", installed.status().ToString().c_str());
    return 3;
  }
  std::unique_ptr<SignalShutdown> signals = std::move(*installed);

  {
    cancelpool::ThreadPoolOptions options;
    options.num_workers = workers;
    // Bounded backlog: "heavy" submits as fast as it can, and the drain must
    // stay short (refused submits are counted as rejected).
    options.max_queued_tasks = 512;
    ThreadPool pool(std::move(options));
    signals->Watch(&pool);
    uint64_t rng = seed;
    std::thread client;
    if (scenario == "heavy") {
      client = std::thread([&pool, rng]() mutable {
        while (!pool.IsShutdown()) {
          SubmitOne(pool, static_cast<int>(SplitMix64(rng) % 4),
                    absl::Microseconds(SplitMix64(rng) % 200), 0);
        }
        SubmitOne(pool, 0, absl::ZeroDuration(), 0);  // one refused, surely
      });
    } else if (scenario == "drain") {
      for (int i = 0; i < 100; ++i) {
        SubmitOne(pool, 1 + static_cast<int>(SplitMix64(rng) % 2),
                  absl::Microseconds(SplitMix64(rng) % 2000), 0);
      }
    } else if (scenario == "second") {
      for (int i = 0; i < 200; ++i) {
        SubmitOne(pool, 1 + static_cast<int>(SplitMix64(rng) % 2),
                  absl::Milliseconds(200 + SplitMix64(rng) % 2000), 0);
      }
    }
    std::printf("READY\n");
    std::fflush(stdout);

    const bool shut = signals->WaitForShutdown(absl::Now() + absl::Seconds(60));
    if (client.joinable()) client.join();
    const bool terminated =
        pool.AwaitTermination(absl::Now() + absl::Seconds(60));
    // The signal thread may still be inside Shutdown(kCancel) for this pool:
    // stop watching and stop the signal thread before the pool goes away.
    signals->Unwatch(&pool);
    const int received = signals->SignalsReceived();
    const int stage = static_cast<int>(signals->CurrentStage());
    signals.reset();
    const cancelpool::ShutdownReport r = pool.Report();
    const cancelpool::PoolStats& s = r.stats;
    std::printf(
        "REPORT shut=%d terminated=%d report_terminated=%d submitted=%llu "
        "completed=%llu failed=%llu cancelled_before_start=%llu "
        "cancelled_while_running=%llu rejected=%llu calls=%llu signals=%d "
        "stage=%d\n",
        shut ? 1 : 0, terminated ? 1 : 0, r.terminated ? 1 : 0,
        (unsigned long long)s.submitted, (unsigned long long)s.completed,
        (unsigned long long)s.failed,
        (unsigned long long)s.cancelled_before_start,
        (unsigned long long)s.cancelled_while_running,
        (unsigned long long)s.rejected, (unsigned long long)g_calls.load(),
        received, stage);
    std::fflush(stdout);
  }
  return 0;
}
