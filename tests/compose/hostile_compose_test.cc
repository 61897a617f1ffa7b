// Copyright 2026 The cancelpool Authors.
//
// Hostile tests of the combinators, written from the public headers only
// (pool/future.h, when.h, task_group.h, hedge.h): over-aligned (alignas(64))
// and move-only result types through Future::Then, WhenAll (both forms),
// WhenAny, TaskGroup and Hedge; continuations that drop the last handle to
// their source future, or to their own future, while they run. Every case
// runs in a forked child with a time limit (testing_util::RunInChild), so a
// hang fails the test; the child returns 0 or the number of the failed
// check. Sharded one test per process (BUILD), so that each child is forked
// from a process without library threads.
#include <atomic>
#include <cstddef>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/pool/future.h"
#include "cancelpool/pool/hedge.h"
#include "cancelpool/pool/task_group.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/pool/when.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

using testing_util::ChildResult;
using testing_util::IsAligned;
using testing_util::kLong;
using testing_util::RunInChild;

#define CHECK_OR_RETURN(cond, code) \
  do {                              \
    if (!(cond)) return (code);     \
  } while (false)

// Over-aligned: a block that stores it must honour alignof(Wide) == 64.
struct alignas(64) Wide {
  int value = 0;
};
static_assert(alignof(Wide) == 64);

// Move-only.
using Owned = std::unique_ptr<int>;

