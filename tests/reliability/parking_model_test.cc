// Copyright 2026 The cancelpool Authors.
//
// Relacy model of the scheduler's PARKING protocol (pool/internal/idle.h:
// N1-N4 / P1-P4, leaving the searching state, and the quiescence check
// Q1-Q6), checked under the C++ memory model.
//
// What is production code and what the model supplies:
//   * production code, instantiated over the Relacy policies of
//     relacy_atomics.h: the idle bookkeeping and the Parker
//     (Idle<RelacySync>, idle.h and parker.h), the injection queue
//     (InjectionQueue<Task*, RelacySync>) and each worker's deque
//     (WorkStealingDeque<Task*, RelacySync>);
//   * the model: the scenario and a reduced worker loop that drives them as
//     worker.cc does (W1-W5: own deque, injection batch, steal while
//     searching, park), a task bookkeeping, and Shutdown(kDrain)'s part of
//     the protocol (close the queue, publish the phase, check termination).
//
// The scenario: 2 workers and 1 outside thread. The outside thread submits
// two tasks through the injection queue (each followed by Notify; or, in the
// batch variant, both in one push followed by one Notify, as
// Scheduler::SubmitBatch does: submit.cc), then calls Shutdown(kDrain). The
// first task to run submits a child from inside the pool (PushLocal + Notify: a
// local deque push that only stealing or the owner can find). Properties:
//   * every task runs exactly once (no loss, no duplicate);
//   * no task is left queued while all workers sleep: a lost wake-up leaves
//     the workers parked in FUTEX_WAIT with work queued, termination is never
//     reached (it requires every queue empty), and Relacy reports DEADLOCK;
//   * after termination every worker has exited and every queue is empty.
// The LIFO slot variant (kLifo, see ParkingModel) adds: a child stranded in
// a blocked owner's LIFO slot while the other worker sleeps is reported.
// Searches: exhaustive at a small preemption bound plus a large random
// search. CI sizes: bound 0 and 50k random executions; the long run sets
// CANCELPOOL_PARKING_BOUND=1 or 2 and CANCELPOOL_MODEL_ITERATIONS (see
// docs/reliability.md for the figures).
//
// The cancel variant (kCancel) runs Shutdown(kCancel)'s part instead, as
// shutdown.cc does it: D1 (count the call in shutdowns_in_progress_), D2
// (close, publish the cancelling phase), SQ1 (take the whole injection queue
// with InjectionQueue::PopAll, production code, then each worker's deque by
// steals), SQ2-SQ4 reduced to their decisive RMW: each held task is claimed
// by one CAS on its state word, which a worker's start (TryStart) races with
// its own CAS on the same word; D4 (uncount under the idle mutex and check
// termination). Workers that pop a task after the cancelling phase is
// published cancel it instead of running it (worker.cc RunTask). Properties:
// every task resolved exactly once (ran or cancelled; the child exists only
// if its parent ran); no termination while Shutdown holds unresolved tasks
// (T2: asserted before each claim); termination reached, queues empty,
// workers exited. The injection queue's entries form a pass shared with the
// workers (SQ6): a worker about to park (P0 of idle.h, production code)
// takes entries of it by a fetch_add on a cursor and claims them too, and
// the Shutdown call waits for every taken entry to be done before D4 (SQ7:
// asserted, every task it took is resolved when it returns; T2 is asserted
// before each helper's claim as well).
//
// Teeth: the bug switches of pool/internal/sync.h (TEST-ONLY BUG
// INJECTION), set through RelacySyncT: a relaxed load of searching_ at N2
// (tokio#1788's pattern: the notifier trusts a stale "someone is searching"
// and skips the wake-up), and a relaxed injection queue size load in the P3
// re-check. Each must make the model FAIL.
//
// Not under ThreadSanitizer (Relacy's fibers are invisible to it).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <vector>

