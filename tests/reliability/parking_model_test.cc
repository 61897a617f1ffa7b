// Copyright 2026 The cancelpool Authors.
//
// Relacy model of the scheduler's PARKING protocol (pool/internal/scheduler.h:
// N1-N4 / P1-P4, "leaving the searching state", and TERMINATION), checked
// under the C++ memory model.
//
// What is real and what is modelled:
//   * each worker's local queue IS the production WorkStealingDeque, over the
//     Relacy Atomics policy (Push/Pop/Steal/MaybeEmpty with their real
//     memory orders);
//   * the scheduler's control flow and its atomics (searching_, sleepers_,
//     the injection queue's size_, terminated_, phase_) are transcribed below,
//     one function per scheduler.cc function, each step marked with the
//     scheduler.cc line it mirrors (as of this commit);
//   * absl::Mutex becomes rl::mutex; the Parker's futex becomes Relacy's
//     futex model over the same exchange/store protocol.
//
// The scenario: 2 workers and 1 outside thread. The outside thread submits
// two tasks through the injection queue (each followed by Notify), then calls
// Shutdown(kDrain). The first task to run submits a child from inside the
// pool (PushLocal + Notify: a local deque push that only stealing or the
// owner can find). Properties:
//   * every task runs exactly once (no loss, no duplicate);
//   * no task is left queued while all workers sleep: a lost wake-up leaves
//     the workers parked in FUTEX_WAIT with work queued, termination is never
//     reached (it requires every queue empty), and Relacy reports DEADLOCK;
//   * after termination every worker has exited and every queue is empty.
// Searches: exhaustive at a small preemption bound plus a large random
// search. CI sizes: bound 0 and 50k random executions (~3 s); the long run
// sets CANCELPOOL_PARKING_BOUND=1 or 2 and CANCELPOOL_MODEL_ITERATIONS (see
// README, "Reliability", for the figures).
//
// Teeth (test-only switch, a template parameter of this model): a relaxed
// load of searching_ at N2 (tokio#1788's pattern: the notifier trusts a stale
// "someone is searching" and skips the wake-up), and a relaxed injection
// queue size load in the P3 re-check. Each must make the model FAIL.
//
// Not under ThreadSanitizer (Relacy's fibers are invisible to it).
#include <cstdint>
#include <cstdlib>
#include <iostream>

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

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

enum class Bug {
  kNone,
  kRelaxedN2,       // Notify: searching_ loaded relaxed at N2
  kRelaxedRecheck,  // Park: P3 re-check loads the injector size relaxed
};

constexpr int kWorkers = 2;
constexpr int kThreads = kWorkers + 1;  // + the outside submitter
constexpr int kTasks = 3;               // two outside + one child
constexpr int kChildOf = 0;             // task 0 submits task 2 from inside
constexpr size_t kDequeCapacity = 2;
constexpr int kIdleSpinRounds = 1;  // ThreadPoolOptions::idle_spin_rounds
constexpr size_t kMaxInjectorBatch = 32;

struct Task {
  int id = 0;
  Task* next_in_queue = nullptr;  // guarded by the injector's mutex
};

// RAII for rl::mutex (absl::MutexLock).
class Lock {
 public:
  explicit Lock(rl::mutex& mu) : mu_(mu) { mu_.lock($); }
  ~Lock() { mu_.unlock($); }

 private:
  rl::mutex& mu_;
};

// kYield: model the search loop's std::this_thread::yield (scheduler.cc
// 213-217) as rl::yield. Relacy treats a yield as "this thread is spinning"
// and from then on serves it only values it has not seen go stale, which
// shrinks the exhaustive search enormously but hides stale-read bugs. So the
// exhaustive (context-bound) search yields, as the code does; the random
// search, which hunts memory-order bugs, does not.
template <Bug kBug, bool kYield = false>
struct ParkingModel : rl::test_suite<ParkingModel<kBug, kYield>, kThreads> {
  using Deque = WorkStealingDeque<Task*, RelacyAtomics>;
  enum Phase { kRunning = 0, kDraining = 1 };

  // Parker (scheduler.cc 125-135).
  struct Parker {
    rl::atomic<int> state{0};
    void Park() {
      for (;;) {
        if (state.exchange(0, rl::mo_seq_cst, $) == 1) return;  // 127
        ModelFutexWait(&state, 0);                              // 128
      }
    }
    void Unpark() {
      state.store(1, rl::mo_seq_cst, $);  // 133
      ModelFutexWakeAll(&state);          // 134
    }
  };

