// Copyright 2026 The cancelpool Authors.
//
// Deadlines (cancel/cancellation.h, "LINKING AND DEADLINES"): a source with a
// deadline is cancelled with DeadlineExceeded when it passes, with nobody
// polling; a child's effective deadline is the earliest of its own and its
// parents'; one shared timer thread serves them all.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/internal/deadline_timer.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

using cancel_internal::DeadlineTimer;

// How long a deadline may fire late before we call it lost: generous for a
// loaded 2-core machine under TSan.
constexpr absl::Duration kFiringBound = absl::Seconds(10);

using testing_util::CountThreads;
using testing_util::kSanitizer;

constexpr int kManyDeadlines = kSanitizer ? 200 : 2000;
constexpr int kChurnCycles = kSanitizer ? 20'000 : 200'000;

// Records when and where a token's cancellation was delivered.
class FiringProbe {
 public:
  explicit FiringProbe(const CancellationToken& token)
      : callback_(token, Fire{this}) {
    constructing_.store(false);
  }

  // Waits for the callback; false if it did not run within kFiringBound.
  bool Wait() { return fired_.WaitForNotificationWithTimeout(kFiringBound); }
  absl::Time fired_at() const { return fired_at_; }
  std::thread::id thread() const { return thread_; }
  // True if the token was already cancelled when the probe was made, so the
  // callback ran inline in the constructor (on a slow machine the deadline
  // can pass before the probe is registered).
  bool ran_inline() const { return ran_inline_; }

 private:
  struct Fire {
    FiringProbe* probe;
    void operator()() const noexcept {
      probe->fired_at_ = absl::Now();
      probe->thread_ = std::this_thread::get_id();
      probe->ran_inline_ = probe->constructing_.load() &&
                           probe->thread_ == probe->constructing_thread_;
      probe->fired_.Notify();  // publishes the fields above
    }
  };

  const std::thread::id constructing_thread_ = std::this_thread::get_id();
  std::atomic<bool> constructing_{true};
  absl::Time fired_at_;
  std::thread::id thread_;
  bool ran_inline_ = false;
  absl::Notification fired_;
  CancellationCallback<Fire> callback_;  // last: registered after the rest
};

