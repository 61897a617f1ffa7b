// Statistics (readable at any time; they add up after a run) and a seeded
// randomized stress test: several outside threads and the tasks themselves
// submit (plain, with parents, with deadlines, nested), cancel and wait at
// random. Checks that every future resolves once with a consistent outcome,
// every task runs at most once, every callable is destroyed exactly once
// (before its future resolves), and the statistics match the outcomes
// exactly. Seeds are printed; rerun one with CANCELPOOL_STRESS_SEED=<seed>.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/internal/testing.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

using ::cancelpool::pool_internal::ThreadPoolTestPeer;
namespace cancelpool {
namespace {

using testing_util::ExpectStatsAddUp;
using testing_util::kLong;
using testing_util::kSanitizer;

// ---------------------------------------------------------------------------
// Statistics.

TEST(PoolStatsTest, ReadableAtAnyTimeAndMonotonic) {
  std::atomic<bool> stop{false};
  ThreadPoolOptions options;
  options.num_workers = 2;
  ThreadPool pool = ThreadPoolTestPeer::Make(std::move(options), 4);
  std::atomic<int64_t> snapshots{0};
  // Waits (bounded) until the reader has taken more than `n` snapshots, so
  // that reads overlap the workload however the threads are scheduled.
  auto await_snapshots_beyond = [&snapshots](int64_t n) {
    const absl::Time deadline = absl::Now() + kLong;
    while (snapshots.load() <= n && absl::Now() < deadline) {
      std::this_thread::yield();
    }
  };
  std::thread reader([&] {
    PoolStats last;
    while (!stop.load()) {
      const PoolStats s = pool.Stats();
      ++snapshots;
      // Each counter only grows.
      EXPECT_GE(s.submitted, last.submitted);
      EXPECT_GE(s.completed, last.completed);
      EXPECT_GE(s.failed, last.failed);
      EXPECT_GE(s.cancelled_before_start, last.cancelled_before_start);
      EXPECT_GE(s.cancelled_while_running, last.cancelled_while_running);
      EXPECT_GE(s.rejected, last.rejected);
      EXPECT_GE(s.steals, last.steals);
      EXPECT_GE(s.parks, last.parks);
      (void)s.InFlight();
      last = s;
      std::this_thread::yield();
    }
  });
  await_snapshots_beyond(0);
  const int n = kSanitizer ? 300 : 3000;
  std::vector<Future<void>> fs;
  for (int i = 0; i < n; ++i) {
    switch (i % 4) {
      case 0:
        fs.push_back(pool.Submit([] {}));
        break;
      case 1:
        fs.push_back(pool.Submit([] { return absl::InternalError("x"); }));
        break;
      case 2:
        fs.push_back(pool.Submit([&pool] { pool.Submit([] {}); }));
        break;
      default:
        fs.push_back(pool.Submit([] {}));
        fs.back().Cancel();
        break;
    }
  }
  for (auto& f : fs) f.Wait();
  pool.Shutdown();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  await_snapshots_beyond(snapshots.load());  // one more, of the final state
  stop = true;
  reader.join();
  EXPECT_GT(snapshots.load(), 1);
  const PoolStats s = pool.Stats();
  EXPECT_EQ(s.submitted, static_cast<uint64_t>(n + n / 4));
  EXPECT_EQ(s.failed, static_cast<uint64_t>(n / 4));
  EXPECT_EQ(s.InFlight(), 0u);
  ExpectStatsAddUp(s);
}

// ---------------------------------------------------------------------------
// Randomized stress.

constexpr int kMaxTasks = kSanitizer ? 6000 : 60000;

struct Census;

// Captured by value in every task's callable. Moves are counted; only the
// one "live" instance (moved-from ones are not) marks the task's callable as
// destroyed.
class Counted {
 public:
  Counted(Census* c, int id);
  // Move-only: the pool must never need to copy a callable.
  Counted(const Counted& o) = delete;
  Counted(Counted&& o) noexcept;
  Counted& operator=(const Counted&) = delete;
  ~Counted();
  int id() const { return id_; }