  struct Worker {
    Deque* deque = nullptr;
    Parker parker;
    bool searching = false;  // owner-only
    bool exited = false;
  };

  // InjectionQueue (scheduler.cc 76-120).
  rl::mutex injector_mu;
  Task* inj_head = nullptr;  // guarded by injector_mu
  Task* inj_tail = nullptr;
  bool inj_closed = false;
  rl::atomic<size_t> inj_size{0};

  Worker workers[kWorkers];
  rl::atomic<int> searching_{0};
  rl::atomic<int> sleepers_{0};
  rl::mutex idle_mu;
  int idle_[kWorkers] = {};  // guarded by idle_mu
  int idle_count = 0;
  rl::atomic<int> phase_{kRunning};
  rl::atomic<bool> terminated_{false};

  Task tasks[kTasks];
  int runs[kTasks] = {};  // how often each task ran

  void before() {
    for (int i = 0; i < kTasks; ++i) tasks[i].id = i;
    for (auto& w : workers) w.deque = new Deque(kDequeCapacity);
  }

  void after() {
    for (int i = 0; i < kTasks; ++i) RL_ASSERT(runs[i] == 1);
    RL_ASSERT(terminated_.load(rl::mo_relaxed, $));
    RL_ASSERT(inj_size.load(rl::mo_relaxed, $) == 0);
    for (auto& w : workers) {
      RL_ASSERT(w.exited);
      RL_ASSERT(w.deque->MaybeEmpty());
      delete w.deque;
    }
  }

  // ---- InjectionQueue ------------------------------------------------
  enum class PushResult { kOk, kClosed };
  PushResult InjectorPush(Task* first, Task* last, size_t count,
                          bool outside) {  // 76-93
    Lock lock(injector_mu);
    if (outside && inj_closed) return PushResult::kClosed;  // 80
    const size_t size = inj_size.load(rl::mo_relaxed, $);   // 81
    last->next_in_queue = nullptr;                          // 83
    if (inj_tail == nullptr) {
      inj_head = first;
    } else {
      inj_tail->next_in_queue = first;
    }
    inj_tail = last;
    inj_size.store(size + count, rl::mo_seq_cst, $);  // 91: N1
    return PushResult::kOk;
  }
  Task* InjectorPopBatch(size_t max, size_t* count) {  // 95-115
    Lock lock(injector_mu);
    Task* first = inj_head;
    size_t n = 0;
    Task* last = nullptr;
    for (Task* t = inj_head; t != nullptr && n < max; t = t->next_in_queue) {
      last = t;
      ++n;
    }
    if (n == 0) {
      *count = 0;
      return nullptr;
    }
    inj_head = last->next_in_queue;
    if (inj_head == nullptr) inj_tail = nullptr;
    last->next_in_queue = nullptr;
    inj_size.store(inj_size.load(rl::mo_relaxed, $) - n, rl::mo_seq_cst,
                   $);  // 111
    *count = n;
    return first;
  }
  bool InjectorMaybeEmpty() {  // scheduler.h MaybeEmpty: seq_cst
    const rl::memory_order mo =
        kBug == Bug::kRelaxedRecheck ? rl::mo_relaxed : rl::mo_seq_cst;
    return inj_size.load(mo, $) == 0;
  }
  size_t InjectorSizeHint() {  // scheduler.h SizeHint: relaxed
    return inj_size.load(rl::mo_relaxed, $);
  }

  // ---- Scheduler -----------------------------------------------------
  void BecomeSearching(Worker* w) {  // 186-190
    if (w->searching) return;
    w->searching = true;
    searching_.fetch_add(1, rl::mo_seq_cst, $);
  }
  void LeaveSearching(Worker* w) {  // 192-196
    if (!w->searching) return;
    w->searching = false;
    if (searching_.fetch_sub(1, rl::mo_seq_cst, $) == 1) Notify();
  }

  Task* FindWorkOnce(Worker* w) {  // 198-202
    Task* task = StealFromOthers(w);
    if (task == nullptr) task = TakeFromInjector(w);
    return task;
  }

