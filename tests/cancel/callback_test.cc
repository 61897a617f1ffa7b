// Copyright 2026 The cancelpool Authors.
//
// CancellationCallback (cancel/cancellation.h): exactly-once delivery on the
// requesting thread or inline, deregistration on destruction (waiting for a
// callback running elsewhere, not for one running on this thread), and no
// lock held while callbacks run. Includes the races: registration against
// cancellation, and deregistration against the callback.
#include <atomic>
#include <barrier>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

using testing_util::kPromptly;

constexpr int kRaceIterations = testing_util::kSanitizer ? 2000 : 20000;

using Registration = CancellationCallback<std::function<void()>>;

// --- Single-threaded contract ---------------------------------------------

TEST(CancellationCallbackTest, CallbackRunsInlineWhenAlreadyCancelled) {
  CancellationSource source;
  source.RequestCancellation();
  int runs = 0;
  std::thread::id ran_on;
  {
    CancellationCallback callback(source.Token(), [&] {
      ++runs;
      ran_on = std::this_thread::get_id();
    });
    EXPECT_EQ(runs, 1) << "must run inside the constructor";
    EXPECT_EQ(ran_on, std::this_thread::get_id());
  }
  EXPECT_EQ(runs, 1);
}

TEST(CancellationCallbackTest, CallbackNeverRunsForDefaultToken) {
  int runs = 0;
  {
    CancellationCallback callback(CancellationToken(), [&] { ++runs; });
  }
  EXPECT_EQ(runs, 0);
}

TEST(CancellationCallbackTest, CallbackRunsOnceOnTheRequestingThread) {
  CancellationSource source;
  std::atomic<int> runs{0};
  std::thread::id ran_on;
  CancellationCallback callback(source.Token(), [&] {
    runs.fetch_add(1);
    ran_on = std::this_thread::get_id();
  });
  EXPECT_EQ(runs.load(), 0) << "must not run before the request";
  std::thread::id requester_id;
  std::thread requester([&] {
    requester_id = std::this_thread::get_id();
    EXPECT_TRUE(source.RequestCancellation());
    // The winner runs every callback before returning.
    EXPECT_EQ(runs.load(), 1);
    EXPECT_FALSE(source.RequestCancellation());
  });
  requester.join();
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(ran_on, requester_id);
}

TEST(CancellationCallbackTest, DestroyedRegistrationNeverRuns) {
  CancellationSource source;
  int runs = 0;
  {
    CancellationCallback callback(source.Token(), [&] { ++runs; });
  }
  source.RequestCancellation();
  EXPECT_EQ(runs, 0);
}

TEST(CancellationCallbackTest, CallbackSeesTheRequestAndItsReason) {
  CancellationSource source;
  const CancellationToken token = source.Token();
  bool saw_requested = false;
  absl::Status seen_reason;
  CancellationCallback callback(token, [&] {
    saw_requested = token.IsCancellationRequested();
    seen_reason = token.Reason();
  });
  source.RequestCancellation(absl::ResourceExhaustedError("quota"));
  EXPECT_TRUE(saw_requested);
  EXPECT_EQ(seen_reason, absl::ResourceExhaustedError("quota"));
}

TEST(CancellationCallbackTest, EveryRegisteredCallbackRunsExactlyOnce) {
  constexpr int kCallbacks = 100;
  CancellationSource source;
  std::vector<int> runs(kCallbacks, 0);
  std::vector<std::unique_ptr<Registration>> registrations;
  for (int i = 0; i < kCallbacks; ++i) {
    registrations.push_back(std::make_unique<Registration>(
        source.Token(), [&runs, i] { ++runs[i]; }));
  }
  // Deregister every third one before the request.
  for (int i = 0; i < kCallbacks; i += 3) registrations[i].reset();
  source.RequestCancellation();
  source.RequestCancellation();
  for (int i = 0; i < kCallbacks; ++i) {
    EXPECT_EQ(runs[i], i % 3 == 0 ? 0 : 1) << "callback " << i;
  }
}

