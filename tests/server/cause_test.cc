// Copyright 2026 The cancelpool Authors.
//
// Cancellation causes (cancel/cause.h) from every source the library has:
// requests, user reasons, deadlines, parents (ours and std::stop_token),
// Future::Cancel and CancelHandle, pool shutdown, DrainThenCancel, the pool
// destructor and SignalShutdown. Disconnects: tests/cancel/disconnect_test.
#include "cancelpool/cancel/cause.h"

#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <memory>
#include <optional>
#include <stop_token>
#include <utility>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/disconnect.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/signal_shutdown.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

using testing_util::Gate;
using testing_util::kLong;
using testing_util::RunInChild;

// A task that waits until its token is cancelled and returns its reason.
absl::Status UntilCancelled(CancellationToken t) {
  if (SleepFor(t, kLong) == WaitResult::kCancelled) return t.Reason();
  return absl::InternalError("never cancelled");
}

TEST(CauseTest, NamesAreDistinct) {
  EXPECT_EQ(CancellationCauseName(CancellationCause::kNone), "none");
  EXPECT_EQ(CancellationCauseName(CancellationCause::kRequested), "requested");
  EXPECT_EQ(CancellationCauseName(CancellationCause::kParent), "parent");
  EXPECT_EQ(CancellationCauseName(CancellationCause::kDeadline), "deadline");
  EXPECT_EQ(CancellationCauseName(CancellationCause::kShutdown), "shutdown");
  EXPECT_EQ(CancellationCauseName(CancellationCause::kSignal), "signal");
  EXPECT_EQ(CancellationCauseName(CancellationCause::kDisconnect),
            "disconnect");
}

TEST(CauseTest, WithCancellationCauseRoundTripsAndKeepsCodeAndMessage) {
  for (CancellationCause c :
       {CancellationCause::kRequested, CancellationCause::kParent,
        CancellationCause::kDeadline, CancellationCause::kShutdown,
        CancellationCause::kSignal, CancellationCause::kDisconnect}) {
    absl::Status s = WithCancellationCause(absl::AbortedError("m"), c);
    EXPECT_EQ(GetCancellationCause(s), c) << CancellationCauseName(c);
    EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
    EXPECT_EQ(s.message(), "m");
    EXPECT_FALSE(CancelledThroughParent(s));
  }
  absl::Status sig = WithCancellationCause(absl::CancelledError("t"),
                                           CancellationCause::kSignal, SIGTERM);
  EXPECT_EQ(GetCancellationSignal(sig), SIGTERM);
  // A signal number is only kept for kSignal.
  EXPECT_EQ(GetCancellationSignal(WithCancellationCause(
                absl::CancelledError("t"), CancellationCause::kShutdown, 15)),
            std::nullopt);
  // Replacing, and removing with kNone.
  absl::Status replaced =
      WithCancellationCause(sig, CancellationCause::kDeadline);
  EXPECT_EQ(GetCancellationCause(replaced), CancellationCause::kDeadline);
  EXPECT_EQ(GetCancellationSignal(replaced), std::nullopt);
  EXPECT_EQ(WithCancellationCause(sig, CancellationCause::kNone),
            absl::CancelledError("t"));
  // OK stays OK.
  EXPECT_TRUE(
      WithCancellationCause(absl::OkStatus(), CancellationCause::kSignal, 2)
          .ok());
  EXPECT_EQ(GetCancellationCause(absl::OkStatus()), CancellationCause::kNone);
  EXPECT_EQ(GetCancellationSignal(absl::OkStatus()), std::nullopt);
}