  Task* FindWork(Worker* w) {  // 204-222
    DequeOwner<Task*, RelacyAtomics> owner(w->deque);
    Task* task = owner.Pop();                         // 205
    if (task == nullptr) task = TakeFromInjector(w);  // 206
    if (task == nullptr) {
      BecomeSearching(w);  // 208
      for (int round = 0; round < kIdleSpinRounds; ++round) {
        task = FindWorkOnce(w);  // 210
        if (task != nullptr) break;
        if (terminated_.load(rl::mo_acquire, $)) return nullptr;  // 212
        if (kYield) rl::yield(1, $);                              // 213-217
      }
    }
    if (task != nullptr) LeaveSearching(w);  // 220
    return task;
  }

  Task* TakeFromInjector(Worker* w) {             // 224-245
    if (InjectorSizeHint() == 0) return nullptr;  // 225
    DequeOwner<Task*, RelacyAtomics> owner(w->deque);
    const size_t cap = w->deque->capacity();
    const size_t free_slots = cap - std::min(cap, owner.SizeHint());
    size_t want = InjectorSizeHint() / kWorkers + 1;  // 228
    want = std::min({want, kMaxInjectorBatch, free_slots + 1});
    size_t count = 0;
    Task* first = InjectorPopBatch(want, &count);  // 231
    if (first == nullptr) return nullptr;
    Task* rest = first->next_in_queue;
    first->next_in_queue = nullptr;
    bool pushed = false;
    while (rest != nullptr) {  // 236-242
      Task* next = rest->next_in_queue;
      rest->next_in_queue = nullptr;
      PushLocal(w, rest);
      pushed = true;
      rest = next;
    }
    if (pushed) Notify();  // 243
    return first;
  }

  Task* StealFromOthers(Worker* w) {  // 247-265 (one other worker here)
    for (auto& victim : workers) {
      if (&victim == w) continue;
      DequeStealer<Task*, RelacyAtomics> stealer(victim.deque);
      for (int attempt = 0; attempt < 2; ++attempt) {
        bool lost = false;
        Task* task = stealer.Steal(&lost);
        if (task != nullptr) return task;
        if (!lost) break;
      }
    }
    return nullptr;
  }

  void PushLocal(Worker* w, Task* task) {  // 267-283
    DequeOwner<Task*, RelacyAtomics> owner(w->deque);
    if (owner.Push(task)) return;
    Task* first = task;
    Task* last = task;
    task->next_in_queue = nullptr;
    size_t count = 1;
    const size_t half = w->deque->capacity() / 2;
    for (size_t i = 0; i < half; ++i) {
      Task* t = owner.Pop();
      if (t == nullptr) break;
      t->next_in_queue = first;
      first = t;
      ++count;
    }
    InjectorPush(first, last, count, /*outside=*/false);
  }

  void Notify() {  // 285-298
    const rl::memory_order n2 =
        kBug == Bug::kRelaxedN2 ? rl::mo_relaxed : rl::mo_seq_cst;
    if (searching_.load(n2, $) != 0) return;             // 286: N2
    if (sleepers_.load(rl::mo_seq_cst, $) == 0) return;  // 287: N3
    Worker* target = nullptr;
    {
      Lock lock(idle_mu);  // 290: N4
      if (idle_count == 0) return;
      target = &workers[idle_[--idle_count]];      // 292-293
      sleepers_.fetch_sub(1, rl::mo_seq_cst, $);   // 294
      searching_.fetch_add(1, rl::mo_seq_cst, $);  // 295
    }
    target->parker.Unpark();  // 297
  }

  bool AnyWorkVisible() {  // 300-306
    if (!InjectorMaybeEmpty()) return true;
    for (auto& w : workers) {
      DequeStealer<Task*, RelacyAtomics> stealer(w.deque);
      if (!stealer.MaybeEmpty()) return true;
    }
    return false;
  }

  // Caller holds idle_mu.
  bool MaybeTerminateLocked() {  // 308-317 (cancel_passes_: kCancel only)
    if (terminated_.load(rl::mo_relaxed, $)) return true;
    if (phase_.load(rl::mo_acquire, $) == kRunning) return false;
    if (idle_count != kWorkers) return false;
    if (AnyWorkVisible()) return false;
    terminated_.store(true, rl::mo_release, $);
    for (int i = 0; i < idle_count; ++i) workers[idle_[i]].parker.Unpark();
    return true;
  }

