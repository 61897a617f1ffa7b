// Copyright 2026 The cancelpool Authors.
//
// The current token and deferred regions (cancel/current.h): deep code checks
// or throws without a token parameter; a deferred region hides cancellation
// of the current token from this thread's checks and waits, and delivers it
// when the outermost region ends.
#include "cancelpool/cancel/current.h"

#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/wait.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

// A short wait that must run in full because cancellation is deferred.
constexpr absl::Duration kShortWait = absl::Milliseconds(10);

// --- The current token -----------------------------------------------------

TEST(CurrentTokenTest, WithoutScopeNothingIsCancelled) {
  EXPECT_FALSE(CurrentToken().CanBeCancelled());
  EXPECT_FALSE(IsCancellationRequested());
  EXPECT_NO_THROW(ThrowIfCancellationRequested());
}

TEST(CurrentTokenTest, ScopeInstallsTokenAndRestoresThePreviousOne) {
  CancellationSource source;
  {
    CurrentTokenScope scope(source.Token());
    EXPECT_EQ(CurrentToken(), source.Token());
    EXPECT_FALSE(IsCancellationRequested());
    source.RequestCancellation();
    EXPECT_TRUE(IsCancellationRequested());
  }
  EXPECT_FALSE(CurrentToken().CanBeCancelled());
  EXPECT_FALSE(IsCancellationRequested());
}

TEST(CurrentTokenTest, NestedScopesInnermostWins) {
  CancellationSource outer;
  CancellationSource inner;
  outer.RequestCancellation();
  CurrentTokenScope outer_scope(outer.Token());
  EXPECT_TRUE(IsCancellationRequested());
  {
    CurrentTokenScope inner_scope(inner.Token());
    EXPECT_EQ(CurrentToken(), inner.Token());
    EXPECT_FALSE(IsCancellationRequested());
    EXPECT_NO_THROW(ThrowIfCancellationRequested());
    {
      CurrentTokenScope none(CancellationToken{});
      EXPECT_FALSE(CurrentToken().CanBeCancelled());
    }
    EXPECT_EQ(CurrentToken(), inner.Token());
  }
  EXPECT_EQ(CurrentToken(), outer.Token());
  EXPECT_TRUE(IsCancellationRequested());
}

TEST(CurrentTokenTest, ScopeKeepsTheStateAlive) {
  auto source = std::make_unique<CancellationSource>();
  CurrentTokenScope scope(source->Token());
  source->RequestCancellation(absl::AbortedError("kept"));
  source.reset();  // the scope still holds the state
  EXPECT_TRUE(IsCancellationRequested());
  EXPECT_EQ(CurrentToken().Reason(), absl::AbortedError("kept"));
}

TEST(CurrentTokenTest, ScopesArePerThread) {
  CancellationSource source;
  source.RequestCancellation();
  CurrentTokenScope scope(source.Token());
  bool other_thread_sees = true;
  std::thread other([&] { other_thread_sees = IsCancellationRequested(); });
  other.join();
  EXPECT_FALSE(other_thread_sees);
  EXPECT_TRUE(IsCancellationRequested());
}

// Deep code: no token parameter anywhere.
int DeepWork(int depth, std::vector<std::string>* cleanup_log) {
  struct Cleanup {
    std::vector<std::string>* log;
    int depth;
    ~Cleanup() { log->push_back("cleanup " + std::to_string(depth)); }
  } cleanup{cleanup_log, depth};
  if (depth == 0) {
    ThrowIfCancellationRequested();
    return IsCancellationRequested() ? -1 : 1;
  }
  return DeepWork(depth - 1, cleanup_log);
}

TEST(CurrentTokenTest, DeepCodeChecksAndThrowsWithoutATokenParameter) {
  CancellationSource source;
  CurrentTokenScope scope(source.Token());
  std::vector<std::string> log;
  EXPECT_EQ(DeepWork(3, &log), 1);
  log.clear();
  source.RequestCancellation(absl::AbortedError("deep"));
  try {
    DeepWork(3, &log);
    FAIL() << "expected CancelledException";
  } catch (const CancelledException& e) {
    EXPECT_EQ(e.Reason(), absl::AbortedError("deep"));
  }
  EXPECT_EQ(log, (std::vector<std::string>{"cleanup 0", "cleanup 1",
                                           "cleanup 2", "cleanup 3"}));
}

