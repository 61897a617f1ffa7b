// Copyright 2026 The cancelpool Authors.
//
// Internals of the combinators: WhenAll/WhenAny (when.h), TaskGroup
// (task_group.h), Hedge (hedge.h), ParallelFor (parallel_for.h). Sealed:
// only this repository's packages may include it.
//
// PROTOCOL: COMBINED FUTURE (WhenAll, WhenAny, Hedge)
// The combined future's block (Combinator, a DirectState) is never queued;
// the inputs' listeners (task.h, RESOLVE LISTENER) resolve it.
//   W1. Create: the block holds one reference per input (taken from the
//       moved-in futures) and, per input, one reference of its own for that
//       input's listener (dropped at the end of the listener).
//   W2. Register a listener on every input (L1); an input already resolved
//       runs its listener inline.
//   W3. An input resolves: its listener stores what it needs (WhenAll: the
//       result in the input's slot, before the acq_rel decrement of
//       `remaining_`), and whoever decides the outcome (the last input for
//       WhenAll; the first failure under fail-fast; the first to finish or
//       to succeed for WhenAny) claims the block with TryStart and resolves
//       it. Only the claimer resolves; the others find the claim taken.
//   W4. The winner of W3 cancels the other inputs (WhenAny, fail-fast)
//       before it resolves the combined block: losers already running see
//       their tokens, and the waiter woken by the resolution does not delay
//       the cancellation (benchmarks/FINDINGS.md, section 11).
//   W5. Cancelling the combined future before W3 resolves it: step 3 of
//       task.h (not started) resolves it as cancelled and destroys its
//       "callable" -- DestroyCallable here -- which cancels every input.
//       Their listeners then fail to claim.
// Races ruled out: two resolutions (one TryStart wins, and it also loses to
// a W5 cancel); a slot read before it was written (release/acquire through
// `remaining_`); the block freed while a listener runs (W1's reference);
// an input's result taken twice (the combinator owns the inputs' futures).
//
// PROTOCOL: TASK GROUP
//   G1. Run: pending_ += 1, then submit the task with parent = the group's
//       token, its callable wrapped in GroupCall, and remember the block
//       (a reference) for helping waits.
//   G2. GroupCall runs the task and, before the pool stores the result,
//       reports success or failure to the group (the policy may cancel the
//       group's source: fail-fast on a failure, first-success on a success).
//   G3. GroupCall's destructor -- run exactly once per task, before its
//       future resolves (after the run, when cancelled before the start, or
//       when the pool rejected it) -- reports a task that never ran, then
//       decrements pending_ (release) and wakes a waiter when it reaches 0.
//   G4. Wait: on a worker of the pool, wait for each remembered block (a
//       helping wait); then sleep on pending_ until 0 (acquire: every G2/G3
//       report is visible), read the outcome, and wait for each remembered
//       block's resolution (G3 precedes it by a few instructions), so that
//       every future is ready when Wait returns.
// Races ruled out: Wait returning before a report (G3 decrements after
// reporting); a lost wake-up (FutexWait fails if pending_ changed); a task
// counted twice or never (G3 runs once per block, whatever its fate).
#ifndef CANCELPOOL_POOL_INTERNAL_COMPOSE_H_
#define CANCELPOOL_POOL_INTERNAL_COMPOSE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/pool/future.h"
#include "cancelpool/pool/internal/task.h"
#include "cancelpool/pool/internal/then.h"
#include "cancelpool/pool/thread_pool.h"