TEST(DeadlineTest, DeadlineCancelsWithDeadlineExceededWithoutPolling) {
  CancellationSource source =
      CancellationSource::WithTimeout(absl::Milliseconds(50));
  const absl::Time deadline = source.Token().Deadline();
  FiringProbe probe(source.Token());
  // Nobody polls the token: only the timer can deliver this.
  ASSERT_TRUE(probe.Wait())
      << "the deadline did not fire within " << kFiringBound;
  EXPECT_GE(probe.fired_at(), deadline) << "fired early";
  if (!probe.ran_inline()) {
    EXPECT_NE(probe.thread(), std::this_thread::get_id())
        << "delivered by the timer thread";
  }
  EXPECT_TRUE(source.IsCancellationRequested());
  EXPECT_EQ(source.Reason().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(DeadlineTest, DeadlineWakesBlockedWaiters) {
  CancellationSource source =
      CancellationSource::WithTimeout(absl::Milliseconds(30));
  const CancellationToken token = source.Token();
  std::atomic<int> woken{0};
  std::vector<std::thread> waiters;
  waiters.emplace_back([&] {
    Event never_set;
    if (never_set.Wait(token) == WaitResult::kCancelled) woken.fetch_add(1);
  });
  waiters.emplace_back([&] {
    if (cancelpool::SleepFor(token, absl::Hours(1)) == WaitResult::kCancelled) {
      woken.fetch_add(1);
    }
  });
  waiters.emplace_back([&] {
    std::mutex mu;
    std::condition_variable cv;
    std::unique_lock<std::mutex> lock(mu);
    if (WaitWithCancellation(cv, lock, token, [] { return false; }) ==
        WaitResult::kCancelled) {
      woken.fetch_add(1);
    }
  });
  const absl::Time start = absl::Now();
  for (std::thread& t : waiters) t.join();
  EXPECT_EQ(woken.load(), 3);
  EXPECT_GE(absl::Now(), token.Deadline());
  EXPECT_LT(absl::Now() - start, kFiringBound);
}

TEST(DeadlineTest, PastDeadlineCancelsAtConstruction) {
  CancellationSource source =
      CancellationSource::WithDeadline(absl::Now() - absl::Seconds(1));
  EXPECT_TRUE(source.IsCancellationRequested());
  EXPECT_EQ(source.Reason().code(), absl::StatusCode::kDeadlineExceeded);
  CancellationSource zero =
      CancellationSource::WithTimeout(absl::ZeroDuration());
  EXPECT_TRUE(zero.IsCancellationRequested());
}

TEST(DeadlineTest, TokenReportsItsDeadline) {
  const absl::Time deadline = absl::Now() + absl::Hours(1);
  CancellationSource with_deadline = CancellationSource::WithDeadline(deadline);
  EXPECT_EQ(with_deadline.Deadline(), deadline);
  EXPECT_EQ(with_deadline.Token().Deadline(), deadline);

  CancellationSource::Options options;
  options.deadline = deadline;
  EXPECT_EQ(CancellationSource(options).Token().Deadline(), deadline);

  const absl::Time before = absl::Now();
  CancellationSource with_timeout =
      CancellationSource::WithTimeout(absl::Hours(2));
  const absl::Time after = absl::Now();
  EXPECT_GE(with_timeout.Token().Deadline(), before + absl::Hours(2));
  EXPECT_LE(with_timeout.Token().Deadline(), after + absl::Hours(2));
}

TEST(DeadlineTest, ChildsEffectiveDeadlineIsTheEarliestOfOwnAndParents) {
  const absl::Time now = absl::Now();
  const absl::Time t1 = now + absl::Hours(1);
  const absl::Time t2 = now + absl::Hours(2);
  const absl::Time t3 = now + absl::Hours(3);
  CancellationSource parent = CancellationSource::WithDeadline(t2);

  const CancellationToken parent_token = parent.Token();
  CancellationSource later_own =
      CancellationSource::WithDeadline(t3, {&parent_token, 1});
  EXPECT_EQ(later_own.Token().Deadline(), t2);
  CancellationSource earlier_own =
      CancellationSource::WithDeadline(t1, {&parent_token, 1});
  EXPECT_EQ(earlier_own.Token().Deadline(), t1);
  CancellationSource no_own(parent_token);
  EXPECT_EQ(no_own.Token().Deadline(), t2);

  // Several parents, and a grandchild.
  CancellationSource other_parent = CancellationSource::WithDeadline(t1);
  CancellationSource::Options options;
  options.parents = {parent.Token(), other_parent.Token()};
  options.deadline = t3;
  CancellationSource two_parents(options);
  EXPECT_EQ(two_parents.Token().Deadline(), t1);
  CancellationSource grandchild(two_parents.Token());
  EXPECT_EQ(grandchild.Token().Deadline(), t1);
}

TEST(DeadlineTest, ParentsDeadlineCancelsChildWithDeadlineExceeded) {
  CancellationSource parent =
      CancellationSource::WithTimeout(absl::Milliseconds(20));
  const CancellationToken parent_token = parent.Token();
  CancellationSource child = CancellationSource::WithDeadline(
      absl::Now() + absl::Hours(1), {&parent_token, 1});
  CancellationSource grandchild(child.Token());
  FiringProbe probe(grandchild.Token());
  ASSERT_TRUE(probe.Wait()) << "the parent's deadline never reached";
  EXPECT_GE(probe.fired_at(), parent.Deadline());
  EXPECT_EQ(child.Reason().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(grandchild.Reason().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(DeadlineTest, ChildsDeadlineLeavesParentAlone) {
  CancellationSource parent;
  const CancellationToken parent_token = parent.Token();
  CancellationSource child = CancellationSource::WithTimeout(
      absl::Milliseconds(10), {&parent_token, 1});
  FiringProbe probe(child.Token());
  ASSERT_TRUE(probe.Wait());
  EXPECT_EQ(child.Reason().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(parent.IsCancellationRequested());
}

TEST(DeadlineTest, EarlierRequestKeepsItsReasonWhenTheDeadlinePasses) {
  CancellationSource source =
      CancellationSource::WithTimeout(absl::Milliseconds(10));
  EXPECT_TRUE(source.RequestCancellation(absl::AbortedError("manual")));
  // The timer serves deadlines in order: once a later one has fired, the
  // first has been processed too.
  CancellationSource later =
      CancellationSource::WithTimeout(absl::Milliseconds(20));
  FiringProbe probe(later.Token());
  ASSERT_TRUE(probe.Wait());
  EXPECT_EQ(source.Reason(), absl::AbortedError("manual"));
}

TEST(DeadlineTest, DeadlinesFireInDeadlineOrder) {
  constexpr size_t kSources = 6;
  absl::Mutex mu;
  std::vector<int> order;
  std::vector<CancellationSource> sources;
  std::vector<std::unique_ptr<CancellationCallback<std::function<void()>>>>
      callbacks;
  const absl::Time base = absl::Now() + absl::Milliseconds(20);
  // Armed out of order on purpose.
  for (int i : {3, 0, 5, 1, 4, 2}) {
    sources.push_back(
        CancellationSource::WithDeadline(base + i * absl::Milliseconds(5)));
    callbacks.push_back(
        std::make_unique<CancellationCallback<std::function<void()>>>(
            sources.back().Token(), [&mu, &order, i] {
              absl::MutexLock lock(&mu);
              order.push_back(i);
            }));
  }
  absl::MutexLock lock(&mu);
  ASSERT_TRUE(mu.AwaitWithTimeout(
      absl::Condition(
          +[](std::vector<int>* o) { return o->size() == kSources; }, &order),
      kFiringBound));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5}));
}

// An earlier deadline armed while the timer sleeps towards a later one must
// wake the timer.
TEST(DeadlineTest, EarlierDeadlineArmedLaterStillFiresOnTime) {
  CancellationSource far = CancellationSource::WithTimeout(absl::Hours(1));
  CancellationSource near =
      CancellationSource::WithTimeout(absl::Milliseconds(10));
  FiringProbe probe(near.Token());
  ASSERT_TRUE(probe.Wait());
  EXPECT_FALSE(far.IsCancellationRequested());
}

TEST(DeadlineTest, ManyDeadlinesShareOneTimerThread) {
  // Sanitizer runtimes start a helper thread of their own along with the
  // first user thread; let that happen before counting.
  std::thread([] {}).join();
  const int threads_before = CountThreads();
  ASSERT_GT(threads_before, 0);
  const bool timer_was_running = DeadlineTimer::Get().ThreadRunning();

  absl::Mutex mu;
  std::set<std::thread::id> firing_threads;
  int fired = 0;
  const std::thread::id test_thread = std::this_thread::get_id();
  std::vector<CancellationSource> sources;
  std::vector<std::unique_ptr<CancellationCallback<std::function<void()>>>>
      callbacks;
  sources.reserve(2 * kManyDeadlines);
  for (int i = 0; i < kManyDeadlines; ++i) {
    // Short ones that fire during the test, and long ones that stay armed.
    sources.push_back(
        CancellationSource::WithTimeout(absl::Milliseconds(1 + i % 50)));
    callbacks.push_back(
        std::make_unique<CancellationCallback<std::function<void()>>>(
            sources.back().Token(), [&, test_thread] {
              absl::MutexLock lock(&mu);
              // A 1 ms deadline can pass before its callback is registered;
              // the callback then runs inline, on this thread, which says
              // nothing about the timer.
              if (std::this_thread::get_id() != test_thread) {
                firing_threads.insert(std::this_thread::get_id());
              }
              ++fired;
            }));
    sources.push_back(CancellationSource::WithTimeout(absl::Hours(1)));
  }
  EXPECT_GE(DeadlineTimer::Get().ArmedCount(),
            static_cast<size_t>(kManyDeadlines));
  {
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(mu.AwaitWithTimeout(
        absl::Condition(
            +[](int* n) { return *n == kManyDeadlines; }, &fired),
        kFiringBound))
        << fired << " of " << kManyDeadlines << " deadlines fired";
    EXPECT_EQ(firing_threads.size(), 1u) << "all fired on one timer thread";
  }
  EXPECT_TRUE(DeadlineTimer::Get().ThreadRunning());
  EXPECT_LE(CountThreads(), threads_before + (timer_was_running ? 0 : 1))
      << 2 * kManyDeadlines << " deadlines must not create threads";
}

// Sources with deadlines that go away before their deadline disarm: the
// timer's heap does not grow with them.
TEST(DeadlineTest, DestroyedDeadlineSourcesDisarmTheTimer) {
  const size_t armed_before = DeadlineTimer::Get().ArmedCount();
  CancellationSource parent;
  const CancellationToken parent_token = parent.Token();
  for (int i = 0; i < kChurnCycles; ++i) {
    CancellationSource source = CancellationSource::WithTimeout(
        absl::Hours(1) + absl::Seconds(i % 1000), {&parent_token, 1});
  }
  EXPECT_LE(DeadlineTimer::Get().ArmedCount(), armed_before);
  // The parent reaches no dead child.
  parent.RequestCancellation();
}

}  // namespace
}  // namespace cancelpool
