// Copyright 2026 The cancelpool Authors.
//
// The example server (examples/server) in-process, in both modes: the HTTP
// status of each cause, the fan-out's first error, overload, CancelAll and
// shutdown step 1. Each test runs in a forked child with a time limit (a
// server that never answers would hang the client).
#include "examples/server/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cause.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"
#include "httplib.h"

namespace cancelpool_example {
namespace {

using cancelpool::testing_util::kPromptly;
using cancelpool::testing_util::PollUntil;
using cancelpool::testing_util::RunInChild;

// Inside a child: report and fail.
#define CHILD_CHECK(cond)                                                   \
  do {                                                                      \
    if (!(cond)) {                                                          \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                  \
      return 1;                                                             \
    }                                                                       \
  } while (0)

struct Answer {
  int status = -1;  // -1: no response (connection error)
  std::string body;
};

Answer Get(int port, const std::string& path,
           const httplib::Headers& headers = {}) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(60, 0);
  httplib::Result r = client.Get(path.c_str(), headers);
  if (!r) return Answer{};
  return Answer{r->status, r->body};
}

std::unique_ptr<ExampleServer> Start(ExecutionMode mode, int workers = 2,
                                     size_t max_queued = 1024) {
  ServerOptions options;
  options.port = 0;
  options.mode = mode;
  options.workers = workers;
  options.max_queued_tasks = max_queued;
  options.http_threads = 8;
  absl::StatusOr<std::unique_ptr<ExampleServer>> server =
      ExampleServer::Create(options);
  if (!server.ok()) return nullptr;
  (*server)->Start();
  return *std::move(server);
}

bool AddsUp(const ExampleServer& server) {
  const ServerCounters c = server.Counters();
  if (c.requests_read != c.responses_written) return false;
  if (server.pool() == nullptr) return c.pool_submits == 0;
  const cancelpool::PoolStats s = server.pool()->Stats();
  return s.submitted == c.pool_submits &&
         s.submitted == s.rejected + s.completed + s.failed +
                            s.cancelled_before_start +
                            s.cancelled_while_running + s.shed_queue_delay;
}

class ServerTest : public ::testing::TestWithParam<ExecutionMode> {};

TEST_P(ServerTest, AnswersEachCauseWithItsStatus) {
  const ExecutionMode mode = GetParam();
  auto result = RunInChild([mode] {
    // A worker per fan-out backend: each blocks its worker while it waits.
    std::unique_ptr<ExampleServer> server = Start(mode, /*workers=*/3);
    CHILD_CHECK(server != nullptr);
    const int port = server->port();

    Answer ok = Get(port, "/work?ms=1");
    CHILD_CHECK(ok.status == 200);
    CHILD_CHECK(Get(port, "/sleep?ms=1").status == 200);
    CHILD_CHECK(Get(port, "/work?ms=x").status == 400);
    CHILD_CHECK(Get(port, "/sleep?ms=1", {{"X-Deadline-Ms", "0"}}).status ==
                400);
    CHILD_CHECK(Get(port, "/fanout?ms=1&fail=3").status == 400);

    // A deadline ends the wait at once, not when the work would end.
    absl::Time start = absl::Now();
    Answer late = Get(port, "/sleep?ms=60000", {{"X-Deadline-Ms", "50"}});
    CHILD_CHECK(late.status == 504);
    CHILD_CHECK(absl::StrContains(late.body, "DEADLINE_EXCEEDED"));
    CHILD_CHECK(absl::Now() - start < kPromptly);
    start = absl::Now();
    CHILD_CHECK(Get(port, "/work?ms=60000", {{"X-Deadline-Ms", "50"}}).status ==
                504);
    CHILD_CHECK(absl::Now() - start < kPromptly);

    // Fan-out: all three answer; a failing backend cancels the others.
    Answer all = Get(port, "/fanout?ms=1");
    CHILD_CHECK(all.status == 200);
    CHILD_CHECK(absl::StrContains(all.body, "backend 2 ok"));
    start = absl::Now();
    Answer failed = Get(port, "/fanout?ms=6000&fail=1");
    CHILD_CHECK(failed.status == 502);
    CHILD_CHECK(absl::StrContains(failed.body, "backend 1 failed"));
    // Backend 1 fails after 3 s; the others would wait 6 s.
    std::fprintf(stderr, "fan-out answered in %s\n",
                 absl::FormatDuration(absl::Now() - start).c_str());
    CHILD_CHECK(absl::Now() - start < absl::Milliseconds(5500));

    server->StopAcceptingAndFinish();
    CHILD_CHECK(AddsUp(*server));
    const ServerCounters c = server->Counters();
    CHILD_CHECK(c.status_200 == 3 && c.status_400 == 3 && c.status_504 == 2 &&
                c.status_502 == 1 && c.status_other == 0);
    // Every request's connection was found (examples/server/connection_fd.h).
    CHILD_CHECK(c.disconnect_watch_failures == 0);
    return 0;
  });
  EXPECT_TRUE(result.ok()) << result.ToString();
}

// CancelAll (the signal hook at the grace's end) answers in-flight requests
// 503, running or not yet started.
TEST_P(ServerTest, CancelAllAnswersInFlightRequests503) {
  const ExecutionMode mode = GetParam();
  auto result = RunInChild([mode] {
    std::unique_ptr<ExampleServer> server = Start(mode, /*workers=*/1);
    CHILD_CHECK(server != nullptr);
    const int port = server->port();
    std::vector<Answer> answers(3);
    std::vector<std::thread> clients;
    for (int i = 0; i < 3; ++i) {
      clients.emplace_back(
          [&answers, port, i] { answers[i] = Get(port, "/sleep?ms=60000"); });
    }
    CHILD_CHECK(
        PollUntil([&] { return server->Counters().requests_read == 3; }));
    server->CancelAll(absl::CancelledError("shutting down"));
    for (std::thread& t : clients) t.join();
    for (const Answer& a : answers) {
      CHILD_CHECK(a.status == 503);
      CHILD_CHECK(absl::StrContains(a.body, "shutting down"));
    }
    server->StopAcceptingAndFinish();
    CHILD_CHECK(AddsUp(*server));
    return 0;
  });
  EXPECT_TRUE(result.ok()) << result.ToString();
}

// A client that closes its connection mid-request cancels the request's
// work (WatchDisconnect), which observes it; the answer is 499.
TEST_P(ServerTest, ClientDisconnectCancelsTheWork) {
  const ExecutionMode mode = GetParam();
  auto result = RunInChild([mode] {
    std::unique_ptr<ExampleServer> server = Start(mode);
    CHILD_CHECK(server != nullptr);
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHILD_CHECK(fd >= 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHILD_CHECK(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) ==
                0);
    const std::string request =
        "GET /sleep?ms=60000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    CHILD_CHECK(write(fd, request.data(), request.size()) ==
                static_cast<ssize_t>(request.size()));
    CHILD_CHECK(
        PollUntil([&] { return server->Counters().requests_read == 1; }));
    const absl::Time closed = absl::Now();
    close(fd);
    // The answer is 499 well before the 60 s wait would end: the work
    // observed the cancellation, or (on the pool) its task was cancelled
    // before it started.
    CHILD_CHECK(PollUntil([&] { return server->Counters().status_499 == 1; },
                          kPromptly));
    CHILD_CHECK(absl::Now() - closed < kPromptly);
    CHILD_CHECK(PollUntil([&] {
      const uint64_t never_ran =
          server->pool() != nullptr
              ? server->pool()->Stats().cancelled_before_start
              : 0;
      return server->Counters().cancellations_observed + never_ran == 1;
    }));
    server->StopAcceptingAndFinish();
    CHILD_CHECK(AddsUp(*server));
    CHILD_CHECK(server->Counters().disconnect_watch_failures == 0);
    return 0;
  });
  EXPECT_TRUE(result.ok()) << result.ToString();
}

