// Copyright 2026 The cancelpool Authors.
//
// Blocking-aware workers (ThreadPoolOptions::max_blocking_threads,
// cancelpool/cancel/blocking.h; protocol B1-B8 in pool/internal/blocking.cc):
// tasks that block in our waits or in a declared region get extra threads,
// the limit holds, extra threads retire, shutdown and destruction wait for
// them, a thread-creation failure is counted. Cases that would hang if
// compensation failed run in forked children.
#include "cancelpool/cancel/blocking.h"

#include <unistd.h>

#include <atomic>
#include <functional>
#include <latch>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

using testing_util::CountThreadsNamed;
using testing_util::ExpectStatsAddUp;
using testing_util::kLong;
using testing_util::PollUntil;
using testing_util::RunInChild;

void ExpectChildOk(const std::function<int()>& body) {
  const testing_util::ChildResult r = RunInChild(body, 2 * kLong);
  EXPECT_TRUE(r.ok()) << r.ToString();
}

ThreadPoolOptions Options(int workers, int max_blocking,
                          const std::string& prefix,
                          absl::Duration keep_alive = absl::Seconds(10)) {
  ThreadPoolOptions o;
  o.num_workers = workers;
  o.max_blocking_threads = max_blocking;
  o.blocking_thread_keep_alive = keep_alive;
  o.thread_name_prefix = prefix;
  return o;
}

// Sets `e` when it goes out of scope (declared after a pool: releases
// blocked tasks before the pool's destructor waits for them).
class SetAtExit {
 public:
  explicit SetAtExit(Event& e) : e_(e) {}
  ~SetAtExit() { e_.Set(); }
  SetAtExit(const SetAtExit&) = delete;
  SetAtExit& operator=(const SetAtExit&) = delete;

 private:
  Event& e_;
};

// N tasks that each wait (Event::Wait, an interruptible wait) until all N
// have started: with 2 workers they finish only if the pool runs N at once.
int RendezvousOnPool(int n, int max_blocking, PoolStats* stats) {
  ThreadPool pool(Options(2, max_blocking, "rdv-"));
  std::atomic<int> arrived{0};
  Event all_here;
  std::vector<Future<bool>> futures;
  for (int i = 0; i < n; ++i) {
    futures.push_back(pool.Submit([&] {
      if (arrived.fetch_add(1) + 1 == n) all_here.Set();
      return all_here.Wait(CancellationToken(), absl::Now() + kLong) ==
             WaitResult::kReady;
    }));
  }
  int ok = 0;
  for (auto& f : futures) {
    absl::StatusOr<bool> r = f.Get();
    if (r.ok() && *r) ++ok;
  }
  *stats = pool.Stats();
  return ok;
}

TEST(BlockingTest, WaitingTasksGetExtraThreads) {
  PoolStats stats;
  EXPECT_EQ(RendezvousOnPool(8, 6, &stats), 8);
  // 8 tasks at once on 2 workers: 6 extra threads, each started by a task
  // that waited in a region (a late task may find the event set already).
  EXPECT_GE(stats.blocking_regions, 6u);
  EXPECT_EQ(stats.blocking_threads_started, 6u);
  EXPECT_GE(stats.compensations, 6u);
  EXPECT_EQ(stats.blocking_thread_start_failures, 0u);
  EXPECT_EQ(stats.completed, 8u);
  ExpectStatsAddUp(stats);
}

TEST(BlockingTest, OffByDefaultCountsRegionsOnly) {
  ThreadPool pool(Options(2, 0, "off-"));
  Event never;
  auto f = pool.Submit([&never] {
    return never.WaitFor(CancellationToken(), absl::Milliseconds(1));
  });
  EXPECT_EQ(*f.Get(), WaitResult::kTimeout);
  const PoolStats s = pool.Stats();
  EXPECT_EQ(s.blocking_regions, 1u);
  EXPECT_EQ(s.compensations, 0u);
  EXPECT_EQ(s.blocking_threads_started, 0u);
}

// A client library's blocking call (here std::latch::arrive_and_wait) in a
// declared region: 4 tasks meet on 2 workers with 2 extra threads; without
// the region they would deadlock (forked child with a time limit).
TEST(BlockingTest, DeclaredRegionCompensates) {
  ExpectChildOk([] {
    ThreadPool pool(Options(2, 2, "latch-"));
    std::latch meet(4);
    std::vector<Future<void>> futures;
    for (int i = 0; i < 4; ++i) {
      futures.push_back(pool.Submit([&meet] {
        ScopedBlockingRegion region;
        if (!ScopedBlockingRegion::InRegion()) std::abort();
        meet.arrive_and_wait();
      }));
    }
    for (auto& f : futures) {
      if (!f.Get().ok()) return 1;
    }
    if (pool.Stats().blocking_threads_started != 2) return 2;
    return 0;
  });
}

