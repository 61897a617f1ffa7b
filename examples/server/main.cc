// Copyright 2026 The cancelpool Authors.
//
// The example server's program: flags, signals, and the shutdown sequence.
//
//   tools/bazel run //examples/server -- --port=8080 --workers=2 --grace=10s
//
// Flags (all --name=value):
//   --port=N          0..65535 (0: an ephemeral port; the first line printed
//                     says which), default 8080
//   --host=ADDR       default 127.0.0.1
//   --mode=pool|direct  run the handlers' work on the pool (default) or on
//                     httplib's connection threads (for comparison)
//   --workers=N       pool workers, default 2
//   --http_threads=N  httplib connection threads, default 64
//   --max_queued=N    the pool's admission limit (0: none), default 1024
//   --max_blocking_threads=N  extra pool threads while tasks block (0: off),
//                     default 0
//   --queue_delay_target=DURATION  shed tasks queued longer (CoDel; 0: off),
//                     default 0
//   --grace=DURATION  how long the shutdown may take before in-flight work
//                     is cancelled (absl duration: 10s, 500ms), default 10s
//   --default_deadline=DURATION  deadline of a request without
//                     X-Deadline-Ms, default none
//
// SHUTDOWN SEQUENCE (SIGTERM or SIGINT; SignalShutdown's,
// pool/signal_shutdown.h)
//   1. First signal: the shutdown stage added after the server was created
//      stops accepting and returns once every request already read was
//      answered (their work still runs on the pool).
//   2. Then the pool drains (it is watched): everything queued runs,
//      running tasks finish.
//   3. Second signal, or the grace period over (also during step 1): the
//      on_cancel hook cancels every request's token (kSignal: 503), and the
//      pool is cancelled; a third signal exits at once.
//   4. Main prints the report: one line "server-report key=value ..." on
//      stdout (what the load test reads), exit 0 if it adds up (every
//      request read was answered; the pool terminated with nothing in
//      flight and its submit count is the server's), 1 if not.
// on_cancel is an option of Install, which runs before any thread (so
// before the server exists): it reaches the requests through a
// CancellationSource made first, the parent of every request's token.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/cause.h"
#include "cancelpool/pool/signal_shutdown.h"
#include "cancelpool/pool/thread_pool.h"
#include "examples/server/server.h"