#include "cancelpool/pool/internal/idle.h"
#include "cancelpool/pool/internal/injection_queue.h"
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
using pool_internal::Idle;
using pool_internal::InjectionQueue;
using pool_internal::WorkStealingDeque;

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

using NoBug = RelacySync;
using BugRelaxedN2 = RelacySyncT</*kRelaxedNotifyLoad=*/true>;
using BugRelaxedRecheck =
    RelacySyncT</*kRelaxedNotifyLoad=*/false, /*kRelaxedSizeLoad=*/true>;

constexpr int kWorkers = 2;
constexpr int kThreads = kWorkers + 1;  // + the outside submitter
constexpr int kTasks = 3;               // two outside + one child
constexpr int kChildOf = 0;             // task 0 submits task 2 from inside
constexpr size_t kDequeCapacity = 2;
constexpr int kIdleSpinRounds = 1;  // ThreadPoolOptions::idle_spin_rounds
constexpr size_t kMaxInjectorBatch = 32;

struct Task {
  int id = 0;
  // The cancel variant's task word: kQueued, then kStartedWord (a worker's
  // TryStart won) or kClaimedWord (a cancellation won). One CAS decides,
  // as in task.h's cancel-versus-start protocol.
  rl::atomic<int> word;
};
constexpr int kQueued = 0;
constexpr int kStartedWord = 1;
constexpr int kClaimedWord = 2;

// kYield: model the search loop's std::this_thread::yield (worker.cc, W2)
// as rl::yield. Relacy treats a yield as "this thread is spinning" and from
// then on serves it only values it has not seen go stale, which shrinks the
// exhaustive search enormously but hides stale-read bugs. So the exhaustive
// (context-bound) search yields, as the code does; the random search, which
// hunts memory-order bugs, does not.
// kBatch: the outside thread submits its two tasks as one batch (one push,
// one Notify).
// kLifo: the LIFO slot variant (worker.cc W1/W2/W5, work_stealing_deque.h
// L1-L4): a task submitted inside goes to the worker's LIFO slot, the worker
// takes its slot first, a searcher takes another worker's slot once it
// looks stuck (StealLifo). And task 0, after submitting its child, BLOCKS
// until the child has run (a task waiting on a latch its child counts down):
// only the other worker can run the child, from the slot. A slot task that
// nobody takes while the owner is blocked and the other worker parks leaves
// the owner spinning and the other asleep forever: Relacy reports it.
// kBugNoStaleSteal (teeth, with kLifo): searchers never take another
// worker's slot, so the blocked owner's child is stranded: must FAIL.
// kCancel: the outside thread shuts down with kCancel (the one-pass cancel
// of shutdown.cc) instead of kDrain. kNoT2: test-only bug switch of the
// cancel variant: the termination check ignores shutdowns_in_progress_.
// kNoSQ7: test-only bug switch of the cancel variant: the Shutdown call does
// not wait for the workers helping with its pass (SQ7), so it may return
// with a task a helper took still unresolved.
template <typename Sync, bool kYield = false, bool kBatch = false,
          bool kLifo = false, bool kBugNoStaleSteal = false,
          bool kCancel = false, bool kNoT2 = false, bool kNoSQ7 = false>
