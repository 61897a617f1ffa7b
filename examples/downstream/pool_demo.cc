// A program in another Bazel workspace, built against @cancelpool//pool:
// a request handler submits one task per request with the request's token as
// parent, cancels one request while its task runs, and shuts the pool down
// with a report. Exits 1 if anything is not as expected.
#include <cstdio>
#include <vector>

#include "absl/status/status.h"
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
  std::vector<cancelpool::CancellationSource> requests(8);
  std::vector<cancelpool::Future<int>> answers;
  for (int i = 0; i < 8; ++i) {
    cancelpool::TaskOptions options;
    options.parent = requests[i].Token();
    answers.push_back(pool.SubmitWith(
        options,
        [i](cancelpool::CancellationToken token) -> absl::StatusOr<int> {
          if (i == 3 && cancelpool::SleepFor(token, absl::Seconds(60)) ==
                            cancelpool::WaitResult::kCancelled) {
            return token.Reason();
          }
          return i * i;
        }));
  }
  requests[3].RequestCancellation(absl::CancelledError("client went away"));
  for (int i = 0; i < 8; ++i) {
    absl::StatusOr<int> r = answers[i].Get();
    if (i == 3) {
      expect(r.status().message() == "client went away",
             "the cancelled request's task stopped with its reason");
    } else if (!r.ok() || *r != i * i) {
      expect(false, "a request's task returned its value");
    }
  }
  cancelpool::ShutdownReport report = pool.DrainThenCancel(absl::Seconds(10));
  expect(report.terminated, "the pool drained and terminated");
  // The cancelled request's task may or may not have started by then.
  expect(report.stats.completed == 7 &&
             report.stats.cancelled_before_start +
                     report.stats.cancelled_while_running ==
                 1,
         "the report adds up: 7 completed, 1 cancelled");
  return failures == 0 ? 0 : 1;
}