namespace cancelpool {

// WhenAny's value: which input finished first (or first succeeded) and its
// result.
template <typename T>
struct AnyResult {
  size_t index = 0;
  typename Future<T>::Result result;
};

namespace pool_internal {

absl::Status LoserCancelReason();
absl::Status EmptyInputError();

// W1-W5. V is the combined value type.
template <typename V>
class Combinator : public DirectState<V> {
 public:
  // W2, then drops the creator's second reference. Call once, after the
  // inputs are set; the caller keeps the first reference (the future's).
  void Arm() {
    const size_t n = inputs_.size();
    if (n == 0) {
      OnEmpty();
      this->Unref();
      return;
    }
    for (size_t i = 0; i < n; ++i) this->Ref();  // W1: one per listener
    for (size_t i = 0; i < n; ++i) {
      nodes_[i].on_resolved = &Dispatch;
      nodes_[i].owner = this;
      nodes_[i].index = i;
    }
    for (size_t i = 0; i < n; ++i) {
      if (inputs_[i] == nullptr) {
        OnInput(i, nullptr);
        this->Unref();
      } else if (!inputs_[i]->AddListener(&nodes_[i])) {
        Dispatch(&nodes_[i], inputs_[i]);
      }
    }
    this->Unref();
  }

 protected:
  explicit Combinator(size_t n) : nodes_(n), inputs_(n, nullptr) {}
  ~Combinator() override {
    for (TaskBase* in : inputs_) {
      if (in != nullptr) in->Unref();
    }
  }

  // W3: `task` is null for an empty input future. Runs on the resolving
  // thread; must not block.
  virtual void OnInput(size_t index, TaskBase* task) noexcept = 0;
  // No inputs at all.
  virtual void OnEmpty() noexcept = 0;

  // W4. Skips `except` (SIZE_MAX: none).
  void CancelInputs(size_t except) noexcept {
    for (size_t i = 0; i < inputs_.size(); ++i) {
      if (i != except && inputs_[i] != nullptr) {
        CancelTask(inputs_[i], LoserCancelReason());
      }
    }
  }
  // W5: the combined future was cancelled before it resolved.
  void DestroyCallable() noexcept override { CancelInputs(SIZE_MAX); }

  struct Node : ResolveListener {
    Combinator* owner;
    size_t index;
  };
  std::vector<Node> nodes_;
  // One reference each (null: an empty future was passed).
  std::vector<TaskBase*> inputs_;

 private:
  static void Dispatch(ResolveListener* self, TaskBase* task) noexcept {
    Node* node = static_cast<Node*>(self);
    Combinator* owner = node->owner;
    owner->OnInput(node->index, task);
    owner->Unref();  // W1
  }
};

template <typename T>
typename Future<T>::Result TakeResult(TaskBase* task) {
  if (task == nullptr) return EmptyInputError();
  return std::move(static_cast<FutureState<T>*>(task)->result());
}

template <typename T>
class WhenAllBlock final
    : public Combinator<std::vector<typename Future<T>::Result>> {
  using Result = typename Future<T>::Result;
  using Base = Combinator<std::vector<Result>>;

 public:
  WhenAllBlock(std::vector<Future<T>>& futures, bool fail_fast)
      : Base(futures.size()),
        slots_(futures.size()),
        remaining_(futures.size()),
        fail_fast_(fail_fast) {
    for (size_t i = 0; i < futures.size(); ++i) {
      this->inputs_[i] = FutureAccess::Release(futures[i]);
    }
  }

 private:
  void OnInput(size_t index, TaskBase* task) noexcept override {
    slots_[index] = TakeResult<T>(task);
    if (fail_fast_ && !StatusOf(slots_[index]).ok() && this->Claim()) {
      // W4 before publishing: the losers stop as early as possible (a
      // woken waiter would otherwise compete with this thread for a CPU).
      absl::Status error = StatusOf(slots_[index]);
      this->CancelInputs(index);
      this->Fail(std::move(error), TaskOutcome::kFailed);
    }
    // acq_rel: the release publishes this slot; the last decrement acquires
    // every other slot.
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1 &&
        this->Claim()) {
      this->Succeed(std::move(slots_));
    }
  }
  void OnEmpty() noexcept override {
    if (this->Claim()) this->Succeed(std::vector<Result>());
  }

