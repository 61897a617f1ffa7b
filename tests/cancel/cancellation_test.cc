// Copyright 2026 The cancelpool Authors.
//
// CancellationSource, CancellationToken and CancelledException
// (cancel/cancellation.h): requests and reasons, the first request winning,
// cheap tokens, the throwing check, and interop with std::stop_token.
// Callbacks, links and deadlines have their own test targets.
#include "cancelpool/cancel/cancellation.h"

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <latch>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cause.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

// A child's reason is its parent's, with the through-parent marker
// (cancel/cause.h, PARENTS): same code and message.
::testing::AssertionResult IsThroughParent(const absl::Status& child,
                                           const absl::Status& parent) {
  if (child.code() == parent.code() && child.message() == parent.message() &&
      CancelledThroughParent(child)) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << child << " is not " << parent << " through a parent";
}

using testing_util::kPromptly;

constexpr int kRaceIterations = testing_util::kSanitizer ? 100 : 1000;

// --- Tokens ----------------------------------------------------------------

// A token is one pointer, and making or copying one cannot fail.
static_assert(sizeof(CancellationToken) == sizeof(void*));
static_assert(std::is_nothrow_default_constructible_v<CancellationToken>);
static_assert(std::is_nothrow_copy_constructible_v<CancellationToken>);
static_assert(std::is_nothrow_copy_assignable_v<CancellationToken>);
static_assert(std::is_nothrow_move_constructible_v<CancellationToken>);
static_assert(noexcept(CancellationToken().IsCancellationRequested()));

TEST(CancellationTokenTest, DefaultTokenIsNeverCancelled) {
  const CancellationToken token;
  EXPECT_FALSE(token.CanBeCancelled());
  EXPECT_FALSE(token.IsCancellationRequested());
  EXPECT_TRUE(token.Reason().ok());
  EXPECT_EQ(token.Deadline(), absl::InfiniteFuture());
  EXPECT_NO_THROW(token.ThrowIfCancellationRequested());
  EXPECT_EQ(token, CancellationToken());
}

TEST(CancellationTokenTest, TokensOfOneSourceShareItsState) {
  CancellationSource source;
  const CancellationToken a = source.Token();
  CancellationToken b = a;  // copy
  CancellationToken c;
  c = std::move(b);
  EXPECT_TRUE(a.CanBeCancelled());
  EXPECT_EQ(a, source.Token());
  EXPECT_EQ(a, c);
  EXPECT_FALSE(a == CancellationSource().Token());
  EXPECT_FALSE(a == CancellationToken());

  source.RequestCancellation(absl::AbortedError("stop"));
  EXPECT_TRUE(a.IsCancellationRequested());
  EXPECT_TRUE(c.IsCancellationRequested());
  EXPECT_EQ(c.Reason(), absl::AbortedError("stop"));
}

TEST(CancellationTokenTest, TokenOutlivesItsSource) {
  CancellationToken token;
  {
    CancellationSource source;
    token = source.Token();
    source.RequestCancellation(absl::AbortedError("gone"));
  }
  EXPECT_TRUE(token.IsCancellationRequested());
  EXPECT_EQ(token.Reason(), absl::AbortedError("gone"));
}

// --- Sources and requests --------------------------------------------------

TEST(CancellationSourceTest, FirstRequestWins) {
  CancellationSource source;
  CancellationToken token = source.Token();
  EXPECT_FALSE(token.IsCancellationRequested());
  EXPECT_TRUE(token.Reason().ok());
  EXPECT_TRUE(source.RequestCancellation(absl::AbortedError("first")));
  EXPECT_FALSE(source.RequestCancellation(absl::InternalError("second")));
  EXPECT_FALSE(source.RequestCancellation());
  EXPECT_TRUE(token.IsCancellationRequested());
  EXPECT_EQ(token.Reason(), absl::AbortedError("first"));
  EXPECT_EQ(source.Reason(), absl::AbortedError("first"));
}