TEST(CurrentTokenTest, DeepCodeSeesCancellationFromAnotherThread) {
  CancellationSource source;
  CurrentTokenScope scope(source.Token());
  std::thread canceller([&] { source.RequestCancellation(); });
  canceller.join();
  EXPECT_TRUE(IsCancellationRequested());
  EXPECT_THROW(ThrowIfCancellationRequested(), CancelledException);
}

// --- Deferred regions ------------------------------------------------------

TEST(DeferCancellationTest, DeferredRegionHidesCancellationFromChecks) {
  CancellationSource source;
  CurrentTokenScope scope(source.Token());
  bool delivered = false;
  try {
    DeferCancellationScope defer;
    source.RequestCancellation(absl::AbortedError("later"));
    EXPECT_FALSE(IsCancellationRequested());
    EXPECT_NO_THROW(ThrowIfCancellationRequested());
    // The token itself, and other threads, still see it.
    EXPECT_TRUE(CurrentToken().IsCancellationRequested());
    bool other_thread_sees = false;
    std::thread other(
        [&] { other_thread_sees = source.Token().IsCancellationRequested(); });
    other.join();
    EXPECT_TRUE(other_thread_sees);
  } catch (const CancelledException& e) {
    EXPECT_EQ(e.Reason(), absl::AbortedError("later"));
    delivered = true;
  }
  EXPECT_TRUE(delivered);
  EXPECT_TRUE(IsCancellationRequested());
}

TEST(DeferCancellationTest, InterruptibleWaitsOnTheCurrentTokenIgnoreIt) {
  CancellationSource source;
  source.RequestCancellation();
  CurrentTokenScope scope(source.Token());
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  bool delivered = false;
  try {
    DeferCancellationScope defer;
    EXPECT_EQ(cancelpool::SleepFor(kShortWait), WaitResult::kTimeout);
    EXPECT_EQ(cancelpool::SleepFor(CurrentToken(), kShortWait),
              WaitResult::kTimeout);
    Event event;
    EXPECT_EQ(event.WaitFor(CurrentToken(), kShortWait), WaitResult::kTimeout);
    EXPECT_EQ(WaitForFd(pipe_fds[0], FdInterest::kReadable, CurrentToken(),
                        absl::Now() + kShortWait),
              WaitResult::kTimeout);
    // A different token is not deferred.
    CancellationSource other;
    other.RequestCancellation();
    EXPECT_EQ(cancelpool::SleepFor(other.Token(), absl::Hours(1)),
              WaitResult::kCancelled);
  } catch (const CancelledException&) {
    delivered = true;
  }
  EXPECT_TRUE(delivered);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

TEST(DeferCancellationTest, CancellationIsDeliveredWhenOutermostRegionEnds) {
  CancellationSource source;
  CurrentTokenScope scope(source.Token());
  std::vector<std::string> events;
  try {
    DeferCancellationScope outer;
    {
      DeferCancellationScope inner;
      source.RequestCancellation(absl::AbortedError("deferred"));
    }  // inner region ends: still deferred, nothing thrown
    events.push_back("after inner");
    EXPECT_FALSE(IsCancellationRequested());
  } catch (const CancelledException& e) {
    events.push_back("delivered: " + std::string(e.Reason().message()));
  }
  EXPECT_EQ(events,
            (std::vector<std::string>{"after inner", "delivered: deferred"}));
}

TEST(DeferCancellationTest, CancellationFromAnotherThreadIsDeliveredAtTheEnd) {
  CancellationSource source;
  CurrentTokenScope scope(source.Token());
  bool delivered = false;
  try {
    DeferCancellationScope defer;
    std::thread canceller([&] { source.RequestCancellation(); });
    canceller.join();
    EXPECT_EQ(cancelpool::SleepFor(kShortWait), WaitResult::kTimeout);
  } catch (const CancelledException& e) {
    delivered = e.Reason().code() == absl::StatusCode::kCancelled;
  }
  EXPECT_TRUE(delivered);
}

TEST(DeferCancellationTest, CancellationBeforeTheRegionIsDeliveredAtItsEnd) {
  CancellationSource source;
  source.RequestCancellation();
  CurrentTokenScope scope(source.Token());
  EXPECT_THROW(
      {
        DeferCancellationScope defer;
        EXPECT_FALSE(IsCancellationRequested());
      },
      CancelledException);
}

TEST(DeferCancellationTest, RegionWithoutCancellationEndsQuietly) {
  CancellationSource source;
  CurrentTokenScope scope(source.Token());
  EXPECT_NO_THROW({ DeferCancellationScope defer; });
  EXPECT_NO_THROW({ DeferCancellationScope without_token_cancelled; });
}

TEST(DeferCancellationTest, ExitDeliversAtAChosenPointOnce) {
  CancellationSource source;
  CurrentTokenScope scope(source.Token());
  int delivered = 0;
  try {
    DeferCancellationScope defer;
    source.RequestCancellation();
    try {
      defer.Exit();
    } catch (const CancelledException&) {
      ++delivered;
    }
    // The region is over: checks see the cancellation again, and the
    // destructor does not deliver a second time.
    EXPECT_TRUE(IsCancellationRequested());
    defer.Exit();  // idempotent: neither this nor the destructor delivers
  } catch (const CancelledException&) {
    ++delivered;
  }
  EXPECT_EQ(delivered, 1);
}

TEST(DeferCancellationTest, NoSecondExceptionWhileOneIsPropagating) {
  CancellationSource source;
  CurrentTokenScope scope(source.Token());
  try {
    DeferCancellationScope defer;
    source.RequestCancellation();
    throw std::runtime_error("original");
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "original");
  }
  // The cancellation was not lost: the next check sees it.
  EXPECT_TRUE(IsCancellationRequested());
  EXPECT_THROW(ThrowIfCancellationRequested(), CancelledException);
}