struct ParkingModel
    : rl::test_suite<ParkingModel<Sync, kYield, kBatch, kLifo, kBugNoStaleSteal,
                                  kCancel, kNoT2, kNoSQ7>,
                     kThreads> {
  using Deque = WorkStealingDeque<Task*, Sync>;
  using Owner = DequeOwner<Task*, Sync>;
  using Stealer = DequeStealer<Task*, Sync>;
  using Queue = InjectionQueue<Task*, Sync>;
  enum Phase { kRunning = 0, kDraining = 1, kCancelling = 2 };

  // The scheduler side of the idle protocol (idle.h, THE ENV).
  struct Env {
    ParkingModel* m;
    bool AnyWorkVisible() const { return m->AnyWorkVisible(); }
    bool ShutdownStarted() const {
      return m->phase_.load(rl::mo_acquire, $) != kRunning;
    }
    // Shutdown(kDrain) pops nothing (T2 of shutdown.cc is about kCancel).
    bool ShutdownsInProgress() const {
      if (!kCancel || kNoT2) return false;
      return m->in_progress_.load(rl::mo_seq_cst, $) != 0;
    }
    void CountPark(int) const {}
    // P0 (idle.h): the cancel variant's helpers (SQ6 of shutdown.cc).
    void HelpShutdown() const {
      if (kCancel) m->HelpCancelPass();
    }
  };

  // Production objects, built inside the simulation (Relacy's heap).
  Deque* deques[kWorkers] = {};
  Queue* injector = nullptr;
  Idle<Sync>* idle = nullptr;
  rl::atomic<int> phase_{kRunning};
  // shutdowns_in_progress_ (T2, D1/D4 of shutdown.cc); cancel variant only.
  rl::atomic<int> in_progress_{0};
  // The pass shared with parking workers (SQ6/SQ7 of shutdown.cc), one task
  // per chunk: pass_held_ and pass_n_ are written before pass_open_'s
  // release store and read after its acquire (pass_n_ is an rl::var, so a
  // missing happens-before is reported as a data race).
  std::vector<Task*> pass_held_;
  rl::var<int> pass_n_;
  rl::atomic<int> pass_open_{0};
  rl::atomic<int> pass_next_{0};
  rl::atomic<int> pass_done_{0};

  bool exited[kWorkers] = {};
  // kLifo: the child ran (task 0 waits for it); per worker, per victim, the
  // victim's slot push count at the last look (Worker::lifo_seen).
  rl::atomic<int> child_ran{0};
  uint64_t lifo_seen[kWorkers][kWorkers] = {};
  Task tasks[kTasks];
  int runs[kTasks] = {};     // how often each task ran
  int cancels[kTasks] = {};  // how often each task was resolved cancelled

  void before() {
    for (int i = 0; i < kTasks; ++i) {
      tasks[i].id = i;
      tasks[i].word.store(kQueued, rl::mo_relaxed, $);
    }
    for (auto& d : deques) d = new Deque(kDequeCapacity);
    injector = new Queue();
    idle = new Idle<Sync>(kWorkers);
  }

  void after() {
    if (kCancel) {
      // The child exists only if its parent ran.
      const bool child_submitted = runs[kChildOf] == 1;
      for (int i = 0; i < kTasks; ++i) {
        const int expected = (i == kTasks - 1 && !child_submitted) ? 0 : 1;
        RL_ASSERT(runs[i] + cancels[i] == expected);
      }
    } else {
      for (int i = 0; i < kTasks; ++i) RL_ASSERT(runs[i] == 1);
    }
    RL_ASSERT(idle->IsTerminated());
    RL_ASSERT(injector->SizeHint() == 0);
    for (int i = 0; i < kWorkers; ++i) {
      RL_ASSERT(exited[i]);
      RL_ASSERT(deques[i]->MaybeEmpty());
      delete deques[i];
    }
    delete injector;
    delete idle;
  }

  // ---- The worker loop (worker.cc W1-W5, reduced) ----------------------
  Task* FindWorkOnce(int w) {
    Task* task = StealFromOthers(w);
    if (task == nullptr) task = TakeFromInjector(w);
    if (kLifo && !kBugNoStaleSteal && task == nullptr) {  // W2: stuck slot
      for (int v = 0; v < kWorkers && task == nullptr; ++v) {
        if (v != w) task = Stealer(deques[v]).StealLifo(&lifo_seen[w][v]);
      }
    }
    return task;
  }

  Task* FindWork(int w) {
    Task* task = kLifo ? Owner(deques[w]).PopLifo() : nullptr;  // W1
    if (task != nullptr) return task;
    task = Owner(deques[w]).Pop();
    if (task == nullptr) task = TakeFromInjector(w);
    if (task == nullptr) {
      idle->BecomeSearching(w);  // W2
      for (int round = 0; round < kIdleSpinRounds; ++round) {
        task = FindWorkOnce(w);
        if (task != nullptr) break;
        if (idle->IsTerminated()) return nullptr;
        if (kYield) rl::yield(1, $);
      }
    }
    if (task != nullptr) idle->LeaveSearching(w);  // W3
    return task;
  }

  Task* TakeFromInjector(int w) {
    const size_t queued = injector->SizeHint();
    if (queued == 0) return nullptr;
    Owner owner(deques[w]);
    const size_t cap = deques[w]->capacity();
    const size_t free_slots = cap - std::min(cap, owner.SizeHint());
    size_t want = queued / kWorkers + 1;
    want = std::min({want, kMaxInjectorBatch, free_slots + 1});
    Task* batch[kMaxInjectorBatch];
    const size_t n = injector->PopBatch(batch, want);
    if (n == 0) return nullptr;
    for (size_t i = n - 1; i >= 1; --i) PushLocal(w, batch[i]);
    if (n > 1) idle->Notify();
    return batch[0];
  }

  Task* StealFromOthers(int w) {  // one other worker here
    for (int v = 0; v < kWorkers; ++v) {
      if (v == w) continue;
      Stealer stealer(deques[v]);
      for (int attempt = 0; attempt < 2; ++attempt) {
        bool lost = false;
        Task* task = stealer.StealAbove(INT64_MIN, &lost);
        if (task != nullptr) return task;
        if (!lost) break;
      }
    }
    return nullptr;
  }

  void PushLocal(int w, Task* task) {
    Owner owner(deques[w]);
    if (owner.Push(task)) return;
    // Overflow: half of the deque plus `task` to the injection queue.
    Task* moved[kDequeCapacity + 1];
    size_t count = 0;
    const size_t half = deques[w]->capacity() / 2;
    for (size_t i = 0; i < half; ++i) {
      Task* t = owner.Pop();
      if (t == nullptr) break;
      moved[count++] = t;
    }
    moved[count++] = task;
    injector->Push(moved, count, /*outside=*/false);
  }

  bool AnyWorkVisible() {
    if (!injector->MaybeEmpty()) return true;
    for (auto* d : deques) {
      if (!Stealer(d).MaybeEmpty()) return true;
    }
    return false;
  }

  // The cancel-versus-start decision: one CAS from kQueued (task.h).
  static bool Decide(Task* task, int to) {
    int expected = kQueued;
    return task->word.compare_exchange_strong(expected, to, rl::mo_acq_rel, $);
  }

  void RunTask(int w, Task* task) {
    if (kCancel) {
      if (phase_.load(rl::mo_acquire, $) == kCancelling) {
        // Cancel shutdown: a queued task never starts (worker.cc RunTask).
        if (Decide(task, kClaimedWord)) ++cancels[task->id];
        return;
      }
      if (!Decide(task, kStartedWord)) return;  // TryStart lost
    }
    ++runs[task->id];
    if (task->id == kTasks - 1) child_ran.store(1, rl::mo_release, $);
    if (task->id == kChildOf) {
      Submit(w, &tasks[kTasks - 1]);
      if (kLifo) {  // blocks until another worker ran the child
        while (child_ran.load(rl::mo_acquire, $) == 0) rl::yield(1, $);
      }
    }
  }

  // Submit's queueing part (submit.cc): inside PushLocal, outside the
  // injection queue; then Notify (W5).
  void Submit(int w, Task* task) {
    if (w >= 0) {
      if (!kLifo) {
        PushLocal(w, task);
      } else if (Task* displaced = Owner(deques[w]).PushLifo(task)) {
        PushLocal(w, displaced);  // W5
      }
    } else {
      if (phase_.load(rl::mo_acquire, $) != kRunning) return;
      if (injector->Push(&task, 1, /*outside=*/true) !=
          Queue::PushResult::kOk) {
        return;
      }
    }
    idle->Notify();
  }

  // SubmitBatch's queueing part from outside (submit.cc,
  // EnqueueAdmittedBatch): one push of every task, then one Notify.
  void SubmitBatch(Task** batch, size_t n) {
    if (phase_.load(rl::mo_acquire, $) != kRunning) return;
    if (injector->Push(batch, n, /*outside=*/true) != Queue::PushResult::kOk) {
      return;
    }
    idle->Notify();
  }

  // Shutdown(kDrain), D2 and D4 of shutdown.cc.
  void Shutdown() {
    injector->Close();
    phase_.store(kDraining, rl::mo_release, $);
    Env env{this};
    idle->CheckTermination(env, [] {});
  }

  // Shutdown(kCancel): D1, D2, SQ1-SQ4 (reduced to the claim) and D4.
  void ShutdownCancel() {
    in_progress_.fetch_add(1, rl::mo_seq_cst, $);  // D1
    injector->Close();                             // D2
    phase_.store(kCancelling, rl::mo_release, $);
    injector->PopAll(&pass_held_);  // SQ1
    pass_n_($) = static_cast<int>(pass_held_.size());
    pass_open_.store(1, rl::mo_release, $);  // SQ6: open the pass
    std::vector<Task*> held;                 // SQ1: the deques, alone
    for (int v = 0; v < kWorkers; ++v) {
      Stealer stealer(deques[v]);
      for (;;) {
        bool lost = false;
        Task* t = stealer.Steal(&lost);
        if (t == nullptr) {
          if (lost) continue;
          break;
        }
        held.push_back(t);
      }
    }
    for (Task* t : held) {               // SQ2-SQ4
      RL_ASSERT(!idle->IsTerminated());  // T2
      if (Decide(t, kClaimedWord)) ++cancels[t->id];
    }
    HelpCancelPass();  // SQ6: our share
    if (!kNoSQ7) {     // SQ7: wait for the helpers' chunks
      while (pass_done_.load(rl::mo_acquire, $) != pass_n_($)) {
        rl::yield(1, $);
      }
    }
    // Shutdown(kCancel) returns with every task it took resolved (a helper
    // holds one only until its chunk is counted done).
    for (Task* t : pass_held_) {
      RL_ASSERT(t->word.load(rl::mo_relaxed, $) == kClaimedWord);
    }
    Env env{this};
    idle->CheckTermination(  // D4
        env, [this] { in_progress_.fetch_sub(1, rl::mo_seq_cst, $); });
  }

  // SQ6 (shutdown.cc HelpCancelPass): by the Shutdown call and by workers
  // about to park (P0 of idle.h).
  void HelpCancelPass() {
    if (pass_open_.load(rl::mo_acquire, $) == 0) return;
    for (;;) {
      const int chunk = pass_next_.fetch_add(1, rl::mo_relaxed, $);
      if (chunk >= pass_n_($)) return;
      // T2: a helper is not in the idle list (P0 comes before P1).
      RL_ASSERT(!idle->IsTerminated());
      Task* t = pass_held_[static_cast<size_t>(chunk)];
      if (Decide(t, kClaimedWord)) ++cancels[t->id];
      pass_done_.fetch_add(1, rl::mo_release, $);
    }
  }

  void WorkerMain(int w) {
    Env env{this};
    for (;;) {
      Task* task = FindWork(w);
      if (task != nullptr) {
        RunTask(w, task);
        continue;
      }
      if (!idle->Park(w, env)) break;
    }
    exited[w] = true;
  }

  void thread(unsigned index) {
    if (index < kWorkers) {
      WorkerMain(static_cast<int>(index));
    } else {
      if (kBatch) {
        Task* batch[2] = {&tasks[0], &tasks[1]};
        SubmitBatch(batch, 2);
      } else {
        Submit(-1, &tasks[0]);
        Submit(-1, &tasks[1]);
      }
      if (kCancel) {
        ShutdownCancel();
      } else {
        Shutdown();
      }
    }
  }
};