 private:
  Census* census_;
  int id_;
  bool live_ = true;
};

struct Slot {
  std::shared_ptr<Future<int>> future;
  CancelHandle handle;
};

struct Census {
  std::atomic<int64_t> constructed{0};
  std::atomic<int64_t> destroyed{0};
  std::vector<std::atomic<int>> live_destroyed =
      std::vector<std::atomic<int>>(kMaxTasks);
  std::vector<std::atomic<int>> runs = std::vector<std::atomic<int>>(kMaxTasks);
  std::atomic<int> next_id{0};
  absl::Mutex mu;
  std::vector<Slot> slots ABSL_GUARDED_BY(mu) = std::vector<Slot>(kMaxTasks);
  int registered ABSL_GUARDED_BY(mu) = 0;
};

Counted::Counted(Census* c, int id) : census_(c), id_(id) {
  census_->constructed++;
}
Counted::Counted(Counted&& o) noexcept
    : census_(o.census_), id_(o.id_), live_(std::exchange(o.live_, false)) {
  census_->constructed++;
}
Counted::~Counted() {
  census_->destroyed++;
  if (live_) census_->live_destroyed[id_]++;
}

struct StressParam {
  int workers;
  size_t local_queue_capacity;
};

class StressTest : public ::testing::TestWithParam<StressParam> {};

class Stress {
 public:
  Stress(ThreadPool* pool, Census* census) : pool_(pool), census_(census) {}

  // Submits a random task (from any thread, inside tasks too). `depth`
  // limits nesting.
  void SubmitRandom(std::mt19937& rng, int depth,
                    const CancellationToken& parent) {
    const int id = census_->next_id.fetch_add(1);
    if (id >= kMaxTasks) return;
    const uint32_t task_seed = rng();
    const int kind = static_cast<int>(rng() % 8);
    Counted c(census_, id);
    TaskOptions options;
    if (rng() % 8 == 0) options.parent = parent;
    if (rng() % 16 == 0) {
      options.deadline = absl::Now() + absl::Microseconds(rng() % 2000);
    }
    Future<int> f =
        pool_->SubmitWith(options,
                          [this, c = std::move(c), kind, task_seed,
                           depth](CancellationToken t) -> absl::StatusOr<int> {
                            census_->runs[c.id()]++;
                            return Body(c.id(), kind, task_seed, depth, t);
                          });
    absl::MutexLock lock(&census_->mu);
    census_->slots[id].handle = f.GetCancelHandle();
    census_->slots[id].future = std::make_shared<Future<int>>(std::move(f));
    census_->registered++;
  }

  void CancelRandom(std::mt19937& rng) {
    CancelHandle h;
    {
      absl::MutexLock lock(&census_->mu);
      const int n = census_->next_id.load();
      if (n == 0) return;
      h = census_->slots[rng() % std::min(n, kMaxTasks)].handle;
    }
    h.Cancel(rng() % 2 == 0 ? absl::CancelledError("stress")
                            : absl::OkStatus());
  }

  void WaitRandom(std::mt19937& rng, const CancellationToken& token) {
    std::shared_ptr<Future<int>> f;
    {
      absl::MutexLock lock(&census_->mu);
      const int n = census_->next_id.load();
      if (n == 0) return;
      f = census_->slots[rng() % std::min(n, kMaxTasks)].future;
    }
    if (f == nullptr) return;
    // Bounded: random waits could form cycles between running tasks.
    switch (rng() % 3) {
      case 0:
        (void)f->WaitFor(absl::Microseconds(rng() % 500));
        break;
      case 1:
        (void)f->Wait(token, absl::Now() + absl::Microseconds(rng() % 500));
        break;
      default:
        (void)f->IsReady();
        (void)f->Outcome();
        break;
    }
  }