// Shutdown step 1: the listener closes, a request already read is answered
// in full (its work still runs), later connections are refused.
TEST_P(ServerTest, StopAcceptingFinishesRequestsAlreadyRead) {
  const ExecutionMode mode = GetParam();
  auto result = RunInChild([mode] {
    std::unique_ptr<ExampleServer> server = Start(mode);
    CHILD_CHECK(server != nullptr);
    const int port = server->port();
    Answer answer;
    std::thread client(
        [&answer, port] { answer = Get(port, "/sleep?ms=300"); });
    CHILD_CHECK(
        PollUntil([&] { return server->Counters().requests_read == 1; }));
    server->StopAcceptingAndFinish();
    client.join();
    CHILD_CHECK(answer.status == 200);
    CHILD_CHECK(Get(port, "/work?ms=1").status == -1);
    CHILD_CHECK(AddsUp(*server));
    return 0;
  });
  EXPECT_TRUE(result.ok()) << result.ToString();
}

// The pool's admission limit answers 503 at once, and the refusal is counted
// (nothing dropped): 1 worker, 1 queued task, 3 long requests.
TEST(ServerOverloadTest, FullQueueAnswers503AtOnce) {
  auto result = RunInChild([] {
    std::unique_ptr<ExampleServer> server =
        Start(ExecutionMode::kPool, /*workers=*/1, /*max_queued=*/1);
    CHILD_CHECK(server != nullptr);
    const int port = server->port();
    std::vector<Answer> answers(3);
    std::vector<std::thread> clients;
    for (int i = 0; i < 3; ++i) {
      clients.emplace_back(
          [&answers, port, i] { answers[i] = Get(port, "/sleep?ms=60000"); });
    }
    // With one worker waiting 60 s, at most one task has started: of three
    // submits at least one finds the queue full.
    CHILD_CHECK(
        PollUntil([&] { return server->pool()->Stats().rejected >= 1; }));
    CHILD_CHECK(PollUntil([&] { return server->Counters().status_503 >= 1; }));
    server->CancelAll(absl::CancelledError("shutting down"));
    for (std::thread& t : clients) t.join();
    int exhausted = 0;
    for (const Answer& a : answers) {
      CHILD_CHECK(a.status == 503);
      if (absl::StrContains(a.body, "RESOURCE_EXHAUSTED")) ++exhausted;
    }
    CHILD_CHECK(exhausted >= 1);
    server->StopAcceptingAndFinish();
    CHILD_CHECK(AddsUp(*server));
    CHILD_CHECK(server->pool()->Stats().rejected ==
                static_cast<uint64_t>(exhausted));
    return 0;
  });
  EXPECT_TRUE(result.ok()) << result.ToString();
}

