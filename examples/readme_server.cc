// Copyright 2026 The cancelpool Authors.
//
// README.md, "Cancellation causes and disconnects" and "Shutdown and
// signals": a request cancelled by its client's disconnect, the cause mapped
// to an HTTP status, and a shutdown stage that waits for in-flight requests.
// Exits 0 only if every step did what the README says.
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/cause.h"
#include "cancelpool/cancel/disconnect.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/signal_shutdown.h"
#include "cancelpool/pool/thread_pool.h"

namespace {

using cancelpool::CancellationCause;

int Check(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
  return ok ? 0 : 1;
}

// [START causes]
// The HTTP status for a request whose work ended with `status`.
int HttpStatusFor(const absl::Status& status) {
  if (status.ok()) return 200;
  switch (cancelpool::GetCancellationCause(status)) {
    case CancellationCause::kDisconnect:
      return 499;  // the client went away: nobody reads the answer
    case CancellationCause::kDeadline:
      return 504;
    case CancellationCause::kShutdown:
    case CancellationCause::kSignal:
      return 503;  // the server is going down: retry elsewhere
    default:
      return 500;
  }
}
// [END causes]

}  // namespace

int main() {
  cancelpool::SignalShutdown::Options signal_options;
  signal_options.grace = absl::Seconds(5);
  auto signals = cancelpool::SignalShutdown::Install(std::move(signal_options));
  if (!signals.ok()) return 2;
  cancelpool::ThreadPool pool(2);
  (*signals)->Watch(&pool);
  int failures = 0;

  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return 3;
  const int connection = fds[0];
  const int client = fds[1];
  // [START disconnect]
  // Per request: cancel its work when the client hangs up.
  cancelpool::CancellationSource request;
  absl::StatusOr<cancelpool::DisconnectRegistration> watch =
      cancelpool::WatchDisconnect(connection, request);
  if (!watch.ok()) return 4;  // bad fd, or out of descriptors
  cancelpool::TaskOptions options;
  options.parent = request.Token();
  options.deadline = absl::Now() + absl::Seconds(30);
  auto work = pool.SubmitWith(options, [](cancelpool::CancellationToken t) {
    cancelpool::SleepFor(t, absl::Seconds(60));  // a slow backend call
    return t.IsCancellationRequested() ? t.Reason() : absl::OkStatus();
  });
  close(client);                                      // ...the client gives up
  const int http_status = HttpStatusFor(work.Get());  // 499
  watch->Reset();  // before the connection's fd is closed
  // [END disconnect]
  close(connection);
  failures += Check(http_status == 499, "a disconnect maps to 499");

  // [START stages]
  // Registered after Install, by the server itself: at the first signal it
  // runs before the pools drain, and may block until its deadline (the end
  // of the grace period).
  absl::Notification in_flight_done;
  auto in_flight = pool.Submit([&in_flight_done] {
    absl::SleepFor(absl::Milliseconds(20));  // a request finishing
    in_flight_done.Notify();
  });
  (*signals)->AddShutdownStage(
      "finish in-flight requests", [&in_flight_done](absl::Time deadline) {
        // stop accepting here; then wait for the requests being served
        in_flight_done.WaitForNotificationWithDeadline(deadline);
      });
  (*signals)->Trigger(SIGTERM);  // as if the orchestrator sent SIGTERM
  (*signals)->WaitForShutdown();
  cancelpool::ShutdownSequenceReport report = (*signals)->SequenceReport();
  for (const cancelpool::ShutdownStageReport& stage : report.stages) {
    std::printf("stage %s: %lld ms\n", stage.name.c_str(),
                static_cast<long long>(
                    absl::ToInt64Milliseconds(stage.end - stage.start)));
  }
  // [END stages]
  failures += Check(in_flight.Get().ok(), "the in-flight request finished");
  failures += Check(report.stages.size() == 1 && !report.cancelled,
                    "one stage ran, then the drain, no cancel");
  failures += Check(report.pools.size() == 1 && report.pools[0].terminated,
                    "the pool's report is in the sequence's report");
  failures += Check(
      HttpStatusFor(cancelpool::WithCancellationCause(
          absl::CancelledError("x"), CancellationCause::kShutdown)) == 503,
      "a shutdown maps to 503");
  return failures == 0 ? 0 : 1;
}