 private:
  absl::StatusOr<int> Body(int id, int kind, uint32_t seed, int depth,
                           const CancellationToken& t) {
    std::mt19937 rng(seed);
    switch (kind) {
      case 0:
        return id;
      case 1: {  // runs a while; acknowledges or ignores cancellation
        const bool acknowledge = rng() % 2 == 0;
        for (int k = 0, n = static_cast<int>(rng() % 200); k < n; ++k) {
          if (t.IsCancellationRequested()) {
            if (acknowledge) return t.Reason();
            break;
          }
          std::this_thread::yield();
        }
        if (acknowledge) t.ThrowIfCancellationRequested();
        return id;
      }
      case 2: {  // children whose futures only the test thread waits on
        if (depth >= 2) return id;
        for (int k = 0, n = 1 + static_cast<int>(rng() % 3); k < n; ++k) {
          SubmitRandom(rng, depth + 1, t);
        }
        return id;
      }
      case 3:
        CancelRandom(rng);
        return id;
      case 4:
        WaitRandom(rng, t);
        return id;
      case 5:
        if (rng() % 2 == 0) throw std::runtime_error("stress throw");
        throw 7;
      case 6:
        return absl::InternalError("stress error");
      default: {  // nested submit and a helping wait on the child
        if (depth >= 2) return id;
        std::shared_ptr<Future<int>> child;
        const int cid = census_->next_id.load();
        SubmitRandom(rng, depth + 1, t);
        {
          absl::MutexLock lock(&census_->mu);
          if (cid < kMaxTasks) child = census_->slots[cid].future;
        }
        // The child is ours only if nobody else took that id in between;
        // waiting on somebody else's task is bounded anyway.
        if (child != nullptr) {
          (void)child->Wait(t, absl::Now() + absl::Milliseconds(5));
        }
        return id;
      }
    }
  }

  ThreadPool* pool_;
  Census* census_;
};

uint32_t BaseSeed() {
  if (const char* s = std::getenv("CANCELPOOL_STRESS_SEED")) {
    return static_cast<uint32_t>(std::strtoul(s, nullptr, 10));
  }
  return std::random_device{}();
}

TEST_P(StressTest, RandomSubmitCancelWaitNestedSubmit) {
  const StressParam p = GetParam();
  const uint32_t seed = BaseSeed();
  std::printf(
      "RandomSubmitCancelWaitNestedSubmit: workers=%d queue=%zu "
      "seed=%u (CANCELPOOL_STRESS_SEED=%u to rerun)\n",
      p.workers, p.local_queue_capacity, seed, seed);
  std::fflush(stdout);
  SCOPED_TRACE(absl::StrCat("seed ", seed));
  Census census;
  constexpr int kThreads = 3;
  const int ops = kSanitizer ? 600 : 8000;
  {
    ThreadPoolOptions options;
    options.num_workers = p.workers;
    ThreadPool pool =
        ThreadPoolTestPeer::Make(std::move(options), p.local_queue_capacity);
    Stress stress(&pool, &census);
    absl::Notification go;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937 rng(seed + 7919u * (t + 1));
        CancellationSource parent;
        go.WaitForNotification();
        for (int i = 0; i < ops; ++i) {
          switch (rng() % 8) {
            case 0:
              stress.CancelRandom(rng);
              break;
            case 1:
              stress.WaitRandom(rng, CancellationToken());
              break;
            case 2:
              // Cancel this thread's "request": tasks under it go.
              if (rng() % 16 == 0) {
                parent.RequestCancellation(absl::AbortedError("request"));
                parent = CancellationSource();
              }
              break;
            default:
              stress.SubmitRandom(rng, 0, parent.Token());
              break;
          }
        }
      });
    }
    go.Notify();
    for (auto& th : threads) th.join();

    // Wait until every registered future resolved (tasks register their
    // children before they finish, so the count settles).
    int checked = 0;
    for (;;) {
      int registered;
      {
        absl::MutexLock lock(&census.mu);
        registered = census.registered;
      }
      const int ids = std::min(census.next_id.load(), kMaxTasks);
      if (checked == ids && registered == ids) break;
      for (; checked < registered; ++checked) {
        std::shared_ptr<Future<int>> f;
        {
          absl::MutexLock lock(&census.mu);
          f = census.slots[checked].future;
        }
        if (f == nullptr) break;  // registered out of order; next round
        ASSERT_TRUE(f->WaitFor(kLong))
            << "task " << checked << " never resolved";
      }
      std::this_thread::yield();
    }