  std::vector<Result> slots_;
  std::atomic<size_t> remaining_;
  const bool fail_fast_;
};

template <typename... Ts>
class WhenAllTupleBlock final
    : public Combinator<std::tuple<typename Future<Ts>::Result...>> {
  using Tuple = std::tuple<typename Future<Ts>::Result...>;
  using Base = Combinator<Tuple>;

 public:
  explicit WhenAllTupleBlock(Future<Ts>&... futures)
      : Base(sizeof...(Ts)), remaining_(sizeof...(Ts)) {
    size_t i = 0;
    ((this->inputs_[i++] = FutureAccess::Release(futures)), ...);
  }

 private:
  template <size_t I>
  static void Store(Tuple& slots, TaskBase* task) {
    using T = std::tuple_element_t<I, std::tuple<Ts...>>;
    std::get<I>(slots) = TakeResult<T>(task);
  }
  template <size_t... I>
  void StoreAt(size_t index, TaskBase* task, std::index_sequence<I...>) {
    ((index == I ? Store<I>(slots_, task) : void()), ...);
  }
  void OnInput(size_t index, TaskBase* task) noexcept override {
    StoreAt(index, task, std::index_sequence_for<Ts...>());
    // acq_rel: as in WhenAllBlock.
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1 &&
        this->Claim()) {
      this->Succeed(std::move(slots_));
    }
  }
  void OnEmpty() noexcept override {}

  Tuple slots_;
  std::atomic<size_t> remaining_;
};

template <typename T>
class WhenAnyBlock final : public Combinator<AnyResult<T>> {
  using Base = Combinator<AnyResult<T>>;

 public:
  WhenAnyBlock(std::vector<Future<T>>& futures, bool first_success)
      : Base(futures.size()),
        failures_(futures.size()),
        first_success_(first_success) {
    for (size_t i = 0; i < futures.size(); ++i) {
      this->inputs_[i] = FutureAccess::Release(futures[i]);
    }
  }

 private:
  void OnInput(size_t index, TaskBase* task) noexcept override {
    typename Future<T>::Result r = TakeResult<T>(task);
    const bool ok = StatusOf(r).ok();
    if (!first_success_ || ok) {
      if (this->Claim()) {
        this->CancelInputs(index);  // W4 first, as in WhenAllBlock
        this->Succeed(AnyResult<T>{index, std::move(r)});
      }
      return;
    }
    // First-success: the last failure decides when nobody succeeded.
    // acq_rel: orders the failures' counting (no data is published).
    if (failures_.fetch_sub(1, std::memory_order_acq_rel) == 1 &&
        this->Claim()) {
      this->Fail(StatusOf(r), TaskOutcome::kFailed);
    }
  }
  void OnEmpty() noexcept override {
    if (this->Claim()) {
      this->Fail(absl::InvalidArgumentError("WhenAny of no futures"),
                 TaskOutcome::kFailed);
    }
  }

  std::atomic<size_t> failures_;
  const bool first_success_;
};

// ---------------------------------------------------------------------------
// Task group (G1-G4).

class GroupState {
 public:
  enum class Policy { kWaitAll, kFailFast, kFirstSuccess };

  GroupState(Policy policy, const CancellationToken& parent);
  GroupState(const GroupState&) = delete;
  GroupState& operator=(const GroupState&) = delete;

  void Ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() noexcept {
    // acq_rel: the last owner sees every other owner's writes.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  CancellationToken Token() const { return source_.Token(); }
  void Cancel(absl::Status reason);
  // G1.
  void AddPending() noexcept {
    // Relaxed: the submission that follows publishes the task; G3's
    // release decrement cannot precede it.
    pending_.fetch_add(1, std::memory_order_relaxed);
  }
  void Remember(TaskBase* task);
  // G2/G3 reports.
  void ReportSuccess();
  void ReportFailure(absl::Status status);
  void ReportNeverRan();
  // G3's decrement.
  void DonePending() noexcept;
  // G4.
  absl::Status Wait(Scheduler* scheduler);

 private:
  ~GroupState();

  const Policy policy_;
  CancellationSource source_;
  std::atomic<int> refs_{1};
  // Tasks whose GroupCall is not destroyed yet (G3). A futex word, on its
  // own cache line: the submitter increments it while workers decrement.
  alignas(64) std::atomic<uint32_t> pending_{0};
  alignas(64) absl::Mutex mu_;
  std::vector<TaskBase*> children_ ABSL_GUARDED_BY(mu_);
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);
  bool any_success_ ABSL_GUARDED_BY(mu_) = false;
};

