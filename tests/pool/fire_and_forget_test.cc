// Tasks whose futures are dropped at once (fire and forget), submitted from
// inside tasks: the sole-owner finish (pool/internal/task.h, F1-F4) and the
// inside-submission fast path (pool/internal/submit.cc). Each task still runs
// once, releases its captures, is counted, and keeps its own token: one that
// a running task hands out, one linked under a parent, one with a deadline,
// and one that a cancel shutdown reaches.
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

using testing_util::ExpectStatsAddUp;
using testing_util::kLong;

// A chain of `links` tasks, each submitting the next from inside the pool
// and dropping its future; every link holds a share of `alive`.
struct Chain {
  ThreadPool* pool;
  std::shared_ptr<int> alive;
  std::atomic<int> ran{0};
  absl::Notification done;
  int links = 0;

  void Step() {
    if (ran.fetch_add(1, std::memory_order_relaxed) + 1 == links) {
      done.Notify();
      return;
    }
    pool->Submit([this, keep = alive] { Step(); });
  }
};

TEST(FireAndForgetTest, ChainRunsEveryLinkAndReleasesCaptures) {
  ThreadPool pool(2);
  Chain chain;
  chain.pool = &pool;
  chain.alive = std::make_shared<int>(0);
  chain.links = 20000;
  std::weak_ptr<int> watch = chain.alive;
  pool.Submit([&chain, keep = chain.alive] { chain.Step(); });
  ASSERT_TRUE(chain.done.WaitForNotificationWithTimeout(kLong));
  chain.alive.reset();
  pool.Shutdown(ShutdownMode::kDrain);
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_EQ(chain.ran.load(), 20000);
  // Every link's capture is gone: the blocks were destroyed, not leaked.
  EXPECT_TRUE(watch.expired());
  const PoolStats s = pool.Stats();
  EXPECT_EQ(s.submitted, 20000u);
  EXPECT_EQ(s.completed, 20000u);
  ExpectStatsAddUp(s);
}

TEST(FireAndForgetTest, TokenHandedOutByTheTaskOutlivesIt) {
  // The task's token is copied out while it runs (a second reference): the
  // block must outlive the run, and the token stays usable afterwards.
  ThreadPool pool(2);
  absl::Mutex mu;
  std::optional<CancellationToken> kept;
  absl::Notification done;
  pool.Submit([&] {
    pool.Submit([&](CancellationToken token) {
      {
        absl::MutexLock lock(&mu);
        kept = token;
      }
      done.Notify();
    });
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kLong));
  pool.Shutdown(ShutdownMode::kDrain);
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  absl::MutexLock lock(&mu);
  ASSERT_TRUE(kept.has_value());
  EXPECT_TRUE(kept->CanBeCancelled());
  EXPECT_FALSE(kept->IsCancellationRequested());
  kept.reset();  // the last reference: the block goes now
}

TEST(FireAndForgetTest, LinkedTokensStillSeeTheirParent) {
  // Links with a parent are never finished as sole owner (F2): each one
  // observes the parent's cancellation, and none outlives its block.
  ThreadPool pool(2);
  CancellationSource parent;
  std::atomic<int> saw_cancel{0};
  std::atomic<int> ran{0};
  absl::Notification started;
  absl::Notification stop;
  constexpr int kTasks = 64;
  pool.Submit([&] {
    for (int i = 0; i < kTasks; ++i) {
      TaskOptions options;
      options.parent = parent.Token();
      pool.SubmitWith(options, [&](CancellationToken token) {
        if (ran.fetch_add(1) == 0) started.Notify();
        const absl::Time limit = absl::Now() + kLong;
        while (!token.IsCancellationRequested() && absl::Now() < limit) {
          absl::SleepFor(absl::Microseconds(50));
        }
        if (token.IsCancellationRequested()) saw_cancel.fetch_add(1);
      });
    }
  });
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kLong));
  parent.RequestCancellation();
  pool.Shutdown(ShutdownMode::kDrain);
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  const PoolStats s = pool.Stats();
  // Each task either ran and saw the parent's cancellation (and returned
  // normally: completed, like the submitting task), or never started
  // (cancelled while queued).
  EXPECT_EQ(saw_cancel.load(), ran.load());
  EXPECT_EQ(s.completed, static_cast<uint64_t>(ran.load()) + 1);
  EXPECT_EQ(s.cancelled_before_start,
            static_cast<uint64_t>(kTasks - ran.load()));
  EXPECT_EQ(s.submitted, static_cast<uint64_t>(kTasks) + 1);
  ExpectStatsAddUp(s);
}

