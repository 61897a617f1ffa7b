// Pins the cost contract of thread_pool.h: at most one heap allocation per
// Submit of a small callable (the task's token, future state and callable
// share one block), counted over Submit + Get from outside and from inside
// tasks. This binary replaces the global operator new/delete with counting
// versions, so it is its own test target.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace {
// Every operator new in the process, on every thread.
std::atomic<int64_t> g_allocations{0};
// Every operator delete of a non-null pointer.
std::atomic<int64_t> g_frees{0};

void CountedFree(void* p) {
  if (p != nullptr) g_frees.fetch_add(1, std::memory_order_relaxed);
  std::free(p);
}

void* CountedAlloc(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (size == 0) size = 1;
  void* p = std::malloc(size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* CountedAlignedAlloc(std::size_t size, std::align_val_t align) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  const std::size_t a = static_cast<std::size_t>(align);
  if (size == 0) size = a;
  size = (size + a - 1) / a * a;
  void* p = std::aligned_alloc(a, size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t size) { return CountedAlloc(size); }
void* operator new[](std::size_t size) { return CountedAlloc(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return CountedAlloc(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return CountedAlloc(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t size, std::align_val_t a) {
  return CountedAlignedAlloc(size, a);
}
void* operator new[](std::size_t size, std::align_val_t a) {
  return CountedAlignedAlloc(size, a);
}
void operator delete(void* p) noexcept { CountedFree(p); }
void operator delete[](void* p) noexcept { CountedFree(p); }
void operator delete(void* p, std::size_t) noexcept { CountedFree(p); }
void operator delete[](void* p, std::size_t) noexcept { CountedFree(p); }
void operator delete(void* p, std::align_val_t) noexcept { CountedFree(p); }
void operator delete[](void* p, std::align_val_t) noexcept { CountedFree(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  CountedFree(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  CountedFree(p);
}

namespace cancelpool {
namespace {

constexpr int kTasks = testing_util::kSanitizer ? 2000 : 20000;

int64_t Allocations() { return g_allocations.load(std::memory_order_relaxed); }

class AllocationTest : public ::testing::TestWithParam<int> {};

TEST_P(AllocationTest, AtMostOneAllocationPerSubmitFromOutside) {
  ThreadPool pool(GetParam());
  // Warm up: thread-local state, the waiters' per-thread identities, etc.
  for (int i = 0; i < 1000; ++i) (void)pool.Submit([i] { return i; }).Get();
  int64_t sum = 0;
  const int64_t before = Allocations();
  for (int i = 0; i < kTasks; ++i) {
    Future<int> f = pool.Submit([i] { return i; });
    absl::StatusOr<int> r = f.Get();
    sum += r.ok() ? *r : -1;
  }
  const int64_t allocations = Allocations() - before;
  const double per_task = static_cast<double>(allocations) / kTasks;
  std::printf(
      "outside, %d workers: %lld allocations for %d Submit+Get = "
      "%.4f per task\n",
      GetParam(), static_cast<long long>(allocations), kTasks, per_task);
  EXPECT_EQ(sum, int64_t{kTasks} * (kTasks - 1) / 2);
  EXPECT_LE(per_task, 1.0);
}

TEST_P(AllocationTest, AtMostOneAllocationPerSubmitFromOutsideInBatches) {
  ThreadPool pool(GetParam());
  std::vector<Future<int>> fs;
  fs.reserve(kTasks);
  // Warm up with a batch of the same size, so the injection queue's ring
  // (which doubles when full: amortised, not per task) has already grown.
  for (int i = 0; i < kTasks; ++i) {
    fs.push_back(pool.Submit([i] { return i; }));
  }
  for (auto& f : fs) (void)f.Get();
  fs.clear();
  const int64_t before = Allocations();
  for (int i = 0; i < kTasks; ++i) {
    fs.push_back(pool.Submit([i] { return i; }));
  }
  int64_t sum = 0;
  for (auto& f : fs) {
    absl::StatusOr<int> r = f.Get();
    sum += r.ok() ? *r : -1;
  }
  const int64_t allocations = Allocations() - before;
  const double per_task = static_cast<double>(allocations) / kTasks;
  std::printf(
      "outside batch, %d workers: %lld allocations for %d tasks = "
      "%.4f per task\n",
      GetParam(), static_cast<long long>(allocations), kTasks, per_task);
  EXPECT_EQ(sum, int64_t{kTasks} * (kTasks - 1) / 2);
  // One per task, plus a constant for amortised internal growth (the
  // injection ring doubling once when the cache is off, under ASan).
  EXPECT_LE(allocations, kTasks + 4);
}

TEST_P(AllocationTest, AtMostOneAllocationPerSubmitFromInside) {
  ThreadPool pool(GetParam());
  auto run = [&pool](int n) {
    return pool.Submit([&pool, n] {
      int64_t sum = 0;
      for (int i = 0; i < n; ++i) {
        // Token-taking, with an argument: still one block.
        Future<int> f = pool.Submit(
            [](CancellationToken t, int x) {
              return t.IsCancellationRequested() ? -1 : x;
            },
            i);
        absl::StatusOr<int> r = f.Get();
        sum += r.ok() ? *r : -1;
      }
      return sum;
    });
  };
  (void)run(1000).Get();  // warm up
  // The outer task is one more Submit.
  const int64_t before = Allocations();
  absl::StatusOr<int64_t> sum = run(kTasks).Get();
  const int64_t allocations = Allocations() - before;
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(*sum, int64_t{kTasks} * (kTasks - 1) / 2);
  const double per_task = static_cast<double>(allocations) / (kTasks + 1);
  std::printf(
      "inside, %d workers: %lld allocations for %d Submit+Get = "
      "%.4f per task\n",
      GetParam(), static_cast<long long>(allocations), kTasks + 1, per_task);
  EXPECT_LE(per_task, 1.0);
}

// Tasks cancelled while queued are resolved blocks still sitting in a queue;
// they count against max_queued_tasks and are reclaimed when the pool is
// full, so submit-then-cancel against stalled workers keeps memory bounded
// (issue 11, item 9: 2M of them were accepted and kept, 517 MB).
TEST(AllocationTombstoneTest, CancelledQueuedTasksDoNotAccumulate) {
  constexpr size_t kLimit = 100;
  ThreadPoolOptions options;
  options.num_workers = 2;
  options.max_queued_tasks = kLimit;
  ThreadPool pool(std::move(options));
  absl::Notification release;
  std::atomic<int> started{0};
  std::vector<Future<void>> blockers;
  for (int i = 0; i < 2; ++i) {
    blockers.push_back(pool.Submit([&] {
      started.fetch_add(1);
      release.WaitForNotification();
    }));
  }
  while (started.load() < 2) std::this_thread::yield();
  // Warm up the block caches and the injection ring.
  for (size_t i = 0; i < 4 * kLimit; ++i) {
    pool.Submit([i] { return static_cast<int>(i); }).Cancel();
  }
  const int64_t live_before = Allocations() - g_frees.load();
  constexpr int kRounds = 10 * kTasks;
  int accepted = 0;
  for (int i = 0; i < kRounds; ++i) {
    Future<int> f = pool.Submit([i] { return i; });
    if (f.Cancel()) ++accepted;
  }
  const int64_t live_growth = Allocations() - g_frees.load() - live_before;
  std::printf("%d submit+cancel (%d accepted): %lld blocks still allocated\n",
              kRounds, accepted, static_cast<long long>(live_growth));
  // Reclaimed: the pool keeps at most kLimit of them, plus what the block
  // caches hold (at most 1024 per size class and thread).
  EXPECT_LT(live_growth, kRounds / 4);
  // And the pool is not wedged by them: live tasks are still admitted up
  // to the limit, and refused beyond it.
  std::vector<Future<int>> live;
  for (size_t i = 0; i < kLimit; ++i)
    live.push_back(pool.Submit([] { return 1; }));
  for (auto& f : live) EXPECT_FALSE(f.IsReady());
  Future<int> over = pool.Submit([] { return 1; });
  EXPECT_EQ(over.Get().status().code(), absl::StatusCode::kResourceExhausted);
  release.Notify();
  for (auto& f : live) EXPECT_EQ(f.Get().value_or(0), 1);
  // The blockers still use `release` (declared after the pool) until they
  // return.
  for (auto& b : blockers) b.Wait();
}

TEST(AllocationCounterTest, CountsAllocations) {
  // The replacement is in effect (otherwise the tests above prove nothing).
  const int64_t before = Allocations();
  // The volatile sink keeps the compiler from eliding the pair.
  int* volatile p = new int(1);
  delete p;
  EXPECT_EQ(Allocations() - before, 1);
}

INSTANTIATE_TEST_SUITE_P(Workers, AllocationTest, ::testing::Values(1, 2, 8));

}  // namespace
}  // namespace cancelpool
