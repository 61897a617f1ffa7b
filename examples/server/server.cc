// Copyright 2026 The cancelpool Authors.
//
// See server.h for the endpoints, the request model and the shutdown steps.
//
// ONE REQUEST (both modes)
//   1. httplib's connection thread reads the request; the pre-routing hook
//      counts it (requests_read).
//   2. Handle() makes the request's CancellationSource: a child of the
//      server's stop source (CancelAll, the signal hook's parent token) with
//      the request's deadline, and registers the connection's descriptor
//      with WatchDisconnect for the rest of the handler.
//   3. Run(): pool mode submits the work with the request's token as parent
//      and its deadline, then waits for the Future on the connection
//      thread; direct mode calls the work there. The work checks its token
//      (CPU loop) or waits interruptibly (SleepFor), and returns the
//      token's reason once it observes cancellation.
//   4. The result's status picks the HTTP status; httplib writes the
//      response and the logger hook counts it (responses_written).
// The Future is waited for before Handle() returns, so /work and /sleep
// never outlive the request's state; the fan-out's backends may (WhenAll's
// fail_fast answers before the backends it cancelled have returned), so they
// hold copies of what they use. Cancellation of the request (deadline,
// disconnect, CancelAll) reaches queued work (resolved without running) and
// running work (its token) alike. Races ruled out: a response written twice
// or never for a read request (httplib calls the handler once and writes
// once per request read; the handler returns on every path), and work
// touching a finished request's frame (waited for, or copies).
#include "examples/server/server.h"

#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cancelpool/cancel/cause.h"
#include "cancelpool/cancel/disconnect.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/when.h"
#include "examples/server/connection_fd.h"