TEST(FireAndForgetTest, DeadlineTasksFinishAndAreFreed) {
  // Armed deadline timers (F2 refuses them): the timer may still reach the
  // block; it must be disarmed by the destructor, never fire into freed
  // memory.
  ThreadPool pool(2);
  auto alive = std::make_shared<int>(0);
  std::weak_ptr<int> watch = alive;
  std::atomic<int> ran{0};
  absl::Notification done;
  constexpr int kTasks = 200;
  pool.Submit([&, keep = alive] {
    for (int i = 0; i < kTasks; ++i) {
      pool.SubmitWith(TaskOptions::WithTimeout(absl::Microseconds(i * 10)),
                      [&, keep] {
                        if (ran.fetch_add(1) + 1 == kTasks) done.Notify();
                      });
    }
  });
  alive.reset();
  pool.Shutdown(ShutdownMode::kDrain);
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  // Some may have been cancelled by their deadline before they started.
  const PoolStats s = pool.Stats();
  EXPECT_EQ(s.completed + s.cancelled_before_start + s.cancelled_while_running,
            static_cast<uint64_t>(kTasks) + 1);
  EXPECT_TRUE(watch.expired());
  ExpectStatsAddUp(s);
}

TEST(FireAndForgetTest, CancelShutdownReachesRunningFireAndForgetTasks) {
  // A cancel shutdown claims the running task's slot (S2) while the task
  // finishes: the block must not be destroyed under the claimer (F1: the
  // sole-owner check comes after R2).
  for (int round = 0; round < 20; ++round) {
    ThreadPool pool(2);
    std::atomic<int> running{0};
    absl::Notification started;
    pool.Submit([&] {
      for (int i = 0; i < 8; ++i) {
        pool.Submit([&](CancellationToken token) {
          if (running.fetch_add(1) == 0) started.Notify();
          const absl::Time limit = absl::Now() + kLong;
          while (!token.IsCancellationRequested() && absl::Now() < limit) {
          }
        });
      }
    });
    ASSERT_TRUE(started.WaitForNotificationWithTimeout(kLong));
    pool.Shutdown(ShutdownMode::kCancel);
    ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
    const PoolStats s = pool.Stats();
    EXPECT_EQ(s.submitted, 9u);
    ExpectStatsAddUp(s);
  }
}

// The sole-owner finish (task.h F1-F4) deletes the block itself: an
// over-aligned callable (alignas(64): the block comes from the aligned
// operator new) and a move-only one must go through the matching aligned
// delete and destroy their captures, whether the future is dropped before
// the task runs (outside and inside submissions) or while it runs.
struct alignas(64) OverAligned {
  std::shared_ptr<int> keep;
  std::atomic<int>* ran;
  unsigned char pad[64];
  void operator()() const {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(this) % 64, 0u);
    ran->fetch_add(1);
  }
};

TEST(FireAndForgetTest, OverAlignedAndMoveOnlyCallablesAreFreed) {
  ThreadPool pool(2);
  std::atomic<int> ran{0};
  auto alive = std::make_shared<int>(0);
  std::weak_ptr<int> watch = alive;
  absl::Notification spawned;
  constexpr int kOutside = 500;
  for (int i = 0; i < kOutside; ++i) {
    pool.Submit(OverAligned{alive, &ran, {}});
    pool.Submit([keep = std::make_unique<std::shared_ptr<int>>(alive), &ran] {
      ran.fetch_add(1);
    });
  }
  pool.Submit([&pool, &ran, &spawned, alive] {
    for (int i = 0; i < kOutside; ++i) {
      pool.Submit(OverAligned{alive, &ran, {}});
      pool.Submit([keep = std::make_unique<std::shared_ptr<int>>(alive), &ran] {
        ran.fetch_add(1);
      });
    }
    spawned.Notify();
  });
  alive.reset();
  ASSERT_TRUE(spawned.WaitForNotificationWithTimeout(kLong));
  pool.Shutdown(ShutdownMode::kDrain);
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_EQ(ran.load(), 4 * kOutside);
  EXPECT_TRUE(watch.expired());
  ExpectStatsAddUp(pool.Stats());
}

}  // namespace
}  // namespace cancelpool
