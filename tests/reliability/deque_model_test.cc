// Copyright 2026 The cancelpool Authors.
//
// Relacy model of the production Chase-Lev deque
// (pool/internal/work_stealing_deque.h), instantiated with a Relacy Atomics
// policy, so the checker explores the real algorithm -- every memory order in
// that header -- under the C++ memory model.
//
// The model: one owner and two thieves on a deque of capacity 2 (so Push
// returns false when full and the owner takes the pool's overflow path, and
// indices wrap around the ring).
//   owner:   Push(a) Push(b) Push(c) Pop() Push(d) Pop() Push(e)
//            -- a failed Push moves the task and half of the deque out, as
//               Scheduler::PushLocal does (there: to the injection queue).
//   thieves: Steal() twice each (a lost race is retried, as
//            Scheduler::StealFromOthers does).
// Each task carries a plain (Relacy-tracked, non-atomic) payload the owner
// writes before pushing it; whoever takes the task reads it. Properties:
//   * every pushed task is taken exactly once (popped, stolen, moved out by
//     the overflow path, or left in the deque and drained afterwards);
//   * a taker sees the owner's payload write (else Relacy reports a data
//     race, or the payload check fails);
//   * no access to uninitialised or freed memory (Relacy's own checks).
// The LIFO slot model (L1-L4 of the header): the owner pushes through the
// slot (the displaced item onto the ring) and pops it; one thief steals the
// ring then a stale slot (StealLifo), the other drains (Steal) and
// leapfrogs (TakeLifo). Same properties.
// Searches: exhaustive at a small preemption bound (Relacy's context-bound
// scheduler) and a large random search. CI sizes: bound 2, 100k + 50k random
// executions (~3 s); the long run sets CANCELPOOL_DEQUE_BOUND=3 and
// CANCELPOOL_MODEL_ITERATIONS.
//
// Teeth: the same model over the test-only switch
// kInjectBugRelaxedStealBottom (a thief loads bottom_ relaxed) must FAIL.
//
// Not under ThreadSanitizer: Relacy runs its threads as ucontext fibers on one
// OS thread, which TSan cannot follow. The default and ASan builds run it.
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>

#include "cancelpool/pool/internal/work_stealing_deque.h"
#include "gtest/gtest.h"
// Last: Relacy's macros (see relacy_atomics.h).
#include "tests/reliability/relacy_atomics.h"

CANCELPOOL_RELACY_ALLOCATION_GLUE()

