// Copyright 2026 The cancelpool Authors.
//
// Idle: which workers are searching for work and which sleep, and how a push
// wakes one of them (Tokio's "idle" of its multi-threaded scheduler). Also
// the quiescence check that terminates a shut-down pool.
//
// PROTOCOL: PARKING (no lost wake-ups, no thundering herd)
// Shared: `searching_` (workers looking for work, including ones just woken
// and not yet looking), `sleepers_` (workers in the idle list), and the idle
// list itself under `mu_`.
// Notify (after every push, by the pusher):
//   N1. The push ends with a seq_cst store (deque bottom, or the injection
//       queue's size: injection_queue.h, I1).
//   N2. If searching_ > 0 (seq_cst load): return; a searcher will find it.
//   N3. If sleepers_ == 0 (seq_cst load): return; every worker is busy and
//       will look at the queues before it parks.
//   N4. Under mu_: pop one sleeper, sleepers_ -= 1, searching_ += 1 on its
//       behalf; unpark it after unlocking.
// Park (by a worker that found nothing):
//   P0. Help a cancel shutdown resolve the tasks it took (Env::HelpShutdown,
//       shutdown.cc SQ6), still searching: like a slow search, so no push
//       is missed (a Notify skipped meanwhile is covered by P3, as for any
//       searcher).
//   P1. Under mu_: push self on the idle list, sleepers_ += 1 (seq_cst).
//   P2. searching_ -= 1 (seq_cst RMW).
//   P3. Re-check every queue (seq_cst loads: Env::AnyWorkVisible). If any
//       has work: under mu_, remove self from the idle list if still there
//       (sleepers_ -= 1, searching_ += 1) and go back to searching; if a
//       notifier already took us off the list, our unpark is coming:
//       consume it.
//   P4. Sleep until unparked (parker.h). Wake up as a searcher (the notifier
//       counted us).
// Leaving the searching state because work was found (LeaveSearching):
// searching_ -= 1; if that made it 0, Notify (the found work may have
// siblings; spread it).
// Why no wake-up is lost: a push either sees searching_ > 0 at N2 -- then the
// last searcher to leave does so after N2 and either finds work (and, being
// last, notifies) or parks, and its P3 re-check comes after its P2, which is
// after N2 and so after N1 in the seq_cst order: it sees the push -- or sees
// sleepers_ == 0 at N3 -- then any worker that parks later does P1 after N3
// and its P3 sees the push -- or wakes a sleeper at N4.
// Why no herd: one push wakes at most one worker, and none while somebody is
// searching.
//
// PROTOCOL: QUIESCENCE (the termination check; shutdown.cc owns the rest)
// Once shutdown started (Env::ShutdownStarted), quiescence -- every worker
// in the idle list, every queue empty, and no Shutdown call under way that
// may hold tasks it popped (Env::ShutdownsInProgress, shutdown.cc T2) -- can
// no longer be left: no running task can submit, and outside submissions
// are refused. The thread that completes it under mu_ (a worker at P1, or a
// Shutdown call through CheckTermination) sets terminated_ and unparks every
// sleeper; workers then exit. Checked in this order:
//   Q1. terminated_ already set (relaxed: written only under mu_): done.
//   Q2. Shutdown started (acquire; pairs with Shutdown's release store of
//       its phase, so the closed injection queue is seen too).
//   Q3. Every worker is in the idle list (under mu_).
//   Q4. No work visible (seq_cst, as at P3).
//   Q5. No Shutdown call in progress (seq_cst, after Q4: a Shutdown that
//       emptied a queue incremented its counter before it popped).
//   Q6. terminated_ = true (release; pairs with the acquire of IsTerminated)
//       and unpark every sleeper.
//
// THE ENV (the scheduler side of the protocol), passed to Park and the
// termination check:
//   bool AnyWorkVisible()       every queue, seq_cst (P3, Q4);
//   bool ShutdownStarted()      Q2;
//   bool ShutdownsInProgress()  Q5;
//   void CountPark(int worker)  statistics, just before P4;
//   void HelpShutdown()         P0.
//
// Generic over its synchronisation policy (sync.h), so the parking model
// (tests/reliability/parking_model_test.cc) runs this code.
#ifndef CANCELPOOL_POOL_INTERNAL_IDLE_H_
#define CANCELPOOL_POOL_INTERNAL_IDLE_H_

#include <memory>

#include "cancelpool/pool/internal/parker.h"
#include "cancelpool/pool/internal/sync.h"

namespace cancelpool {
namespace pool_internal {

template <typename Sync = StdSync>
class Idle final {
 public:
  explicit Idle(int num_workers)
      : num_workers_(num_workers),
        slots_(new Slot[num_workers]),
        idle_(new int[num_workers]) {}
  Idle(const Idle&) = delete;
  Idle& operator=(const Idle&) = delete;

