// Copyright 2026 The cancelpool Authors.
//
// Relacy model of the sole-owner finish (pool/internal/task.h, F1-F4) over
// the production reference count (cancel/internal/cancel_state.h,
// RefCountT, REFERENCES R1-R3), instantiated with a Relacy Atomics policy,
// so the checker explores that very code under the C++ memory model.
//
// The model: one task block with two references (the queue's, held by the
// runner, and the future's) and three threads:
//   runner:  writes the result (step 4), takes the task out of its running
//            slot (R2 of running_task.h: a CAS that waits while a shutdown
//            holds a claim), then F2: IsSole -> destroy; else F3: writes the
//            outcome (Resolve) and Unrefs (the last one destroys).
//   future:  writes (a Cancel's effect) and drops the future's reference
//            (the last one destroys).
//   claimer: a cancel shutdown's S2: claims the running slot if the task is
//            still published, takes a reference, releases the claim, writes
//            (its request) and Unrefs (the last one destroys).
// Properties: exactly one destruction; whoever destroys sees every other
// owner's writes (else Relacy reports a data race on the plain variables);
// no access to freed memory (Relacy's heap). The destroyer reads every
// variable, so a destruction that is not ordered after an owner's write is
// a race.
//
// Teeth: the same model with the test-only switch kInjectBugRelaxedSoleCheck
// (IsSole loads relaxed) must FAIL.
//
// Not under ThreadSanitizer (Relacy's fibers; see deque_model_test.cc).
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>

#include "cancelpool/cancel/internal/cancel_state.h"
#include "gtest/gtest.h"
// Last: Relacy's macros (see relacy_atomics.h).
#include "tests/reliability/relacy_atomics.h"

CANCELPOOL_RELACY_ALLOCATION_GLUE()

namespace cancelpool {
namespace reliability {
namespace {

using cancel_internal::RefCountT;

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

template <typename Atomics>
struct Block {
  Block() : refs(2) {}
  RefCountT<Atomics> refs;  // the queue's (runner) and the future's
  rl::var<int> result;      // the runner's (step 4, Resolve)
  rl::var<int> future_write;
  rl::var<int> claimer_write;
};

constexpr int kPublished = 1;  // the running slot holds the task
constexpr int kClaimed = 2;    // a shutdown claimed it (S2)
constexpr int kEmpty = 0;      // restored (R2)

template <typename Atomics>
struct SoleOwnerModel : rl::test_suite<SoleOwnerModel<Atomics>, 3> {
  Block<Atomics>* block = nullptr;
  rl::atomic<int> slot;
  rl::atomic<int> destroyed;

  void before() {
    block = new Block<Atomics>();
    block->result($) = 0;
    block->future_write($) = 0;
    block->claimer_write($) = 0;
    slot($) = kPublished;
    destroyed($) = 0;
  }

  void after() { RL_ASSERT(destroyed($) == 1); }

  void Destroy() {
    // What the destructor touches: every owner's writes must be visible.
    RL_ASSERT(block->result($) >= 1);
    RL_ASSERT(block->future_write($) == 1);
    const int claimer = block->claimer_write($);
    RL_ASSERT(claimer == 0 || claimer == 1);
    destroyed.fetch_add(1, rl::mo_relaxed, $);
    delete block;
  }

  void thread(unsigned index) {
    if (index == 0) {  // runner
      block->result($) = 1;
      // R2: restore the slot, waiting out a claim.
      for (;;) {
        int expected = kPublished;
        if (slot.compare_exchange_strong(expected, kEmpty, rl::mo_acq_rel, $,
                                         rl::mo_relaxed, $)) {
          break;
        }
        rl::yield(1, $);
      }
      if (block->refs.IsSole()) {  // F2
        Destroy();
        return;
      }
      block->result($) = 2;  // F3: Resolve
      if (block->refs.Unref()) Destroy();
    } else if (index == 1) {  // the future's owner
      block->future_write($) = 1;
      if (block->refs.Unref()) Destroy();
    } else {  // a cancel shutdown's S2
      int expected = kPublished;
      if (!slot.compare_exchange_strong(expected, kClaimed, rl::mo_acq_rel, $,
                                        rl::mo_relaxed, $)) {
        return;  // restored already: the shutdown does not see the task
      }
      Block<Atomics>* b = block;
      b->refs.Ref();
      slot.store(kPublished, rl::mo_release, $);  // release the claim
      b->claimer_write($) = 1;                    // its request
      if (b->refs.Unref()) Destroy();
    }
  }
};

struct RelaxedSoleCheckAtomics : RelacyAtomics {
  static constexpr bool kInjectBugRelaxedSoleCheck = true;
};

using Correct = SoleOwnerModel<RelacyAtomics>;
using BuggyRelaxedSoleCheck = SoleOwnerModel<RelaxedSoleCheckAtomics>;

void Report(const char* what, const ModelRun& run) {
  std::cout << "[model] " << what << ": " << rl::test_result_str(run.result)
            << ", executions explored: " << run.iterations << std::endl;
}

class RefCountModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
#if defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "Relacy's fibers are invisible to ThreadSanitizer; the "
                    "model runs in the default and ASan builds";
#endif
  }
};

TEST_F(RefCountModelTest, ExhaustiveAtPreemptionBound) {
  ModelRun run = RunModel<Correct>(
      Search::kContextBound, 0,
      static_cast<unsigned>(EnvOr("CANCELPOOL_REFCOUNT_BOUND", 3)));
  Report("sole-owner finish, context bound", run);
  EXPECT_TRUE(run.ok) << run.output;
}

TEST_F(RefCountModelTest, RandomSearch) {
  ModelRun run = RunModel<Correct>(
      Search::kRandom,
      EnvOr("CANCELPOOL_MODEL_ITERATIONS", 100000 / kCiScaleDown));
  Report("sole-owner finish, random", run);
  EXPECT_TRUE(run.ok) << run.output;
}

// The checker has teeth: a relaxed IsSole must be caught (the destroyer
// reads the future owner's write without a happens-before edge).
TEST_F(RefCountModelTest, CatchesRelaxedSoleCheck) {
  ModelRun run = RunModel<BuggyRelaxedSoleCheck>(Search::kRandom, 200000);
  Report("sole-owner finish with a relaxed IsSole (must fail)", run);
  EXPECT_FALSE(run.ok) << "the model did not catch the injected bug";
  EXPECT_NE(run.result, rl::test_result_success);
  std::cout << run.output.substr(0, 4000) << std::endl;
}

}  // namespace
}  // namespace reliability
}  // namespace cancelpool
