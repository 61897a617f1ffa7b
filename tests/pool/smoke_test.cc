#include <atomic>
#include <vector>

#include "absl/synchronization/notification.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/thread_pool.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

TEST(PoolSmokeTest, RunsATask) {
  ThreadPool pool(2);
  Future<int> f = pool.Submit([] { return 42; });
  absl::StatusOr<int> r = f.Get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 42);
}

int Fib(ThreadPool& pool, int n) {
  if (n < 2) return n;
  Future<int> a = pool.Submit([&pool, n] { return Fib(pool, n - 1); });
  int b = Fib(pool, n - 2);
  return *a.Get() + b;
}

class PoolWorkers : public ::testing::TestWithParam<int> {};

TEST_P(PoolWorkers, ForkJoinFib) {
  ThreadPool pool(GetParam());
  Future<int> f = pool.Submit([&pool] { return Fib(pool, 20); });
  EXPECT_EQ(*f.Get(), 6765);
  PoolStats s = pool.Stats();
  EXPECT_EQ(s.completed, s.submitted);
}

TEST_P(PoolWorkers, ManyOutsideTasks) {
  ThreadPool pool(GetParam());
  std::atomic<int> count{0};
  std::vector<Future<void>> fs;
  for (int i = 0; i < 20000; ++i) fs.push_back(pool.Submit([&] { count++; }));
  for (auto& f : fs) EXPECT_TRUE(f.Get().ok());
  EXPECT_EQ(count.load(), 20000);
}

TEST_P(PoolWorkers, CancelRunningTask) {
  ThreadPool pool(GetParam());
  absl::Notification started;
  Future<void> f = pool.Submit([&](CancellationToken t) -> absl::Status {
    started.Notify();
    if (SleepFor(t, absl::Seconds(60)) == WaitResult::kCancelled)
      return t.Reason();
    return absl::OkStatus();
  });
  started.WaitForNotification();
  EXPECT_TRUE(f.Cancel());
  absl::Status s = f.Get();
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
}

TEST_P(PoolWorkers, ShutdownCancelResolvesAll) {
  ThreadPool pool(GetParam());
  std::vector<Future<void>> fs;
  for (int i = 0; i < 1000; ++i) {
    fs.push_back(pool.Submit([](CancellationToken t) {
      SleepFor(t, absl::Milliseconds(50));
      t.ThrowIfCancellationRequested();
    }));
  }
  pool.Shutdown(ShutdownMode::kCancel);
  EXPECT_TRUE(pool.AwaitTermination(absl::Now() + absl::Seconds(30)));
  for (auto& f : fs) EXPECT_TRUE(f.IsReady());
  ShutdownReport r = pool.Report();
  EXPECT_TRUE(r.terminated);
  EXPECT_EQ(r.stats.submitted, 1000u);
  EXPECT_EQ(r.stats.InFlight(), 0u);
  EXPECT_EQ(pool.Submit([] {}).Get().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(PoolWorkers, DrainRunsEverything) {
  std::atomic<int> count{0};
  {
    ThreadPool pool(GetParam());
    for (int i = 0; i < 5000; ++i) pool.Submit([&] { count++; });
    pool.Shutdown(ShutdownMode::kDrain);
    EXPECT_TRUE(pool.AwaitTermination(absl::Now() + absl::Seconds(30)));
  }
  EXPECT_EQ(count.load(), 5000);
}

INSTANTIATE_TEST_SUITE_P(Workers, PoolWorkers, ::testing::Values(1, 2, 8));

}  // namespace
}  // namespace cancelpool
