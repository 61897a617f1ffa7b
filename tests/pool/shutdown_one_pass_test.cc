// Tests of the cancel shutdown's one-pass resolution of queued tasks
// (pool/internal/shutdown.cc, SQ1-SQ7): every queued future resolves exactly
// once, keeps its own cancelled token, frees its captures, wakes its waiters
// and runs its token's callbacks; a Future::Cancel racing the pass wins or
// loses cleanly; idle workers share the pass and Shutdown waits for their
// part; the report adds up. Batches larger than one claim batch
// (Scheduler::kClaimBatch) are used throughout.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/cause.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

using testing_util::ExpectStatsAddUp;
using testing_util::kLong;
using testing_util::kSanitizer;

absl::Status UntilCancelled(CancellationToken t) {
  if (SleepFor(t, kLong) == WaitResult::kCancelled) return t.Reason();
  return absl::DeadlineExceededError("never cancelled");
}

// Counts its destruction once (a moved-from one does not count).
class CountsDestruction {
 public:
  explicit CountsDestruction(std::atomic<int>* count) : count_(count) {}
  CountsDestruction(CountsDestruction&& other) noexcept
      : count_(std::exchange(other.count_, nullptr)) {}
  CountsDestruction& operator=(CountsDestruction&&) = delete;
  ~CountsDestruction() {
    if (count_ != nullptr) count_->fetch_add(1);
  }

 private:
  std::atomic<int>* count_;
};

class ShutdownOnePassTest : public ::testing::TestWithParam<int> {
 protected:
  int workers() const { return GetParam(); }

  // Occupies every worker of `pool` with a task that only stops when
  // cancelled; returns their futures once all started.
  std::vector<Future<void>> BlockAllWorkers(ThreadPool& pool) {
    absl::BlockingCounter started(workers());
    std::vector<Future<void>> running;
    for (int i = 0; i < workers(); ++i) {
      running.push_back(pool.Submit([&started](CancellationToken t) {
        started.DecrementCount();
        return UntilCancelled(t);
      }));
    }
    started.Wait();
    return running;
  }
};

TEST_P(ShutdownOnePassTest, QueuedTasksResolvedByShutdownKeepTheirTokens) {
  ThreadPool pool(workers());
  std::vector<Future<void>> running = BlockAllWorkers(pool);
  const int n = kSanitizer ? 300 : 3000;
  std::atomic<int> ran{0};
  std::atomic<int> destroyed{0};
  std::vector<Future<void>> queued;
  for (int i = 0; i < n; ++i) {
    queued.push_back(pool.Submit(
        [&ran, c = CountsDestruction(&destroyed)] { ran.fetch_add(1); }));
  }
  const absl::Status reason = absl::UnavailableError("maintenance");
  const absl::Status expected =
      WithCancellationCause(reason, CancellationCause::kShutdown);
  pool.Shutdown(ShutdownMode::kCancel, reason);
  // Outside submissions sit in the injection queue, which Shutdown takes
  // whole before it cancels the running tasks (SQ1): every one of them is
  // resolved, and its captures freed, when Shutdown returns.
  EXPECT_EQ(destroyed.load(), n);
  for (auto& f : queued) {
    ASSERT_TRUE(f.IsReady());
    EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
    // The task's own token is cancelled, with the shutdown's reason.
    EXPECT_TRUE(f.Token().IsCancellationRequested());
    EXPECT_EQ(f.Token().Reason(), expected);
    EXPECT_EQ(f.Get(), expected);
    // Resolved: a later Cancel has no effect.
    EXPECT_FALSE(f.Cancel());
  }
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  for (auto& f : running) EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  EXPECT_EQ(ran.load(), 0);
  const ShutdownReport r = pool.Report();
  EXPECT_TRUE(r.terminated);
  EXPECT_EQ(r.never_ran, static_cast<uint64_t>(n));
  EXPECT_EQ(r.stats.cancelled_before_start, static_cast<uint64_t>(n));
  EXPECT_EQ(r.stats.cancelled_while_running, static_cast<uint64_t>(workers()));
  ExpectStatsAddUp(r.stats);
}

