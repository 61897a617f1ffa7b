// Copyright 2026 The cancelpool Authors.
//
// ExampleServer: an HTTP server (cpp-httplib) whose handlers run their work
// on a cancelpool::ThreadPool -- or, for comparison, directly on httplib's
// connection threads -- with a cancellation token per request.
//
// ENDPOINTS (GET)
//   /work?ms=N | /work?us=N  CPU work of N ms (or us), checking the token.
//   /sleep?ms=N              a blocking wait of N ms (an interruptible wait,
//                            as a backend call would be).
//   /fanout?ms=N[&fail=I]    three "backends" in parallel, each waiting N ms;
//                            backend I (0-2) fails after N/2 ms, and the
//                            first failure cancels the others (502).
//   /work and /sleep take &id=S: the server then logs, to stderr, when the
//   request's work began ("begin id=S") and when it observed cancellation
//   ("observed id=S t_ns=<unix ns> status=..."), for the disconnect
//   latency measurement.
// Request header X-Deadline-Ms: N (1..3600000) sets the request's deadline;
// without it, ServerOptions::default_deadline applies.
//
// REQUEST MODEL
// Each request gets a CancellationSource, a child of the server's stop token
// with the request's deadline, and its connection is watched for a
// disconnect (cancelpool::WatchDisconnect). It is cancelled when
//   * the deadline passes                    -> 504;
//   * the client disconnects                 -> 499;
//   * the shutdown's grace ends (CancelAll)  -> 503;
// the status is picked from the reason's cancellation cause (HttpStatusFor).
// A pool refusal (queue full: ResourceExhausted; pool shut down:
// FailedPrecondition) answers 503 at once. Bad parameters answer 400.
// In pool mode the connection thread submits the work with the request's
// token as parent and deadline, and waits for its Future; in direct mode it
// runs the same function itself.
//
// SHUTDOWN (driven by main.cc, see there for the signal sequence)
//   1. StopAcceptingAndFinish(): the listening socket closes; requests
//      already read run to completion and are answered (their work may
//      still submit to the pool, which still runs); idle keep-alive
//      connections close within ServerOptions' keep-alive timeout. Returns
//      when httplib's threads have all exited.
//   2. Then the owner drains the pool (pool() is null in direct mode).
//   CancelAll(reason) may come at any time (second signal, grace over): it
//   cancels every request's token, so step 1 ends promptly (503).
//
// THREAD SAFETY AND LIFETIME
// All methods are thread-safe. Start() once. Destroying the server stops
// and joins httplib's threads if Start() ran, then destroys the pool (which
// drains it, see ThreadPool's DESTRUCTION).
#ifndef CANCELPOOL_EXAMPLES_SERVER_SERVER_H_
#define CANCELPOOL_EXAMPLES_SERVER_SERVER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/pool/thread_pool.h"
#include "httplib.h"

