// Copyright 2026 The cancelpool Authors.
//
// The task block: one heap allocation per Submit holding the task's
// cancellation state (its token), its future state (result, outcome, waiters)
// and the callable itself.
//
// PROTOCOL: CANCEL VERSUS START
// The task's phase lives in the owner bits of the same atomic word as its
// cancellation state (cancel_internal::CancelState), so one read-modify-write
// decides every race:
//   1. Submit: the block starts with no phase bits: "queued".
//   2. Start (a worker popped it, or a helping wait runs it inline): CAS the
//      word from "no kRequested, no kStarted" to "kStarted". Fails if the task
//      was already started (the other runner wins) or cancellation was
//      requested (the requester resolves it, step 3).
//   3. Request (Future::Cancel, parent, deadline, pool shutdown): the
//      cancellation RMW sets kRequested and returns the previous word.
//      OnCancellationRequested() sees whether kStarted was set:
//        - not started: the task will never run. The requesting thread
//          stores the cancelled result, updates the pool's statistics,
//          destroys the callable (captured resources are released at once;
//          as a library callback, cancel_internal::ScopedLibraryCallback)
//          and resolves
//          the future (step 5),
//          even while the block still sits in a deque; the worker that pops
//          it later fails step 2 and drops its reference -- or, if the
//          requester has not resolved it yet, puts it back in a queue, so
//          the pool cannot terminate (and be freed) while the requester
//          still updates the pool's statistics (shutdown.cc, T1).
//        - started: the token is now cancelled; callbacks run; the task sees
//          it at its next check. The runner resolves when the task returns.
//   4. Finish: the runner stores the result, destroys the callable, then
//      resolves.
//   5. Resolve: Close(kResolved) sets kClosed|kResolved in one RMW (release:
//      publishes the result), then wakes waiters if kWaiters was set. After
//      kClosed, cancellation requests have no effect and report false.
// Races ruled out: a task both cancelled-before-start and run (step 2 and 3
// are RMWs on one word: exactly one of "never ran" and "ran, and its token is
// cancelled" holds); a future resolved twice (only the step-3 requester of an
// unstarted task, or the runner of a started one, resolves); a callable
// destroyed while running (the requester destroys it only when kStarted was
// clear, which then can never be set); a lost wake-up of a waiter (waiters
// set kWaiters with a CAS before sleeping on the word with FUTEX_WAIT, which
// fails if the word changed; Resolve's RMW reads kWaiters).
//
// PROTOCOL: RESOLVE LISTENER (completion without a parked thread)
// A combinator (Then, WhenAll/WhenAny, TaskGroup, Hedge: pool/internal/
// compose.h) learns that a task resolved from the resolving thread itself.
// One listener per block, registered by the single owner of the block's
// future reference (the combinator that consumed the Future):
//   L1. Register (AddListener): write `listener_` (plain), then CAS the word
//       from "no kResolved" to "| kListener" (release: publishes
//       `listener_`). The CAS fails only because the word changed; if it
//       finds kResolved the registration is refused (returns false) and the
//       caller runs its listener itself, after the acquire that saw
//       kResolved (the result is visible).
//   L2. Resolve (step 5) is unchanged: its one acq_rel RMW (Close) returns
//       the previous word. If that word holds kListener, the resolver calls
//       `listener_->on_resolved` after waking waiters; the RMW's acquire
//       pairs with L1's release, so `listener_` is visible. The block is
//       alive: the listener owns the future's reference and drops it only
//       inside on_resolved (the resolver's own reference covers Resolve).
//   L3. on_resolved runs on the resolving thread: a worker after the task
//       returned, the thread that cancelled an unstarted task (possibly
//       inside a cancellation callback or the deadline timer), or a
//       shutdown. It must not block and must not wait for the task's pool.
//   L4. kHeld (set before sharing by SetHeld): a continuation block that
//       exists (its future is handed out) but must not start before its
//       antecedent resolves. TryStart fails while it is set, and helping
//       waits do not run it inline (helping.cc, H1). A cancellation may
//       still resolve it (step 3: not started). Scheduler::SubmitHeld
//       clears it when the block is queued.
// Races ruled out: a listener both run by the resolver and by the registrar,
// or by neither (L1's CAS and L2's RMW act on one word: exactly one sees the
// other); a resolver reading a half-written `listener_` (release/acquire
// through the word); a held continuation started before its input resolved
// (L4). Cost on the plain path: none -- no registration, no RMW; Resolve
// only tests one more bit of the value its existing RMW returns.
//
// PROTOCOL: SOLE-OWNER FINISH (a task whose future was dropped)
// A fire-and-forget task (its Future destroyed unread: a chain's links, a
// Post) has nobody left to observe its resolution. Its runner then skips
// step 5's Close and the reference drop's RMW, and destroys the block
// directly:
//   F1. The runner (worker.cc, RunTask, holding the queue's reference) has
//       run the task (step 4 minus Resolve: the callable is destroyed, the
//       statistics counted) and has taken the task out of its running slot
//       (R2 of running_task.h), so a shutdown's claim can no longer reach it.
//   F2. If the token has no parent link and no deadline timer (both fixed
//       before sharing), and the reference count reads 1 (acquire), the
//       runner's reference is the only one: the block is destroyed at once
//       (CancelState::ReleaseIfLast), never closed or resolved.
//   F3. Otherwise: Resolve (step 5) and drop the reference as before.
//   F4. Every other way to reach a block holds a reference of its own: the
//       Future (waits, Cancel, listeners: L1 is registered by the future's
//       owner), tokens handed out by the task (CurrentToken, a
//       CancellationToken argument copied somewhere), a helping wait (H1
//       takes one), a shutdown's claim on the running slot (S2 takes one
//       before releasing its claim, and R2 waits for that release), a task
//       group. The only ways that add a reference without holding one are
//       TryRef's: the deadline timer and a parent link's propagation (P2),
//       excluded by F2.
// Races ruled out: a block destroyed under another owner (a count of 1,
// read after F1, means no other owner exists and, by F4, none can appear);
// another owner's writes (a Future::Cancel just before its Unref) racing the
// destruction (the acquire load pairs with that Unref's release); a waiter
// or listener never woken (both need the future, so the count is 2 and F3
// resolves as before).
#ifndef CANCELPOOL_POOL_INTERNAL_TASK_H_
#define CANCELPOOL_POOL_INTERNAL_TASK_H_

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <new>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/current.h"
#include "cancelpool/cancel/internal/cancel_state.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/internal/task_allocator.h"

