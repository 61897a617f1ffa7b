// Copyright 2026 The cancelpool Authors.
//
// Linked sources (cancel/cancellation.h, "LINKING AND DEADLINES"): a child is
// cancelled with its parent's reason, never the other way round, and a child
// that goes away unlinks, so a long-lived parent does not accumulate them.

#include <atomic>
#include <barrier>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "cancelpool/cancel/cancellation.h"
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

using testing_util::kSanitizer;
using testing_util::ResidentBytes;

constexpr int kChurnCycles = kSanitizer ? 200'000 : 2'000'000;
constexpr int kRaceIterations = kSanitizer ? 2000 : 20000;

TEST(LinkTest, ChildIsCancelledWithItsParentsReason) {
  CancellationSource parent;
  CancellationSource child(parent.Token());
  EXPECT_FALSE(child.IsCancellationRequested());
  parent.RequestCancellation(absl::AbortedError("parent says stop"));
  EXPECT_TRUE(child.IsCancellationRequested());
  EXPECT_TRUE(IsThroughParent(child.Token().Reason(),
                              absl::AbortedError("parent says stop")));
}

TEST(LinkTest, ChildOfCancelledParentStartsCancelled) {
  CancellationSource parent;
  parent.RequestCancellation(absl::UnavailableError("early"));
  CancellationSource child(parent.Token());
  EXPECT_TRUE(child.IsCancellationRequested());
  EXPECT_TRUE(IsThroughParent(child.Reason(), absl::UnavailableError("early")));
}

TEST(LinkTest, ChildOfDefaultTokenIsIndependent) {
  CancellationSource child{CancellationToken()};
  EXPECT_TRUE(child.Token().CanBeCancelled());
  EXPECT_FALSE(child.IsCancellationRequested());
  EXPECT_TRUE(child.RequestCancellation());
}

TEST(LinkTest, CancellingChildLeavesParentAlone) {
  CancellationSource parent;
  CancellationSource child(parent.Token());
  CancellationSource sibling(parent.Token());
  EXPECT_TRUE(child.RequestCancellation(absl::AbortedError("child only")));
  EXPECT_FALSE(parent.IsCancellationRequested());
  EXPECT_FALSE(sibling.IsCancellationRequested());
  // The parent's later request still reaches the other child, and the child
  // keeps its own reason.
  parent.RequestCancellation(absl::InternalError("parent"));
  EXPECT_TRUE(IsThroughParent(sibling.Reason(), absl::InternalError("parent")));
  EXPECT_EQ(child.Reason(), absl::AbortedError("child only"));
}

TEST(LinkTest, ChildOfSeveralParentsTakesTheFirstCancellingParentsReason) {
  CancellationSource a;
  CancellationSource b;
  CancellationSource c;
  const std::vector<CancellationToken> parents = {a.Token(), b.Token(),
                                                  c.Token()};
  CancellationSource child{absl::MakeConstSpan(parents)};
  b.RequestCancellation(absl::AbortedError("b"));
  EXPECT_TRUE(IsThroughParent(child.Reason(), absl::AbortedError("b")));
  a.RequestCancellation(absl::AbortedError("a"));
  EXPECT_TRUE(IsThroughParent(child.Reason(), absl::AbortedError("b")));
  EXPECT_FALSE(c.IsCancellationRequested());
}

TEST(LinkTest, ReasonTravelsThroughThreeLevelsOfLinks) {
  CancellationSource root;
  CancellationSource level1(root.Token());
  CancellationSource level2(level1.Token());
  CancellationSource level3(level2.Token());
  absl::Status seen_by_callback;
  std::thread::id callback_thread;
  CancellationCallback callback(level3.Token(), [&] {
    seen_by_callback = level3.Token().Reason();
    callback_thread = std::this_thread::get_id();
  });
  std::thread::id requester_id;
  std::thread requester([&] {
    requester_id = std::this_thread::get_id();
    root.RequestCancellation(absl::PermissionDeniedError("revoked"));
  });
  requester.join();
  for (const CancellationSource* s : {&level1, &level2, &level3}) {
    EXPECT_TRUE(
        IsThroughParent(s->Reason(), absl::PermissionDeniedError("revoked")));
  }
  EXPECT_TRUE(IsThroughParent(seen_by_callback,
                              absl::PermissionDeniedError("revoked")));
  EXPECT_EQ(callback_thread, requester_id)
      << "propagation runs on the requesting thread";
}