    // Every future resolved once, consistently with what ran.
    uint64_t succeeded = 0, failed = 0, cancelled_before = 0,
             cancelled_running = 0;
    absl::MutexLock lock(&census.mu);
    const int n = census.registered;
    for (int id = 0; id < n; ++id) {
      Future<int>& f = *census.slots[id].future;
      ASSERT_TRUE(f.IsReady()) << "task " << id;
      const int runs = census.runs[id].load();
      ASSERT_LE(runs, 1) << "task " << id << " ran " << runs << " times";
      // The callable is destroyed before the future resolves.
      ASSERT_EQ(census.live_destroyed[id].load(), 1)
          << "task " << id << "'s callable destroyed "
          << census.live_destroyed[id].load() << " times";
      const TaskOutcome outcome = f.Outcome();
      absl::StatusOr<int> r = f.Get();
      ASSERT_EQ(f.Get().status().code(), absl::StatusCode::kFailedPrecondition)
          << "task " << id << ": a second Get() took a result again";
      switch (outcome) {
        case TaskOutcome::kSucceeded:
          ++succeeded;
          EXPECT_EQ(runs, 1) << "task " << id;
          ASSERT_TRUE(r.ok()) << r.status();
          EXPECT_EQ(*r, id);
          break;
        case TaskOutcome::kFailed:
          ++failed;
          EXPECT_EQ(runs, 1) << "task " << id;
          EXPECT_FALSE(r.ok());
          EXPECT_NE(r.status().code(), absl::StatusCode::kFailedPrecondition)
              << "task " << id << " rejected before any shutdown";
          break;
        case TaskOutcome::kCancelled:
          if (runs == 0) {
            ++cancelled_before;
          } else {
            ++cancelled_running;
          }
          EXPECT_FALSE(r.ok());
          EXPECT_TRUE(r.status().code() == absl::StatusCode::kCancelled ||
                      r.status().code() == absl::StatusCode::kAborted ||
                      r.status().code() == absl::StatusCode::kDeadlineExceeded)
              << "task " << id << ": " << r.status();
          break;
        case TaskOutcome::kPending:
          ADD_FAILURE() << "task " << id << " ready but pending";
          break;
      }
    }
    pool.Shutdown();
    EXPECT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
    const ShutdownReport report = pool.Report();
    EXPECT_TRUE(report.terminated);
    const PoolStats& s = report.stats;
    ExpectStatsAddUp(s);
    EXPECT_EQ(s.submitted, static_cast<uint64_t>(n));
    EXPECT_EQ(s.rejected, 0u);
    EXPECT_EQ(s.completed, succeeded);
    EXPECT_EQ(s.failed, failed);
    EXPECT_EQ(s.cancelled_before_start, cancelled_before);
    EXPECT_EQ(s.cancelled_while_running, cancelled_running);
    std::printf(
        "  %d tasks: %llu succeeded, %llu failed, %llu cancelled "
        "before start, %llu cancelled while running, %llu steals\n",
        n, static_cast<unsigned long long>(succeeded),
        static_cast<unsigned long long>(failed),
        static_cast<unsigned long long>(cancelled_before),
        static_cast<unsigned long long>(cancelled_running),
        static_cast<unsigned long long>(s.steals));
    // Drop the futures (and so the task blocks) before the census goes.
    for (int id = 0; id < n; ++id) census.slots[id] = Slot();
  }
  EXPECT_EQ(census.constructed.load(), census.destroyed.load());
}

std::string StressName(const ::testing::TestParamInfo<StressParam>& info) {
  return absl::StrCat(info.param.workers, "Workers_Queue",
                      info.param.local_queue_capacity);
}

INSTANTIATE_TEST_SUITE_P(Pool, StressTest,
                         ::testing::Values(StressParam{1, 1024},
                                           StressParam{2, 4}, StressParam{8, 4},
                                           StressParam{8, 1024}),
                         StressName);

}  // namespace
}  // namespace cancelpool