void Report(const char* what, const ModelRun& run) {
  std::cout << "[model] " << what << ": " << rl::test_result_str(run.result)
            << ", executions explored: " << run.iterations << std::endl;
}

class ParkingModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
#if defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "Relacy's fibers are invisible to ThreadSanitizer; the "
                    "model runs in the default and ASan builds";
#endif
  }
};

TEST_F(ParkingModelTest, ExhaustiveAtPreemptionBound) {
  const unsigned bound =
      static_cast<unsigned>(EnvOr("CANCELPOOL_PARKING_BOUND", 0));
  ModelRun run = RunModel<ParkingModel<NoBug, /*kYield=*/true>>(
      Search::kContextBound, 0, bound);
  Report("parking, context bound", run);
  EXPECT_TRUE(run.ok) << run.output;
}

TEST_F(ParkingModelTest, RandomSearch) {
  ModelRun run = RunModel<ParkingModel<NoBug>>(
      Search::kRandom,
      EnvOr("CANCELPOOL_MODEL_ITERATIONS", 50000 / kCiScaleDown));
  Report("parking, random", run);
  EXPECT_TRUE(run.ok) << run.output;
}

// One Notify for a push of two tasks: the woken worker's LeaveSearching
// (and TakeFromInjector's Notify after a batch) spread the rest; no task is
// left queued while every worker sleeps.
TEST_F(ParkingModelTest, BatchSubmitExhaustiveAtPreemptionBound) {
  const unsigned bound =
      static_cast<unsigned>(EnvOr("CANCELPOOL_PARKING_BOUND", 0));
  ModelRun run =
      RunModel<ParkingModel<NoBug, /*kYield=*/true, /*kBatch=*/true>>(
          Search::kContextBound, 0, bound);
  Report("parking, batch submit, context bound", run);
  EXPECT_TRUE(run.ok) << run.output;
}