TEST(LinkTest, MiddleLevelCancellationStopsBelowButNotAbove) {
  CancellationSource root;
  CancellationSource middle(root.Token());
  CancellationSource leaf(middle.Token());
  middle.RequestCancellation(absl::AbortedError("middle"));
  EXPECT_FALSE(root.IsCancellationRequested());
  EXPECT_TRUE(IsThroughParent(leaf.Reason(), absl::AbortedError("middle")));
}

TEST(LinkTest, ChildKeepsWorkingAfterParentSourceIsGone) {
  std::optional<CancellationSource> parent;
  parent.emplace();
  CancellationSource child(parent->Token());
  parent.reset();  // the last source of the parent: nobody can cancel it now
  EXPECT_FALSE(child.IsCancellationRequested());
  EXPECT_TRUE(child.RequestCancellation());
}

// "Tear down on cancellation": an object owning a child source deletes itself
// from the child's callback while the parent's cancellation propagates. The
// child's last reference goes away inside its own request; the request must
// not touch the child state afterwards (ASan checks).
struct SelfDeletingRequest {
  explicit SelfDeletingRequest(const CancellationToken& parent, int* torn_down)
      : source(parent) {
    on_cancel.emplace(source.Token(), [this, torn_down] {
      ++*torn_down;
      delete this;  // destroys on_cancel (inside its callback) and source
    });
  }
  CancellationSource source;
  std::optional<CancellationCallback<std::function<void()>>> on_cancel;
};

TEST(LinkTest, ChildMayBeDestroyedByItsOwnCallbackDuringPropagation) {
  CancellationSource parent;
  int torn_down = 0;
  new SelfDeletingRequest(parent.Token(), &torn_down);
  new SelfDeletingRequest(parent.Token(), &torn_down);
  CancellationSource grandparent;
  CancellationSource middle(grandparent.Token());
  new SelfDeletingRequest(middle.Token(), &torn_down);
  parent.RequestCancellation();
  EXPECT_EQ(torn_down, 2);
  grandparent.RequestCancellation();  // through two links
  EXPECT_EQ(torn_down, 3);
}