namespace cancelpool_example {
namespace {

struct Flags {
  ServerOptions server;
  absl::Duration grace = absl::Seconds(10);
};

absl::Status ParseInt(absl::string_view name, absl::string_view text,
                      int64_t min, int64_t max, int64_t* value) {
  if (!absl::SimpleAtoi(text, value) || *value < min || *value > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", name, "=", text, ": want an integer in [", min, ", ", max, "]"));
  }
  return absl::OkStatus();
}

absl::Status ParseDuration(absl::string_view name, absl::string_view text,
                           absl::Duration* value) {
  if (!absl::ParseDuration(text, value) || *value < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", name, "=", text, ": want a duration such as 10s or 500ms"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Flags> ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    const size_t eq = arg.find('=');
    if (!absl::StartsWith(arg, "--") || eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("argument '", arg, "': want --name=value"));
    }
    const absl::string_view name = arg.substr(2, eq - 2);
    const absl::string_view value = arg.substr(eq + 1);
    int64_t n = 0;
    absl::Status status;
    if (name == "port") {
      status = ParseInt(name, value, 0, 65535, &n);
      flags.server.port = static_cast<int>(n);
    } else if (name == "host") {
      flags.server.host = std::string(value);
    } else if (name == "mode") {
      absl::StatusOr<ExecutionMode> mode =
          ParseExecutionMode(std::string(value));
      status = mode.status();
      if (mode.ok()) flags.server.mode = *mode;
    } else if (name == "workers") {
      status = ParseInt(name, value, 1,
                        cancelpool::ThreadPoolOptions::kMaxWorkers, &n);
      flags.server.workers = static_cast<int>(n);
    } else if (name == "http_threads") {
      status = ParseInt(name, value, 1, 4096, &n);
      flags.server.http_threads = static_cast<int>(n);
    } else if (name == "max_queued") {
      status = ParseInt(name, value, 0, int64_t{1} << 40, &n);
      flags.server.max_queued_tasks = static_cast<size_t>(n);
    } else if (name == "max_blocking_threads") {
      status = ParseInt(name, value, 0,
                        cancelpool::ThreadPoolOptions::kMaxBlockingThreads, &n);
      flags.server.max_blocking_threads = static_cast<int>(n);
    } else if (name == "queue_delay_target") {
      status = ParseDuration(name, value, &flags.server.queue_delay_target);
    } else if (name == "grace") {
      status = ParseDuration(name, value, &flags.grace);
    } else if (name == "default_deadline") {
      status = ParseDuration(name, value, &flags.server.default_deadline);
    } else {
      status = absl::InvalidArgumentError(absl::StrCat(
          "unknown flag --", name, " (see examples/server/main.cc)"));
    }
    if (!status.ok()) return status;
  }
  return flags;
}

int Main(int argc, char** argv) {
  absl::StatusOr<Flags> flags = ParseFlags(argc, argv);
  if (!flags.ok()) {
    std::fprintf(stderr, "server: %s\n", flags.status().ToString().c_str());
    return 2;
  }
  // Before any thread starts: the hooks reach the server through `cancel`.
  cancelpool::CancellationSource cancel;
  cancelpool::SignalShutdown::Options signal_options;
  signal_options.grace = flags->grace;
  signal_options.on_cancel = [cancel](int signo) mutable {
    cancel.RequestCancellation(cancelpool::WithCancellationCause(
        absl::CancelledError(
            absl::StrCat(cancelpool::SignalShutdown::SignalName(signo),
                         ": shutting down, in-flight requests cancelled")),
        cancelpool::CancellationCause::kSignal, signo));
  };
  absl::StatusOr<std::unique_ptr<cancelpool::SignalShutdown>> signals =
      cancelpool::SignalShutdown::Install(std::move(signal_options));
  if (!signals.ok()) {
    std::fprintf(stderr, "server: %s\n", signals.status().ToString().c_str());
    return 1;
  }
  flags->server.parent = cancel.Token();
  absl::StatusOr<std::unique_ptr<ExampleServer>> server =
      ExampleServer::Create(flags->server);
  if (!server.ok()) {
    std::fprintf(stderr, "server: %s\n", server.status().ToString().c_str());
    return 1;
  }
  // Step 1 and 2 of the sequence.
  ExampleServer* const raw_server = server->get();
  (*signals)->AddShutdownStage(
      "stop accepting, finish the requests read",
      [raw_server](absl::Time) { raw_server->StopAcceptingAndFinish(); });
  cancelpool::ThreadPool* const pool = (*server)->pool();
  if (pool != nullptr) (*signals)->Watch(pool);
  (*server)->Start();
  std::printf(
      "listening on http://%s:%d mode=%s workers=%d grace=%s disconnect=%s\n",
      flags->server.host.c_str(), (*server)->port(),
      ExecutionModeName(flags->server.mode), flags->server.workers,
      absl::FormatDuration(flags->grace).c_str(),
      ExampleServer::kWatchesDisconnect ? "on" : "off");
  std::fflush(stdout);

  // Returns once the stages returned and the pool terminated.
  (*signals)->WaitForShutdown();
  const cancelpool::ShutdownSequenceReport sequence =
      (*signals)->SequenceReport();
  const absl::Time http_done = sequence.stages_done;
  const absl::Time drained =
      pool != nullptr ? sequence.pools_terminated : sequence.stages_done;

  const ServerCounters c = (*server)->Counters();
  cancelpool::ShutdownReport report;
  if (pool != nullptr) {
    report = pool->Report();
  } else {
    report.terminated = true;
  }
  const cancelpool::PoolStats& s = report.stats;
  const bool adds_up =
      c.requests_read == c.responses_written && report.terminated &&
      s.InFlight() == 0 && s.submitted == c.pool_submits &&
      s.submitted == s.rejected + s.completed + s.failed +
                         s.cancelled_before_start + s.cancelled_while_running +
                         s.shed_queue_delay;
  std::printf(
      "server-report mode=%s signals=%d read=%llu written=%llu s200=%llu "
      "s400=%llu s499=%llu s502=%llu s503=%llu s504=%llu s_other=%llu "
      "observed=%llu watch_failures=%llu pool_submits=%llu submitted=%llu "
      "rejected=%llu completed=%llu failed=%llu cancelled_before_start=%llu "
      "cancelled_while_running=%llu shed=%llu deadline_at_submit=%llu "
      "blocking_started=%llu in_flight=%llu terminated=%d "
      "finish_http_ms=%lld drain_pool_ms=%lld grace_ran_out=%d adds_up=%d\n",
      ExecutionModeName(flags->server.mode), (*signals)->SignalsReceived(),
      static_cast<unsigned long long>(c.requests_read),
      static_cast<unsigned long long>(c.responses_written),
      static_cast<unsigned long long>(c.status_200),
      static_cast<unsigned long long>(c.status_400),
      static_cast<unsigned long long>(c.status_499),
      static_cast<unsigned long long>(c.status_502),
      static_cast<unsigned long long>(c.status_503),
      static_cast<unsigned long long>(c.status_504),
      static_cast<unsigned long long>(c.status_other),
      static_cast<unsigned long long>(c.cancellations_observed),
      static_cast<unsigned long long>(c.disconnect_watch_failures),
      static_cast<unsigned long long>(c.pool_submits),
      static_cast<unsigned long long>(s.submitted),
      static_cast<unsigned long long>(s.rejected),
      static_cast<unsigned long long>(s.completed),
      static_cast<unsigned long long>(s.failed),
      static_cast<unsigned long long>(s.cancelled_before_start),
      static_cast<unsigned long long>(s.cancelled_while_running),
      static_cast<unsigned long long>(s.shed_queue_delay),
      static_cast<unsigned long long>(s.deadline_passed_at_submit),
      static_cast<unsigned long long>(s.blocking_threads_started),
      static_cast<unsigned long long>(s.InFlight()), report.terminated ? 1 : 0,
      static_cast<long long>(
          absl::ToInt64Milliseconds(http_done - sequence.signalled)),
      static_cast<long long>(absl::ToInt64Milliseconds(drained - http_done)),
      sequence.grace_ran_out ? 1 : 0, adds_up ? 1 : 0);
  std::fflush(stdout);
  return adds_up ? 0 : 1;
}

}  // namespace
}  // namespace cancelpool_example

int main(int argc, char** argv) { return cancelpool_example::Main(argc, argv); }