namespace cancelpool {
namespace reliability {
namespace {

using pool_internal::DequeOwner;
using pool_internal::DequeStealer;
using pool_internal::WorkStealingDeque;

struct Item {
  int id = 0;
  rl::var<int> payload;
};

// Scale of a search: from the environment, so the manual long run uses the
// same binary (CANCELPOOL_MODEL_ITERATIONS, CANCELPOOL_DEQUE_BOUND).
uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

constexpr int kThreads = 3;  // owner + two thieves
constexpr int kItems = 5;

// kLifo: the LIFO slot model (L1-L4 of work_stealing_deque.h) instead of the
// ring-only one: see thread() and LifoThread().
template <typename Atomics, size_t kCapacity, bool kLifo = false>
struct DequeModel
    : rl::test_suite<DequeModel<Atomics, kCapacity, kLifo>, kThreads> {
  using Deque = WorkStealingDeque<Item*, Atomics>;

  Deque* deque = nullptr;
  Item items[kItems];
  // taken[thread][item]: written only by that thread (plain ints, read in
  // after() once every thread has finished).
  int taken[kThreads + 1][kItems] = {};

  void before() {
    deque = new Deque(kCapacity);
    for (int i = 0; i < kItems; ++i) {
      items[i].id = i + 1;
      items[i].payload($) = 0;
    }
  }

  void after() {
    // Drain what is left (single-threaded now), then check exactly-once.
    DequeOwner<Item*, Atomics> owner(deque);
    while (Item* it = owner.Pop()) Take(kThreads, it);
    if (Item* it = owner.PopLifo()) Take(kThreads, it);
    RL_ASSERT(deque->MaybeEmpty());
    for (int i = 0; i < kItems; ++i) {
      int n = 0;
      for (int th = 0; th <= kThreads; ++th) n += taken[th][i];
      RL_ASSERT(n == 1);
    }
    delete deque;
  }

  void Take(int thread, Item* it) {
    RL_ASSERT(it != nullptr);
    RL_ASSERT(it >= items && it < items + kItems);
    // The owner's write before Push must be visible to whoever took it.
    RL_ASSERT(it->payload($) == it->id * 10);
    ++taken[thread][it - items];
  }

  void Produce(DequeOwner<Item*, Atomics>& owner, int i) {
    items[i].payload($) = items[i].id * 10;
    if (owner.Push(&items[i])) return;
    // Overflow (Scheduler::PushLocal): the task and half of the deque leave
    // through the injection queue; here, they count as taken by the owner.
    Take(0, &items[i]);
    for (size_t k = 0; k < kCapacity / 2; ++k) {
      Item* moved = owner.Pop();
      if (moved == nullptr) break;
      Take(0, moved);
    }
  }

  void Consume(DequeOwner<Item*, Atomics>& owner) {
    if (Item* it = owner.Pop()) Take(0, it);
  }

  // Scheduler::PushLocal: the new item into the slot, the displaced one
  // onto the ring (or the overflow path).
  void ProduceLifo(DequeOwner<Item*, Atomics>& owner, int i) {
    items[i].payload($) = items[i].id * 10;
    Item* displaced = owner.PushLifo(&items[i]);
    if (displaced == nullptr) return;
    if (owner.Push(displaced)) return;
    Take(0, displaced);  // overflow: leaves through the injection queue
    for (size_t k = 0; k < kCapacity / 2; ++k) {
      Item* moved = owner.Pop();
      if (moved == nullptr) break;
      Take(0, moved);
    }
  }

  // The LIFO slot model: the owner as FindWork / PushLocal use the slot
  // (with one ring pop, as after the streak bound); thief 1 as W2's
  // StealLifo (a first look remembers the push count, a second may take the
  // slot) after a ring steal; thief 2 drains as a shutdown does (Steal:
  // ring, then slot) and leapfrogs (TakeLifo).
  void LifoThread(unsigned index) {
    if (index == 0) {
      DequeOwner<Item*, Atomics> owner(deque);
      ProduceLifo(owner, 0);
      ProduceLifo(owner, 1);  // displaces 0 onto the ring
      if (Item* it = owner.PopLifo()) Take(0, it);
      ProduceLifo(owner, 2);
      ProduceLifo(owner, 3);  // displaces 2
      Consume(owner);
      if (Item* it = owner.PopLifo()) Take(0, it);
      ProduceLifo(owner, 4);
    } else if (index == 1) {
      DequeStealer<Item*, Atomics> thief(deque);
      uint64_t seen = 0;
      for (int attempt = 0; attempt < 3; ++attempt) {
        bool lost = false;
        Item* it = thief.StealAbove(INT64_MIN, &lost);
        if (it == nullptr) it = thief.StealLifo(&seen);
        if (it != nullptr) Take(1, it);
      }
    } else {
      DequeStealer<Item*, Atomics> thief(deque);
      bool lost = false;
      if (Item* it = thief.Steal(&lost)) Take(2, it);
      if (Item* it = thief.TakeLifo()) Take(2, it);
    }
  }

  void thread(unsigned index) {
    if constexpr (kLifo) {
      LifoThread(index);
      return;
    }
    if (index == 0) {
      DequeOwner<Item*, Atomics> owner(deque);
      Produce(owner, 0);
      Produce(owner, 1);
      Produce(owner, 2);
      Consume(owner);
      Produce(owner, 3);
      Consume(owner);
      Produce(owner, 4);
    } else {
      DequeStealer<Item*, Atomics> thief(deque);
      for (int attempt = 0; attempt < 2; ++attempt) {
        bool lost = false;
        Item* it = thief.Steal(&lost);
        if (it != nullptr) {
          Take(static_cast<int>(index), it);
        } else if (lost) {
          // Lost a race: retry once, as StealFromOthers does.
          lost = false;
          it = thief.Steal(&lost);
          if (it != nullptr) Take(static_cast<int>(index), it);
        }
      }
    }
  }
};

using Correct2 = DequeModel<RelacyAtomics, 2>;
using Correct4 = DequeModel<RelacyAtomics, 4>;
using BuggyStealBottom2 = DequeModel<RelacyAtomicsT<true>, 2>;
using Lifo2 = DequeModel<RelacyAtomics, 2, /*kLifo=*/true>;

void Report(const char* what, const ModelRun& run) {
  std::cout << "[model] " << what << ": " << rl::test_result_str(run.result)
            << ", executions explored: " << run.iterations << std::endl;
}

class DequeModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
#if defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "Relacy's fibers are invisible to ThreadSanitizer; the "
                    "model runs in the default and ASan builds";
#endif
  }
};

TEST_F(DequeModelTest, ExhaustiveAtPreemptionBound) {
  const unsigned bound =
      static_cast<unsigned>(EnvOr("CANCELPOOL_DEQUE_BOUND", 2));
  ModelRun run = RunModel<Correct2>(Search::kContextBound, 0, bound);
  Report("deque cap 2, context bound", run);
  EXPECT_TRUE(run.ok) << run.output;
}

TEST_F(DequeModelTest, RandomSearchCapacity2) {
  ModelRun run = RunModel<Correct2>(
      Search::kRandom,
      EnvOr("CANCELPOOL_MODEL_ITERATIONS", 100000 / kCiScaleDown));
  Report("deque cap 2, random", run);
  EXPECT_TRUE(run.ok) << run.output;
}

TEST_F(DequeModelTest, RandomSearchCapacity4) {
  ModelRun run = RunModel<Correct4>(
      Search::kRandom,
      EnvOr("CANCELPOOL_MODEL_ITERATIONS", 100000 / kCiScaleDown) / 2);
  Report("deque cap 4, random", run);
  EXPECT_TRUE(run.ok) << run.output;
}

TEST_F(DequeModelTest, LifoSlotExhaustiveAtPreemptionBound) {
  const unsigned bound =
      static_cast<unsigned>(EnvOr("CANCELPOOL_DEQUE_BOUND", 2));
  ModelRun run = RunModel<Lifo2>(Search::kContextBound, 0, bound);
  Report("deque cap 2 with LIFO slot, context bound", run);
  EXPECT_TRUE(run.ok) << run.output;
}

TEST_F(DequeModelTest, LifoSlotRandomSearch) {
  ModelRun run = RunModel<Lifo2>(
      Search::kRandom,
      EnvOr("CANCELPOOL_MODEL_ITERATIONS", 100000 / kCiScaleDown));
  Report("deque cap 2 with LIFO slot, random", run);
  EXPECT_TRUE(run.ok) << run.output;
}

// The checker has teeth: a thief loading bottom_ relaxed must be caught.
TEST_F(DequeModelTest, CatchesRelaxedBottomLoadInSteal) {
  ModelRun run = RunModel<BuggyStealBottom2>(Search::kRandom, 1000000);
  Report("deque cap 2 with relaxed Steal bottom_ load (must fail)", run);
  EXPECT_FALSE(run.ok) << "the model did not catch the injected bug";
  EXPECT_NE(run.result, rl::test_result_success);
  // Show the first lines of the counterexample.
  std::cout << run.output.substr(0, 4000) << std::endl;
}

}  // namespace
}  // namespace reliability
}  // namespace cancelpool
