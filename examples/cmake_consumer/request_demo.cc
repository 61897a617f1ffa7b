// Copyright 2026 The cancelpool Authors.
//
// A program in another CMake project, built against an installed cancelpool
// (find_package(cancelpool), targets cancelpool::pool and cancelpool::cancel):
// one request fans out into tasks that all take the request's token as
// parent; cancelling the request stops the tasks still waiting, with the
// request's reason, while a task that already finished keeps its value.
// Prints what happened; exits 1 if anything is not as expected.
#include <cstdio>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/thread_pool.h"

int main() {
  int failures = 0;
  auto expect = [&failures](bool ok, const char* what) {
    std::printf("  [%s] %s\n", ok ? "ok" : "FAILED", what);
    if (!ok) ++failures;
  };

  cancelpool::ThreadPool pool(2);
  cancelpool::CancellationSource request;
  cancelpool::TaskOptions options;
  options.parent = request.Token();

  // Part 0 returns at once; parts 1..3 wait (interruptibly) for a minute.
  std::vector<cancelpool::Future<int>> parts;
  for (int i = 0; i < 4; ++i) {
    parts.push_back(pool.SubmitWith(
        options,
        [i](cancelpool::CancellationToken token) -> absl::StatusOr<int> {
          if (i > 0 && cancelpool::SleepFor(token, absl::Seconds(60)) ==
                           cancelpool::WaitResult::kCancelled) {
            return token.Reason();
          }
          return 10 * i;
        }));
  }
  absl::StatusOr<int> first = parts[0].Get();
  expect(first.ok() && *first == 0, "the quick part returned its value");

  request.RequestCancellation(absl::CancelledError("client went away"));
  for (int i = 1; i < 4; ++i) {
    absl::StatusOr<int> r = parts[i].Get();
    expect(!r.ok() && r.status().message() == "client went away",
           "a waiting part stopped with the request's reason");
  }
  expect(parts[0].Outcome() == cancelpool::TaskOutcome::kSucceeded,
         "the finished part still counts as succeeded");

  cancelpool::ShutdownReport report = pool.DrainThenCancel(absl::Seconds(10));
  expect(report.terminated, "the pool drained and terminated");
  std::printf("%s\n", failures == 0 ? "all checks passed" : "CHECKS FAILED");
  return failures == 0 ? 0 : 1;
}