// A losing request returns at once, even while the winner is still running
// callbacks.
TEST(CancellationCallbackTest, LosingRequestDoesNotWaitForCallbacks) {
  CancellationSource source;
  absl::Notification entered;
  absl::Notification release;
  CancellationCallback callback(source.Token(), [&] {
    entered.Notify();
    release.WaitForNotification();
  });
  std::thread winner([&] { EXPECT_TRUE(source.RequestCancellation()); });
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(kPromptly));
  EXPECT_FALSE(source.RequestCancellation());
  EXPECT_TRUE(source.IsCancellationRequested());
  release.Notify();
  winner.join();
}

// --- Destruction -----------------------------------------------------------

TEST(CancellationCallbackTest,
     DestructorWaitsForCallbackRunningOnAnotherThread) {
  CancellationSource source;
  absl::Notification entered;
  absl::Notification release;
  std::atomic<bool> finished{false};
  auto registration = std::make_unique<Registration>(source.Token(), [&] {
    entered.Notify();
    release.WaitForNotification();
    finished.store(true);
  });
  std::thread requester([&] { source.RequestCancellation(); });
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(kPromptly));

  absl::Notification destroyed;
  std::thread destroyer([&] {
    registration.reset();
    // The callback must have returned before the destructor did.
    EXPECT_TRUE(finished.load());
    destroyed.Notify();
  });
  EXPECT_FALSE(destroyed.WaitForNotificationWithTimeout(absl::Milliseconds(50)))
      << "the destructor returned while the callback was still running";
  release.Notify();
  EXPECT_TRUE(destroyed.WaitForNotificationWithTimeout(kPromptly));
  destroyer.join();
  requester.join();
}

TEST(CancellationCallbackTest, DestroyInsideOwnCallbackDoesNotDeadlock) {
  CancellationSource source;
  int runs = 0;
  std::optional<Registration> registration;
  registration.emplace(source.Token(), [&registration, &runs] {
    ++runs;
    registration.reset();  // destroys this very callback; touches nothing after
  });
  source.RequestCancellation();
  EXPECT_EQ(runs, 1);
  EXPECT_FALSE(registration.has_value());
}

// The requester runs a token's callbacks one after another. A registration
// destroyed while an earlier callback of the same request is still running
// is simply deregistered: it never runs (std::stop_callback's rule).
TEST(CancellationCallbackTest,
     DestroyedBeforeItsTurnInARunningRequestNeverRuns) {
  CancellationSource source;
  absl::Notification entered;
  absl::Notification release;
  std::atomic<int> first_to_run{-1};
  std::atomic<int> runs[2] = {0, 0};
  std::optional<Registration> registrations[2];
  for (int i = 0; i < 2; ++i) {
    registrations[i].emplace(source.Token(), [&, i] {
      runs[i].fetch_add(1);
      int expected = -1;
      if (first_to_run.compare_exchange_strong(expected, i)) {
        entered.Notify();
        release.WaitForNotification();
      }
    });
  }
  std::thread requester([&] { source.RequestCancellation(); });
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(kPromptly));
  const int first = first_to_run.load();
  const int second = 1 - first;
  EXPECT_TRUE(source.IsCancellationRequested());
  registrations[second].reset();  // not started yet: deregistered
  release.Notify();
  requester.join();
  EXPECT_EQ(runs[first].load(), 1);
  EXPECT_EQ(runs[second].load(), 0);
}

TEST(CancellationCallbackTest,
     DestroyInsideOwnCallbackOnAnotherThreadDoesNotDeadlock) {
  CancellationSource source;
  std::atomic<int> runs{0};
  std::optional<Registration> registration;
  registration.emplace(source.Token(), [&registration, &runs] {
    runs.fetch_add(1);
    registration.reset();
  });
  std::thread requester([&] { source.RequestCancellation(); });
  requester.join();
  EXPECT_EQ(runs.load(), 1);
  EXPECT_FALSE(registration.has_value());
}