// G2/G3: wraps a task's callable. F takes a CancellationToken or nothing.
template <typename F>
class GroupCall {
  using Traits = CallableTraits<F>;
  using Raw = typename Traits::RawResult;
  using Out = typename ResultSlot<typename Traits::Value>::Type;

 public:
  GroupCall(GroupState* group, F fn) : group_(group), fn_(std::move(fn)) {
    group_->Ref();
  }
  GroupCall(GroupCall&& other) noexcept
      : group_(std::exchange(other.group_, nullptr)),
        fn_(std::move(other.fn_)),
        ran_(other.ran_) {}
  GroupCall(const GroupCall&) = delete;
  GroupCall& operator=(const GroupCall&) = delete;
  GroupCall& operator=(GroupCall&&) = delete;
  ~GroupCall() {
    if (group_ == nullptr) return;
    if (!ran_) group_->ReportNeverRan();
    group_->DonePending();
    group_->Unref();
  }

  Out operator()(CancellationToken token) {
    ran_ = true;
    Out out = Invoke(token);
    if (StatusOf(out).ok()) {
      group_->ReportSuccess();
    } else {
      group_->ReportFailure(StatusOf(out));
    }
    return out;
  }

 private:
  Out Invoke(CancellationToken& token) {
    try {
      if constexpr (std::is_void_v<Raw>) {
        Call(token);
        return absl::OkStatus();
      } else {
        return Out(Call(token));
      }
    } catch (const CancelledException& e) {
      group_->ReportFailure(e.Reason());
      throw;
    } catch (...) {
      group_->ReportFailure(absl::UnknownError("task threw"));
      throw;
    }
  }
  decltype(auto) Call(CancellationToken& token) {
    if constexpr (Traits::kTokenArg == TokenArg::kOurs) {
      return std::invoke(fn_, std::move(token));
    } else if constexpr (Traits::kTokenArg == TokenArg::kStd) {
      static_assert(Traits::kTokenArg != TokenArg::kStd,
                    "TaskGroup::Run: take a cancelpool::CancellationToken");
    } else {
      return std::invoke(fn_);
    }
  }

  GroupState* group_;
  F fn_;
  bool ran_ = false;
};

// ---------------------------------------------------------------------------
// Hedge.

template <typename F>
struct HedgeTraits {
  static constexpr bool kTakesAttempt =
      std::is_invocable_v<F&, CancellationToken, int>;
  using Raw = typename decltype([] {
    if constexpr (kTakesAttempt) {
      return std::type_identity<
          std::invoke_result_t<F&, CancellationToken, int>>();
    } else {
      static_assert(std::is_invocable_v<F&, CancellationToken>,
                    "Hedge: f(CancellationToken) or f(CancellationToken, int)");
      return std::type_identity<std::invoke_result_t<F&, CancellationToken>>();
    }
  }())::type;
  using Value = typename UnwrapResult<std::decay_t<Raw>>::type;
};

// H1. Creation arms one timer per later attempt (attempt k at start +
//     k * delay) on the shared deadline timer; no thread sleeps.
// H2. LaunchNext submits attempt `launched_` (claimed by a CAS below
//     max_attempts) with parent = the hedge's source, deadline = the
//     request's; called by H1's timers, by a failed attempt, and once at
//     creation.
// H3. An attempt succeeds: claim the combined block (TryStart), resolve it,
//     cancel the hedge's source (every other attempt, and the timers see
//     `done_`). An attempt fails: if every attempt was launched and every
//     one failed, claim and resolve with this failure; else launch the next
//     at once.
// H4. The combined future cancelled: W5 (DestroyCallable) cancels the
//     source; the attempts' listeners then fail to claim.
// Races ruled out: more than max_attempts launches (the CAS on launched_);
// an attempt launched after the hedge resolved (LaunchNext checks done_ and
// the attempt's parent is the cancelled source, so it never runs); two
// resolutions (one TryStart).
template <typename F>
class HedgeBlock final : public DirectState<typename HedgeTraits<F>::Value> {
  using Traits = HedgeTraits<F>;
  using V = typename Traits::Value;
  using Result = typename ResultSlot<V>::Type;