TEST_F(ParkingModelTest, BatchSubmitRandomSearch) {
  ModelRun run =
      RunModel<ParkingModel<NoBug, /*kYield=*/false, /*kBatch=*/true>>(
          Search::kRandom,
          EnvOr("CANCELPOOL_MODEL_ITERATIONS", 50000 / kCiScaleDown));
  Report("parking, batch submit, random", run);
  EXPECT_TRUE(run.ok) << run.output;
}

TEST_F(ParkingModelTest, BatchSubmitCatchesRelaxedSearchingLoadInNotify) {
  ModelRun run =
      RunModel<ParkingModel<BugRelaxedN2, /*kYield=*/false, /*kBatch=*/true>>(
          Search::kRandom, 2000000);
  Report("parking, batch submit, with relaxed N2 (must fail)", run);
  EXPECT_FALSE(run.ok) << "the model did not catch the injected bug";
}

TEST_F(ParkingModelTest, LifoSlotExhaustiveAtPreemptionBound) {
  const unsigned bound =
      static_cast<unsigned>(EnvOr("CANCELPOOL_PARKING_BOUND", 0));
  ModelRun run =
      RunModel<ParkingModel<NoBug, /*kYield=*/true, /*kBatch=*/false,
                            /*kLifo=*/true>>(Search::kContextBound, 0, bound);
  Report("parking with LIFO slot, context bound", run);
  EXPECT_TRUE(run.ok) << run.output;
}