namespace cancelpool_example {

using cancelpool::CancellationSource;
using cancelpool::CancellationToken;
using cancelpool::Future;
using cancelpool::TaskOptions;
using cancelpool::WaitResult;

namespace {

constexpr int64_t kMaxDeadlineMs = 3600 * 1000;
constexpr int64_t kMaxWorkMs = 60 * 1000;

enum StatusBucket { k200, k400, k499, k502, k503, k504, kOther };

StatusBucket BucketOf(int status) {
  switch (status) {
    case 200:
      return k200;
    case 400:
      return k400;
    case 499:
      return k499;
    case 502:
      return k502;
    case 503:
      return k503;
    case 504:
      return k504;
    default:
      return kOther;
  }
}

// Reads integer parameter `name` in [0, max]; `*value` keeps its default if
// the parameter is absent.
absl::Status ReadParam(const httplib::Request& req, const char* name,
                       int64_t max, int64_t* value) {
  if (!req.has_param(name)) return absl::OkStatus();
  const std::string text = req.get_param_value(name);
  if (!absl::SimpleAtoi(text, value) || *value < 0 || *value > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parameter ", name, "=", text, ": want an integer in [0, ", max, "]"));
  }
  return absl::OkStatus();
}

}  // namespace

// The state of one request, owned by Handle()'s frame.
struct ExampleServer::Request {
  std::string id;  // the `id` parameter; empty: no logging
  absl::Time deadline = absl::InfiniteFuture();
  CancellationSource source;
};

const char* ExecutionModeName(ExecutionMode mode) {
  return mode == ExecutionMode::kPool ? "pool" : "direct";
}

absl::StatusOr<ExecutionMode> ParseExecutionMode(const std::string& name) {
  if (name == "pool") return ExecutionMode::kPool;
  if (name == "direct") return ExecutionMode::kDirect;
  return absl::InvalidArgumentError(
      absl::StrCat("mode '", name, "': want 'pool' or 'direct'"));
}

ExampleServer::ExampleServer(ServerOptions options)
    : options_(std::move(options)), stop_(options_.parent) {}

absl::StatusOr<std::unique_ptr<ExampleServer>> ExampleServer::Create(
    ServerOptions options) {
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port ", options.port, ": want 0..65535"));
  }
  if (options.workers < 1 ||
      options.workers > cancelpool::ThreadPoolOptions::kMaxWorkers) {
    return absl::InvalidArgumentError(
        absl::StrCat("workers ", options.workers, ": want 1..",
                     cancelpool::ThreadPoolOptions::kMaxWorkers));
  }
  if (options.http_threads < 1 || options.http_threads > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("http_threads ", options.http_threads, ": want 1..4096"));
  }
  if (options.max_blocking_threads < 0 ||
      options.max_blocking_threads >
          cancelpool::ThreadPoolOptions::kMaxBlockingThreads) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_blocking_threads ", options.max_blocking_threads, ": want 0..",
        cancelpool::ThreadPoolOptions::kMaxBlockingThreads));
  }
  if (options.queue_delay_target < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("queue delay target must be >= 0");
  }
  if (options.default_deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("default deadline must be positive");
  }
  if (options.keep_alive_timeout < absl::Seconds(1)) {
    return absl::InvalidArgumentError("keep-alive timeout must be >= 1s");
  }
  std::unique_ptr<ExampleServer> server(new ExampleServer(std::move(options)));
  ExampleServer* s = server.get();
  const ServerOptions& o = s->options_;
  if (o.mode == ExecutionMode::kPool) {
    cancelpool::ThreadPoolOptions pool_options;
    pool_options.num_workers = o.workers;
    pool_options.max_queued_tasks = o.max_queued_tasks;
    pool_options.thread_name_prefix = "server-pool-";
    // The /sleep and /fanout waits block their thread: with
    // max_blocking_threads the pool starts extra threads meanwhile (README,
    // "Use it in a server", sizing).
    pool_options.max_blocking_threads = o.max_blocking_threads;
    pool_options.queue_delay_target = o.queue_delay_target;
    absl::StatusOr<std::unique_ptr<cancelpool::ThreadPool>> pool =
        cancelpool::ThreadPool::Create(std::move(pool_options));
    if (!pool.ok()) return pool.status();
    s->pool_ = *std::move(pool);
  }
  const int http_threads = o.http_threads;
  s->http_.new_task_queue = [http_threads] {
    return new httplib::ThreadPool(static_cast<size_t>(http_threads));
  };
  // Small responses: without TCP_NODELAY, Nagle and delayed ACKs add ~40 ms.
  s->http_.set_tcp_nodelay(true);
  s->http_.set_keep_alive_timeout(
      static_cast<time_t>(absl::ToInt64Seconds(o.keep_alive_timeout)));
  s->http_.set_pre_routing_handler(
      [s](const httplib::Request&, httplib::Response&) {
        s->requests_read_.fetch_add(1, std::memory_order_relaxed);
        return httplib::Server::HandlerResponse::Unhandled;
      });
  s->http_.set_logger([s](const httplib::Request&,
                          const httplib::Response& res) {
    s->responses_written_.fetch_add(1, std::memory_order_relaxed);
    s->status_[BucketOf(res.status)].fetch_add(1, std::memory_order_relaxed);
  });
  for (const char* endpoint : {"work", "sleep", "fanout"}) {
    s->http_.Get(
        absl::StrCat("/", endpoint),
        [s, endpoint](const httplib::Request& req, httplib::Response& res) {
          s->Handle(req, res, endpoint);
        });
  }
  if (o.port == 0) {
    s->port_ = s->http_.bind_to_any_port(o.host);
    if (s->port_ < 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot bind an ephemeral port on ", o.host));
    }
  } else {
    if (!s->http_.bind_to_port(o.host, o.port)) {
      return absl::UnavailableError(
          absl::StrCat("cannot bind ", o.host, ":", o.port));
    }
    s->port_ = o.port;
  }
  return server;
}

ExampleServer::~ExampleServer() {
  StopAcceptingAndFinish();
  pool_.reset();
}

void ExampleServer::Start() {
  listener_ = std::thread([this] { http_.listen_after_bind(); });
  // httplib 0.11's stop() does nothing until the listener runs (it has no
  // readiness notification): wait for it, so a stop right after Start is not
  // lost. The wait is short: the listener only sets a flag before accepting.
  while (!http_.is_running()) absl::SleepFor(absl::Microseconds(100));
}

void ExampleServer::StopAcceptingAndFinish() {
  std::call_once(stop_once_, [this] {
    if (!listener_.joinable()) return;
    http_.stop();
    // listen_after_bind returns after httplib's thread pool has joined: every
    // connection thread finished its request and closed its connection.
    listener_.join();
  });
}

void ExampleServer::CancelAll(absl::Status reason) {
  if (cancelpool::GetCancellationCause(reason) ==
      cancelpool::CancellationCause::kRequested) {  // no cause of its own
    reason = cancelpool::WithCancellationCause(
        std::move(reason), cancelpool::CancellationCause::kShutdown);
  }
  stop_.RequestCancellation(std::move(reason));
}