namespace cancelpool {

// How a task ended: defined in cancelpool/pool/future.h (public), declared
// here so that the task block can store it. TaskOutcome{} is kPending.
enum class TaskOutcome : int;

namespace pool_internal {

using cancel_internal::CancelState;

class Scheduler;

inline constexpr uint32_t kStarted = 1u << (CancelState::kFirstOwnerBit + 0);
inline constexpr uint32_t kResolved = 1u << (CancelState::kFirstOwnerBit + 1);
// A waiter is (or may be) sleeping on the word.
inline constexpr uint32_t kWaiters = 1u << (CancelState::kFirstOwnerBit + 2);
// Toggled to make a sleeping waiter's FUTEX_WAIT fail (its own token fired).
inline constexpr uint32_t kWakeToggle = 1u << (CancelState::kFirstOwnerBit + 3);
// A resolve listener is registered (L1).
inline constexpr uint32_t kListener = 1u << (CancelState::kFirstOwnerBit + 4);
// A continuation waiting for its antecedent: must not start (L4).
inline constexpr uint32_t kHeld = 1u << (CancelState::kFirstOwnerBit + 5);

class TaskBase;

// Called once when the task it is registered on resolves (L2, L3).
struct ResolveListener {
  void (*on_resolved)(ResolveListener* self, TaskBase* task) noexcept;
};

// The type-independent part of a task block.
class TaskBase : public CancelState {
 public:
  // Step 2. True if the caller now runs the task.
  bool TryStart() noexcept {
    // Relaxed: only a first guess for the CAS below, which re-reads.
    uint32_t w = word().load(std::memory_order_relaxed);
    for (;;) {
      if ((w & (kRequested | kStarted | kClosed | kHeld)) != 0) return false;
      // acq_rel: acquire pairs with the submitter's publication of the
      // block; release orders the start before the runner's later writes as
      // seen by a requester's RMW.
      if (word().compare_exchange_weak(w, w | kStarted,
                                       std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
  }

  // L1. Registers `listener` to run when the task resolves. Returns false,
  // without registering, if it resolved already: the caller then runs the
  // listener itself. At most one listener per block.
  bool AddListener(ResolveListener* listener) noexcept {
    listener_ = listener;
    // Acquire (here and on a failed CAS): a kResolved seen pairs with
    // Resolve's release, so the result is visible to the caller.
    uint32_t w = word().load(std::memory_order_acquire);
    for (;;) {
      if ((w & kResolved) != 0) return false;
      // Release: publishes listener_ to the resolver's acq_rel Close (L2).
      if (word().compare_exchange_weak(w, w | kListener,
                                       std::memory_order_release,
                                       std::memory_order_acquire)) {
        return true;
      }
    }
  }
  // L4. Before sharing only.
  void SetHeld() noexcept {
    // Relaxed: the block is not shared yet; publication of the block
    // (Future handed out, queue push) orders it.
    word().fetch_or(kHeld, std::memory_order_relaxed);
  }
  void ClearHeld() noexcept {
    // Release: pairs with TryStart's acquire; the writes of whoever cleared
    // it (the antecedent's result is final) happen before the run.
    word().fetch_and(~kHeld, std::memory_order_release);
  }
  bool IsHeld() const noexcept {
    // Relaxed: a hint for helping waits; TryStart decides.
    return (word().load(std::memory_order_relaxed) & kHeld) != 0;
  }

  bool IsResolved() const noexcept {
    // Acquire: pairs with Resolve's release; the result is visible after.
    return (word().load(std::memory_order_acquire) & kResolved) != 0;
  }
  // True while a cancellation that arrived before the start is still being
  // resolved by its requester (step 3: kRequested, neither kStarted nor
  // kResolved yet). Whoever pops such a block keeps it queued (shutdown.cc,
  // T1).
  bool ResolvingBeforeStart() const noexcept {
    const uint32_t w = word().load(std::memory_order_acquire);
    return (w & kRequested) != 0 && (w & (kStarted | kResolved)) == 0;
  }
  bool WasStarted() const noexcept {
    // Acquire: pairs with TryStart's acq_rel CAS.
    return (word().load(std::memory_order_acquire) & kStarted) != 0;
  }
  // Valid once resolved.
  TaskOutcome outcome() const noexcept { return outcome_; }

  // Runs the callable (after a successful TryStart), stores the result and
  // destroys the callable. Never throws. The caller then counts the outcome
  // and calls Finish(), so statistics are exact for anyone who has seen the
  // future resolved.
  TaskOutcome Execute() noexcept;
  void Finish(TaskOutcome outcome) noexcept { Resolve(outcome); }
  // F2: for the runner holding the queue's reference, after R2. True if the
  // block was the runner's alone and is now destroyed (no Finish, no Unref);
  // false: Finish and Unref as usual.
  bool ReleaseIfSoleOwner() noexcept {
    return ReleaseIfLast(parent_link_.attached());
  }

  // Blocks (no helping) until resolved (kReady), `waiter`'s cancellation
  // (kCancelled; if not null), or `deadline` (kTimeout).
  WaitResult BlockUntilResolved(CancelState* waiter, absl::Time deadline);

  // Where the task runs, for leapfrogging (helping.cc, H3): the
  // runner's worker index and its deque's Bottom() when the task started.
  // Set once by the runner right after TryStart (release; pairs with the
  // acquire in runner()). 0 = not started yet (or not on a worker).
  void set_runner(int worker_index, int64_t deque_mark) noexcept {
    runner_.store((static_cast<uint64_t>(worker_index) + 1) << kRunnerShift |
                      static_cast<uint64_t>(deque_mark),
                  std::memory_order_release);
  }
  bool runner(int* worker_index, int64_t* deque_mark) const noexcept {
    const uint64_t r = runner_.load(std::memory_order_acquire);
    if (r == 0) return false;
    *worker_index = static_cast<int>(r >> kRunnerShift) - 1;
    *deque_mark = static_cast<int64_t>(r & ((uint64_t{1} << kRunnerShift) - 1));
    return true;
  }

  // The monotonic time (QueueDelayShedder::NowNanos) Submit queued the task
  // at; stamped only while queue-delay shedding is on. Written before the
  // task is queued, read by the thread that popped it (the queue's
  // publication orders them).
  void set_enqueued_ns(int64_t ns) noexcept { enqueued_ns_ = ns; }
  int64_t enqueued_ns() const noexcept { return enqueued_ns_; }

  Scheduler* scheduler() const noexcept { return scheduler_; }
  void set_scheduler(Scheduler* s) noexcept { scheduler_ = s; }
  // Links the token under `parent` (may be null) and arms `deadline` (may
  // be InfiniteFuture). Before sharing only. The token reports the earliest
  // of the two deadlines, and the task's own deadline always fires (even
  // under a parent with an earlier one: CancelState::ArmDeadline).
  void AttachParentAndDeadline(CancelState* parent, absl::Time deadline) {
    // Inline: most tasks have neither, and this is on every Submit.
    if (parent != nullptr) AttachParent(parent);
    if (deadline != absl::InfiniteFuture()) ArmDeadline(deadline);
  }

  // A cancel shutdown's one-pass resolution of queued tasks (shutdown.cc,
  // SQ2-SQ4). ClaimForShutdownCancel is step 3's request with the hook's work
  // deferred: kClaimed means the task never started and is now cancelled
  // (its token reports `reason`) but not resolved -- the caller, which holds
  // the queue's reference, must call ResolveCancelledUnstarted (the hook's
  // work minus the statistics, which the caller counts for the whole batch
  // first). kResolvedByHook: the task had callbacks, so the request ran in
  // full and the hook resolved it (statistics included). kStarted: it was
  // started (its token is now cancelled; its runner resolves it). kLost:
  // another request or the close came first.
  enum class ShutdownClaim { kLost, kStarted, kResolvedByHook, kClaimed };
  ShutdownClaim ClaimForShutdownCancel(const absl::Status& reason) noexcept {
    uint32_t previous;
    bool hook_ran;
    if (!RequestDeferringHook(reason, &previous, &hook_ran)) {
      return ShutdownClaim::kLost;
    }
    if ((previous & kStarted) != 0) return ShutdownClaim::kStarted;
    return hook_ran ? ShutdownClaim::kResolvedByHook : ShutdownClaim::kClaimed;
  }
  // For a kClaimed task: stores `reason` (the claim's) as the result,
  // destroys the callable and resolves the future (kCancelled), waking
  // waiters and the listener if any. Call inside a ScopedLibraryCallback.
  void ResolveCancelledUnstarted(const absl::Status& reason) noexcept;

  // Resolves a block that never ran with `status` (rejected by admission or
  // shutdown): outcome kFailed. Before sharing, or by the thread whose
  // TryStart succeeded instead of running it (a shed task, worker.cc).
  void ResolveRejected(absl::Status status) noexcept;

  // Task blocks come from per-thread caches (task_allocator.h). The deleting
  // destructor passes the most-derived type's size. A block whose callable
  // or result is over-aligned (alignof above
  // __STDCPP_DEFAULT_NEW_ALIGNMENT__: an alignas(64) capture, an __m256) is
  // allocated by the aligned forms, which C++17 picks for such types: still
  // one allocation, aligned as the type requires (the caches hand out only
  // default-aligned blocks, so these bypass them).
  static void* operator new(size_t size) { return AllocateTaskBlock(size); }
  static void operator delete(void* block, size_t size) noexcept {
    FreeTaskBlock(block, size);
  }
  static void* operator new(size_t size, std::align_val_t alignment) {
    return AllocateAlignedTaskBlock(size, alignment);
  }
  static void operator delete(void* block, size_t size,
                              std::align_val_t alignment) noexcept {
    FreeAlignedTaskBlock(block, size, alignment);
  }

 protected:
  // Two references: the queue's and the future's.
  TaskBase() noexcept : CancelState(0, 2, &OnCancellationRequested) {}
  ~TaskBase() override;

  // Runs the callable and stores its result; then restores the thread's
  // cancellation context to `saved` and destroys the callable (one virtual
  // call per run). Returns the callable's status (OK if it produced a
  // value). An exception escaping the callable propagates with the callable
  // alive and the context not restored: Execute() catches it and does both.
  virtual absl::Status InvokeAndDestroyCallable(
      const cancel_internal::ThreadCancelContext& saved) = 0;
  virtual void DestroyCallable() noexcept = 0;
  // Stores a non-OK result.
  virtual void SetError(absl::Status status) noexcept = 0;

 private:
  // The CancelState request hook (a function, not a virtual override: see
  // cancel_state.h, step 4).
  static void OnCancellationRequested(CancelState* state,
                                      uint32_t previous_word) noexcept;
  void Resolve(TaskOutcome outcome) noexcept;
  void AttachParent(CancelState* parent) noexcept;

  // Deque indices stay far below 2^48 (one per push).
  static constexpr int kRunnerShift = 48;

  Scheduler* scheduler_ = nullptr;
  int64_t enqueued_ns_ = 0;
  // Written by L1 before its release CAS; read by L2 after the acq_rel Close.
  ResolveListener* listener_ = nullptr;
  std::atomic<uint64_t> runner_{0};
  // Written before Resolve's release RMW; read after an acquire of kResolved.
  TaskOutcome outcome_ = TaskOutcome{};  // kPending
  cancel_internal::ParentLink parent_link_;
};

// The callable's return type, unwrapped: void/absl::Status -> void,
// absl::StatusOr<T> -> T, T -> T.
template <typename T>
struct UnwrapResult {
  using type = T;
};
template <>
struct UnwrapResult<absl::Status> {
  using type = void;
};
template <typename T>
struct UnwrapResult<absl::StatusOr<T>> {
  using type = T;
};

// Result storage: absl::Status for void, absl::StatusOr<R> otherwise.
template <typename R>
struct ResultSlot {
  using Type = absl::StatusOr<R>;
};
template <>
struct ResultSlot<void> {
  using Type = absl::Status;
};

template <typename R>
class FutureState : public TaskBase {
 public:
  using Result = typename ResultSlot<R>::Type;

  // Valid once resolved. Taken by Future::Get (moved out once).
  Result& result() noexcept { return result_; }

 protected:
  void SetError(absl::Status status) noexcept override {
    result_ = std::move(status);
  }
  absl::Status InvokeAndDestroyCallable(
      const cancel_internal::ThreadCancelContext& saved) override {
    cancel_internal::tls_cancel_context = saved;
    DestroyCallable();
    return absl::InternalError("no callable");
  }
  void DestroyCallable() noexcept override {}

  // Only read after kResolved, when it holds the real result. Until then a
  // placeholder as cheap as possible: a value-initialised value for a
  // trivially constructible R (an OK StatusOr: no call), else the default
  // (absl::Status: OK; StatusOr<R>: kUnknown, inline, no allocation).
  Result result_ = InitialResult();

 private:
  static Result InitialResult() noexcept {
    if constexpr (!std::is_void_v<R> &&
                  std::is_trivially_default_constructible_v<R>) {
      return Result(absl::in_place);
    } else {
      return Result();
    }
  }
  void DestroyState() noexcept override { delete this; }
};

// How the callable receives the task's token, if at all.
enum class TokenArg { kNone, kOurs, kStd };

template <typename F>
constexpr TokenArg DetectTokenArg() {
  if constexpr (std::is_invocable_v<F&, CancellationToken>) {
    return TokenArg::kOurs;
  } else if constexpr (std::is_invocable_v<F&, std::stop_token>) {
    return TokenArg::kStd;
  } else {
    return TokenArg::kNone;
  }
}

template <typename F>
struct CallableTraits {
  static constexpr TokenArg kTokenArg = DetectTokenArg<F>();
  using RawResult = typename decltype([] {
    if constexpr (kTokenArg == TokenArg::kOurs) {
      return std::type_identity<std::invoke_result_t<F&, CancellationToken>>();
    } else if constexpr (kTokenArg == TokenArg::kStd) {
      return std::type_identity<std::invoke_result_t<F&, std::stop_token>>();
    } else {
      return std::type_identity<std::invoke_result_t<F&>>();
    }
  }())::type;
  using Value = typename UnwrapResult<std::decay_t<RawResult>>::type;
};

template <typename F>
class TaskImpl : public FutureState<typename CallableTraits<F>::Value> {
  using Traits = CallableTraits<F>;
  using R = typename Traits::Value;
  using Raw = typename Traits::RawResult;

 public:
  template <typename G>
  explicit TaskImpl(G&& fn) {
    new (&storage_) F(std::forward<G>(fn));
  }
  ~TaskImpl() override { DestroyCallableImpl(); }

 private:
  F& fn() noexcept { return *std::launder(reinterpret_cast<F*>(&storage_)); }

  decltype(auto) Call() {
    if constexpr (Traits::kTokenArg == TokenArg::kOurs) {
      return std::invoke(fn(), cancel_internal::TokenAccess::FromState(this));
    } else if constexpr (Traits::kTokenArg == TokenArg::kStd) {
      return std::invoke(fn(), this->GetStopToken());
    } else {
      return std::invoke(fn());
    }
  }

  absl::Status InvokeAndDestroyCallable(
      const cancel_internal::ThreadCancelContext& saved) override {
    using D = std::decay_t<Raw>;
    absl::Status status;
    if constexpr (std::is_void_v<Raw>) {
      Call();
      this->result_ = absl::OkStatus();
    } else if constexpr (std::is_same_v<D, absl::Status>) {
      this->result_ = Call();
      status = this->result_;
    } else if constexpr (std::is_same_v<D, absl::StatusOr<R>>) {
      this->result_ = Call();
      status = this->result_.status();
    } else {
      this->result_.emplace(Call());
    }
    cancel_internal::tls_cancel_context = saved;
    DestroyCallableImpl();
    return status;
  }

  void DestroyCallable() noexcept override { DestroyCallableImpl(); }
  void DestroyCallableImpl() noexcept {
    if (alive_) {
      alive_ = false;
      fn().~F();
    }
  }

  alignas(F) unsigned char storage_[sizeof(F)];
  bool alive_ = true;
};

// A running task on this thread, for self-wait detection and for the
// helping rule (helping.cc, H3): `mark` is the worker deque's
// Bottom() when the task started; entries at or above it were pushed by this
// task or by tasks nested above it.
struct RunningFrame {
  TaskBase* task;
  RunningFrame* outer;
  int64_t mark;
  int depth;  // 0 for a task the worker loop runs; outer->depth + 1 above
};
inline thread_local RunningFrame* tls_running_frame = nullptr;

// Set by Resolve when it woke a thread waiting for the future (kWaiters);
// read and cleared by the worker's search (worker.cc, W2), which then yields
// its core once before it spins: the woken waiter is often placed on this
// very core.
inline thread_local bool tls_woke_waiter = false;

inline bool IsRunningOnThisThread(const TaskBase* task) {
  for (RunningFrame* f = tls_running_frame; f != nullptr; f = f->outer) {
    if (f->task == task) return true;
  }
  return false;
}

}  // namespace pool_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_INTERNAL_TASK_H_
