// Copyright 2026 The cancelpool Authors.
//
// ParallelFor: every index exactly once, both body forms, lazy splitting
// spreads work, early stop on failure and cancellation, nested use inside a
// one-worker pool, shutdown in the middle, bad input.
#include "cancelpool/pool/parallel_for.h"

#include <atomic>
#include <memory>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

using testing_util::kLong;
using testing_util::RunInChild;

TEST(ParallelForTest, EveryIndexExactlyOnce) {
  for (int workers : {1, 2, 4}) {
    ThreadPool pool(workers);
    const int64_t n = 100000;
    std::vector<std::atomic<int>> hits(n);
    ParallelForResult r = ParallelFor(
        pool, 0, n,
        [&](const CancellationToken&, int64_t i) { hits[i].fetch_add(1); });
    ASSERT_TRUE(r.status.ok()) << r.status;
    EXPECT_EQ(r.completed, n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << i;
  }
}

TEST(ParallelForTest, ChunkBodyAndOffsetRange) {
  ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  ParallelForResult r =
      ParallelFor(pool, 10, 1010,
                  [&](const CancellationToken&, int64_t lo, int64_t hi) {
                    int64_t s = 0;
                    for (int64_t i = lo; i < hi; ++i) s += i;
                    sum += s;
                  },
                  {.parent = CancellationToken(), .grain = 7});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.completed, 1000);
  EXPECT_EQ(sum.load(), (10 + 1009) * 1000 / 2);
}

TEST(ParallelForTest, LazySplittingReachesOtherWorkers) {
  ThreadPool pool(4);
  absl::Mutex mu;
  std::set<std::thread::id> threads;
  ParallelFor(pool, 0, 200000, [&](const CancellationToken&, int64_t i) {
    if (i % 1000 == 0) {
      absl::MutexLock l(&mu);
      threads.insert(std::this_thread::get_id());
    }
    volatile int x = 0;
    for (int k = 0; k < 50; ++k) x = x + k;
  });
  absl::MutexLock l(&mu);
  // On a loaded machine not every worker may get a share; more than one
  // must.
  EXPECT_GE(threads.size(), 2u);
  EXPECT_GT(pool.Stats().steals, 0u);
}

TEST(ParallelForTest, FirstFailureStopsTheLoop) {
  ThreadPool pool(2);
  ParallelForResult r =
      ParallelFor(pool, 0, 1000000,
                  [](const CancellationToken&, int64_t i) -> absl::Status {
                    if (i == 500) return absl::DataLossError("bad record");
                    return absl::OkStatus();
                  });
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_LT(r.completed, 1000000);
}

TEST(ParallelForTest, ExceptionIsAFailure) {
  ThreadPool pool(2);
  ParallelForResult r =
      ParallelFor(pool, 0, 1000, [](const CancellationToken&, int64_t i) {
        if (i == 10) throw std::runtime_error("boom");
      });
  EXPECT_EQ(r.status.code(), absl::StatusCode::kUnknown);
  EXPECT_NE(r.status.message().find("boom"), absl::string_view::npos);
}

TEST(ParallelForTest, ParentCancellationStopsEarly) {
  ThreadPool pool(2);
  CancellationSource request;
  std::atomic<int64_t> seen{0};
  ParallelForResult r = ParallelFor(
      pool, 0, 10000000,
      [&](const CancellationToken&, int64_t) {
        if (seen.fetch_add(1) == 1000) {
          request.RequestCancellation(absl::CancelledError("client gone"));
        }
      },
      {.parent = request.Token(), .grain = 0});
  EXPECT_EQ(r.status.message(), "client gone");
  EXPECT_LT(r.completed, 10000000);
}

TEST(ParallelForTest, NestedInsideOneWorkerPool) {
  testing_util::ChildResult child = RunInChild([] {
    ThreadPool pool(1);
    Future<int64_t> f = pool.Submit([&pool] {
      ParallelForResult r =
          ParallelFor(pool, 0, 10000, [](const CancellationToken&, int64_t) {});
      return r.status.ok() ? r.completed : -1;
    });
    absl::StatusOr<int64_t> v = f.Get();
    return v.ok() && *v == 10000 ? 0 : 1;
  });
  EXPECT_TRUE(child.ok()) << child.ToString();
}

TEST(ParallelForTest, BadInputAndEmptyRange) {
  ThreadPool pool(1);
  auto body = [](const CancellationToken&, int64_t) {};
  EXPECT_EQ(ParallelFor(pool, 5, 4, body).status.code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      ParallelFor(pool, 0, 4, body, {.parent = {}, .grain = -1}).status.code(),
      absl::StatusCode::kInvalidArgument);
  ParallelForResult r = ParallelFor(pool, 3, 3, body);
  EXPECT_TRUE(r.status.ok());
  EXPECT_EQ(r.completed, 0);
}

TEST(ParallelForTest, AfterShutdownFails) {
  ThreadPool pool(1);
  pool.Shutdown();
  ParallelForResult r =
      ParallelFor(pool, 0, 10, [](const CancellationToken&, int64_t) {});
  EXPECT_EQ(r.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.completed, 0);
}

TEST(ParallelForTest, CancelShutdownMidLoop) {
  testing_util::ChildResult child = RunInChild([] {
    auto pool = std::make_unique<ThreadPool>(2);
    absl::Notification started;
    std::atomic<bool> once{false};
    ParallelForResult r;
    std::thread loop([&] {
      r = ParallelFor(*pool, 0, 100000,
                      [&](const CancellationToken& t, int64_t) {
                        if (!once.exchange(true)) started.Notify();
                        SleepFor(t, absl::Microseconds(20));
                      });
    });
    started.WaitForNotification();
    pool->Shutdown(ShutdownMode::kCancel);
    loop.join();
    if (r.status.code() != absl::StatusCode::kCancelled) return 1;
    if (r.completed >= 100000) return 2;
    if (!pool->AwaitTermination(absl::Now() + absl::Seconds(60))) return 3;
    return pool->Report().terminated ? 0 : 4;
  });
  EXPECT_TRUE(child.ok()) << child.ToString();
}

}  // namespace
}  // namespace cancelpool