ServerCounters ExampleServer::Counters() const {
  ServerCounters c;
  c.requests_read = requests_read_.load(std::memory_order_relaxed);
  c.responses_written = responses_written_.load(std::memory_order_relaxed);
  c.status_200 = status_[k200].load(std::memory_order_relaxed);
  c.status_400 = status_[k400].load(std::memory_order_relaxed);
  c.status_499 = status_[k499].load(std::memory_order_relaxed);
  c.status_502 = status_[k502].load(std::memory_order_relaxed);
  c.status_503 = status_[k503].load(std::memory_order_relaxed);
  c.status_504 = status_[k504].load(std::memory_order_relaxed);
  c.status_other = status_[kOther].load(std::memory_order_relaxed);
  c.pool_submits = pool_submits_.load(std::memory_order_relaxed);
  c.cancellations_observed =
      cancellations_observed_.load(std::memory_order_relaxed);
  c.disconnect_watch_failures =
      disconnect_watch_failures_.load(std::memory_order_relaxed);
  return c;
}

void ExampleServer::NoteStarted(const std::string& id) {
  if (id.empty()) return;
  std::fprintf(stderr, "begin id=%s\n", id.c_str());
}

void ExampleServer::NoteObserved(const std::string& id,
                                 const CancellationToken& token) {
  cancellations_observed_.fetch_add(1, std::memory_order_relaxed);
  if (id.empty()) return;
  std::fprintf(stderr, "observed id=%s t_ns=%lld status=%s\n", id.c_str(),
               static_cast<long long>(absl::ToUnixNanos(absl::Now())),
               token.Reason().ToString().c_str());
}

// [START run]
int HttpStatusFor(const absl::Status& status) {
  if (status.ok()) return 200;
  // Why the work was cancelled, whatever the status code says.
  switch (cancelpool::GetCancellationCause(status)) {
    case cancelpool::CancellationCause::kDisconnect:
      return 499;  // nobody reads it: the client has gone
    case cancelpool::CancellationCause::kShutdown:
    case cancelpool::CancellationCause::kSignal:
      return 503;
    case cancelpool::CancellationCause::kDeadline:
      return 504;
    default:
      break;
  }
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kUnavailable:  // a backend failed
      return 502;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kResourceExhausted:   // the pool's queue is full
    case absl::StatusCode::kFailedPrecondition:  // the pool is shut down
      return 503;
    default:
      return 500;
  }
}

absl::StatusOr<std::string> ExampleServer::Run(const Request& request,
                                               Body body) {
  if (pool_ == nullptr) return body(request.source.Token());
  TaskOptions task;
  task.parent = request.source.Token();
  task.deadline = request.deadline;
  pool_submits_.fetch_add(1, std::memory_order_relaxed);
  Future<std::string> result = pool_->SubmitWith(task, std::move(body));
  return result.Get();
}
// [END run]

absl::StatusOr<std::string> ExampleServer::FanOut(const Request& request,
                                                  int64_t ms, int fail) {
  // Backend i waits `ms` (backend `fail` fails after ms / 2). In direct mode
  // the backends share a source under the request's, which the first failure
  // cancels; on the pool, WhenAll's fail_fast does that.
  CancellationSource fan(request.source.Token());
  const bool cancel_siblings = pool_ == nullptr;
  // The backends copy what they use: on the pool, WhenAll's fail_fast
  // answers before the cancelled backends have returned, so they may outlive
  // this call (not the server: its pool drains before it is destroyed).
  auto backend = [this, id = request.id, fan, ms, fail,
                  cancel_siblings](int i) {
    return [this, id, fan, ms, fail, cancel_siblings,
            i](const CancellationToken& token) mutable
           -> absl::StatusOr<std::string> {
      const absl::Duration wait = absl::Milliseconds(i == fail ? ms / 2 : ms);
      if (cancelpool::SleepFor(token, wait) == WaitResult::kCancelled) {
        NoteObserved(id, token);
        return token.Reason();
      }
      if (i == fail) {
        absl::Status error =
            absl::UnavailableError(absl::StrCat("backend ", i, " failed"));
        if (cancel_siblings) fan.RequestCancellation(error);
        return error;
      }
      return absl::StrCat("backend ", i, " ok");
    };
  };
  std::vector<absl::StatusOr<std::string>> results(3);
  if (pool_ != nullptr) {
    TaskOptions task;
    task.parent = request.source.Token();
    task.deadline = request.deadline;
    std::vector<Future<std::string>> futures;
    for (int i = 0; i < 3; ++i) {
      pool_submits_.fetch_add(1, std::memory_order_relaxed);
      futures.push_back(pool_->SubmitWith(task, backend(i)));
    }
    // The first failure (a backend's error, a refused submit, or the
    // request's own cancellation reaching the backends) fails the whole at
    // once and cancels the other backends.
    cancelpool::WhenAllOptions options;
    options.fail_fast = true;
    absl::StatusOr<std::vector<absl::StatusOr<std::string>>> all =
        cancelpool::WhenAll(std::move(futures), options).Get();
    if (!all.ok()) return all.status();
    results = *std::move(all);
  } else {
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) {
      threads.emplace_back([&results, &backend, &fan, i] {
        results[i] = backend(i)(fan.Token());
      });
    }
    for (std::thread& t : threads) t.join();
    // The first error: a backend's, or the request's own cancellation,
    // which reaches `fan` as its parent.
    if (fan.IsCancellationRequested()) return fan.Reason();
  }
  std::string body;
  for (const absl::StatusOr<std::string>& r : results) {
    if (!r.ok()) return r.status();
    absl::StrAppend(&body, *r, "\n");
  }
  return body;
}