TEST(CauseTest, DefaultRequestIsRequested) {
  CancellationSource source;
  ASSERT_TRUE(source.RequestCancellation());
  const absl::Status reason = source.Token().Reason();
  EXPECT_EQ(GetCancellationCause(reason), CancellationCause::kRequested);
  EXPECT_EQ(reason.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(reason.message(), "cancellation requested");
  EXPECT_FALSE(CancelledThroughParent(reason));
}

TEST(CauseTest, UserReasonIsKeptAsGivenAndReadsRequested) {
  CancellationSource plain;
  plain.RequestCancellation(absl::AbortedError("mine"));
  EXPECT_EQ(plain.Reason(), absl::AbortedError("mine"));  // no payload added
  EXPECT_EQ(GetCancellationCause(plain.Reason()),
            CancellationCause::kRequested);

  CancellationSource chosen;
  chosen.RequestCancellation(WithCancellationCause(
      absl::UnavailableError("peer"), CancellationCause::kDisconnect));
  EXPECT_EQ(GetCancellationCause(chosen.Reason()),
            CancellationCause::kDisconnect);
}

TEST(CauseTest, ThrownReasonKeepsTheCause) {
  CancellationSource source = CancellationSource::WithDeadline(absl::Now());
  try {
    source.Token().ThrowIfCancellationRequested();
    FAIL() << "not thrown";
  } catch (const CancelledException& e) {
    EXPECT_EQ(GetCancellationCause(e.Reason()), CancellationCause::kDeadline);
  }
}

TEST(CauseTest, DeadlinesAreDeadline) {
  CancellationSource expired =
      CancellationSource::WithDeadline(absl::Now() - absl::Seconds(1));
  EXPECT_EQ(GetCancellationCause(expired.Reason()),
            CancellationCause::kDeadline);
  CancellationSource timed =
      CancellationSource::WithTimeout(absl::Milliseconds(5));
  ASSERT_EQ(SleepFor(timed.Token(), kLong), WaitResult::kCancelled);
  const absl::Status reason = timed.Reason();
  EXPECT_EQ(GetCancellationCause(reason), CancellationCause::kDeadline);
  EXPECT_EQ(reason.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(CancelledThroughParent(reason));
}

TEST(CauseTest, ChildrenKeepTheOriginalCauseAndSayThroughParent) {
  CancellationSource parent;
  CancellationSource child(parent.Token());
  CancellationSource grandchild(child.Token());
  parent.RequestCancellation(
      WithCancellationCause(absl::CancelledError("client went away"),
                            CancellationCause::kDisconnect));
  EXPECT_FALSE(CancelledThroughParent(parent.Reason()));
  for (const CancellationSource* s : {&child, &grandchild}) {
    const absl::Status r = s->Reason();
    EXPECT_EQ(GetCancellationCause(r), CancellationCause::kDisconnect);
    EXPECT_TRUE(CancelledThroughParent(r));
    EXPECT_EQ(r.code(), absl::StatusCode::kCancelled);
    EXPECT_EQ(r.message(), "client went away");
  }
  // Attached after the parent was cancelled: the same.
  CancellationSource late(parent.Token());
  EXPECT_EQ(GetCancellationCause(late.Reason()),
            CancellationCause::kDisconnect);
  EXPECT_TRUE(CancelledThroughParent(late.Reason()));
}

TEST(CauseTest, ChildOfAUserReasonReadsRequestedThroughParent) {
  CancellationSource parent;
  CancellationSource child(parent.Token());
  parent.RequestCancellation(absl::AbortedError("plain"));
  EXPECT_EQ(GetCancellationCause(child.Reason()),
            CancellationCause::kRequested);
  EXPECT_TRUE(CancelledThroughParent(child.Reason()));
  EXPECT_EQ(child.Reason().message(), "plain");
}

TEST(CauseTest, ChildOfADeadlineParent) {
  CancellationSource parent =
      CancellationSource::WithTimeout(absl::Milliseconds(5));
  CancellationSource child(parent.Token());
  ASSERT_EQ(SleepFor(child.Token(), kLong), WaitResult::kCancelled);
  EXPECT_EQ(GetCancellationCause(child.Reason()), CancellationCause::kDeadline);
  EXPECT_TRUE(CancelledThroughParent(child.Reason()));
  EXPECT_FALSE(CancelledThroughParent(parent.Reason()));
}

TEST(CauseTest, StdStopTokenParentIsParent) {
  std::stop_source std_source;
  CancellationSource child(std_source.get_token());
  std_source.request_stop();
  EXPECT_EQ(GetCancellationCause(child.Reason()), CancellationCause::kParent);
  EXPECT_TRUE(CancelledThroughParent(child.Reason()));
}

TEST(CauseTest, FutureCancelAndCancelHandleAreRequested) {
  ThreadPool pool(1);
  Gate gate;
  auto blocker = pool.Submit([&gate] { gate.Block(); });
  gate.started.WaitForNotification();
  // Queued behind the blocker: resolved by the cancel with its reason.
  auto queued = pool.Submit([] {});
  auto by_handle = pool.Submit([] {});
  auto with_reason = pool.Submit([] {});
  ASSERT_TRUE(queued.Cancel());
  ASSERT_TRUE(by_handle.GetCancelHandle().Cancel());
  ASSERT_TRUE(with_reason.Cancel(absl::AbortedError("not needed")));
  gate.release.Notify();
  const absl::Status q = queued.Get();
  EXPECT_EQ(q.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(GetCancellationCause(q), CancellationCause::kRequested);
  EXPECT_EQ(GetCancellationCause(by_handle.Get()),
            CancellationCause::kRequested);
  const absl::Status given = with_reason.Get();
  EXPECT_EQ(given, absl::AbortedError("not needed"));  // kept as given
  EXPECT_EQ(GetCancellationCause(given), CancellationCause::kRequested);
  EXPECT_TRUE(blocker.Get().ok());

  // A running task sees the same cause on its token.
  absl::Notification started;
  auto running = pool.Submit([&started](CancellationToken t) {
    started.Notify();
    return UntilCancelled(t);
  });
  started.WaitForNotification();
  ASSERT_TRUE(running.Cancel());
  EXPECT_EQ(GetCancellationCause(running.Get()), CancellationCause::kRequested);
}

TEST(CauseTest, TaskDeadlineIsDeadline) {
  ThreadPool pool(1);
  auto f = pool.SubmitWith(TaskOptions::WithTimeout(absl::Milliseconds(5)),
                           UntilCancelled);
  const absl::Status s = f.Get();
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(GetCancellationCause(s), CancellationCause::kDeadline);
}

TEST(CauseTest, TaskUnderACancelledParentKeepsItsCause) {
  ThreadPool pool(1);
  CancellationSource request;
  TaskOptions options;
  options.parent = request.Token();
  absl::Notification started;
  auto f = pool.SubmitWith(options, [&started](CancellationToken t) {
    started.Notify();
    return UntilCancelled(t);
  });
  started.WaitForNotification();
  request.RequestCancellation(WithCancellationCause(
      absl::CancelledError("peer hung up"), CancellationCause::kDisconnect));
  const absl::Status s = f.Get();
  EXPECT_EQ(GetCancellationCause(s), CancellationCause::kDisconnect);
  EXPECT_TRUE(CancelledThroughParent(s));
}

TEST(CauseTest, PoolShutdownIsShutdown) {
  ThreadPool pool(1);
  absl::Notification started;
  auto running = pool.Submit([&started](CancellationToken t) {
    started.Notify();
    return UntilCancelled(t);
  });
  started.WaitForNotification();
  auto queued = pool.Submit([] {});
  pool.Shutdown(ShutdownMode::kCancel);
  for (absl::Status s : {running.Get(), queued.Get()}) {
    EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
    EXPECT_EQ(GetCancellationCause(s), CancellationCause::kShutdown) << s;
  }
}

TEST(CauseTest, ShutdownReasonKeepsCodeAndMessageAndGetsShutdown) {
  ThreadPool pool(1);
  absl::Notification started;
  auto running = pool.Submit([&started](CancellationToken t) {
    started.Notify();
    return UntilCancelled(t);
  });
  started.WaitForNotification();
  pool.Shutdown(ShutdownMode::kCancel, absl::UnavailableError("maintenance"));
  const absl::Status s = running.Get();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "maintenance");
  EXPECT_EQ(GetCancellationCause(s), CancellationCause::kShutdown);
}

TEST(CauseTest, ShutdownKeepsACauseTheCallerChose) {
  ThreadPool pool(1);
  absl::Notification started;
  auto running = pool.Submit([&started](CancellationToken t) {
    started.Notify();
    return UntilCancelled(t);
  });
  started.WaitForNotification();
  pool.Shutdown(ShutdownMode::kCancel,
                WithCancellationCause(absl::CancelledError("by signal"),
                                      CancellationCause::kSignal, SIGINT));
  const absl::Status s = running.Get();
  EXPECT_EQ(GetCancellationCause(s), CancellationCause::kSignal);
  EXPECT_EQ(GetCancellationSignal(s), SIGINT);
}

TEST(CauseTest, DrainThenCancelIsShutdown) {
  ThreadPool pool(1);
  absl::Notification started;
  auto running = pool.Submit([&started](CancellationToken t) {
    started.Notify();
    return UntilCancelled(t);
  });
  started.WaitForNotification();
  pool.DrainThenCancel(absl::Milliseconds(5));
  EXPECT_EQ(GetCancellationCause(running.Get()), CancellationCause::kShutdown);
}

TEST(CauseTest, PoolDestructorIsShutdown) {
  ThreadPoolOptions options;
  options.num_workers = 1;
  options.destructor_grace = absl::Milliseconds(5);
  auto pool = std::make_unique<ThreadPool>(std::move(options));
  absl::Notification started;
  auto running = pool->Submit([&started](CancellationToken t) {
    started.Notify();
    return UntilCancelled(t);
  });
  started.WaitForNotification();
  pool.reset();
  const absl::Status s = running.Get();
  EXPECT_EQ(s.message(),
            "thread pool destroyed: grace period over, cancelling");
  EXPECT_EQ(GetCancellationCause(s), CancellationCause::kShutdown);
}

// SignalShutdown in a child (it blocks signals process-wide): the second
// signal, and the end of the grace, cancel with kSignal and the signal.
int SignalCauseChild(bool by_grace) {
  SignalShutdown::Options options;
  options.grace = by_grace ? absl::Milliseconds(5) : kLong;
  auto installed = SignalShutdown::Install(std::move(options));
  if (!installed.ok()) return 10;
  std::unique_ptr<SignalShutdown> shutdown = *std::move(installed);
  ThreadPool pool(1);
  shutdown->Watch(&pool);
  absl::Notification started;
  auto running = pool.Submit([&started](CancellationToken t) {
    started.Notify();
    return UntilCancelled(t);
  });
  started.WaitForNotification();
  shutdown->Trigger(SIGTERM);
  if (!by_grace) shutdown->Trigger(SIGTERM);
  if (!shutdown->WaitForShutdown(absl::Now() + kLong)) return 11;
  const absl::Status s = running.Get();
  if (GetCancellationCause(s) != CancellationCause::kSignal) return 12;
  if (GetCancellationSignal(s) != SIGTERM) return 13;
  if (GetCancellationCause(shutdown->Reason()) != CancellationCause::kSignal) {
    return 14;
  }
  return 0;
}

TEST(CauseTest, SignalShutdownIsSignalWithItsNumber) {
  auto second = RunInChild([] { return SignalCauseChild(false); });
  EXPECT_TRUE(second.ok()) << second.ToString();
  auto grace = RunInChild([] { return SignalCauseChild(true); });
  EXPECT_TRUE(grace.ok()) << grace.ToString();
}

}  // namespace
}  // namespace cancelpool

namespace cancelpool {
namespace {

TEST(CauseTest, DisconnectReachesAPoolTaskThroughItsParent) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  ThreadPool pool(1);
  CancellationSource request;
  auto watch = WatchDisconnect(fds[0], request);
  ASSERT_TRUE(watch.ok());
  TaskOptions options;
  options.parent = request.Token();
  absl::Notification started;
  auto f = pool.SubmitWith(options, [&started](CancellationToken t) {
    started.Notify();
    return UntilCancelled(t);
  });
  started.WaitForNotification();
  close(fds[1]);
  ASSERT_TRUE(f.WaitFor(absl::Seconds(20)));
  const absl::Status s = f.Get();
  EXPECT_EQ(GetCancellationCause(s), CancellationCause::kDisconnect);
  EXPECT_TRUE(CancelledThroughParent(s));
  watch->Reset();
  close(fds[0]);
}

}  // namespace
}  // namespace cancelpool