TEST(CancellationSourceTest, OkReasonBecomesCancelledError) {
  CancellationSource source;
  EXPECT_TRUE(source.RequestCancellation());
  EXPECT_EQ(source.Token().Reason().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(source.IsCancellationRequested());

  CancellationSource explicit_ok;
  EXPECT_TRUE(explicit_ok.RequestCancellation(absl::OkStatus()));
  EXPECT_EQ(explicit_ok.Reason().code(), absl::StatusCode::kCancelled);
}

TEST(CancellationSourceTest, AnyCopyOfASourceMayRequest) {
  CancellationSource source;
  CancellationSource copy = source;
  EXPECT_TRUE(copy.RequestCancellation(absl::UnavailableError("copy")));
  EXPECT_FALSE(source.RequestCancellation());
  EXPECT_EQ(source.Token(), copy.Token());
  EXPECT_EQ(source.Reason(), absl::UnavailableError("copy"));
}

TEST(CancellationSourceTest, MovedFromSourceHasNoState) {
  CancellationSource source;
  CancellationSource moved = std::move(source);
  // NOLINTNEXTLINE(bugprone-use-after-move): the state after a move is
  // specified.
  EXPECT_FALSE(source.Token().CanBeCancelled());
  EXPECT_FALSE(source.RequestCancellation());
  EXPECT_FALSE(source.IsCancellationRequested());
  EXPECT_TRUE(moved.Token().CanBeCancelled());
  EXPECT_TRUE(moved.RequestCancellation());
}

TEST(CancellationSourceTest, SourceWithoutDeadlineReportsInfiniteFuture) {
  CancellationSource source;
  EXPECT_EQ(source.Deadline(), absl::InfiniteFuture());
  EXPECT_EQ(source.Token().Deadline(), absl::InfiniteFuture());
}

TEST(CancellationSourceTest, ConcurrentRequestsHaveExactlyOneWinner) {
  constexpr int kThreads = 4;
  for (int iteration = 0; iteration < kRaceIterations; ++iteration) {
    CancellationSource source;
    std::latch start(kThreads);
    std::atomic<int> winners{0};
    std::atomic<int> winner_index{-1};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        if (source.RequestCancellation(
                absl::AbortedError(absl::StrCat("thread ", i)))) {
          winners.fetch_add(1);
          winner_index.store(i);
        }
      });
    }
    for (std::thread& t : threads) t.join();
    ASSERT_EQ(winners.load(), 1) << "iteration " << iteration;
    EXPECT_EQ(source.Reason(),
              absl::AbortedError(absl::StrCat("thread ", winner_index.load())));
  }
}

// The check is an acquire load: what the requester wrote before requesting
// is visible to a thread that saw the request (TSan checks the pairing).
TEST(CancellationSourceTest, CheckSeesWritesMadeBeforeTheRequest) {
  CancellationSource source;
  const CancellationToken token = source.Token();
  int payload = 0;  // plain memory, published by the request
  std::thread requester([&] {
    payload = 42;
    source.RequestCancellation();
  });
  const absl::Time give_up = absl::Now() + kPromptly;
  while (!token.IsCancellationRequested()) {
    ASSERT_LT(absl::Now(), give_up) << "the request never became visible";
    std::this_thread::yield();
  }
  EXPECT_EQ(payload, 42);
  requester.join();
}

// --- The throwing check ----------------------------------------------------

TEST(CancelledExceptionTest, ThrowCarriesTheReason) {
  CancellationSource source;
  EXPECT_NO_THROW(source.Token().ThrowIfCancellationRequested());
  source.RequestCancellation(absl::DeadlineExceededError("too slow"));
  try {
    source.Token().ThrowIfCancellationRequested();
    FAIL() << "expected CancelledException";
  } catch (const CancelledException& e) {
    EXPECT_EQ(e.Reason(), absl::DeadlineExceededError("too slow"));
    EXPECT_NE(std::strstr(e.what(), "too slow"), nullptr) << e.what();
  }
}

TEST(CancelledExceptionTest, IsAStdException) {
  CancellationSource source;
  source.RequestCancellation();
  EXPECT_THROW(source.Token().ThrowIfCancellationRequested(), std::exception);
}

TEST(CancelledExceptionTest, OkReasonBecomesCancelledError) {
  const CancelledException e{absl::OkStatus()};
  EXPECT_EQ(e.Reason().code(), absl::StatusCode::kCancelled);
}

// Records its destruction: proves the stack unwound through it.
class CleanupProbe {
 public:
  explicit CleanupProbe(std::vector<std::string>* log, std::string name)
      : log_(log), name_(std::move(name)) {}
  ~CleanupProbe() { log_->push_back(name_); }
  CleanupProbe(const CleanupProbe&) = delete;
  CleanupProbe& operator=(const CleanupProbe&) = delete;

 private:
  std::vector<std::string>* log_;
  std::string name_;
};

void WorkThatChecks(const CancellationToken& token,
                    std::vector<std::string>* log, int depth) {
  CleanupProbe probe(log, absl::StrCat("level ", depth));
  if (depth == 0) {
    token.ThrowIfCancellationRequested();
    log->push_back("not reached");
    return;
  }
  WorkThatChecks(token, log, depth - 1);
  log->push_back("not reached");
}