 public:
  HedgeBlock(std::shared_ptr<Scheduler> scheduler, F fn, int max_attempts,
             absl::Time deadline, const CancellationToken& parent)
      : scheduler_(std::move(scheduler)),
        fn_(std::move(fn)),
        max_attempts_(max_attempts),
        deadline_(deadline),
        source_(parent),
        nodes_(static_cast<size_t>(max_attempts)),
        attempts_(static_cast<size_t>(max_attempts), nullptr) {}
  ~HedgeBlock() override {
    // Timers first: their callbacks use this block (~CancellationCallback
    // waits for a running one).
    timers_.clear();
    for (TaskBase* a : attempts_) {
      if (a != nullptr) a->Unref();
    }
  }

  // H1 + the first launch. Keeps the caller's future reference; drops the
  // second.
  void Start(absl::Duration delay) {
    const absl::Time now = absl::Now();
    for (int k = 1; k < max_attempts_; ++k) {
      const absl::Time at = now + delay * k;
      if (at >= deadline_) break;
      auto timer = std::make_unique<Timer>(this, at);
      timers_.push_back(std::move(timer));
    }
    for (auto& t : timers_) t->Arm();
    LaunchNext();
    this->Unref();
  }

  int attempts_launched() const {
    return launched_.load(std::memory_order_acquire);
  }

 private:
  struct Node : ResolveListener {
    HedgeBlock* owner;
  };
  struct Fire {
    HedgeBlock* owner;
    void operator()() const noexcept { owner->LaunchNext(); }
  };
  struct Timer {
    Timer(HedgeBlock* owner, absl::Time at)
        : owner_(owner), source(CancellationSource::WithDeadline(at)) {}
    void Arm() {
      callback = std::make_unique<CancellationCallback<Fire>>(source.Token(),
                                                              Fire{owner_});
    }
    HedgeBlock* owner_;
    CancellationSource source;
    std::unique_ptr<CancellationCallback<Fire>> callback;
  };

  // H2.
  void LaunchNext() noexcept {
    if (done_.load(std::memory_order_acquire)) return;
    if (absl::Now() >= deadline_ && launched_.load() > 0) return;
    // Relaxed: only a first guess for the CAS.
    int k = launched_.load(std::memory_order_relaxed);
    do {
      if (k >= max_attempts_) return;
      // acq_rel: the claim of index k orders this launch after the
      // previous one's writes to attempts_/nodes_ (distinct slots anyway).
    } while (!launched_.compare_exchange_weak(
        k, k + 1, std::memory_order_acq_rel, std::memory_order_relaxed));
    this->Ref();  // the listener's
    F fn = fn_;
    const int attempt = k;
    auto call = [fn = std::move(fn), attempt](CancellationToken token) mutable {
      if constexpr (Traits::kTakesAttempt) {
        return fn(std::move(token), attempt);
      } else {
        return fn(std::move(token));
      }
    };
    using Call = decltype(call);
    // Two references: the queue's (given to the pool) and the future's,
    // which attempts_ keeps.
    auto* task = new TaskImpl<Call>(std::move(call));
    attempts_[static_cast<size_t>(k)] = task;
    Node& node = nodes_[static_cast<size_t>(k)];
    node.on_resolved = &OnAttempt;
    node.owner = this;
    // Register before submitting: the block is not shared yet, so the
    // listener cannot be refused.
    task->AddListener(&node);
    SubmitTask(scheduler_.get(), task, source_.Token(), deadline_);
  }

