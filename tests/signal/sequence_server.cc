// Copyright 2026 The cancelpool Authors.
//
// A small server for shutdown_sequence_test: one in-flight request on a
// pool, and a shutdown stage (added after Install) that waits for it.
// Usage: sequence_server MODE, MODE "finish" (the request ends when the
// stage lets it) or "stuck" (it ends only when cancelled).
// Prints READY, IN_STAGE, then REQUEST ... and SEQUENCE ... after the
// shutdown; exits 0.
#include <cstdio>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/cause.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/signal_shutdown.h"
#include "cancelpool/pool/thread_pool.h"

int main(int argc, char** argv) {
  using cancelpool::CancellationToken;
  const std::string mode = argc > 1 ? argv[1] : "finish";
  cancelpool::SignalShutdown::Options options;
  options.grace = absl::Minutes(5);  // only a second signal cancels
  auto installed = cancelpool::SignalShutdown::Install(std::move(options));
  if (!installed.ok()) return 2;
  std::unique_ptr<cancelpool::SignalShutdown> shutdown = *std::move(installed);
  cancelpool::ThreadPool pool(1);
  shutdown->Watch(&pool);
  absl::Notification started, may_finish, done;
  auto request = pool.Submit([&](CancellationToken t) {
    started.Notify();
    if (mode == "finish") {
      may_finish.WaitForNotificationWithTimeout(absl::Minutes(1));
    } else {
      cancelpool::SleepFor(t, absl::Minutes(1));
    }
    done.Notify();
    return t.IsCancellationRequested() ? t.Reason() : absl::OkStatus();
  });
  started.WaitForNotification();
  shutdown->AddShutdownStage("finish requests", [&](absl::Time deadline) {
    std::printf("IN_STAGE\n");
    std::fflush(stdout);
    may_finish.Notify();
    done.WaitForNotificationWithDeadline(deadline);
  });
  std::printf("READY\n");
  std::fflush(stdout);
  if (!shutdown->WaitForShutdown()) return 3;
  const absl::Status s = request.Get();
  if (s.ok()) {
    std::printf("REQUEST ok\n");
  } else {
    std::printf("REQUEST cancelled cause=%s signo=%d\n",
                std::string(cancelpool::CancellationCauseName(
                                cancelpool::GetCancellationCause(s)))
                    .c_str(),
                cancelpool::GetCancellationSignal(s).value_or(0));
  }
  const cancelpool::ShutdownSequenceReport r = shutdown->SequenceReport();
  int ran = 0;
  for (const auto& st : r.stages) ran += st.ran;
  std::printf(
      "SEQUENCE stages=%zu ran=%d cancelled=%d grace_ran_out=%d "
      "pools=%zu stage_ms=%lld\n",
      r.stages.size(), ran, r.cancelled ? 1 : 0, r.grace_ran_out ? 1 : 0,
      r.pools.size(),
      r.stages.empty() ? -1LL
                       : static_cast<long long>(absl::ToInt64Milliseconds(
                             r.stages[0].end - r.stages[0].start)));
  std::fflush(stdout);
  return 0;
}
