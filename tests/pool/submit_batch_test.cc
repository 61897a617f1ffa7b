// ThreadPool::SubmitBatch / SubmitBatchWith (thread_pool.h): one future per
// callable, in order; each task with its own token; the rules of Submit
// (shutdown, deadlines, parents, admission control, submission from inside
// a task) applied to every task of the batch; batches larger than one
// queueing group; the statistics identity.
#include <atomic>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
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
using testing_util::Gate;
using testing_util::kLong;
using testing_util::NotifyAtExit;

// What a task's token carries when its parent was cancelled with `reason`
// (cancel/cause.h, PARENTS).
absl::Status ThroughParentOf(const absl::Status& reason) {
  CancellationSource parent;
  CancellationSource child(parent.Token());
  parent.RequestCancellation(reason);
  return child.Reason();
}

class SubmitBatchTest : public ::testing::TestWithParam<int> {
 protected:
  int workers() const { return GetParam(); }
};

// A callable returning its index, for batches of `n`.
struct ReturnIndex {
  int i;
  int operator()() const { return i; }
};

std::vector<ReturnIndex> Indices(int n) {
  std::vector<ReturnIndex> v;
  v.reserve(n);
  for (int i = 0; i < n; ++i) v.push_back(ReturnIndex{i});
  return v;
}

TEST_P(SubmitBatchTest, EmptyBatchReturnsNoFutures) {
  ThreadPool pool(workers());
  std::vector<Future<int>> futures =
      pool.SubmitBatch(std::vector<ReturnIndex>());
  EXPECT_TRUE(futures.empty());
  EXPECT_EQ(pool.Stats().submitted, 0u);
}

// More than one queueing group (256), and not a multiple of it.
TEST_P(SubmitBatchTest, FuturesInOrderAcrossGroups) {
  ThreadPool pool(workers());
  constexpr int kN = 1000;
  std::vector<Future<int>> futures = pool.SubmitBatch(Indices(kN));
  ASSERT_EQ(futures.size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; ++i) {
    absl::StatusOr<int> r = futures[i].Get();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, i);
  }
  ASSERT_TRUE(pool.WaitForIdle(absl::Now() + kLong));
  PoolStats s = pool.Stats();
  EXPECT_EQ(s.submitted, static_cast<uint64_t>(kN));
  EXPECT_EQ(s.completed, static_cast<uint64_t>(kN));
  ExpectStatsAddUp(s);
}

// Every task has its own token: cancelling one queued task resolves it at
// once and frees its capture; the others run.
TEST_P(SubmitBatchTest, EachTaskHasItsOwnToken) {
  Gate gate;  // outlives the pool: its tasks use it
  ThreadPool pool(workers());
  NotifyAtExit release(gate.release);
  std::vector<Future<void>> blockers;
  std::atomic<int> blocked{0};
  for (int i = 0; i < workers(); ++i) {
    blockers.push_back(pool.Submit([&] {
      if (blocked.fetch_add(1) + 1 == workers()) gate.started.Notify();
      gate.release.WaitForNotificationWithTimeout(kLong);
    }));
  }
  ASSERT_TRUE(gate.started.WaitForNotificationWithTimeout(kLong));
  auto capture = std::make_shared<int>(7);
  std::vector<absl::AnyInvocable<absl::Status(CancellationToken)>> tasks;
  for (int i = 0; i < 4; ++i) {
    tasks.push_back([capture](CancellationToken token) {
      return token.IsCancellationRequested() ? absl::InternalError("saw it")
                                             : absl::OkStatus();
    });
  }
  std::vector<Future<void>> futures = pool.SubmitBatch(std::move(tasks));
  ASSERT_EQ(futures.size(), 4u);
  EXPECT_EQ(capture.use_count(), 5);
  EXPECT_TRUE(futures[1].Cancel());
  // Resolved at once, its capture freed there and then.
  EXPECT_TRUE(futures[1].IsReady());
  EXPECT_EQ(futures[1].Outcome(), TaskOutcome::kCancelled);
  EXPECT_EQ(capture.use_count(), 4);
  gate.release.Notify();
  for (int i : {0, 2, 3}) {
    EXPECT_TRUE(futures[i].Get().ok()) << i;
    EXPECT_EQ(futures[i].Outcome(), TaskOutcome::kSucceeded);
  }
  for (auto& b : blockers) EXPECT_TRUE(b.Get().ok());
}