void ExpectChildOk(int (*body)()) {
  ChildResult r = RunInChild(body, kLong);
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// --- Future::Then -----------------------------------------------------------

int ThenOverAligned() {
  ThreadPool pool(2);
  // The continuation receives the antecedent's value in place (T&&): its
  // address is the antecedent block's storage.
  std::atomic<bool> aligned_in{false};
  Future<Wide> a = pool.Submit([] { return Wide{20}; });
  Future<Wide> b = std::move(a).Then(pool, [&](Wide&& w) {
    aligned_in = IsAligned(&w, alignof(Wide));
    return Wide{w.value + 1};
  });
  std::atomic<bool> aligned_result{false};
  Future<int> c = std::move(b).Then(pool, [&](absl::StatusOr<Wide>&& r) -> int {
    aligned_result = r.ok() && IsAligned(&*r, alignof(Wide));
    return r.ok() ? r->value : -1;
  });
  absl::StatusOr<int> v = c.Get();
  CHECK_OR_RETURN(v.ok() && *v == 21, 1);
  CHECK_OR_RETURN(aligned_in.load(), 2);
  CHECK_OR_RETURN(aligned_result.load(), 3);
  return 0;
}
TEST(HostileCompose, ThenOverAligned) { ExpectChildOk(ThenOverAligned); }

int ThenMoveOnly() {
  ThreadPool pool(2);
  Owned captured = std::make_unique<int>(2);
  Future<Owned> a = pool.Submit([] { return std::make_unique<int>(20); });
  // A move-only result, and a move-only callable (it owns `captured`).
  Future<Owned> b =
      std::move(a).Then(pool, [own = std::move(captured)](Owned p) mutable {
        *p += *own;
        return p;
      });
  Future<Owned> c = std::move(b).Then(pool, [](absl::StatusOr<Owned> r) {
    return r.ok() ? std::move(*r) : nullptr;
  });
  absl::StatusOr<Owned> v = c.Get();
  CHECK_OR_RETURN(v.ok() && *v != nullptr && **v == 22, 1);
  // A cancelled antecedent: the continuation (and its move-only capture) is
  // destroyed without running.
  auto flag = std::make_shared<int>(0);
  std::weak_ptr<int> watch = flag;
  Future<Owned> d =
      pool.Submit([](CancellationToken t) -> absl::StatusOr<Owned> {
        while (!t.IsCancellationRequested())
          absl::SleepFor(absl::Milliseconds(1));
        return t.Reason();
      });
  CHECK_OR_RETURN(d.Cancel(), 2);
  Future<Owned> e =
      std::move(d).Then(pool, [keep = std::move(flag)](Owned p) { return p; });
  CHECK_OR_RETURN(e.WaitFor(kLong), 3);
  CHECK_OR_RETURN(e.Outcome() == TaskOutcome::kCancelled, 4);
  CHECK_OR_RETURN(pool.WaitForIdle(absl::Now() + kLong), 5);
  CHECK_OR_RETURN(watch.expired(), 6);  // the callable was destroyed
  return 0;
}
TEST(HostileCompose, ThenMoveOnly) { ExpectChildOk(ThenMoveOnly); }

// --- WhenAll / WhenAny ------------------------------------------------------

int WhenAllOverAlignedAndMoveOnly() {
  ThreadPool pool(2);
  std::vector<Future<Wide>> wides;
  std::vector<Future<Owned>> owned;
  for (int i = 0; i < 8; ++i) {
    wides.push_back(pool.Submit([i] { return Wide{i}; }));
    owned.push_back(pool.Submit([i] { return std::make_unique<int>(i); }));
  }
  Future<std::vector<absl::StatusOr<Wide>>> all_wide =
      WhenAll(std::move(wides));
  Future<std::vector<absl::StatusOr<Owned>>> all_owned =
      WhenAll(std::move(owned), WhenAllOptions{.fail_fast = true});
  // The combined vector, seen in place by a continuation.
  std::atomic<bool> aligned{true};
  Future<int> sum = std::move(all_wide).Then(
      pool, [&](std::vector<absl::StatusOr<Wide>>&& v) {
        int s = 0;
        for (absl::StatusOr<Wide>& w : v) {
          if (!w.ok()) return -1;
          if (!IsAligned(&*w, alignof(Wide))) aligned = false;
          s += w->value;
        }
        return s;
      });
  absl::StatusOr<int> s = sum.Get();
  CHECK_OR_RETURN(s.ok() && *s == 28, 1);
  CHECK_OR_RETURN(aligned.load(), 2);
  absl::StatusOr<std::vector<absl::StatusOr<Owned>>> o = all_owned.Get();
  CHECK_OR_RETURN(o.ok() && o->size() == 8, 3);
  for (int i = 0; i < 8; ++i) {
    CHECK_OR_RETURN((*o)[i].ok() && *(*o)[i] != nullptr && *(*o)[i]->get() == i,
                    4);
  }
  // The variadic form, mixing both.
  auto tuple = WhenAll(pool.Submit([] { return Wide{7}; }),
                       pool.Submit([] { return std::make_unique<int>(8); }));
  auto t = tuple.Get();
  CHECK_OR_RETURN(t.ok(), 5);
  CHECK_OR_RETURN(std::get<0>(*t).ok() && std::get<0>(*t)->value == 7, 6);
  CHECK_OR_RETURN(std::get<1>(*t).ok() && **std::get<1>(*t) == 8, 7);
  return 0;
}
TEST(HostileCompose, WhenAllOverAlignedAndMoveOnly) {
  ExpectChildOk(WhenAllOverAlignedAndMoveOnly);
}

int WhenAnyOverAlignedAndMoveOnly() {
  ThreadPool pool(2);
  // The loser blocks until cancelled: WhenAny must cancel it.
  std::vector<Future<Wide>> wides;
  wides.push_back(pool.Submit([](CancellationToken t) -> absl::StatusOr<Wide> {
    while (!t.IsCancellationRequested()) absl::SleepFor(absl::Milliseconds(1));
    return t.Reason();
  }));
  wides.push_back(pool.Submit([] { return Wide{5}; }));
  std::atomic<bool> aligned{false};
  Future<int> any =
      WhenAny(std::move(wides)).Then(pool, [&](AnyResult<Wide>&& r) -> int {
        aligned = r.result.ok() && IsAligned(&*r.result, alignof(Wide));
        return r.result.ok() ? static_cast<int>(r.index) * 100 + r.result->value
                             : -1;
      });
  absl::StatusOr<int> v = any.Get();
  CHECK_OR_RETURN(v.ok() && *v == 105, 1);
  CHECK_OR_RETURN(aligned.load(), 2);

  std::vector<Future<Owned>> owned;
  owned.push_back(pool.Submit(
      []() -> absl::StatusOr<Owned> { return absl::UnavailableError("x"); }));
  owned.push_back(pool.Submit([] { return std::make_unique<int>(9); }));
  Future<AnyResult<Owned>> first_ok =
      WhenAny(std::move(owned), WhenAnyOptions{.first_success = true});
  absl::StatusOr<AnyResult<Owned>> r = first_ok.Get();
  CHECK_OR_RETURN(r.ok() && r->index == 1, 3);
  CHECK_OR_RETURN(r->result.ok() && **r->result == 9, 4);
  CHECK_OR_RETURN(pool.WaitForIdle(absl::Now() + kLong), 5);
  return 0;
}
TEST(HostileCompose, WhenAnyOverAlignedAndMoveOnly) {
  ExpectChildOk(WhenAnyOverAlignedAndMoveOnly);
}

// --- TaskGroup and Hedge ----------------------------------------------------

int TaskGroupOverAlignedAndMoveOnly() {
  ThreadPool pool(2);
  std::atomic<bool> aligned{false};
  Future<Wide> w;
  Future<Owned> o;
  {
    TaskGroup group(pool);
    Owned arg = std::make_unique<int>(4);
    w = group.Run([] { return Wide{3}; });
    // A move-only argument and result.
    o = group.Run([](Owned p) { return p; }, std::move(arg));
    CHECK_OR_RETURN(group.Wait().ok(), 1);
  }
  Future<int> checked = std::move(w).Then(pool, [&](Wide&& x) {
    aligned = IsAligned(&x, alignof(Wide));
    return x.value;
  });
  absl::StatusOr<int> v = checked.Get();
  CHECK_OR_RETURN(v.ok() && *v == 3, 2);
  CHECK_OR_RETURN(aligned.load(), 3);
  absl::StatusOr<Owned> p = o.Get();
  CHECK_OR_RETURN(p.ok() && **p == 4, 4);
  return 0;
}
TEST(HostileCompose, TaskGroupOverAlignedAndMoveOnly) {
  ExpectChildOk(TaskGroupOverAlignedAndMoveOnly);
}

int HedgeOverAlignedAndMoveOnly() {
  ThreadPool pool(2);
  // Attempt 0 blocks until cancelled; attempt 1 (after 1 ms) answers.
  auto slow_then_fast = [](CancellationToken t,
                           int attempt) -> absl::StatusOr<Wide> {
    if (attempt == 0) {
      while (!t.IsCancellationRequested())
        absl::SleepFor(absl::Milliseconds(1));
      return t.Reason();
    }
    return Wide{attempt};
  };
  std::atomic<bool> aligned{false};
  Future<int> w = Hedge(pool, absl::Milliseconds(1), 2, slow_then_fast)
                      .Then(pool, [&](Wide&& x) {
                        aligned = IsAligned(&x, alignof(Wide));
                        return x.value;
                      });
  absl::StatusOr<int> v = w.Get();
  CHECK_OR_RETURN(v.ok() && *v == 1, 1);
  CHECK_OR_RETURN(aligned.load(), 2);
  Future<Owned> o = Hedge(pool, absl::Milliseconds(1), 3,
                          [](CancellationToken) -> absl::StatusOr<Owned> {
                            return std::make_unique<int>(6);
                          });
  absl::StatusOr<Owned> p = o.Get();
  CHECK_OR_RETURN(p.ok() && **p == 6, 3);
  CHECK_OR_RETURN(pool.WaitForIdle(absl::Now() + kLong), 4);
  return 0;
}
TEST(HostileCompose, HedgeOverAlignedAndMoveOnly) {
  ExpectChildOk(HedgeOverAlignedAndMoveOnly);
}

// --- Continuations that drop the last handle --------------------------------

// The continuation holds the only remaining handle to its source (a
// CancelHandle: the Future itself went into Then) and destroys it while it
// runs; the source block then lives on only through the continuation. Run
// many times so that the drop races the source's resolution bookkeeping on
// the worker that resolved it.
int ContinuationDropsLastHandleToItsSource() {
  ThreadPool pool(2);
  const int rounds = testing_util::kSanitizer ? 200 : 2000;
  for (int i = 0; i < rounds; ++i) {
    Future<Owned> a = pool.Submit([i] { return std::make_unique<int>(i); });
    auto handle = std::make_unique<CancelHandle>(a.GetCancelHandle());
    Future<int> b =
        std::move(a).Then(pool, [h = std::move(handle)](Owned p) mutable {
          const bool was_ready = h->IsReady();
          h.reset();  // the last handle to the source, other than Then's
          return was_ready ? *p : -1;
        });
    absl::StatusOr<int> v = b.Get();
    CHECK_OR_RETURN(v.ok() && *v == i, 1);
  }
  CHECK_OR_RETURN(pool.WaitForIdle(absl::Now() + kLong), 2);
  return 0;
}
TEST(HostileCompose, ContinuationDropsLastHandleToItsSource) {
  ExpectChildOk(ContinuationDropsLastHandleToItsSource);
}

// The continuation owns (through a shared slot it captures) the only Future
// of its own result and destroys it while it runs: nobody is left to read
// the result, and nothing may touch the freed handle or leak the block.
int ContinuationDropsTheLastHandleToItself() {
  ThreadPool pool(2);
  const int rounds = testing_util::kSanitizer ? 100 : 1000;
  std::atomic<int> ran{0};
  for (int i = 0; i < rounds; ++i) {
    auto slot = std::make_shared<Future<Wide>>();
    // The antecedent waits for `go`, so the continuation cannot touch the
    // slot before this thread has stored the future in it.
    auto go = std::make_shared<absl::Notification>();
    Future<Wide> a = pool.Submit([i, go] {
      go->WaitForNotificationWithTimeout(kLong);
      return Wide{i};
    });
    *slot = std::move(a).Then(pool, [slot, &ran](Wide&& w) mutable {
      *slot = Future<Wide>();  // the last handle to this very continuation
      slot.reset();            // and the slot (breaks the cycle)
      ran.fetch_add(1);
      return w;
    });
    go->Notify();  // this thread does not touch *slot any more
  }
  CHECK_OR_RETURN(pool.WaitForIdle(absl::Now() + kLong), 1);
  CHECK_OR_RETURN(ran.load() == rounds, 2);
  const PoolStats s = pool.Stats();
  CHECK_OR_RETURN(s.InFlight() == 0, 3);
  return 0;
}
TEST(HostileCompose, ContinuationDropsTheLastHandleToItself) {
  ExpectChildOk(ContinuationDropsTheLastHandleToItself);
}

// The same through a combined future: a continuation of WhenAll drops the
// last handle to the WhenAll future's inputs' cancel handles and to itself.
int WhenAllContinuationDropsItsHandles() {
  ThreadPool pool(2);
  auto slot = std::make_shared<Future<int>>();
  std::vector<Future<Owned>> in;
  std::vector<CancelHandle> handles;
  // The inputs wait for `go`: the continuation cannot run before this
  // thread has stored its future in the slot.
  auto go = std::make_shared<absl::Notification>();
  for (int i = 0; i < 4; ++i) {
    in.push_back(pool.Submit([i, go] {
      go->WaitForNotificationWithTimeout(kLong);
      return std::make_unique<int>(i);
    }));
    handles.push_back(in.back().GetCancelHandle());
  }
  absl::Notification done;
  *slot = WhenAll(std::move(in))
              .Then(pool, [slot, hs = std::move(handles), &done](
                              std::vector<absl::StatusOr<Owned>>&& v) mutable {
                hs.clear();
                *slot = Future<int>();
                slot.reset();
                int s = 0;
                for (auto& p : v) s += p.ok() ? **p : -100;
                done.Notify();
                return s;
              });
  slot.reset();  // the continuation holds the slot now
  go->Notify();
  CHECK_OR_RETURN(done.WaitForNotificationWithTimeout(kLong), 1);
  CHECK_OR_RETURN(pool.WaitForIdle(absl::Now() + kLong), 2);
  return 0;
}
TEST(HostileCompose, WhenAllContinuationDropsItsHandles) {
  ExpectChildOk(WhenAllContinuationDropsItsHandles);
}

}  // namespace
}  // namespace cancelpool