TEST_F(ParkingModelTest, LifoSlotRandomSearch) {
  ModelRun run =
      RunModel<ParkingModel<NoBug, /*kYield=*/false, /*kBatch=*/false,
                            /*kLifo=*/true>>(
          Search::kRandom,
          EnvOr("CANCELPOOL_MODEL_ITERATIONS", 50000 / kCiScaleDown));
  Report("parking with LIFO slot, random", run);
  EXPECT_TRUE(run.ok) << run.output;
}

TEST_F(ParkingModelTest, CatchesAStrandedLifoSlotTask) {
  ModelRun run = RunModel<ParkingModel<NoBug, /*kYield=*/true, /*kBatch=*/false,
                                       /*kLifo=*/true,
                                       /*kBugNoStaleSteal=*/true>>(
      Search::kContextBound, 0, 0);
  Report("parking with a never-stolen LIFO slot (must fail)", run);
  EXPECT_FALSE(run.ok) << "the model did not catch the stranded slot task";
  std::cout << run.output.substr(0, 2000) << std::endl;
}

TEST_F(ParkingModelTest, CancelShutdownExhaustiveAtPreemptionBound) {
  const unsigned bound =
      static_cast<unsigned>(EnvOr("CANCELPOOL_PARKING_BOUND", 0));
  ModelRun run = RunModel<
      ParkingModel<NoBug, /*kYield=*/true, /*kBatch=*/false, /*kLifo=*/false,
                   /*kBugNoStaleSteal=*/false, /*kCancel=*/true>>(
      Search::kContextBound, 0, bound);
  Report("cancel shutdown, context bound", run);
  EXPECT_TRUE(run.ok) << run.output;
}