TEST(BlockingTest, RegionOutsideAPoolIsHarmless) {
  EXPECT_FALSE(ScopedBlockingRegion::InRegion());
  {
    ScopedBlockingRegion outer;
    ScopedBlockingRegion inner;
    EXPECT_TRUE(ScopedBlockingRegion::InRegion());
  }
  EXPECT_FALSE(ScopedBlockingRegion::InRegion());
  EXPECT_EQ(SleepFor(CancellationToken(), absl::Microseconds(10)),
            WaitResult::kTimeout);
}

// Nested regions count once.
TEST(BlockingTest, NestedRegionsCountOnce) {
  ThreadPool pool(Options(1, 0, "nest-"));
  auto f = pool.Submit([] {
    ScopedBlockingRegion outer;
    SleepFor(CancellationToken(), absl::Microseconds(100));  // nested
  });
  ASSERT_TRUE(f.Get().ok());
  EXPECT_EQ(pool.Stats().blocking_regions, 1u);
}

// A helping wait (Future::Wait inside a task, no limit) runs the child
// itself: no region.
TEST(BlockingTest, HelpingWaitIsNotARegion) {
  ThreadPool pool(Options(1, 4, "help-"));
  auto f = pool.Submit([&pool] {
    auto child = pool.Submit([] { return 7; });
    return *child.Get();
  });
  EXPECT_EQ(*f.Get(), 7);
  const PoolStats s = pool.Stats();
  EXPECT_EQ(s.blocking_regions, 0u);
  EXPECT_EQ(s.blocking_threads_started, 0u);
}

// 2 workers + 3 extra threads: 5 tasks block at once, never more, however
// many are queued.
TEST(BlockingTest, LimitRespected) {
  ThreadPool pool(Options(2, 3, "lim-"));
  std::atomic<int> inside{0};
  std::atomic<int> peak{0};
  Event release;
  SetAtExit release_on_exit(release);  // before ~ThreadPool on failures
  std::vector<Future<void>> futures;
  for (int i = 0; i < 12; ++i) {
    futures.push_back(pool.Submit([&] {
      const int now = inside.fetch_add(1) + 1;
      int p = peak.load();
      while (now > p && !peak.compare_exchange_weak(p, now)) {
      }
      release.Wait(CancellationToken(), absl::Now() + kLong);
      inside.fetch_sub(1);
    }));
  }
  EXPECT_TRUE(PollUntil([&] { return inside.load() == 5; }));
  // The limit: no sixth thread, even after the extra threads' starts have
  // settled.
  EXPECT_TRUE(
      PollUntil([&] { return pool.Stats().blocking_threads_started == 3; }));
  absl::SleepFor(absl::Milliseconds(50));  // room for a wrong sixth start
  EXPECT_EQ(peak.load(), 5);
  EXPECT_EQ(pool.Stats().blocking_threads_started, 3u);
  EXPECT_LE(CountThreadsNamed("lim-b"), 3);
  release.Set();
  for (auto& f : futures) EXPECT_TRUE(f.Get().ok());
  EXPECT_EQ(peak.load(), 5);
  ExpectStatsAddUp(pool.Stats());
}

TEST(BlockingTest, ExtraThreadsRetireWhenIdle) {
  ThreadPool pool(Options(2, 4, "ret-", absl::Milliseconds(20)));
  PoolStats stats;
  {
    std::atomic<int> arrived{0};
    Event all_here;
    std::vector<Future<void>> futures;
    for (int i = 0; i < 6; ++i) {
      futures.push_back(pool.Submit([&] {
        if (arrived.fetch_add(1) + 1 == 6) all_here.Set();
        all_here.Wait(CancellationToken(), absl::Now() + kLong);
      }));
    }
    for (auto& f : futures) EXPECT_TRUE(f.Get().ok());
  }
  EXPECT_TRUE(PollUntil([&] {
    stats = pool.Stats();
    return stats.blocking_threads_started != 0 &&
           stats.blocking_threads_retired == stats.blocking_threads_started;
  }));
  EXPECT_EQ(stats.blocking_threads_started, 4u);
  EXPECT_TRUE(PollUntil([] { return CountThreadsNamed("ret-b") == 0; }));
  // Retired slots are reused: the next burst starts threads again.
  {
    std::atomic<int> arrived{0};
    Event all_here;
    std::vector<Future<void>> futures;
    for (int i = 0; i < 4; ++i) {
      futures.push_back(pool.Submit([&] {
        if (arrived.fetch_add(1) + 1 == 4) all_here.Set();
        all_here.Wait(CancellationToken(), absl::Now() + kLong);
      }));
    }
    for (auto& f : futures) EXPECT_TRUE(f.Get().ok());
  }
  EXPECT_GT(pool.Stats().blocking_threads_started, 4u);
}