void ExampleServer::Handle(const httplib::Request& req, httplib::Response& res,
                           const std::string& endpoint) {
  Request request;
  request.id = req.get_param_value("id");
  // Bad parameters answer 400 (and run nothing).
  absl::Status params;
  int64_t deadline_ms = -1;
  if (req.has_header("X-Deadline-Ms")) {
    const std::string text = req.get_header_value("X-Deadline-Ms");
    if (!absl::SimpleAtoi(text, &deadline_ms) || deadline_ms < 1 ||
        deadline_ms > kMaxDeadlineMs) {
      params = absl::InvalidArgumentError(
          absl::StrCat("X-Deadline-Ms: ", text, ": want an integer in [1, ",
                       kMaxDeadlineMs, "]"));
    }
  }
  const absl::Time now = absl::Now();
  request.deadline = deadline_ms > 0
                         ? now + absl::Milliseconds(deadline_ms)
                         : now + options_.default_deadline;  // may be infinite
  CancellationSource::Options source_options;
  source_options.parents = {stop_.Token()};
  source_options.deadline = request.deadline;
  request.source = CancellationSource(source_options);

  // Cancel on client disconnect: watch the connection while the request
  // runs (the registration ends with this function, before httplib writes
  // the response and while the descriptor is open: connection_fd.h).
  absl::StatusOr<int> fd = FindConnectionFd(req);
  absl::StatusOr<cancelpool::DisconnectRegistration> watch =
      fd.ok() ? cancelpool::WatchDisconnect(*fd, request.source)
              : absl::StatusOr<cancelpool::DisconnectRegistration>(fd.status());
  if (!watch.ok()) {
    // The request still runs, without disconnect detection.
    disconnect_watch_failures_.fetch_add(1, std::memory_order_relaxed);
  }

  int64_t ms = 0;
  int64_t us = -1;
  int64_t fail = -1;
  if (params.ok()) params = ReadParam(req, "ms", kMaxWorkMs, &ms);
  if (params.ok() && endpoint == "work") {
    params = ReadParam(req, "us", kMaxWorkMs * 1000, &us);
  }
  if (params.ok() && endpoint == "fanout") {
    params = ReadParam(req, "fail", 2, &fail);
  }
  absl::StatusOr<std::string> result;
  if (!params.ok()) {
    result = params;
  } else if (endpoint == "work") {
    const absl::Duration work =
        us >= 0 ? absl::Microseconds(us) : absl::Milliseconds(ms);
    result =
        Run(request,
            [this, &request, work](
                const CancellationToken& token) -> absl::StatusOr<std::string> {
              NoteStarted(request.id);
              // CPU work: spin, checking the token (one atomic load) each
              // round.
              const absl::Time end = absl::Now() + work;
              while (absl::Now() < end) {
                if (token.IsCancellationRequested()) {
                  NoteObserved(request.id, token);
                  return token.Reason();
                }
              }
              return absl::StrCat("worked ", absl::FormatDuration(work), "\n");
            });
  } else if (endpoint == "sleep") {
    const absl::Duration wait = absl::Milliseconds(ms);
    result =
        Run(request,
            [this, &request, wait](
                const CancellationToken& token) -> absl::StatusOr<std::string> {
              NoteStarted(request.id);
              // A blocking wait, as a backend call would be; interruptible, so
              // cancellation ends it at once.
              if (cancelpool::SleepFor(token, wait) == WaitResult::kCancelled) {
                NoteObserved(request.id, token);
                return token.Reason();
              }
              return absl::StrCat("slept ", absl::FormatDuration(wait), "\n");
            });
  } else {
    result = FanOut(request, ms, static_cast<int>(fail));
  }

  if (result.ok()) {
    res.status = 200;
    res.set_content(*result, "text/plain");
  } else {
    res.status = HttpStatusFor(result.status());
    res.set_content(result.status().ToString() + "\n", "text/plain");
  }
}

}  // namespace cancelpool_example