TEST_P(ShutdownOnePassTest, CallbacksOnQueuedTokensRunAndChildrenFollow) {
  ThreadPool pool(workers());
  std::vector<Future<void>> running = BlockAllWorkers(pool);
  const int n = kSanitizer ? 300 : 1000;
  std::vector<Future<void>> queued;
  for (int i = 0; i < n; ++i) queued.push_back(pool.Submit([] {}));
  // Every third queued task gets a callback on its token, and a source
  // linked under it: the pass takes the full request path for those
  // (kResolvedByHook), the others are claimed in bulk.
  std::atomic<int> callbacks{0};
  using Callback = CancellationCallback<std::function<void()>>;
  std::vector<std::unique_ptr<Callback>> registrations;
  std::vector<CancellationSource> children;
  for (int i = 0; i < n; i += 3) {
    registrations.push_back(std::make_unique<Callback>(
        queued[i].Token(), [&callbacks] { callbacks.fetch_add(1); }));
    children.emplace_back(queued[i].Token());
  }
  pool.Shutdown(ShutdownMode::kCancel);
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_EQ(callbacks.load(), static_cast<int>(registrations.size()));
  for (auto& c : children) {
    EXPECT_TRUE(c.Token().IsCancellationRequested());
    EXPECT_EQ(GetCancellationCause(c.Token().Reason()),
              CancellationCause::kShutdown);
  }
  for (auto& f : queued) {
    ASSERT_TRUE(f.IsReady());
    EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  }
  const ShutdownReport r = pool.Report();
  EXPECT_EQ(r.never_ran, static_cast<uint64_t>(n));
  EXPECT_EQ(r.stats.cancelled_before_start, static_cast<uint64_t>(n));
  ExpectStatsAddUp(r.stats);
}

TEST_P(ShutdownOnePassTest, WaitersOnQueuedTasksAreWoken) {
  ThreadPool pool(workers());
  std::vector<Future<void>> running = BlockAllWorkers(pool);
  const int n = kSanitizer ? 200 : 600;
  std::vector<Future<void>> queued;
  for (int i = 0; i < n; ++i) queued.push_back(pool.Submit([] {}));
  // A few threads block on queued futures (some in the middle of a claim
  // batch, some at its ends).
  constexpr int kWaiters = 4;
  absl::BlockingCounter waiting(kWaiters);
  std::atomic<int> woken{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < kWaiters; ++k) {
    Future<void>& f = queued[(k * n) / kWaiters + k];
    threads.emplace_back([&f, &waiting, &woken] {
      waiting.DecrementCount();
      if (f.WaitFor(kLong)) woken.fetch_add(1);
    });
  }
  waiting.Wait();
  pool.Shutdown(ShutdownMode::kCancel);
  for (auto& t : threads) t.join();
  EXPECT_EQ(woken.load(), kWaiters);
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
}

TEST_P(ShutdownOnePassTest, FutureCancelRacingThePassResolvesEachOnce) {
  const int rounds = kSanitizer ? 4 : 20;
  const uint32_t base_seed = std::random_device{}();
  for (int round = 0; round < rounds; ++round) {
    const uint32_t seed = base_seed + round;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    const int n = kSanitizer ? 400 : 2000;
    std::atomic<int> destroyed{0};
    std::atomic<int> ran{0};
    std::vector<Future<int>> queued;
    uint64_t cancel_returned_true = 0;
    {
      ThreadPool pool(workers());
      std::vector<Future<void>> running = BlockAllWorkers(pool);
      for (int i = 0; i < n; ++i) {
        queued.push_back(
            pool.Submit([&ran, i, c = CountsDestruction(&destroyed)] {
              ran.fetch_add(1);
              return i;
            }));
      }
      absl::Notification go;
      std::thread canceller([&] {
        std::mt19937 rng(seed);
        go.WaitForNotification();
        for (int k = 0; k < n / 2; ++k) {
          if (queued[rng() % n].Cancel(absl::AbortedError("by future"))) {
            ++cancel_returned_true;
          }
        }
      });
      go.Notify();
      pool.Shutdown(ShutdownMode::kCancel);
      canceller.join();
      ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
      const ShutdownReport r = pool.Report();
      EXPECT_TRUE(r.terminated);
      uint64_t by_shutdown = 0, by_future = 0;
      for (auto& f : queued) {
        ASSERT_TRUE(f.IsReady());
        ASSERT_EQ(f.Outcome(), TaskOutcome::kCancelled);
        const absl::Status s = f.Get().status();
        if (s.code() == absl::StatusCode::kAborted) {
          ++by_future;
        } else {
          EXPECT_EQ(GetCancellationCause(s), CancellationCause::kShutdown) << s;
          ++by_shutdown;
        }
      }
      // Cancel() also returns true when the shutdown's request came first
      // but had not resolved the task yet (it arrived before completion).
      EXPECT_LE(by_future, cancel_returned_true);
      EXPECT_EQ(r.never_ran, by_shutdown);
      EXPECT_EQ(by_shutdown + by_future, static_cast<uint64_t>(n));
      EXPECT_EQ(r.stats.cancelled_before_start, static_cast<uint64_t>(n));
      ExpectStatsAddUp(r.stats);
    }
    EXPECT_EQ(ran.load(), 0);
    EXPECT_EQ(destroyed.load(), n);
    queued.clear();
  }
}

