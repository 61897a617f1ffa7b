// A program in another Bazel workspace, built against @cancelpool//cancel.
//
// 1. Waits on an event nobody sets, under a 100 ms deadline: the wait must
//    end early with kCancelled and the reason DeadlineExceeded.
// 2. Waits on an event while another thread requests cancellation with a
//    reason: the waiter must wake with that reason, and a registered
//    CancellationCallback must have run exactly once.
// Prints what happened; exits 1 if anything is not as expected.
#include <atomic>
#include <cstdio>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/wait.h"

namespace {

constexpr absl::Duration kDeadline = absl::Milliseconds(100);
// A bound on every wait, generous for a loaded 2-core CI machine, so a bug
// fails the program instead of hanging it.
constexpr absl::Duration kHangTimeout = absl::Seconds(60);

int failures = 0;

void Expect(bool ok, const char* what) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++failures;
}

void DeadlineInterruptsWait() {
  std::printf("deadline of %s:\n", absl::FormatDuration(kDeadline).c_str());
  // The deadline counts from the source's creation, so the stopwatch starts
  // before it (creating the first deadline also starts the timer thread,
  // which can take a while on a loaded machine).
  const absl::Time start = absl::Now();
  cancelpool::CancellationSource source =
      cancelpool::CancellationSource::WithTimeout(kDeadline);
  cancelpool::Event never_set;
  const cancelpool::WaitResult result =
      never_set.Wait(source.Token(), start + kHangTimeout);
  const absl::Duration waited = absl::Now() - start;
  std::printf(
      "  wait returned %s after %s; reason: %s\n",
      cancelpool::WaitResultName(result),
      absl::FormatDuration(absl::Trunc(waited, absl::Milliseconds(1))).c_str(),
      source.Token().Reason().ToString().c_str());
  Expect(result == cancelpool::WaitResult::kCancelled,
         "the wait was cancelled");
  Expect(absl::IsDeadlineExceeded(source.Token().Reason()),
         "the reason is DeadlineExceeded");
  // The timer may round; allow it to fire a few milliseconds early.
  Expect(waited >= kDeadline - absl::Milliseconds(5),
         "the wait lasted until the deadline");
}

void RequestFromAnotherThreadWakesWaiter() {
  std::printf("cancellation from another thread:\n");
  cancelpool::CancellationSource source;
  std::atomic<int> callback_runs{0};
  cancelpool::CancellationCallback count_runs(
      source.Token(), [&callback_runs] { callback_runs.fetch_add(1); });
  cancelpool::Event never_set;
  std::thread canceller([source]() mutable {
    source.RequestCancellation(absl::CancelledError("user pressed stop"));
  });
  const cancelpool::WaitResult result =
      never_set.Wait(source.Token(), absl::Now() + kHangTimeout);
  canceller.join();
  std::printf("  wait returned %s; reason: %s\n",
              cancelpool::WaitResultName(result),
              source.Reason().ToString().c_str());
  Expect(result == cancelpool::WaitResult::kCancelled,
         "the wait was cancelled");
  Expect(source.Reason() == absl::CancelledError("user pressed stop"),
         "the reason is the requester's");
  Expect(callback_runs.load() == 1, "the callback ran exactly once");
}

}  // namespace

int main() {
  DeadlineInterruptsWait();
  RequestFromAnotherThreadWakesWaiter();
  std::printf("%s\n", failures == 0 ? "all checks passed" : "CHECKS FAILED");
  return failures == 0 ? 0 : 1;
}
