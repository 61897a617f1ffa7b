// Copyright 2026 The cancelpool Authors.
//
// WatchDisconnect (cancel/disconnect.h) with real sockets: socketpairs and
// TCP on 127.0.0.1; peer close, half-close, registrations destroyed before,
// after and racing the hangup, many registrations, fork, descriptor
// exhaustion in a child, bad input.
#include "cancelpool/cancel/disconnect.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/cause.h"
#include "cancelpool/cancel/internal/disconnect_watcher.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

using cancel_internal::DisconnectWatcher;
using testing_util::kLong;
using testing_util::kSanitizer;
using testing_util::RunInChild;

// A connected pair of stream sockets; closes what is still open.
struct Pair {
  int ours = -1;
  int peer = -1;
  Pair() {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0) {
      ours = fds[0];
      peer = fds[1];
    }
  }
  ~Pair() {
    if (ours >= 0) close(ours);
    ClosePeer();
  }
  void ClosePeer() {
    if (peer >= 0) close(peer);
    peer = -1;
  }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;
};

// A TCP connection on 127.0.0.1: `server` is the accepted end.
struct TcpPair {
  int server = -1;
  int client = -1;
  TcpPair() {
    const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (listener < 0 ||
        bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listener, 1) != 0 ||
        getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      if (listener >= 0) close(listener);
      return;
    }
    client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) ==
        0) {
      server = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    }
    close(listener);
  }
  ~TcpPair() {
    if (server >= 0) close(server);
    if (client >= 0) close(client);
  }
  TcpPair(const TcpPair&) = delete;
  TcpPair& operator=(const TcpPair&) = delete;
};

bool WaitCancelled(const CancellationSource& s) {
  return SleepFor(s.Token(), kLong) == WaitResult::kCancelled;
}

// Before a test forks: one full register-hangup-cancel round trip, so the
// parent's watcher thread is past its start and parked in epoll_wait. A
// fork while that thread is still starting can copy a sanitizer allocator
// lock held by it (GCC 12's ASan allocator has no fork handlers), and the
// child's first thread start then blocks on it forever -- a test-tool
// artifact, not a watcher bug (glibc's malloc is fork-safe).
void SettleWatcherBeforeFork() {
  Pair p;
  CancellationSource s;
  auto reg = WatchDisconnect(p.ours, s);
  ASSERT_TRUE(reg.ok()) << reg.status();
  p.ClosePeer();
  ASSERT_TRUE(WaitCancelled(s));
}