// One long-lived parent, millions of short-lived children: each child unlinks
// when it goes away, so neither the parent's callback list nor the process
// grows. A few children stay alive to show the parent still reaches exactly
// the live ones.
TEST(LinkTest, ShortLivedChildrenUnderOneParentKeepMemoryFlat) {
  CancellationSource parent;
  const CancellationToken parent_token = parent.Token();
  constexpr int kLiveChildren = 3;
  std::atomic<int> live_cancelled{0};
  std::vector<CancellationSource> live;
  std::vector<std::unique_ptr<CancellationCallback<std::function<void()>>>>
      live_callbacks;
  for (int i = 0; i < kLiveChildren; ++i) {
    live.emplace_back(parent_token);
    live_callbacks.push_back(
        std::make_unique<CancellationCallback<std::function<void()>>>(
            live.back().Token(), [&] { live_cancelled.fetch_add(1); }));
  }

  int cancelled_children = 0;
  auto churn = [&](int cycles) {
    for (int i = 0; i < cycles; ++i) {
      CancellationSource child(parent_token);
      const CancellationToken token = child.Token();  // a token copy too
      cancelled_children += token.IsCancellationRequested() ? 1 : 0;
    }
  };
  churn(kChurnCycles / 20);  // warm up the allocator
  const long before = ResidentBytes();
  const absl::Time start = absl::Now();
  churn(kChurnCycles);
  const absl::Duration elapsed = absl::Now() - start;
  const long after = ResidentBytes();
  EXPECT_EQ(cancelled_children, 0);
  RecordProperty(
      "churn_ns_per_cycle",
      static_cast<int>(absl::ToInt64Nanoseconds(elapsed) / kChurnCycles));
  ASSERT_GT(before, 0);
  RecordProperty("rss_growth_bytes", static_cast<int>(after - before));
  if (!kSanitizer) {
    // A leaked child (state plus link) is well over 64 bytes: two million
    // of them would be over 128 MiB. Allow 8 MiB of noise.
    EXPECT_LT(after - before, 8L << 20)
        << "RSS grew from " << before << " to " << after << " bytes over "
        << kChurnCycles << " child create/destroy cycles";
  }

  // Cancelling the parent reaches exactly the live children. (A child that
  // had stayed linked after destruction would be a use-after-free here,
  // which ASan reports.)
  const absl::Time cancel_start = absl::Now();
  parent.RequestCancellation();
  EXPECT_LT(absl::Now() - cancel_start, absl::Seconds(5))
      << "cancelling the parent walked a long callback list";
  EXPECT_EQ(live_cancelled.load(), kLiveChildren);
  for (const CancellationSource& child : live) {
    EXPECT_TRUE(child.IsCancellationRequested());
  }
}

// --- Races -----------------------------------------------------------------

// A child destroyed on one thread while its parent is cancelled on another:
// the child's unlink waits out a propagation in progress; no use-after-free
// (ASan), no data race (TSan), no deadlock.
TEST(LinkRaceTest, ChildDestroyedWhileParentIsCancelled) {
  std::barrier<> sync(2);
  std::optional<CancellationSource> parent;
  std::optional<CancellationSource> child;
  std::atomic<int> child_callback_runs{0};
  bool stop = false;  // written before a barrier, read after it
  std::thread destroyer([&] {
    for (;;) {
      sync.arrive_and_wait();
      if (stop) return;
      child.reset();
      sync.arrive_and_wait();
    }
  });
  for (int i = 0; i < kRaceIterations; ++i) {
    parent.emplace();
    child.emplace(parent->Token());
    child_callback_runs.store(0);
    // Held by the child state's std::stop_token bridge: runs on the parent's
    // requesting thread if propagation got there first.
    std::stop_callback on_stop(child->Token().ToStopToken(),
                               [&] { child_callback_runs.fetch_add(1); });
    sync.arrive_and_wait();
    parent->RequestCancellation();
    sync.arrive_and_wait();
    EXPECT_LE(child_callback_runs.load(), 1) << "iteration " << i;
  }
  stop = true;
  sync.arrive_and_wait();
  destroyer.join();
}

// Children created under a parent while it is being cancelled: each one ends
// up cancelled, either linked in time (propagated) or created after (at
// construction).
TEST(LinkRaceTest, ChildCreatedWhileParentIsCancelledEndsUpCancelled) {
  std::barrier<> sync(2);
  std::optional<CancellationSource> parent;
  std::optional<CancellationSource> child;
  bool stop = false;
  std::thread creator([&] {
    for (;;) {
      sync.arrive_and_wait();
      if (stop) return;
      child.emplace(parent->Token());
      sync.arrive_and_wait();
    }
  });
  for (int i = 0; i < kRaceIterations; ++i) {
    parent.emplace();
    sync.arrive_and_wait();
    parent->RequestCancellation(absl::AbortedError("race"));
    sync.arrive_and_wait();
    ASSERT_TRUE(child->IsCancellationRequested()) << "iteration " << i;
    EXPECT_TRUE(IsThroughParent(child->Reason(), absl::AbortedError("race")));
    child.reset();
  }
  stop = true;
  sync.arrive_and_wait();
  creator.join();
}

}  // namespace
}  // namespace cancelpool