// Two registrations that each destroy the other: whichever runs first
// deregisters the other before it runs, so exactly one runs.
TEST(CancellationCallbackTest,
     CallbackMayDeregisterAnotherCallbackOfTheSameToken) {
  CancellationSource source;
  int a_runs = 0;
  int b_runs = 0;
  std::optional<Registration> a;
  std::optional<Registration> b;
  a.emplace(source.Token(), [&] {
    ++a_runs;
    b.reset();
  });
  b.emplace(source.Token(), [&] {
    ++b_runs;
    a.reset();
  });
  source.RequestCancellation();
  EXPECT_EQ(a_runs + b_runs, 1);
}

// Whichever runs second destroys the first, which has already completed.
TEST(CancellationCallbackTest, CallbackMayDestroyARegistrationThatAlreadyRan) {
  CancellationSource source;
  bool a_ran = false;
  bool b_ran = false;
  std::optional<Registration> a;
  std::optional<Registration> b;
  a.emplace(source.Token(), [&] {
    a_ran = true;
    if (b_ran) b.reset();
  });
  b.emplace(source.Token(), [&] {
    b_ran = true;
    if (a_ran) a.reset();
  });
  source.RequestCancellation();
  EXPECT_TRUE(a_ran);
  EXPECT_TRUE(b_ran);
  EXPECT_NE(a.has_value(), b.has_value());
}

// --- No lock held while callbacks run -------------------------------------

TEST(CancellationCallbackTest, CallbackMayRegisterAndDeregisterOnTheSameToken) {
  CancellationSource source;
  const CancellationToken token = source.Token();
  int inner_runs = 0;
  bool inner_ran_inline = false;
  CancellationCallback outer(token, [&] {
    {
      CancellationCallback inner(token, [&] { ++inner_runs; });
      inner_ran_inline = inner_runs == 1;
    }  // deregistered again here
  });
  source.RequestCancellation();
  EXPECT_EQ(inner_runs, 1);
  EXPECT_TRUE(inner_ran_inline) << "registered after the request: inline";
}

TEST(CancellationCallbackTest, CallbackMayCancelAnotherSource) {
  CancellationSource first;
  CancellationSource second;
  std::vector<int> order;
  CancellationCallback on_first(first.Token(), [&] {
    order.push_back(1);
    EXPECT_TRUE(second.RequestCancellation(absl::AbortedError("chained")));
    order.push_back(3);
  });
  CancellationCallback on_second(second.Token(), [&] {
    order.push_back(2);
    // Cancelling back into the source whose callbacks are running: loses.
    EXPECT_FALSE(first.RequestCancellation());
  });
  first.RequestCancellation();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(second.Reason(), absl::AbortedError("chained"));
}

TEST(CancellationCallbackTest, CallbackMayRequestItsOwnSourceAgain) {
  CancellationSource source;
  bool again = true;
  CancellationCallback callback(source.Token(),
                                [&] { again = source.RequestCancellation(); });
  EXPECT_TRUE(source.RequestCancellation());
  EXPECT_FALSE(again);
}

TEST(CancellationCallbackTest, CallbackMayCreateChildrenAndStopTokens) {
  CancellationSource source;
  const CancellationToken token = source.Token();
  bool child_cancelled = false;
  bool stop_requested = false;
  CancellationCallback callback(token, [&] {
    CancellationSource child(token);
    child_cancelled = child.IsCancellationRequested();
    stop_requested = token.ToStopToken().stop_requested();
  });
  source.RequestCancellation();
  EXPECT_TRUE(child_cancelled);
  EXPECT_TRUE(stop_requested);
}

// --- Races -----------------------------------------------------------------

// Runs `main_side` here and `helper_side` on a helper thread, released
// together by a barrier, kRaceIterations times; `setup` runs first each time
// and `check` after both finished.
void RaceRepeatedly(const std::function<void()>& setup,
                    const std::function<void()>& main_side,
                    const std::function<void()>& helper_side,
                    const std::function<bool(int)>& check) {
  std::barrier<> sync(2);
  bool stop = false;  // written before a barrier, read after it
  std::thread helper([&] {
    for (;;) {
      sync.arrive_and_wait();
      if (stop) return;
      helper_side();
      sync.arrive_and_wait();
    }
  });
  for (int i = 0; i < kRaceIterations; ++i) {
    setup();
    sync.arrive_and_wait();
    main_side();
    sync.arrive_and_wait();
    if (!check(i)) break;
  }
  stop = true;
  sync.arrive_and_wait();
  helper.join();
}