TEST(CancelledExceptionTest, ThrowUnwindsThroughRaiiCleanup) {
  CancellationSource source;
  source.RequestCancellation(absl::AbortedError("unwind"));
  std::vector<std::string> log;
  try {
    WorkThatChecks(source.Token(), &log, 2);
    FAIL() << "expected CancelledException";
  } catch (const CancelledException& e) {
    EXPECT_EQ(e.Reason(), absl::AbortedError("unwind"));
  }
  EXPECT_EQ(log, (std::vector<std::string>{"level 0", "level 1", "level 2"}));
}

// --- std::stop_token interop -----------------------------------------------

TEST(StdInteropTest, ToStopTokenOfDefaultTokenCanNeverStop) {
  const std::stop_token st = CancellationToken().ToStopToken();
  EXPECT_FALSE(st.stop_possible());
  EXPECT_FALSE(st.stop_requested());
}

TEST(StdInteropTest, ToStopTokenIsRequestedWhenTokenIsCancelled) {
  CancellationSource source;
  const std::stop_token st = source.Token().ToStopToken();
  EXPECT_TRUE(st.stop_possible());
  EXPECT_FALSE(st.stop_requested());
  int stop_callbacks = 0;
  std::stop_callback on_stop(st, [&] { ++stop_callbacks; });
  source.RequestCancellation();
  EXPECT_TRUE(st.stop_requested());
  EXPECT_EQ(stop_callbacks, 1);
  EXPECT_EQ(source.Token().ToStopToken(), st) << "one bridge per state";
}

TEST(StdInteropTest, ToStopTokenOfCancelledTokenIsAlreadyRequested) {
  CancellationSource source;
  source.RequestCancellation();
  EXPECT_TRUE(source.Token().ToStopToken().stop_requested());
}

TEST(StdInteropTest, ConcurrentToStopTokenCallsShareOneBridge) {
  constexpr int kThreads = 4;
  for (int iteration = 0; iteration < kRaceIterations; ++iteration) {
    CancellationSource source;
    const CancellationToken token = source.Token();
    std::latch start(kThreads + 1);
    std::vector<std::stop_token> results(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        results[i] = token.ToStopToken();
      });
    }
    start.arrive_and_wait();
    source.RequestCancellation();
    for (std::thread& t : threads) t.join();
    for (const std::stop_token& st : results) {
      EXPECT_EQ(st, results[0]) << "iteration " << iteration;
      EXPECT_TRUE(st.stop_requested()) << "iteration " << iteration;
    }
  }
}

// std::stop_tokens from ToStopToken() do not lag behind the token's
// callbacks (which might be waiting for a std-style worker polling one): one
// taken before is requested by the time callbacks run, and a thread that has
// seen the cancellation gets a requested one.
TEST(StdInteropTest, StopTokensAreRequestedBeforeCallbacksRun) {
  CancellationSource source;
  const CancellationToken token = source.Token();
  const std::stop_token early = token.ToStopToken();  // the bridge exists
  absl::Notification in_callback;
  absl::Notification checked;
  // Holds the requester inside the callbacks until the checks are done.
  CancellationCallback hold(token, [&] {
    in_callback.Notify();
    checked.WaitForNotificationWithTimeout(kPromptly);
  });
  std::thread requester([&] { source.RequestCancellation(); });
  ASSERT_TRUE(in_callback.WaitForNotificationWithTimeout(kPromptly));
  EXPECT_TRUE(early.stop_requested());
  EXPECT_TRUE(token.ToStopToken().stop_requested());
  checked.Notify();
  requester.join();
}

TEST(StdInteropTest, ToStopTokenIsRequestedOnceCancellationIsVisible) {
  for (int iteration = 0; iteration < kRaceIterations; ++iteration) {
    CancellationSource source;
    const CancellationToken token = source.Token();
    if (iteration % 2 == 0) token.ToStopToken();  // bridge before, or not
    std::thread requester([&] { source.RequestCancellation(); });
    const absl::Time give_up = absl::Now() + kPromptly;
    while (!token.IsCancellationRequested() && absl::Now() < give_up) {
      std::this_thread::yield();
    }
    ASSERT_TRUE(token.IsCancellationRequested());
    EXPECT_TRUE(token.ToStopToken().stop_requested())
        << "iteration " << iteration;
    requester.join();
  }
}

// A queue worker written against std::stop_token only, as it would be for
// std::jthread. It must work unchanged when handed ToStopToken().
struct WorkQueue {
  std::mutex mu;
  std::condition_variable_any cv;
  std::deque<int> items;
  int processed = 0;
};