// Throughput of sleeping tasks: 2 workers, 64 tasks that SleepFor 20 ms.
// Without compensation that takes 32 sleeps in a row (640 ms); with 62
// extra threads about one sleep. Generous bound for a loaded machine.
TEST(BlockingTest, SleepingTasksRunConcurrently) {
  ThreadPool pool(Options(2, 62, "slp-"));
  const absl::Time start = absl::Now();
  std::vector<Future<WaitResult>> futures;
  for (int i = 0; i < 64; ++i) {
    futures.push_back(
        pool.Submit([] { return SleepFor(absl::Milliseconds(20)); }));
  }
  for (auto& f : futures) EXPECT_EQ(*f.Get(), WaitResult::kTimeout);
  const absl::Duration took = absl::Now() - start;
  EXPECT_LT(took, absl::Milliseconds(640)) << took;
  EXPECT_GT(pool.Stats().blocking_threads_started, 0u);
}

// Shutdown in the middle of blocked tasks: they are cancelled, the extra
// threads exit and the report adds up.
TEST(BlockingTest, ShutdownMidBlock) {
  ExpectChildOk([] {
    ThreadPool pool(Options(2, 4, "sdn-"));
    std::atomic<int> blocked{0};
    std::vector<Future<void>> futures;
    for (int i = 0; i < 10; ++i) {
      futures.push_back(pool.Submit([&blocked](CancellationToken token) {
        blocked.fetch_add(1);
        return SleepFor(token, kLong) == WaitResult::kCancelled
                   ? token.Reason()
                   : absl::OkStatus();
      }));
    }
    if (!PollUntil([&] { return blocked.load() == 6; })) return 1;
    const ShutdownReport report =
        pool.DrainThenCancel(absl::Milliseconds(10), kLong);
    if (!report.terminated) return 2;
    if (report.stats.InFlight() != 0) return 3;
    if (report.stats.cancelled_while_running != 6) return 4;
    if (report.stats.cancelled_before_start != 4) return 5;
    if (report.stats.blocking_threads_retired !=
        report.stats.blocking_threads_started) {
      return 6;
    }
    if (CountThreadsNamed("sdn-b") != 0 &&
        !PollUntil([] { return CountThreadsNamed("sdn-b") == 0; })) {
      return 7;
    }
    for (auto& f : futures) {
      if (f.Get().code() != absl::StatusCode::kCancelled) return 8;
    }
    return 0;
  });
}

// Drain with blocked tasks: everything queued still runs (on the extra
// threads too), then the pool terminates.
TEST(BlockingTest, DrainRunsEverything) {
  ThreadPool pool(Options(2, 8, "drn-"));
  std::atomic<int> ran{0};
  for (int i = 0; i < 40; ++i) {
    pool.Submit([&ran] {
      SleepFor(absl::Milliseconds(2));
      ran.fetch_add(1);
    });
  }
  const ShutdownReport report = pool.DrainThenCancel(kLong);
  EXPECT_TRUE(report.terminated);
  EXPECT_EQ(ran.load(), 40);
  EXPECT_EQ(report.stats.completed, 40u);
  EXPECT_EQ(report.stats.blocking_threads_started,
            report.stats.blocking_threads_retired);
  ExpectStatsAddUp(report.stats);
}

// The destructor cancels blocked tasks (destructor_grace 0) and joins the
// extra threads.
TEST(BlockingTest, DestructionJoinsExtraThreads) {
  ExpectChildOk([] {
    std::atomic<int> blocked{0};
    {
      ThreadPoolOptions o = Options(1, 3, "dtor-");
      o.destructor_grace = absl::ZeroDuration();
      ThreadPool pool(std::move(o));
      for (int i = 0; i < 6; ++i) {
        pool.Submit([&blocked](CancellationToken token) {
          blocked.fetch_add(1);
          SleepFor(token, kLong);
        });
      }
      // 1 worker + 3 extra threads block.
      if (!PollUntil([&] { return blocked.load() == 4; })) return 1;
    }
    // Joined: no thread of the pool is left.
    if (CountThreadsNamed("dtor-") != 0) return 2;
    return 0;
  });
}