// RAII cleanup that must not be interrupted, as current.h suggests ("finishing
// a file write"), run while a CancelledException unwinds through it.
class FlushOnDestruction {
 public:
  explicit FlushOnDestruction(bool* flushed) : flushed_(flushed) {}
  ~FlushOnDestruction() {
    DeferCancellationScope defer;
    *flushed_ = true;
  }
  FlushOnDestruction(const FlushOnDestruction&) = delete;
  FlushOnDestruction& operator=(const FlushOnDestruction&) = delete;

 private:
  bool* flushed_;
};

// An exception is already propagating when such a region ends, so it must
// not throw (a second exception out of a destructor during unwinding is
// std::terminate); the cancellation stays visible to the next check.
TEST(DeferCancellationTest,
     RegionEndingInADestructorDuringUnwindingDoesNotThrow) {
  CancellationSource source;
  CurrentTokenScope scope(source.Token());
  source.RequestCancellation(absl::AbortedError("unwinding"));
  bool flushed = false;
  try {
    FlushOnDestruction cleanup(&flushed);
    ThrowIfCancellationRequested();
  } catch (const CancelledException& e) {
    EXPECT_EQ(e.Reason(), absl::AbortedError("unwinding"));
  }
  EXPECT_TRUE(flushed);
  EXPECT_TRUE(IsCancellationRequested());
}

TEST(DeferCancellationTest, CallbacksStillRunInsideADeferredRegion) {
  CancellationSource source;
  CurrentTokenScope scope(source.Token());
  int runs = 0;
  CancellationCallback callback(source.Token(), [&] { ++runs; });
  try {
    DeferCancellationScope defer;
    source.RequestCancellation();
    EXPECT_EQ(runs, 1);
  } catch (const CancelledException&) {
  }
  EXPECT_EQ(runs, 1);
}

TEST(DeferCancellationTest, NestedCurrentTokenScopeStartsUndeferred) {
  CancellationSource outer;
  CancellationSource nested;
  outer.RequestCancellation();
  nested.RequestCancellation();
  CurrentTokenScope outer_scope(outer.Token());
  bool delivered = false;
  try {
    DeferCancellationScope defer;
    EXPECT_FALSE(IsCancellationRequested());
    {
      // e.g. a task run by a helping wait inside the region.
      CurrentTokenScope nested_scope(nested.Token());
      EXPECT_TRUE(IsCancellationRequested());
      EXPECT_THROW(ThrowIfCancellationRequested(), CancelledException);
      EXPECT_EQ(cancelpool::SleepFor(absl::Hours(1)), WaitResult::kCancelled);
    }
    // Back in the region: deferred again.
    EXPECT_FALSE(IsCancellationRequested());
  } catch (const CancelledException&) {
    delivered = true;
  }
  EXPECT_TRUE(delivered);
}

TEST(DeferCancellationTest, RegionWithoutCurrentTokenNeverThrows) {
  EXPECT_NO_THROW({
    DeferCancellationScope defer;
    EXPECT_FALSE(IsCancellationRequested());
  });
}

}  // namespace
}  // namespace cancelpool