  bool Park(Worker* w) {  // 319-347
    const int self = static_cast<int>(w - workers);
    {
      Lock lock(idle_mu);                         // 321: P1
      idle_[idle_count++] = self;                 // 322
      sleepers_.fetch_add(1, rl::mo_seq_cst, $);  // 323
      if (MaybeTerminateLocked()) return false;   // 324
    }
    w->searching = false;                        // 327: P2
    searching_.fetch_sub(1, rl::mo_seq_cst, $);  // 328
    if (AnyWorkVisible()) {                      // 330: P3
      Lock lock(idle_mu);
      for (int i = 0; i < idle_count; ++i) {  // 332-339
        if (idle_[i] != self) continue;
        idle_[i] = idle_[--idle_count];
        sleepers_.fetch_sub(1, rl::mo_seq_cst, $);
        searching_.fetch_add(1, rl::mo_seq_cst, $);
        w->searching = true;
        return true;
      }
      // A notifier already took us off the list; its unpark is coming.
    }
    w->parker.Park();                                       // 343: P4
    if (terminated_.load(rl::mo_acquire, $)) return false;  // 344
    w->searching = true;                                    // 345
    return true;
  }

  void RunTask(Worker* w, Task* task) {  // 349-403, reduced to the run
    ++runs[task->id];
    if (task->id == kChildOf) Submit(w, &tasks[kTasks - 1]);
  }

  // 405-467: the queueing part (inside: PushLocal; outside: injector).
  void Submit(Worker* w, Task* task) {
    if (w != nullptr) {
      PushLocal(w, task);  // 446
    } else {
      if (phase_.load(rl::mo_acquire, $) != kRunning) return;  // 415/421
      task->next_in_queue = nullptr;
      if (InjectorPush(task, task, 1, /*outside=*/true) != PushResult::kOk) {
        return;  // 449-464
      }
    }
    Notify();  // 466
  }

  void Shutdown() {  // 598-632, kDrain
    {
      Lock lock(injector_mu);  // injector_.Close()
      inj_closed = true;
    }
    phase_.store(kDraining, rl::mo_release, $);  // 608
    Lock lock(idle_mu);                          // 629
    MaybeTerminateLocked();                      // 631
  }

  void WorkerMain(Worker* w) {  // 166-184
    for (;;) {
      Task* task = FindWork(w);
      if (task != nullptr) {
        RunTask(w, task);
        continue;
      }
      if (!Park(w)) break;
    }
    w->exited = true;
  }

  void thread(unsigned index) {
    if (index < kWorkers) {
      WorkerMain(&workers[index]);
    } else {
      Submit(nullptr, &tasks[0]);
      Submit(nullptr, &tasks[1]);
      Shutdown();
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
  ModelRun run = RunModel<ParkingModel<Bug::kNone, /*kYield=*/true>>(
      Search::kContextBound, 0, bound);
  Report("parking, context bound", run);
  EXPECT_TRUE(run.ok) << run.output;
}

TEST_F(ParkingModelTest, RandomSearch) {
  ModelRun run = RunModel<ParkingModel<Bug::kNone>>(
      Search::kRandom,
      EnvOr("CANCELPOOL_MODEL_ITERATIONS", 50000 / kCiScaleDown));
  Report("parking, random", run);
  EXPECT_TRUE(run.ok) << run.output;
}

TEST_F(ParkingModelTest, CatchesRelaxedSearchingLoadInNotify) {
  ModelRun run =
      RunModel<ParkingModel<Bug::kRelaxedN2>>(Search::kRandom, 2000000);
  Report("parking with relaxed N2 (must fail)", run);
  EXPECT_FALSE(run.ok) << "the model did not catch the injected bug";
  std::cout << run.output.substr(0, 4000) << std::endl;
}

TEST_F(ParkingModelTest, CatchesRelaxedInjectorLoadInRecheck) {
  ModelRun run =
      RunModel<ParkingModel<Bug::kRelaxedRecheck>>(Search::kRandom, 2000000);
  Report("parking with relaxed P3 re-check (must fail)", run);
  EXPECT_FALSE(run.ok) << "the model did not catch the injected bug";
  std::cout << run.output.substr(0, 4000) << std::endl;
}

}  // namespace
}  // namespace reliability
}  // namespace cancelpool
