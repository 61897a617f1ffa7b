// README.md, "Pool API": a tiny "server" that runs one task per request on a
// ThreadPool, cancels work when a client goes away or a deadline passes, and
// stops cleanly on SIGTERM (it sends itself one, as an orchestrator would).
// Exits 0 only if every step behaved as the README says.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

// [START includes]
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/signal_shutdown.h"  // SIGINT/SIGTERM handling
#include "cancelpool/pool/thread_pool.h"
// [END includes]
#include "cancelpool/cancel/blocking.h"

namespace {

bool ok = true;
void Check(bool condition, const char* what) {
  std::printf("%s: %s\n", condition ? "ok  " : "FAIL", what);
  ok &= condition;
}

}  // namespace

// [START submit]
using cancelpool::CancellationToken;
using cancelpool::Future;
using cancelpool::TaskOptions;

// Slow work that notices cancellation while it waits.
absl::StatusOr<std::string> LookUp(CancellationToken token, std::string key) {
  if (cancelpool::SleepFor(token, absl::Milliseconds(50)) ==
      cancelpool::WaitResult::kCancelled) {
    return token.Reason();  // acknowledges: the future reports "cancelled"
  }
  return "value of " + key;
}

// Fork-join: waiting inside a task runs its children, so it never deadlocks.
long Sum(cancelpool::ThreadPool& pool, const long* v, size_t n) {
  if (n <= 1024) {
    long s = 0;
    for (size_t i = 0; i < n; ++i) s += v[i];
    return s;
  }
  Future<long> left =
      pool.Submit([&pool, v, n] { return Sum(pool, v, n / 2); });
  long right = Sum(pool, v + n / 2, n - n / 2);
  return *left.Get() + right;
}

void HandleRequests(cancelpool::ThreadPool& pool) {
  // One request: its tasks get the request's token as parent and a deadline.
  cancelpool::CancellationSource request;
  TaskOptions options;
  options.parent = request.Token();
  options.deadline = absl::Now() + absl::Seconds(2);
  Future<std::string> answer = pool.SubmitWith(options, LookUp, "user:42");
  absl::StatusOr<std::string> value = answer.Get();
  Check(value.ok() && *value == "value of user:42", "task returned a value");

  // The client goes away: cancelling the request reaches the running task.
  Future<std::string> slow = pool.SubmitWith(options, LookUp, "user:43");
  request.RequestCancellation(absl::CancelledError("client disconnected"));
  Check(slow.Get().status().message() == "client disconnected",
        "cancel reached the running task, with its reason");
  Check(slow.Outcome() == cancelpool::TaskOutcome::kCancelled,
        "outcome is cancelled");

  // A deadline that passes first.
  Future<std::string> late = pool.SubmitWith(
      TaskOptions::WithTimeout(absl::Milliseconds(5)), LookUp, "user:44");
  Check(absl::IsDeadlineExceeded(late.Get().status()), "deadline exceeded");

  // Future::Cancel() directly, and fork-join.
  Future<std::string> unwanted = pool.Submit(LookUp, "user:45");
  unwanted.Cancel();
  Check(absl::IsCancelled(unwanted.Get().status()), "Future::Cancel()");
  std::vector<long> v(1 << 16, 1);
  Check(*pool.Submit([&] { return Sum(pool, v.data(), v.size()); }).Get() ==
            (1 << 16),
        "fork-join sum");
}
// [END submit]

// [START blocking]
// Handlers that wait on backends: 2 workers for the 2 cores, and up to 62
// extra threads for handlers blocked meanwhile (a SleepFor, WaitForFd,
// Event::Wait ... or a declared region). Tasks queued past 20 ms in a
// standing queue are shed (ResourceExhausted) instead of run late.
cancelpool::PoolStats CallBackends() {
  cancelpool::ThreadPoolOptions options;
  options.num_workers = 2;
  options.max_blocking_threads = 62;
  options.queue_delay_target = absl::Milliseconds(20);
  cancelpool::ThreadPool pool(std::move(options));
  std::vector<Future<void>> calls;
  for (int i = 0; i < 16; ++i) {
    calls.push_back(pool.Submit([] {
      cancelpool::SleepFor(absl::Milliseconds(5));  // a backend's answer
      cancelpool::ScopedBlockingRegion region;      // a client library's
      usleep(1000);                                 // blocking call
    }));
  }
  for (Future<void>& call : calls) call.Wait();
  return pool.Stats();
}
// [END blocking]

int main() {
  // [START shutdown]
  // First thing in main(), before any thread starts: SIGINT and SIGTERM go
  // to a dedicated thread; no code runs in a signal handler.
  cancelpool::SignalShutdown::Options signal_options;
  signal_options.grace = absl::Seconds(5);  // drain this long, then cancel
  signal_options.on_first_signal = [](int) {
    std::puts("stop accepting requests");
  };
  auto signals = cancelpool::SignalShutdown::Install(std::move(signal_options));
  if (!signals.ok()) return 2;
  cancelpool::ThreadPool pool(4);
  (*signals)->Watch(&pool);

  HandleRequests(pool);
  pool.Submit([](CancellationToken token) {  // runs until shutdown cancels it
    while (cancelpool::SleepFor(token, absl::Seconds(1)) !=
           cancelpool::WaitResult::kCancelled) {
    }
    return token.Reason();  // acknowledged: counted as cancelled
  });

  kill(getpid(), SIGTERM);  // the orchestrator says stop (1st: drain)
  (*signals)->WaitForSignal();
  kill(getpid(), SIGTERM);  // ...and again: cancel everything now
  (*signals)->WaitForShutdown();
  cancelpool::ShutdownReport report = pool.Report();
  std::printf(
      "submitted %llu, completed %llu, cancelled %llu\n",
      static_cast<unsigned long long>(report.stats.submitted),
      static_cast<unsigned long long>(report.stats.completed),
      static_cast<unsigned long long>(report.stats.cancelled_before_start +
                                      report.stats.cancelled_while_running));
  // [END shutdown]
  Check(report.terminated && report.stats.InFlight() == 0,
        "everything accounted for after SIGTERM");
  const cancelpool::PoolStats backends = CallBackends();
  Check(backends.completed + backends.shed_queue_delay == 16,
        "blocking calls on a small pool");
  return ok ? 0 : 1;
}
