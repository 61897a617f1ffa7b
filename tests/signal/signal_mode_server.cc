// A small "server" for the real-signal tests of signal_shutdown_test.cc: a pool
// with cooperative long-running tasks that record their cleanup, under
// SignalShutdown.
//
// Usage: signal_mode_server MODE RUNNING QUEUED GRACE_MS
//   MODE  busy      RUNNING tasks loop in interruptible sleeps until their
//                   token is cancelled; QUEUED more wait behind them.
//         finite    every task sleeps 20 ms and completes.
//         stubborn  RUNNING tasks ignore their tokens (for the 3rd signal).
//         heavy     3 threads submit short tasks until Submit is refused.
//         idle      no tasks.
//         slowhook  no tasks; the first signal's hook blocks for ten minutes
//                   (the third signal must exit the process all the same).
// Output (stdout, line by line): "READY" once the running tasks started (and
// the submitters are going), "FIRST_SIGNAL <name>" and "CANCELLING <name>"
// from the hooks,
// "Task #N stopped: <reason>" from each cancelled task's cleanup, then
// "REPORT submitted=.. completed=.. failed=.. cancelled_before_start=..
// cancelled_while_running=.. rejected=.. outside_submits=.. terminated=0|1".
// Exit status: 0 if the pool terminated and every task is accounted for;
// 1 otherwise; 128+signo after a third signal (SignalShutdown's contract).
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/signal_shutdown.h"
#include "cancelpool/pool/thread_pool.h"

namespace {

absl::Mutex out_mu;

void Say(const std::string& line) {
  absl::MutexLock lock(&out_mu);
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// Cleanup that must run however the task ends (the seeds' "Thread #N
// stopped").
struct Cleanup {
  int id;
  cancelpool::CancellationToken token;
  ~Cleanup() {
    Say(absl::StrFormat("Task #%d stopped: %s", id, token.Reason().ToString()));
  }
};

}  // namespace

int main(int argc, char** argv) {
  // First thing: before any thread exists.
  cancelpool::SignalShutdown::Options sopts;
  const std::string mode = argc > 1 ? argv[1] : "busy";
  const int running = argc > 2 ? std::atoi(argv[2]) : 2;
  const int queued = argc > 3 ? std::atoi(argv[3]) : 10;
  sopts.grace = absl::Milliseconds(argc > 4 ? std::atoi(argv[4]) : 200);
  sopts.on_first_signal = [slow = mode == "slowhook"](int signo) {
    Say("FIRST_SIGNAL " + cancelpool::SignalShutdown::SignalName(signo));
    if (slow) absl::SleepFor(absl::Minutes(10));
  };
  sopts.on_cancel = [](int signo) {
    Say("CANCELLING " + cancelpool::SignalShutdown::SignalName(signo));
  };
  auto installed = cancelpool::SignalShutdown::Install(std::move(sopts));
  if (!installed.ok()) {
    Say("INSTALL_FAILED " + installed.status().ToString());
    return 2;
  }
  std::unique_ptr<cancelpool::SignalShutdown> signals = *std::move(installed);

  cancelpool::ThreadPoolOptions popts;
  popts.num_workers = 2;
  // Heavy submission is bounded by admission control (refusals are counted
  // as rejected), so memory stays small however long the test waits.
  if (mode == "heavy") popts.max_queued_tasks = 10000;
  cancelpool::ThreadPool pool(std::move(popts));
  signals->Watch(&pool);
  std::atomic<uint64_t> outside_submits{0};
  std::vector<cancelpool::Future<void>> futures;

  if (mode == "busy" || mode == "stubborn") {
    // Work stealing does not start tasks in submission order: the first
    // `running` tasks to start get ids 0..running-1 and release READY.
    absl::BlockingCounter started(running);
    std::atomic<int> start_order{0};
    const bool stubborn = mode == "stubborn";
    for (int i = 0; i < running + queued; ++i) {
      ++outside_submits;
      futures.push_back(pool.Submit([running, stubborn, &started, &start_order](
                                        cancelpool::CancellationToken t) {
        const int id = start_order++;
        Cleanup cleanup{id, t};
        if (id < running) started.DecrementCount();
        if (stubborn) {
          for (;;) pause();
        }
        while (cancelpool::SleepFor(t, absl::Milliseconds(10)) !=
               cancelpool::WaitResult::kCancelled) {
        }
        t.ThrowIfCancellationRequested();
      }));
    }
    started.Wait();
  } else if (mode == "finite") {
    for (int i = 0; i < running + queued; ++i) {
      ++outside_submits;
      futures.push_back(pool.Submit([](cancelpool::CancellationToken t) {
        cancelpool::SleepFor(t, absl::Milliseconds(20));
      }));
    }
  }
  std::vector<std::thread> submitters;
  if (mode == "heavy") {
    absl::BlockingCounter going(3);
    for (int s = 0; s < 3; ++s) {
      submitters.emplace_back([&pool, &outside_submits, &going] {
        going.DecrementCount();
        for (;;) {
          ++outside_submits;
          auto f = pool.Submit([](cancelpool::CancellationToken t) {
            cancelpool::SleepFor(t, absl::Microseconds(50));
          });
          if (f.IsReady() &&
              f.Get().code() == absl::StatusCode::kFailedPrecondition) {
            return;  // shut down: refused, as documented
          }
          if (pool.IsShutdown()) std::this_thread::yield();
        }
      });
    }
    going.Wait();
  }
  Say("READY");

  const bool terminated = signals->WaitForShutdown();
  for (auto& t : submitters) t.join();
  for (auto& f : futures) f.Wait();
  cancelpool::PoolStats s = pool.Stats();
  const bool identity =
      s.submitted == s.completed + s.failed + s.cancelled_before_start +
                         s.cancelled_while_running + s.rejected &&
      s.submitted == outside_submits.load();
  Say(absl::StrFormat(
      "REPORT submitted=%d completed=%d failed=%d cancelled_before_start=%d "
      "cancelled_while_running=%d rejected=%d outside_submits=%d "
      "terminated=%d",
      s.submitted, s.completed, s.failed, s.cancelled_before_start,
      s.cancelled_while_running, s.rejected, outside_submits.load(),
      terminated ? 1 : 0));
  return terminated && identity ? 0 : 1;
}