void ExpectDisconnect(const absl::Status& reason) {
  EXPECT_EQ(reason.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(GetCancellationCause(reason), CancellationCause::kDisconnect)
      << reason;
}

TEST(DisconnectTest, PeerCloseCancelsWithDisconnectCause) {
  Pair p;
  ASSERT_GE(p.ours, 0);
  CancellationSource source;
  auto reg = WatchDisconnect(p.ours, source);
  ASSERT_TRUE(reg.ok()) << reg.status();
  EXPECT_TRUE(reg->IsRegistered());
  EXPECT_FALSE(source.IsCancellationRequested());
  p.ClosePeer();
  ASSERT_TRUE(WaitCancelled(source));
  ExpectDisconnect(source.Reason());
  EXPECT_EQ(source.Reason().message(), "peer disconnected");
}

TEST(DisconnectTest, PeerHalfCloseCancels) {
  Pair p;
  CancellationSource source;
  auto reg = WatchDisconnect(p.ours, source);
  ASSERT_TRUE(reg.ok()) << reg.status();
  ASSERT_EQ(shutdown(p.peer, SHUT_WR), 0);
  ASSERT_TRUE(WaitCancelled(source));
  ExpectDisconnect(source.Reason());
}

TEST(DisconnectTest, DataFromThePeerDoesNotCancelAndIsNotConsumed) {
  Pair p;
  CancellationSource source;
  CancellationSource witness;
  Pair q;
  auto reg = WatchDisconnect(p.ours, source);
  auto wreg = WatchDisconnect(q.ours, witness);
  ASSERT_TRUE(reg.ok() && wreg.ok());
  ASSERT_EQ(write(p.peer, "hello", 5), 5);
  // The witness fires after the data was written: the watcher has had its
  // chance to see p.ours's data, and did not cancel.
  q.ClosePeer();
  ASSERT_TRUE(WaitCancelled(witness));
  EXPECT_FALSE(source.IsCancellationRequested());
  char buf[8];
  EXPECT_EQ(read(p.ours, buf, sizeof(buf)), 5);
}

TEST(DisconnectTest, TcpPeerCloseAndResetCancel) {
  {
    TcpPair t;
    ASSERT_GE(t.server, 0);
    CancellationSource source;
    auto reg = WatchDisconnect(t.server, source);
    ASSERT_TRUE(reg.ok()) << reg.status();
    close(t.client);
    t.client = -1;
    ASSERT_TRUE(WaitCancelled(source));
    ExpectDisconnect(source.Reason());
  }
  {
    TcpPair t;
    ASSERT_GE(t.server, 0);
    CancellationSource source;
    auto reg = WatchDisconnect(t.server, source);
    ASSERT_TRUE(reg.ok()) << reg.status();
    // SO_LINGER 0: the close sends a RST.
    linger l{1, 0};
    ASSERT_EQ(setsockopt(t.client, SOL_SOCKET, SO_LINGER, &l, sizeof(l)), 0);
    close(t.client);
    t.client = -1;
    ASSERT_TRUE(WaitCancelled(source));
    ExpectDisconnect(source.Reason());
  }
}

TEST(DisconnectTest, AlreadyHungUpFiresSoon) {
  Pair p;
  p.ClosePeer();
  CancellationSource source;
  auto reg = WatchDisconnect(p.ours, source);
  ASSERT_TRUE(reg.ok()) << reg.status();
  ASSERT_TRUE(WaitCancelled(source));
  ExpectDisconnect(source.Reason());
}

TEST(DisconnectTest, ChildTokensSeeTheCauseThroughTheParent) {
  Pair p;
  CancellationSource request;
  CancellationSource task(request.Token());
  auto reg = WatchDisconnect(p.ours, request);
  ASSERT_TRUE(reg.ok());
  p.ClosePeer();
  ASSERT_TRUE(WaitCancelled(task));
  EXPECT_EQ(GetCancellationCause(task.Reason()),
            CancellationCause::kDisconnect);
  EXPECT_TRUE(CancelledThroughParent(task.Reason()));
}

TEST(DisconnectTest, DestroyedBeforeHangupNeverCancels) {
  Pair p;
  Pair witness_pair;
  CancellationSource source;
  CancellationSource witness;
  {
    auto reg = WatchDisconnect(p.ours, source);
    ASSERT_TRUE(reg.ok());
  }
  auto wreg = WatchDisconnect(witness_pair.ours, witness);
  ASSERT_TRUE(wreg.ok());
  p.ClosePeer();
  witness_pair.ClosePeer();
  ASSERT_TRUE(WaitCancelled(witness));
  EXPECT_FALSE(source.IsCancellationRequested());
}

TEST(DisconnectTest, DestroyedAfterFiringIsFineAndFdCanBeRegisteredAgain) {
  Pair p;
  CancellationSource first;
  auto reg = WatchDisconnect(p.ours, first);
  ASSERT_TRUE(reg.ok());
  p.ClosePeer();
  ASSERT_TRUE(WaitCancelled(first));
  EXPECT_TRUE(reg->IsRegistered());
  reg->Reset();
  EXPECT_FALSE(reg->IsRegistered());
  // The fired registration removed the fd from epoll: a new one is accepted
  // (and fires at once: the peer is gone).
  CancellationSource second;
  auto again = WatchDisconnect(p.ours, second);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE(WaitCancelled(second));
}

TEST(DisconnectTest, RacingTheHangupCancelsNothingAfterDestruction) {
  const int rounds = kSanitizer ? 100 : 500;
  for (int i = 0; i < rounds; ++i) {
    Pair p;
    CancellationSource source;
    std::atomic<bool> callback_after_reset{false};
    std::atomic<bool> reset_done{false};
    CancellationCallback cb(source.Token(), [&] {
      if (reset_done.load()) callback_after_reset.store(true);
    });
    auto reg = WatchDisconnect(p.ours, source);
    ASSERT_TRUE(reg.ok());
    std::thread closer([&p] { p.ClosePeer(); });
    reg->Reset();
    reset_done.store(true);
    closer.join();
    // Anything the watcher does for this fd happens-before the witness.
    Pair w;
    CancellationSource witness;
    auto wreg = WatchDisconnect(w.ours, witness);
    ASSERT_TRUE(wreg.ok());
    w.ClosePeer();
    ASSERT_TRUE(WaitCancelled(witness));
    EXPECT_FALSE(callback_after_reset.load()) << "round " << i;
  }
}

TEST(DisconnectTest, DestructorWaitsForARunningCancellation) {
  Pair p;
  CancellationSource source;
  absl::Notification in_callback;
  absl::Notification release;
  std::atomic<bool> finished{false};
  CancellationCallback cb(source.Token(), [&] {
    in_callback.Notify();
    release.WaitForNotificationWithTimeout(kLong);
    finished.store(true);
  });
  auto reg = WatchDisconnect(p.ours, source);
  ASSERT_TRUE(reg.ok());
  p.ClosePeer();
  in_callback.WaitForNotification();
  std::thread releaser([&] {
    absl::SleepFor(absl::Milliseconds(20));
    release.Notify();
  });
  reg->Reset();  // must wait for the callback
  EXPECT_TRUE(finished.load());
  releaser.join();
}

TEST(DisconnectTest, ResetFromItsOwnCallbackDoesNotDeadlock) {
  auto child = RunInChild([] {
    Pair p;
    CancellationSource source;
    absl::StatusOr<DisconnectRegistration> reg;
    absl::Notification assigned;
    absl::Notification done;
    CancellationCallback cb(source.Token(), [&] {
      // `reg` is assigned before the peer closes; the notification makes
      // that visible to ThreadSanitizer (it cannot see the socket).
      assigned.WaitForNotification();
      reg->Reset();  // on the watcher thread
      done.Notify();
    });
    reg = WatchDisconnect(p.ours, source);
    if (!reg.ok()) return 2;
    assigned.Notify();
    p.ClosePeer();
    return done.WaitForNotificationWithTimeout(kLong) ? 0 : 3;
  });
  EXPECT_TRUE(child.ok()) << child.ToString();
}

TEST(DisconnectTest, ManyRegistrations) {
  const int n = 200;  // 400 descriptors
  std::vector<std::unique_ptr<Pair>> pairs;
  std::vector<CancellationSource> sources(n);
  std::vector<DisconnectRegistration> regs;
  const size_t before = DisconnectWatcher::Get().RegisteredCount();
  for (int i = 0; i < n; ++i) {
    pairs.push_back(std::make_unique<Pair>());
    ASSERT_GE(pairs.back()->ours, 0) << i;
    auto reg = WatchDisconnect(pairs.back()->ours, sources[i]);
    ASSERT_TRUE(reg.ok()) << reg.status();
    regs.push_back(*std::move(reg));
  }
  EXPECT_EQ(DisconnectWatcher::Get().RegisteredCount(), before + n);
  for (int i = 0; i < n; i += 2) pairs[i]->ClosePeer();
  for (int i = 0; i < n; i += 2) {
    ASSERT_TRUE(WaitCancelled(sources[i])) << i;
  }
  // The even ones fired; closing the odd ones afterwards fires them too.
  for (int i = 1; i < n; i += 2) {
    EXPECT_FALSE(sources[i].IsCancellationRequested()) << i;
  }
  for (int i = 1; i < n; i += 2) pairs[i]->ClosePeer();
  for (int i = 1; i < n; i += 2) ASSERT_TRUE(WaitCancelled(sources[i])) << i;
  EXPECT_EQ(DisconnectWatcher::Get().RegisteredCount(), before);
  regs.clear();
  EXPECT_EQ(DisconnectWatcher::Get().RegisteredCount(), before);
}

TEST(DisconnectTest, MovedRegistrationUnregistersOnce) {
  Pair p;
  CancellationSource source;
  auto reg = WatchDisconnect(p.ours, source);
  ASSERT_TRUE(reg.ok());
  DisconnectRegistration moved = *std::move(reg);
  EXPECT_FALSE(reg->IsRegistered());
  EXPECT_TRUE(moved.IsRegistered());
  DisconnectRegistration assigned;
  assigned = std::move(moved);
  EXPECT_TRUE(assigned.IsRegistered());
  assigned.Reset();
  // Unregistered: a new registration on the same fd is accepted.
  auto again = WatchDisconnect(p.ours, source);
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST(DisconnectTest, BadInput) {
  CancellationSource source;
  EXPECT_EQ(WatchDisconnect(-1, source).status().code(),
            absl::StatusCode::kInvalidArgument);
  int closed_fd;
  {
    Pair p;
    closed_fd = p.ours;
  }
  EXPECT_EQ(WatchDisconnect(closed_fd, source).status().code(),
            absl::StatusCode::kInvalidArgument);
  const int file = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(file, 0);
  EXPECT_EQ(WatchDisconnect(file, source).status().code(),
            absl::StatusCode::kInvalidArgument);
  close(file);
  CancellationSource moved_from;
  CancellationSource taker(std::move(moved_from));
  Pair p;
  EXPECT_EQ(WatchDisconnect(p.ours, moved_from).status().code(),  // NOLINT
            absl::StatusCode::kInvalidArgument);
  auto first = WatchDisconnect(p.ours, source);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(WatchDisconnect(p.ours, source).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST(DisconnectTest, WorksInAChildOfFork) {
  // The parent's watcher is running (earlier tests, or this registration).
  SettleWatcherBeforeFork();
  Pair parent_pair;
  CancellationSource parent_source;
  auto parent_reg = WatchDisconnect(parent_pair.ours, parent_source);
  ASSERT_TRUE(parent_reg.ok());
  auto child = RunInChild([&] {
    // The inherited registration is inert; destroying it does nothing.
    parent_reg->Reset();
    Pair p;
    CancellationSource source;
    auto reg = WatchDisconnect(p.ours, source);
    if (!reg.ok()) return 2;
    p.ClosePeer();
    if (!WaitCancelled(source)) return 3;
    return GetCancellationCause(source.Reason()) ==
                   CancellationCause::kDisconnect
               ? 0
               : 4;
  });
  EXPECT_TRUE(child.ok()) << child.ToString();
  // The child's reset did not touch the parent's registration.
  EXPECT_TRUE(parent_reg->IsRegistered());
  parent_pair.ClosePeer();
  ASSERT_TRUE(WaitCancelled(parent_source));
}

TEST(DisconnectTest, DescriptorExhaustionInAChildIsAnError) {
  // Make sure the parent has a watcher (the child then has none: it must
  // create an epoll instance, which needs a descriptor).
  Pair warm;
  CancellationSource s;
  ASSERT_TRUE(WatchDisconnect(warm.ours, s).ok());
  SettleWatcherBeforeFork();
  auto child = RunInChild([] {
    Pair p;
    if (p.ours < 0) return 2;
    // Use up every descriptor below the limit.
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    const rlim_t saved = lim.rlim_cur;
    lim.rlim_cur = 64;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) return 3;
    std::vector<int> filler;
    for (;;) {
      const int fd = dup(p.ours);
      if (fd < 0) break;
      filler.push_back(fd);
    }
    CancellationSource source;
    auto reg = WatchDisconnect(p.ours, source);
    if (reg.ok()) return 4;
    if (reg.status().code() != absl::StatusCode::kResourceExhausted) return 5;
    // With descriptors back, it works.
    for (int fd : filler) close(fd);
    lim.rlim_cur = saved;
    setrlimit(RLIMIT_NOFILE, &lim);
    auto ok = WatchDisconnect(p.ours, source);
    if (!ok.ok()) return 6;
    p.ClosePeer();
    return WaitCancelled(source) ? 0 : 7;
  });
  EXPECT_TRUE(child.ok()) << child.ToString();
}

TEST(DisconnectTest, OneWatcherThread) {
  Pair p;
  CancellationSource s;
  auto reg = WatchDisconnect(p.ours, s);
  ASSERT_TRUE(reg.ok());
  EXPECT_TRUE(DisconnectWatcher::Get().ThreadRunning());
  // The thread names itself when it starts; wait for that, then there is
  // exactly one.
  EXPECT_TRUE(testing_util::PollUntil(
      [] { return testing_util::CountThreadsNamed("cancelpool-dc") >= 1; }));
  EXPECT_EQ(testing_util::CountThreadsNamed("cancelpool-dc"), 1);
}

// The watcher thread cannot start (RLIMIT_NPROC, as an unprivileged user in
// a child: root ignores the limit): a clear ResourceExhausted, nothing left
// registered (the same fd registers again), and the next call, with threads
// available again, starts the thread and works.
TEST(DisconnectTest, WatcherThreadStartFailureIsAnErrorAndRecovers) {
  if (!testing_util::CanLimitThreadsInChild()) {
    GTEST_SKIP() << testing_util::kCannotLimitThreadsMessage;
  }
  if (testing_util::kTsanCannotSymbolize) {
    GTEST_SKIP() << "TSan cannot symbolize as uid 65534 (test_util.h)";
  }
  auto child = RunInChild([] {
    Pair p;
    if (p.ours < 0) return 2;
    rlim_t saved = 0;
    // This process only: no thread can start.
    if (!testing_util::LimitThreadsInChild(1, /*lower_hard=*/false, &saved)) {
      return 3;
    }
    CancellationSource source;
    auto failed = WatchDisconnect(p.ours, source);
    if (failed.ok()) return 6;
    if (failed.status().code() != absl::StatusCode::kResourceExhausted) {
      return 7;
    }
    if (source.IsCancellationRequested()) return 8;
    if (!testing_util::RestoreThreadLimitInChild(saved)) return 9;
    auto reg = WatchDisconnect(p.ours, source);
    if (!reg.ok()) return 10;
    p.ClosePeer();
    if (!WaitCancelled(source)) return 11;
    return GetCancellationCause(source.Reason()) ==
                   CancellationCause::kDisconnect
               ? 0
               : 12;
  });
  EXPECT_TRUE(child.ok()) << child.ToString();
}

}  // namespace
}  // namespace cancelpool