// A running task of a batch observes its own token's cancellation.
TEST_P(SubmitBatchTest, RunningTaskObservesItsToken) {
  ThreadPool pool(workers());
  absl::Notification started;
  std::vector<absl::AnyInvocable<absl::Status(CancellationToken)>> tasks;
  tasks.push_back([&](CancellationToken token) {
    started.Notify();
    if (!testing_util::SpinUntilCancelled(token)) {
      return absl::InternalError("token never cancelled");
    }
    return token.Reason();
  });
  tasks.push_back([](CancellationToken) { return absl::OkStatus(); });
  std::vector<Future<void>> futures = pool.SubmitBatch(std::move(tasks));
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kLong));
  EXPECT_TRUE(futures[0].Cancel(absl::CancelledError("stop")));
  EXPECT_EQ(futures[0].Get().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(futures[0].Outcome(), TaskOutcome::kCancelled);
  EXPECT_TRUE(futures[1].Get().ok());
}

TEST_P(SubmitBatchTest, AfterShutdownEveryFutureFails) {
  ThreadPool pool(workers());
  pool.Shutdown();
  std::vector<Future<int>> futures = pool.SubmitBatch(Indices(3));
  ASSERT_EQ(futures.size(), 3u);
  for (auto& f : futures) {
    EXPECT_EQ(f.Get().status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(f.Outcome(), TaskOutcome::kFailed);
  }
  PoolStats s = pool.Stats();
  EXPECT_EQ(s.submitted, 3u);
  EXPECT_EQ(s.rejected, 3u);
}

TEST_P(SubmitBatchTest, PassedDeadlineCancelsEveryTask) {
  ThreadPool pool(workers());
  TaskOptions options;
  options.deadline = absl::Now() - absl::Seconds(1);
  std::atomic<int> ran{0};
  std::vector<absl::AnyInvocable<void()>> tasks;
  for (int i = 0; i < 3; ++i) tasks.push_back([&ran] { ran.fetch_add(1); });
  std::vector<Future<void>> futures =
      pool.SubmitBatchWith(options, std::move(tasks));
  for (auto& f : futures) {
    EXPECT_EQ(f.Get().code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  }
  EXPECT_EQ(ran.load(), 0);
  EXPECT_EQ(pool.Stats().deadline_passed_at_submit, 3u);
}

TEST_P(SubmitBatchTest, DeadlineAndParentApplyToEveryTask) {
  ThreadPool pool(workers());
  CancellationSource parent;
  TaskOptions options;
  options.parent = parent.Token();
  options.deadline = absl::Now() + kLong;
  std::vector<absl::AnyInvocable<absl::Status(CancellationToken)>> tasks;
  for (int i = 0; i < 3; ++i) {
    tasks.push_back([](CancellationToken token) {
      if (!testing_util::SpinUntilCancelled(token)) {
        return absl::InternalError("token never cancelled");
      }
      return token.Reason();
    });
  }
  std::vector<Future<void>> futures =
      pool.SubmitBatchWith(options, std::move(tasks));
  const absl::Status reason = absl::CancelledError("parent");
  parent.RequestCancellation(reason);
  for (auto& f : futures) {
    EXPECT_EQ(f.Get(), ThroughParentOf(reason));
    EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  }
}

// Admission control per task: the ones beyond the limit are refused, the
// others run.
TEST(SubmitBatchAdmissionTest, TasksBeyondTheLimitAreRejected) {
  Gate gate;  // outlives the pool: its tasks use it
  ThreadPoolOptions options;
  options.num_workers = 1;
  options.max_queued_tasks = 4;
  ThreadPool pool(std::move(options));
  NotifyAtExit release(gate.release);
  Future<void> blocker = pool.Submit([&] { gate.Block(); });
  ASSERT_TRUE(gate.started.WaitForNotificationWithTimeout(kLong));
  std::vector<Future<int>> futures = pool.SubmitBatch(Indices(10));
  gate.release.Notify();
  // The first four were admitted (in order), the rest refused.
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<int> r = futures[i].Get();
    if (i < 4) {
      ASSERT_TRUE(r.ok()) << i << " " << r.status();
      EXPECT_EQ(*r, i);
    } else {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << i;
    }
  }
  EXPECT_TRUE(blocker.Get().ok());
  ASSERT_TRUE(pool.WaitForIdle(absl::Now() + kLong));
  PoolStats s = pool.Stats();
  EXPECT_EQ(s.rejected, 6u);
  ExpectStatsAddUp(s);
}

// From inside a task: the batch goes to the worker's deque and runs; a
// helping wait on its futures does not deadlock, even with one worker.
TEST_P(SubmitBatchTest, FromInsideATask) {
  ThreadPool pool(workers());
  Future<int> outer = pool.Submit([&pool] {
    std::vector<Future<int>> inner = pool.SubmitBatch(Indices(600));
    int sum = 0;
    for (auto& f : inner) sum += *f.Get();
    return sum;
  });
  EXPECT_EQ(*outer.Get(), 599 * 600 / 2);
  ASSERT_TRUE(pool.WaitForIdle(absl::Now() + kLong));
  PoolStats s = pool.Stats();
  EXPECT_EQ(s.submitted, 601u);
  ExpectStatsAddUp(s);
}

// Several outside threads submitting batches at once (for TSan).
TEST_P(SubmitBatchTest, ConcurrentSubmitters) {
  ThreadPool pool(workers());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 700;
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      std::vector<Future<int>> futures = pool.SubmitBatch(Indices(kPerThread));
      for (int i = 0; i < kPerThread; ++i) {
        absl::StatusOr<int> r = futures[i].Get();
        if (!r.ok() || *r != i) bad.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  ASSERT_TRUE(pool.WaitForIdle(absl::Now() + kLong));
  PoolStats s = pool.Stats();
  EXPECT_EQ(s.submitted, static_cast<uint64_t>(kThreads * kPerThread));
  ExpectStatsAddUp(s);
}

// A batch racing Shutdown: every future resolves (ran, or rejected).
TEST_P(SubmitBatchTest, RacingShutdownResolvesEveryFuture) {
  for (int round = 0; round < 20; ++round) {
    ThreadPool pool(workers());
    std::vector<Future<int>> futures;
    std::thread submitter([&] { futures = pool.SubmitBatch(Indices(1000)); });
    pool.Shutdown();
    submitter.join();
    for (auto& f : futures) {
      ASSERT_TRUE(f.WaitFor(kLong));
      absl::StatusOr<int> r = f.Get();
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
      }
    }
    ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
    ExpectStatsAddUp(pool.Stats());
  }
}

// thread_pool.h SubmitBatch: "If constructing a task throws (...), the
// tasks of the callables before it are submitted (they run; their futures
// are dropped) and the exception propagates." The 300th callable's move
// throws, past the first full group of 256: the 299 before it all run, none
// after it, and the pool keeps working.
struct ThrowsOnMove {
  int i;
  int throw_at;
  std::atomic<int>* ran;
  ThrowsOnMove(int i, int throw_at, std::atomic<int>* ran)
      : i(i), throw_at(throw_at), ran(ran) {}
  ThrowsOnMove(const ThrowsOnMove&) = default;
  ThrowsOnMove(ThrowsOnMove&& other)
      : i(other.i), throw_at(other.throw_at), ran(other.ran) {
    if (i == throw_at) throw std::runtime_error("move refused");
  }
  void operator()() const { ran->fetch_add(1); }
};

TEST_P(SubmitBatchTest, ThrowingMoveSubmitsTheTasksBeforeIt) {
  ThreadPool pool(workers());
  std::atomic<int> ran{0};
  constexpr int kThrowAt = 299;
  std::vector<ThrowsOnMove> batch;
  batch.reserve(400);
  for (int i = 0; i < 400; ++i) batch.emplace_back(i, kThrowAt, &ran);
  bool threw = false;
  try {
    pool.SubmitBatch(std::move(batch));
  } catch (const std::runtime_error&) {
    threw = true;
  }
  EXPECT_TRUE(threw);
  ASSERT_TRUE(pool.WaitForIdle(absl::Now() + kLong));
  EXPECT_EQ(ran.load(), kThrowAt);
  auto after = pool.Submit([] { return 7; }).Get();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, 7);
  const PoolStats s = pool.Stats();
  EXPECT_EQ(s.submitted, static_cast<uint64_t>(kThrowAt + 1));
  ExpectStatsAddUp(s);
}

INSTANTIATE_TEST_SUITE_P(Workers, SubmitBatchTest, ::testing::Values(1, 2, 8));

}  // namespace
}  // namespace cancelpool