// SQ6/SQ7: the workers whose running tasks were cancelled help resolve the
// injection queue's entries. The first task's captures, when destroyed, wait
// until another thread has destroyed a capture too: the pass cannot finish
// unless a second participant took a chunk. Shutdown returns only after
// every chunk, the helpers' included, is done.
TEST_P(ShutdownOnePassTest, IdleWorkersShareThePassAndShutdownWaitsForThem) {
  ThreadPool pool(workers());
  std::vector<Future<void>> running = BlockAllWorkers(pool);
  // Several claim batches, so there is a chunk for every participant.
  const int n = 8 * 128;
  std::atomic<int> destroyed{0};
  std::atomic<int> ran{0};
  std::atomic<bool> waited_in_vain{false};
  absl::Mutex mu;
  std::set<std::thread::id> destroyers;
  struct Probe {
    std::atomic<int>* destroyed;
    absl::Mutex* mu;
    std::set<std::thread::id>* destroyers;
    std::atomic<bool>* waited_in_vain;
    bool first;
    bool live = true;
    Probe(std::atomic<int>* d, absl::Mutex* m, std::set<std::thread::id>* s,
          std::atomic<bool>* w, bool f)
        : destroyed(d), mu(m), destroyers(s), waited_in_vain(w), first(f) {}
    Probe(Probe&& o) noexcept
        : destroyed(o.destroyed),
          mu(o.mu),
          destroyers(o.destroyers),
          waited_in_vain(o.waited_in_vain),
          first(o.first) {
      o.live = false;
    }
    Probe& operator=(Probe&&) = delete;
    ~Probe() {
      if (!live) return;
      const std::thread::id me = std::this_thread::get_id();
      {
        absl::MutexLock lock(mu);
        destroyers->insert(me);
      }
      if (first) {
        // Another participant must show up (generous: a loaded machine).
        auto other = [this, me]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(*mu) {
          return destroyers->size() > 1 || destroyers->count(me) == 0;
        };
        absl::MutexLock lock(mu);
        if (!mu->AwaitWithTimeout(absl::Condition(&other), kLong)) {
          waited_in_vain->store(true);
        }
      }
      destroyed->fetch_add(1);
    }
  };
  std::vector<Future<void>> queued;
  for (int i = 0; i < n; ++i) {
    queued.push_back(pool.Submit(
        [&ran, p = Probe(&destroyed, &mu, &destroyers, &waited_in_vain,
                         i == 0)] { ran.fetch_add(1); }));
  }
  pool.Shutdown(ShutdownMode::kCancel);
  // SQ7: every capture is destroyed and every future resolved on return,
  // the chunks the workers took included.
  EXPECT_EQ(destroyed.load(), n);
  for (auto& f : queued) {
    ASSERT_TRUE(f.IsReady());
    EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
    EXPECT_TRUE(f.Token().IsCancellationRequested());
  }
  EXPECT_FALSE(waited_in_vain.load()) << "no second participant in the pass";
  {
    absl::MutexLock lock(&mu);
    EXPECT_GE(destroyers.size(), 2u);
  }
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  for (auto& f : running) EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  EXPECT_EQ(ran.load(), 0);
  const ShutdownReport r = pool.Report();
  EXPECT_TRUE(r.terminated);
  EXPECT_EQ(r.never_ran, static_cast<uint64_t>(n));
  EXPECT_EQ(r.stats.cancelled_before_start, static_cast<uint64_t>(n));
  ExpectStatsAddUp(r.stats);
}

INSTANTIATE_TEST_SUITE_P(Workers, ShutdownOnePassTest,
                         ::testing::Values(1, 2, 4));

}  // namespace
}  // namespace cancelpool