  // Worker `w` starts searching (owner only; no-op if it already is).
  void BecomeSearching(int w) {
    Slot& s = slots_[w];
    if (s.searching) return;
    s.searching = true;
    searching_.fetch_add(1, Sync::seq_cst);
  }

  // Worker `w` found work (owner only; no-op if it was not searching).
  void LeaveSearching(int w) {
    Slot& s = slots_[w];
    if (!s.searching) return;
    s.searching = false;
    if (searching_.fetch_sub(1, Sync::seq_cst) == 1) Notify();
  }

  // True if a worker is searching or parked (seq_cst loads): one is free to
  // take new work. For the compensation check (blocking.cc, B3); no part of
  // the protocols above relies on it.
  bool AnyIdle() const {
    return searching_.load(Sync::seq_cst) != 0 ||
           sleepers_.load(Sync::seq_cst) != 0;
  }

  // N2-N4, after every push.
  void Notify() {
    if (searching_.load(kNotifyOrder) != 0) return;  // N2
    if (sleepers_.load(Sync::seq_cst) == 0) return;  // N3
    int target = -1;
    {
      typename Sync::Lock lock(&mu_);  // N4
      if (idle_count_ == 0) return;
      target = idle_[--idle_count_];
      sleepers_.fetch_sub(1, Sync::seq_cst);
      searching_.fetch_add(1, Sync::seq_cst);
    }
    slots_[target].parker.Unpark();
  }

  // P1-P4 for worker `w`, which is searching and found nothing. Returns
  // false if the pool terminated (the worker exits), true to search again.
  template <typename Env>
  bool Park(int w, Env& env) {
    Slot& s = slots_[w];
    env.HelpShutdown();  // P0
    {
      typename Sync::Lock lock(&mu_);  // P1
      idle_[idle_count_++] = w;
      sleepers_.fetch_add(1, Sync::seq_cst);
      if (MaybeTerminateLocked(env)) return false;
    }
    // P2 (s.searching is always true here: the worker failed while
    // searching).
    s.searching = false;
    searching_.fetch_sub(1, Sync::seq_cst);
    // P3
    if (env.AnyWorkVisible()) {
      typename Sync::Lock lock(&mu_);
      for (int i = 0; i < idle_count_; ++i) {
        if (idle_[i] != w) continue;
        // Keep the order of the others (Notify wakes the newest sleeper).
        for (int j = i + 1; j < idle_count_; ++j) idle_[j - 1] = idle_[j];
        --idle_count_;
        sleepers_.fetch_sub(1, Sync::seq_cst);
        searching_.fetch_add(1, Sync::seq_cst);
        s.searching = true;
        return true;
      }
      // A notifier already took us off the list; its unpark is coming.
    }
    env.CountPark(w);
    s.parker.Park();  // P4
    if (IsTerminated()) return false;
    s.searching = true;  // the notifier counted us as searching
    return true;
  }

  // Runs `f()` under mu_, then the termination check (Q1-Q6): the end of a
  // Shutdown call.
  template <typename Env, typename F>
  void CheckTermination(Env& env, F&& f) {
    typename Sync::Lock lock(&mu_);
    f();
    MaybeTerminateLocked(env);
  }

  // Acquire: pairs with Q6's release store.
  bool IsTerminated() const { return terminated_.load(Sync::acquire); }

 private:
  // One cache line per worker: `searching` is written by its owner on every
  // search, and a neighbour's parker word must not share its line.
  struct alignas(64) Slot {
    Parker<Sync> parker;
    bool searching = false;  // owner-only
  };

  // N2: seq_cst; relaxed only under a model's bug switch (sync.h).
  static constexpr auto kNotifyOrder =
      InjectRelaxedNotifyLoad<Sync>::value ? Sync::relaxed : Sync::seq_cst;

  // Q1-Q6; caller holds mu_.
  template <typename Env>
  bool MaybeTerminateLocked(Env& env) {
    if (terminated_.load(Sync::relaxed)) return true;  // Q1
    if (!env.ShutdownStarted()) return false;          // Q2
    if (idle_count_ != num_workers_) return false;     // Q3
    if (env.AnyWorkVisible()) return false;            // Q4
    if (env.ShutdownsInProgress()) return false;       // Q5
    terminated_.store(true, Sync::release);            // Q6
    for (int i = 0; i < idle_count_; ++i) slots_[idle_[i]].parker.Unpark();
    return true;
  }

  const int num_workers_;
  std::unique_ptr<Slot[]> slots_;
  alignas(64) typename Sync::template Atomic<int> searching_{0};
  alignas(64) typename Sync::template Atomic<int> sleepers_{0};
  typename Sync::Mutex mu_;
  std::unique_ptr<int[]> idle_;  // under mu_: the idle list, idle_count_ long
  int idle_count_ = 0;           // under mu_
  // Set once, under mu_ (Q6).
  typename Sync::template Atomic<bool> terminated_{false};
};

}  // namespace pool_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_INTERNAL_IDLE_H_