TEST(CancellationCallbackRaceTest,
     RegistrationRacingCancellationRunsExactlyOnce) {
  CancellationSource source;
  std::atomic<int> runs{0};
  std::thread::id registering_thread = std::this_thread::get_id();
  std::atomic<int> inline_runs{0};
  std::optional<Registration> registration;
  int inline_total = 0;
  int requester_total = 0;
  RaceRepeatedly(
      [&] {
        source = CancellationSource();
        runs.store(0);
        inline_runs.store(0);
      },
      [&] {
        registration.emplace(source.Token(), [&] {
          runs.fetch_add(1);
          if (std::this_thread::get_id() == registering_thread) {
            inline_runs.fetch_add(1);
          }
        });
      },
      [&] { source.RequestCancellation(); },
      [&](int i) {
        // Both sides are done: the request returned, so the callback ran.
        const int n = runs.load();
        EXPECT_EQ(n, 1) << "iteration " << i
                        << (n == 0 ? ": lost" : ": ran twice");
        registration.reset();
        EXPECT_EQ(runs.load(), n) << "iteration " << i;
        inline_total += inline_runs.load();
        requester_total += n - inline_runs.load();
        return n == 1;
      });
  // Both outcomes of the race should have occurred; informational only.
  RecordProperty("ran_inline", inline_total);
  RecordProperty("ran_on_requester", requester_total);
}

// Deregistration racing the callback: once the destructor returns, the
// callback either never started or has finished; it never runs twice, and it
// never runs after the destructor returned.
TEST(CancellationCallbackRaceTest,
     DeregistrationRacingCallbackLeavesItNeverOrFinished) {
  CancellationSource source;
  std::atomic<int> started{0};
  std::atomic<int> finished{0};
  std::atomic<bool> destructor_returned{false};
  std::atomic<bool> ran_after_destructor{false};
  std::optional<Registration> registration;
  RaceRepeatedly(
      [&] {
        source = CancellationSource();
        started.store(0);
        finished.store(0);
        destructor_returned.store(false);
        ran_after_destructor.store(false);
        registration.emplace(source.Token(), [&] {
          if (destructor_returned.load()) ran_after_destructor.store(true);
          started.fetch_add(1);
          finished.fetch_add(1);
        });
      },
      [&] {
        registration.reset();
        destructor_returned.store(true);
        EXPECT_EQ(started.load(), finished.load())
            << "destructor returned while the callback was running";
      },
      [&] { source.RequestCancellation(); },
      [&](int i) {
        EXPECT_LE(started.load(), 1) << "iteration " << i;
        EXPECT_FALSE(ran_after_destructor.load()) << "iteration " << i;
        return started.load() <= 1 && !ran_after_destructor.load();
      });
}

// A callback that destroys itself on the requesting thread while another
// thread deregisters a second callback of the same token.
TEST(CancellationCallbackRaceTest, SelfDestructionRacingForeignDeregistration) {
  CancellationSource source;
  std::atomic<int> self_runs{0};
  std::atomic<int> other_runs{0};
  std::optional<Registration> self;
  std::optional<Registration> other;
  RaceRepeatedly(
      [&] {
        source = CancellationSource();
        self_runs.store(0);
        other_runs.store(0);
        self.emplace(source.Token(), [&] {
          self_runs.fetch_add(1);
          self.reset();
        });
        other.emplace(source.Token(), [&] { other_runs.fetch_add(1); });
      },
      [&] { source.RequestCancellation(); }, [&] { other.reset(); },
      [&](int i) {
        EXPECT_EQ(self_runs.load(), 1) << "iteration " << i;
        EXPECT_FALSE(self.has_value());
        EXPECT_LE(other_runs.load(), 1) << "iteration " << i;
        return self_runs.load() == 1 && other_runs.load() <= 1;
      });
}

}  // namespace
}  // namespace cancelpool