void JthreadStyleWorker(std::stop_token stop, WorkQueue* q) {
  std::unique_lock<std::mutex> lock(q->mu);
  while (q->cv.wait(lock, stop, [q] { return !q->items.empty(); })) {
    q->items.pop_front();
    ++q->processed;
    q->cv.notify_all();
  }
}

TEST(StdInteropTest, JthreadStyleLoopStopsOnCancellation) {
  CancellationSource source;
  WorkQueue q;
  std::thread worker(JthreadStyleWorker, source.Token().ToStopToken(), &q);
  {
    std::unique_lock<std::mutex> lock(q.mu);
    q.items = {1, 2, 3};
    q.cv.notify_all();
    ASSERT_TRUE(q.cv.wait_for(lock, absl::ToChronoSeconds(kPromptly), [&] {
      return q.processed == 3;
    })) << "the worker did not process its items";
  }
  source.RequestCancellation();
  worker.join();  // returns only if the worker saw the stop request
  EXPECT_EQ(q.processed, 3);
}

TEST(StdInteropTest, AdoptedStopTokenCancelsChild) {
  std::stop_source std_parent;
  CancellationSource child(std_parent.get_token());
  EXPECT_FALSE(child.IsCancellationRequested());
  std_parent.request_stop();
  EXPECT_TRUE(child.IsCancellationRequested());
  EXPECT_EQ(child.Reason().code(), absl::StatusCode::kCancelled);
}

TEST(StdInteropTest, AlreadyStoppedStdParentCancelsChildAtConstruction) {
  std::stop_source std_parent;
  std_parent.request_stop();
  CancellationSource child(std_parent.get_token());
  EXPECT_TRUE(child.IsCancellationRequested());
}

TEST(StdInteropTest, CancellingChildLeavesStdParentAlone) {
  std::stop_source std_parent;
  CancellationSource child(std_parent.get_token());
  child.RequestCancellation();
  EXPECT_FALSE(std_parent.stop_requested());
}

TEST(StdInteropTest, StdParentStoppedFromAnotherThreadRunsChildCallbacks) {
  std::stop_source std_parent;
  CancellationSource child(std_parent.get_token());
  absl::Notification fired;
  std::thread::id ran_on;
  CancellationCallback callback(child.Token(), [&] {
    ran_on = std::this_thread::get_id();
    fired.Notify();
  });
  std::thread::id stopper_id;
  std::thread stopper([&] {
    stopper_id = std::this_thread::get_id();
    std_parent.request_stop();
  });
  stopper.join();
  EXPECT_TRUE(fired.HasBeenNotified());
  EXPECT_EQ(ran_on, stopper_id);
}

// An object owning a child of a std::stop_token deletes itself from the
// child's callback while std's request_stop propagates (ASan checks that the
// propagation no longer touches the child state).
TEST(StdInteropTest, ChildMayBeDestroyedByItsOwnCallbackDuringStdStop) {
  struct Request {
    explicit Request(std::stop_token parent, int* torn_down)
        : source(std::move(parent)) {
      on_cancel.emplace(source.Token(), [this, torn_down] {
        ++*torn_down;
        delete this;
      });
    }
    CancellationSource source;
    std::optional<CancellationCallback<std::function<void()>>> on_cancel;
  };
  std::stop_source std_parent;
  int torn_down = 0;
  new Request(std_parent.get_token(), &torn_down);
  std_parent.request_stop();
  EXPECT_EQ(torn_down, 1);
}

TEST(StdInteropTest, OptionsMixStdAndOwnParents) {
  std::stop_source std_parent;
  CancellationSource own_parent;
  CancellationSource::Options options;
  options.parents = {own_parent.Token()};
  options.std_parents = {std_parent.get_token()};
  CancellationSource by_own(options);
  CancellationSource by_std(options);

  own_parent.RequestCancellation(absl::AbortedError("own"));
  EXPECT_TRUE(IsThroughParent(by_own.Reason(), absl::AbortedError("own")));
  EXPECT_TRUE(IsThroughParent(by_std.Reason(), absl::AbortedError("own")));

  std::stop_source std_only;
  CancellationSource::Options std_options;
  std_options.std_parents = {std_only.get_token()};
  CancellationSource child(std_options);
  std_only.request_stop();
  EXPECT_TRUE(child.IsCancellationRequested());
}

TEST(StdInteropTest, RoundTripThroughStdKeepsCancelling) {
  // ours -> std::stop_token -> ours: cancellation crosses both bridges.
  CancellationSource root;
  CancellationSource adopted(root.Token().ToStopToken());
  root.RequestCancellation();
  EXPECT_TRUE(adopted.IsCancellationRequested());
}

}  // namespace
}  // namespace cancelpool