namespace cancelpool_example {

enum class ExecutionMode { kPool, kDirect };

// The HTTP status for a request's result: 200 for OK; else by cancellation
// cause (cancel/cause.h) -- kDisconnect 499, kShutdown or kSignal 503,
// kDeadline 504 -- and otherwise by status code: InvalidArgument 400,
// Unavailable (a backend failed) 502, ResourceExhausted (the pool's queue is
// full) and FailedPrecondition (the pool is shut down) 503,
// DeadlineExceeded 504, anything else 500.
int HttpStatusFor(const absl::Status& status);

// "pool" or "direct".
const char* ExecutionModeName(ExecutionMode mode);
absl::StatusOr<ExecutionMode> ParseExecutionMode(const std::string& name);

struct ServerOptions {
  // Where to listen. Port 0 takes an ephemeral port (see ExampleServer::port).
  std::string host = "127.0.0.1";
  int port = 8080;
  ExecutionMode mode = ExecutionMode::kPool;
  // Pool workers (pool mode), 1..ThreadPoolOptions::kMaxWorkers.
  int workers = 2;
  // httplib's connection threads: one per open connection, so at least the
  // number of concurrent clients, 1..4096.
  int http_threads = 64;
  // The pool's admission limit (ThreadPoolOptions::max_queued_tasks); 0: none.
  size_t max_queued_tasks = 1024;
  // Extra threads the pool may start while workers block
  // (ThreadPoolOptions::max_blocking_threads; 0: off), 0..4096.
  int max_blocking_threads = 0;
  // Shed tasks queued longer than this (ThreadPoolOptions::
  // queue_delay_target, CoDel; zero: off); answered 503.
  absl::Duration queue_delay_target = absl::ZeroDuration();
  // The deadline of a request without X-Deadline-Ms.
  absl::Duration default_deadline = absl::InfiniteDuration();
  // How long an idle keep-alive connection is kept (whole seconds, >= 1);
  // bounds shutdown step 1 for idle connections.
  absl::Duration keep_alive_timeout = absl::Seconds(1);
  // Every request's token is a child of this one (and of CancelAll's): a
  // signal hook created before the server can cancel all requests through
  // it.
  cancelpool::CancellationToken parent;
};

// What the server did, for the shutdown report. Every request read (parsed
// and routed) is answered exactly once -- the response is written, or its
// write fails because the client has gone -- so after step 1
// requests_read == responses_written.
struct ServerCounters {
  uint64_t requests_read = 0;
  uint64_t responses_written = 0;
  uint64_t status_200 = 0;
  uint64_t status_400 = 0;
  uint64_t status_499 = 0;
  uint64_t status_502 = 0;
  uint64_t status_503 = 0;
  uint64_t status_504 = 0;
  uint64_t status_other = 0;
  // Submit calls made to the pool (accepted or not): equals the pool's
  // PoolStats::submitted after shutdown.
  uint64_t pool_submits = 0;
  // Work that returned because it observed its token's cancellation.
  uint64_t cancellations_observed = 0;
  // Requests whose connection could not be watched for a disconnect.
  uint64_t disconnect_watch_failures = 0;
};

class ExampleServer final {
 public:
  // Whether a client's disconnect cancels its request (499): the server
  // registers each request's connection with cancelpool::WatchDisconnect.
  static constexpr bool kWatchesDisconnect = true;

  // Checks the options (InvalidArgument), creates the pool (pool mode) and
  // binds the listening socket (Unavailable if it cannot).
  static absl::StatusOr<std::unique_ptr<ExampleServer>> Create(
      ServerOptions options);
  ~ExampleServer();
  ExampleServer(const ExampleServer&) = delete;
  ExampleServer& operator=(const ExampleServer&) = delete;

  // The port bound (the ephemeral one when options.port was 0).
  int port() const { return port_; }
  const ServerOptions& options() const { return options_; }
  // Null in direct mode.
  cancelpool::ThreadPool* pool() const { return pool_.get(); }

  // Starts accepting connections on a thread of its own.
  void Start();
  // Shutdown step 1; see SHUTDOWN. Idempotent.
  void StopAcceptingAndFinish();
  // Cancels every request's token (current and later) with `reason`, which
  // gets CancellationCause::kShutdown (cancel/cause.h) unless it carries a
  // cause already (the signal hook's kSignal).
  void CancelAll(absl::Status reason);

  ServerCounters Counters() const;

 private:
  using Body = absl::AnyInvocable<absl::StatusOr<std::string>(
      const cancelpool::CancellationToken&)>;
  struct Request;

  explicit ExampleServer(ServerOptions options);
  void Handle(const httplib::Request& req, httplib::Response& res,
              const std::string& endpoint);
  // Runs `body` for the request: on the pool (pool mode) or here.
  absl::StatusOr<std::string> Run(const Request& request, Body body);
  absl::StatusOr<std::string> FanOut(const Request& request, int64_t ms,
                                     int fail);
  void NoteStarted(const std::string& id);
  void NoteObserved(const std::string& id,
                    const cancelpool::CancellationToken& token);

  const ServerOptions options_;
  int port_ = 0;
  cancelpool::CancellationSource stop_;
  std::unique_ptr<cancelpool::ThreadPool> pool_;
  httplib::Server http_;
  std::thread listener_;
  std::once_flag stop_once_;

  // Counters: each is incremented with relaxed order and read only for
  // reports; none orders other memory.
  std::atomic<uint64_t> requests_read_{0};
  std::atomic<uint64_t> responses_written_{0};
  std::atomic<uint64_t> status_[7] = {};
  std::atomic<uint64_t> pool_submits_{0};
  std::atomic<uint64_t> cancellations_observed_{0};
  std::atomic<uint64_t> disconnect_watch_failures_{0};
};

}  // namespace cancelpool_example

#endif  // CANCELPOOL_EXAMPLES_SERVER_SERVER_H_