TEST_F(ParkingModelTest, CancelShutdownRandomSearch) {
  ModelRun run = RunModel<
      ParkingModel<NoBug, /*kYield=*/false, /*kBatch=*/false, /*kLifo=*/false,
                   /*kBugNoStaleSteal=*/false, /*kCancel=*/true>>(
      Search::kRandom,
      EnvOr("CANCELPOOL_MODEL_ITERATIONS", 50000 / kCiScaleDown));
  Report("cancel shutdown, random", run);
  EXPECT_TRUE(run.ok) << run.output;
}

TEST_F(ParkingModelTest, CatchesCancelShutdownWithoutT2) {
  ModelRun run =
      RunModel<ParkingModel<NoBug, /*kYield=*/false, /*kBatch=*/false,
                            /*kLifo=*/false, /*kBugNoStaleSteal=*/false,
                            /*kCancel=*/true, /*kNoT2=*/true>>(Search::kRandom,
                                                               2000000);
  Report("cancel shutdown ignoring T2 (must fail)", run);
  EXPECT_FALSE(run.ok) << "the model did not catch the injected bug";
  std::cout << run.output.substr(0, 4000) << std::endl;
}

// The Shutdown call's pass is shared with the parking workers (SQ6): the
// call must wait for their chunks before it returns (SQ7); without, it may
// return while a helper still holds a task it took, unresolved.
TEST_F(ParkingModelTest, CatchesCancelShutdownNotWaitingForHelpers) {
  ModelRun run = RunModel<
      ParkingModel<NoBug, /*kYield=*/false, /*kBatch=*/false, /*kLifo=*/false,
                   /*kBugNoStaleSteal=*/false, /*kCancel=*/true,
                   /*kNoT2=*/false, /*kNoSQ7=*/true>>(Search::kRandom, 2000000);
  Report("cancel shutdown not waiting for its helpers (must fail)", run);
  EXPECT_FALSE(run.ok) << "the model did not catch the injected bug";
  std::cout << run.output.substr(0, 4000) << std::endl;
}

TEST_F(ParkingModelTest, CatchesRelaxedSearchingLoadInNotify) {
  ModelRun run = RunModel<ParkingModel<BugRelaxedN2>>(Search::kRandom, 2000000);
  Report("parking with relaxed N2 (must fail)", run);
  EXPECT_FALSE(run.ok) << "the model did not catch the injected bug";
  std::cout << run.output.substr(0, 4000) << std::endl;
}

TEST_F(ParkingModelTest, CatchesRelaxedInjectorLoadInRecheck) {
  ModelRun run =
      RunModel<ParkingModel<BugRelaxedRecheck>>(Search::kRandom, 2000000);
  Report("parking with relaxed P3 re-check (must fail)", run);
  EXPECT_FALSE(run.ok) << "the model did not catch the injected bug";
  std::cout << run.output.substr(0, 4000) << std::endl;
}

}  // namespace
}  // namespace reliability
}  // namespace cancelpool