// A limited Future wait inside a task blocks (it cannot help): a region.
TEST(BlockingTest, LimitedFutureWaitIsARegion) {
  ExpectChildOk([] {
    ThreadPool pool(Options(1, 1, "fut-"));
    // The only worker waits, with a limit, for a task queued behind it:
    // only an extra thread can run that task.
    auto f = pool.Submit([&pool] {
      auto child = pool.Submit([] { return 5; });
      if (!child.WaitFor(kLong)) return -1;
      return *child.Get();
    });
    absl::StatusOr<int> r = f.Get();
    if (!r.ok() || *r != 5) return 1;
    if (pool.Stats().blocking_threads_started != 1) return 2;
    return 0;
  });
}

int Nest(ThreadPool* pool, int depth) {
  if (depth == 0) return 0;
  auto child = pool->Submit([pool, depth] { return Nest(pool, depth - 1); });
  auto v = child.Get();
  return v.ok() ? *v + 1 : -1000000;
}

// The depth guard (H4, helping.cc): 10,000 nested submit-and-wait levels
// overflow one worker's stack when every level is helped inline
// (HostileResources.DISABLED_DeepNestedSubmissions, compensation off). With
// compensation, a waiter kMaxHelpDepth deep lets an extra thread run the
// next levels on its own stack.
TEST(BlockingTest, DeepNestingHandsOffToExtraThreads) {
  for (int workers : {1, 2}) {
    const testing_util::ChildResult r = RunInChild(
        [workers] {
          ThreadPool pool(Options(workers, 256, "deep-"));
          constexpr int kNest = 10000;
          auto top = pool.Submit([&pool] { return Nest(&pool, kNest); });
          auto v = top.Get();
          if (!v.ok() || *v != kNest) return 2;
          // At most 128 levels per thread: 10,000 levels need 78 threads.
          if (pool.Stats().blocking_threads_started < 70) return 3;
          return 0;
        },
        2 * kLong);
    EXPECT_TRUE(r.ok()) << workers << " workers: " << r.ToString();
  }
}

// The workers start, the extra threads cannot: counted, and the tasks still
// run once the blocked ones are released.
TEST(BlockingTest, ThreadCreationFailureIsCounted) {
  if (!testing_util::CanLimitThreadsInChild()) {
    GTEST_SKIP() << testing_util::kCannotLimitThreadsMessage;
  }
  if (testing_util::kTsanCannotSymbolize) {
    GTEST_SKIP() << "TSan cannot symbolize as uid 65534 (test_util.h)";
  }
  ExpectChildOk([] {
    // Room for the process and two more threads.
    if (!testing_util::LimitThreadsInChild(3)) return 1;
    ThreadPool pool(Options(2, 4, "nproc-"));
    Event release;
    std::vector<Future<void>> futures;
    for (int i = 0; i < 4; ++i) {
      futures.push_back(pool.Submit([&release] {
        release.Wait(CancellationToken(), absl::Now() + kLong);
      }));
    }
    if (!PollUntil(
            [&] { return pool.Stats().blocking_thread_start_failures > 0; })) {
      return 2;
    }
    release.Set();
    for (auto& f : futures) {
      if (!f.Get().ok()) return 3;
    }
    const PoolStats s = pool.Stats();
    if (s.blocking_threads_started != 0) return 4;
    if (s.completed != 4) return 5;
    return 0;
  });
}

TEST(BlockingTest, OptionRanges) {
  for (int bad : {-1, ThreadPoolOptions::kMaxBlockingThreads + 1}) {
    ThreadPoolOptions o;
    o.num_workers = 1;
    o.max_blocking_threads = bad;
    EXPECT_EQ(ThreadPool::Create(std::move(o)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  ThreadPoolOptions negative_keep_alive;
  negative_keep_alive.num_workers = 1;
  negative_keep_alive.blocking_thread_keep_alive = absl::Seconds(-1);
  EXPECT_EQ(ThreadPool::Create(std::move(negative_keep_alive)).status().code(),
            absl::StatusCode::kInvalidArgument);
  // The constructor clamps instead.
  ThreadPoolOptions clamped;
  clamped.num_workers = 1;
  clamped.max_blocking_threads = -5;
  clamped.blocking_thread_keep_alive = absl::Seconds(-1);
  ThreadPool pool(std::move(clamped));
  EXPECT_EQ(*pool.Submit([] { return 1; }).Get(), 1);
}

}  // namespace
}  // namespace cancelpool