  // H3.
  static void OnAttempt(ResolveListener* self, TaskBase* task) noexcept {
    HedgeBlock* h = static_cast<Node*>(self)->owner;
    auto* state = static_cast<FutureState<V>*>(task);
    if (task->outcome() == TaskOutcome::kSucceeded) {
      if (h->Claim()) {
        h->done_.store(true, std::memory_order_release);
        h->source_.RequestCancellation(LoserCancelReason());  // losers first
        h->Succeed(std::move(state->result()));
      }
    } else {
      const int failed = h->failed_.fetch_add(1, std::memory_order_acq_rel) + 1;
      if (failed >= h->launched_.load(std::memory_order_acquire) &&
          (failed >= h->max_attempts_ || h->done_.load() ||
           absl::Now() >= h->deadline_ ||
           h->source_.IsCancellationRequested())) {
        const bool cancelled = h->source_.IsCancellationRequested();
        if (h->Claim()) {
          h->done_.store(true, std::memory_order_release);
          h->source_.RequestCancellation(LoserCancelReason());
          h->Fail(StatusOf(state->result()),
                  cancelled ? TaskOutcome::kCancelled : TaskOutcome::kFailed);
        }
      } else {
        h->LaunchNext();
      }
    }
    h->Unref();
  }

  // H4.
  void DestroyCallable() noexcept override {
    done_.store(true, std::memory_order_release);
    source_.RequestCancellation(DefaultFutureCancelReason());
  }

  static void SubmitTask(Scheduler* scheduler, TaskBase* task,
                         const CancellationToken& parent, absl::Time deadline);

  std::shared_ptr<Scheduler> scheduler_;
  F fn_;
  const int max_attempts_;
  const absl::Time deadline_;
  CancellationSource source_;
  std::vector<Node> nodes_;
  std::vector<TaskBase*> attempts_;
  std::vector<std::unique_ptr<Timer>> timers_;
  std::atomic<int> launched_{0};
  std::atomic<int> failed_{0};
  std::atomic<bool> done_{false};
};

void SubmitToScheduler(Scheduler* scheduler, TaskBase* task,
                       const CancellationToken& parent, absl::Time deadline);

template <typename F>
void HedgeBlock<F>::SubmitTask(Scheduler* scheduler, TaskBase* task,
                               const CancellationToken& parent,
                               absl::Time deadline) {
  SubmitToScheduler(scheduler, task, parent, deadline);
}

// ---------------------------------------------------------------------------
// ParallelFor.

// P1. The root piece covers [begin, end). A piece runs chunks of `grain`
//     indices from its front; before each chunk, if the running worker's
//     deque looks empty (no work for a thief), it splits: the back half
//     becomes a new piece, submitted as a task of the pool (a fork-join
//     child, stealable), and the piece goes on with the front half. Idle
//     workers steal such halves and split them again: the range is divided
//     only as far as idle workers ask for it (lazy binary splitting).
// P2. Each index's body runs at most once; `completed_` counts finished
//     indices (relaxed adds, read after every piece joined).
// P3. The first failure (a body's error or exception) is recorded under
//     mu_ and cancels the loop's source: every piece stops at its next
//     check (per index), queued pieces never run.
// P4. A piece waits for the pieces it split off (helping waits: the
//     waiting worker runs its own unstarted halves itself) before it
//     returns, so the root returns only when every index is settled.
class LoopState {
 public:
  LoopState(std::shared_ptr<Scheduler> scheduler, ThreadPool* pool,
            const CancellationToken& parent, int64_t grain)
      : scheduler_(std::move(scheduler)),
        pool_(pool),
        source_(parent),
        grain_(grain) {}

  CancellationToken Token() const { return source_.Token(); }
  bool ShouldSplit() const { return LocalDequeLooksEmpty(scheduler_.get()); }
  int64_t grain() const { return grain_; }
  ThreadPool* pool() const { return pool_; }
  void AddCompleted(int64_t n) {
    // Relaxed: read after every piece joined (P4's waits synchronise).
    completed_.fetch_add(n, std::memory_order_relaxed);
  }
  int64_t completed() const {
    return completed_.load(std::memory_order_relaxed);
  }
  void Fail(absl::Status status);
  void NotePieceStatus(const absl::Status& status);
  absl::Status FinalStatus() const;

 private:
  std::shared_ptr<Scheduler> scheduler_;
  ThreadPool* pool_;
  CancellationSource source_;
  const int64_t grain_;
  std::atomic<int64_t> completed_{0};
  mutable absl::Mutex mu_;
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);
  absl::Status piece_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pool_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_INTERNAL_COMPOSE_H_