TEST(HttpStatusForTest, CauseFirstThenCode) {
  using cancelpool::CancellationCause;
  using cancelpool::WithCancellationCause;
  EXPECT_EQ(HttpStatusFor(absl::OkStatus()), 200);
  EXPECT_EQ(HttpStatusFor(WithCancellationCause(
                absl::CancelledError("gone"), CancellationCause::kDisconnect)),
            499);
  EXPECT_EQ(HttpStatusFor(WithCancellationCause(absl::CancelledError("stop"),
                                                CancellationCause::kShutdown)),
            503);
  EXPECT_EQ(
      HttpStatusFor(WithCancellationCause(absl::CancelledError("SIGTERM"),
                                          CancellationCause::kSignal, SIGTERM)),
      503);
  EXPECT_EQ(HttpStatusFor(WithCancellationCause(absl::CancelledError("late"),
                                                CancellationCause::kDeadline)),
            504);
  EXPECT_EQ(HttpStatusFor(absl::DeadlineExceededError("late")), 504);
  EXPECT_EQ(HttpStatusFor(absl::ResourceExhaustedError("full")), 503);
  EXPECT_EQ(HttpStatusFor(absl::FailedPreconditionError("shut down")), 503);
  EXPECT_EQ(HttpStatusFor(absl::UnavailableError("backend 1 failed")), 502);
  EXPECT_EQ(HttpStatusFor(absl::InvalidArgumentError("ms=x")), 400);
  EXPECT_EQ(HttpStatusFor(absl::CancelledError("no cause")), 500);
}

INSTANTIATE_TEST_SUITE_P(Modes, ServerTest,
                         ::testing::Values(ExecutionMode::kPool,
                                           ExecutionMode::kDirect),
                         [](const auto& info) {
                           return std::string(ExecutionModeName(info.param));
                         });

}  // namespace
}  // namespace cancelpool_example
