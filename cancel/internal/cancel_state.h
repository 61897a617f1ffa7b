// Copyright 2026 The cancelpool Authors.
//
// cancel_internal::CancelState: the shared state behind a CancellationSource,
// its tokens, and every pool task's token. Not part of the public API: users
// include cancelpool/cancel/cancellation.h. The pool embeds a CancelState in
// each task block so that future state, callable and token share one heap
// allocation.
//
// THE STATE WORD
// `word_` packs everything that must change atomically together:
//   kRequested  cancellation has been requested; `reason_` is published.
//   kLocked     a spin lock over the callback list (`head_`, `running_`,
//               `requesting_thread_`).
//   kClosed     no further request has any effect (a finished task).
//   owner bits  bits from kFirstOwnerBit up belong to the embedding type (the
//               pool keeps its task phase there, so "cancel before start" and
//               "start" are decided by one read-modify-write of one word).
//
// PROTOCOL: REQUEST (RequestCancellation)
//   1. Take kLocked with a CAS that fails (returns false: lost) if kRequested
//      or kClosed is set.
//   2. Write `reason_` and `requesting_thread_`.
//   3. Set kRequested and drop kLocked in one RMW (acq_rel): the
//      linearization point. Readers that see kRequested (acquire) see
//      `reason_`. Close() cannot slip in between 1 and 3: it waits while
//      kLocked is set. Before it, still under kLocked, note whether the
//      callback list is empty: after it the list can only shrink, so an
//      empty list means step 5 has nothing to do, and the request ends after
//      the hook of step 4 without touching the state again (the fast path:
//      no reference needed, no user callback runs).
//   4. Call the request hook (RequestHook, below) with the old word (the
//      pool resolves a task that had not started; user destructors may run,
//      so no lock). With callbacks, first take a reference (TryRef) for steps
//      4-5, and request the std bridge's stop_source if there is one, so that
//      std::stop_tokens do not wait for the callbacks (the bridge is also a
//      callback, for a bridge created concurrently, and GetStopToken requests
//      it for a caller that saw kRequested).
//   5. While the callback list is non-empty: under kLocked unlink the head
//      node and remember it in `running_`; drop kLocked; invoke it; mark it
//      complete unless it was destroyed from inside itself. No lock is held
//      while user code runs. Then drop the reference of step 4, which may
//      destroy the state.
//   The reference lets a callback drop the state's last owner (an object
//   that tears itself down on cancellation) while its own request runs: a
//   propagation from a parent link or a std::stop_token holds none. TryRef
//   fails only for a state whose count already reached zero: its destructor
//   is waiting (ParentLink::Detach, ~std::stop_callback) for this very
//   propagation, and no owner is left to observe the request.
//   The hook is a function pointer stored at construction, not a virtual
//   function: the fast path (no callbacks) holds no reference, so an owner
//   may finish and destroy the state while step 4 runs (a running task whose
//   parent was just cancelled returns, closes and is freed); its derived
//   destructors rewrite the object's vtable pointer, which a virtual call
//   would read concurrently (a data race, and formally undefined behaviour).
//   The hook pointer is written once, before sharing, and no destructor
//   touches it; the hook itself touches only what its owner keeps alive
//   (the pool's returns at once for a started task). The fast path stays at
//   two RMWs (steps 1 and 3) and one indirect call.
//   Races ruled out: two requesters (step 1 admits one); a reader seeing
//   kRequested with a stale reason (step 2 before the release in 3); a request
//   racing Close() (exactly one of "request won" / "closed first"); a callback
//   registered concurrently with the request (registration holds kLocked and
//   either lands in the list before step 3, so step 5 runs it, or observes
//   kRequested and runs inline: never both, never neither); a virtual call on
//   a state whose destructor runs (the hook above).
//
// PROTOCOL: PROPAGATION TO CHILDREN (iterative)
// A parent link's callback (ParentLink::Propagate) runs in the parent's step
// 5 and requests the child. Done by recursion, a chain of N linked states
// would need N nested requests on the stack (100k levels overflow it). So:
//   P1. The link's callback runs the child's steps 1-3 at once (cheap, no
//       recursion): the child is cancelled and its reason published before
//       the parent's request returns; without callbacks the child's hook
//       also runs at once (step 4, fast path) and it is done.
//   P2. A child with callbacks is kept alive with a reference (TryRef) and
//       pushed on this thread's stack of pending propagations (through its
//       `pending_next_`; only the winner of step 1 pushes, so a state is
//       pushed at most once in its life). If TryRef fails the child is being
//       destroyed and its destructor waits for this propagation: its steps
//       4-5 run at once, as before.
//   P3. Every RequestCancellation() call notes the stack's top when it starts
//       and, before it returns, pops and runs steps 4-5 of every state pushed
//       above that mark -- which may push their own children -- then drops
//       the reference of P2. So a chain is walked by one loop, and when any
//       RequestCancellation() returns, the callbacks of every state it
//       cancelled, however deep, have run, as with recursion; only the order
//       differs (a child's callbacks run after its parent's remaining ones).
//       A user callback that requests another source drains that request's
//       own children before it returns (its mark lies above the outer ones).
//
// PROTOCOL: DESTRUCTION (iterative)
// The last Unref() destroys the state, and a destructor may drop the last
// reference to another state (a child's links release its parents): by
// recursion, again N nested destructors. So while one state is being
// destroyed on a thread, a state whose count reaches zero on the same thread
// is put on that thread's list of pending destructions (through
// `pending_next_`: no reference is left, so nothing else uses the field) and
// destroyed by the outermost Unref() before it returns, one after another.
// The caller sees no difference: when its Unref() returns, every state it
// released is gone.

// PROTOCOL: REFERENCES (RefCountT; ReleaseIfLast)
//   R1. Ref: by a holder of a reference (relaxed increment). TryRef: by the
//       two holders of no reference that know the memory is valid -- the
//       deadline timer (under its mutex, which the destructor's Disarm
//       takes) and a parent link's propagation (before Detach returns);
//       fails once the count is zero.
//   R2. Unref: acq_rel decrement; the one that reaches zero destroys.
//   R3. ReleaseIfLast (RELEASE WITHOUT AN RMW, for an owner that knows no
//       reference can appear except by R1's TryRef): with no parent link
//       and no timer, an acquire load that reads 1 means the caller's
//       reference is the last one and no other can appear; it destroys
//       without decrementing. Otherwise it returns and the caller Unrefs.
//   Races ruled out: two destroyers (R2's decrements are totally ordered;
//   R3 reads 1 only when every other owner's R2 has happened, and none can
//   follow); another owner's writes racing the destruction (R2's release
//   pairs with R2's or R3's acquire); a TryRef reviving a state R3
//   destroys (R3 excludes both TryRef callers). Model-checked through this
//   very code: tests/reliability/refcount_model_test.cc.
//
// PROTOCOL: DEREGISTRATION (RemoveCallback)
//   Under kLocked: if the node is still listed, unlink it; done, it never runs.
//   Otherwise it was taken by a requester. If that requester is this thread
//   (we are inside the callback itself, or inside another callback of the same
//   request), flag the node as destroyed so the requester does not touch it
//   again, and return without waiting. Otherwise wait until the requester
//   marks the node complete (`completed_`, release/acquire), after which the
//   requester never touches the node again.
//
// EARLY COMPLETION (CompleteFromCallback)
//   A callback may mark its own node complete before it returns, and so tell
//   the requester not to touch the node afterwards; from then on the callback
//   does not touch the node either. The interruptible waits use this so that
//   a woken waiter need not wait for the end of its wake-up (a notify or
//   write system call, during which, on a busy machine, the waiter would
//   otherwise spin). The condition-variable and mutex waits' wake-up takes the
//   waiter's mutex, completes the node, notifies and unlocks: the waiter can
//   only return after retaking that mutex, so the notify and unlock touch only
//   the caller's objects, which outlive the wait. WaitForFd's wake-up takes a
//   reference to the waiter's eventfd, completes the node, then writes.
//
// MEMORY ORDERING
//   Everything the requesting thread did before RequestCancellation
//   happens-before anything a thread does after it observes
//   IsCancellationRequested() == true (release RMW / acquire load of word_).
#ifndef CANCELPOOL_CANCEL_INTERNAL_CANCEL_STATE_H_
#define CANCELPOOL_CANCEL_INTERNAL_CANCEL_STATE_H_

#include <atomic>
#include <cstdint>
#include <stop_token>
#include <thread>
#include <type_traits>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

namespace cancelpool {
namespace cancel_internal {

// Marks the calling thread as running user code on the library's behalf --
// cancellation callbacks (and the hooks run by a request), everything on the
// deadline timer's thread -- where waiting for a thread pool to terminate
// could deadlock (the pool may be waiting for this very request to finish)
// or stall every deadline in the process. ~ThreadPool checks it and then
// starts its shutdown without waiting (pool/thread_pool.h, DESTRUCTION).
inline thread_local int tls_library_callback_depth = 0;
class ScopedLibraryCallback {
 public:
  ScopedLibraryCallback() noexcept { ++tls_library_callback_depth; }
  ~ScopedLibraryCallback() { --tls_library_callback_depth; }
  ScopedLibraryCallback(const ScopedLibraryCallback&) = delete;
  ScopedLibraryCallback& operator=(const ScopedLibraryCallback&) = delete;
};
inline bool InLibraryCallback() noexcept {
  return tls_library_callback_depth > 0;
}

class CancelState;

// A registration in a CancelState's callback list. Embedded in the object that
// owns it (CancellationCallback, a parent link, a pool waiter); never moved
// while registered.
class CallbackNode {
 public:
  using InvokeFn = void (*)(CallbackNode* node) noexcept;

  explicit CallbackNode(InvokeFn invoke) noexcept : invoke_(invoke) {}
  CallbackNode(const CallbackNode&) = delete;
  CallbackNode& operator=(const CallbackNode&) = delete;

 private:
  friend class CancelState;

  InvokeFn invoke_;
  // Guarded by the owning state's kLocked bit.
  CallbackNode* next_ = nullptr;
  CallbackNode* prev_ = nullptr;
  bool listed_ = false;
  // Written and read only by the requesting thread (and by a destructor that
  // runs on that same thread, from inside a callback).
  bool* destroyed_flag_ = nullptr;
  // Set by the requester after the callback returned. Release; pairs with the
  // acquire load in RemoveCallback's wait, after which the requester never
  // touches this node again.
  std::atomic<bool> completed_{false};
};

class StopBridge;

// The production atomics for RefCountT; a model checker substitutes its own
// policy with the same interface (tests/reliability/relacy_atomics.h).
struct StdRefAtomics {
  template <typename T>
  using Atomic = std::atomic<T>;
  static constexpr std::memory_order relaxed = std::memory_order_relaxed;
  static constexpr std::memory_order acquire = std::memory_order_acquire;
  static constexpr std::memory_order acq_rel = std::memory_order_acq_rel;
};

// Test-only: a model's policy may set kInjectBugRelaxedSoleCheck to re-insert
// a known bug (a relaxed IsSole), to show that the model catches it.
template <typename A, typename = void>
struct InjectRelaxedSoleCheck : std::false_type {};
template <typename A>
struct InjectRelaxedSoleCheck<
    A, std::void_t<decltype(A::kInjectBugRelaxedSoleCheck)>>
    : std::bool_constant<A::kInjectBugRelaxedSoleCheck> {};

// A CancelState's reference count (REFERENCES below), generic over its
// atomics so that tests/reliability/refcount_model_test.cc model-checks this
// very code.
template <typename Atomics = StdRefAtomics>
class RefCountT {
 public:
  explicit RefCountT(uint32_t initial) noexcept : n_(initial) {}
  RefCountT(const RefCountT&) = delete;
  RefCountT& operator=(const RefCountT&) = delete;

  // By a holder of a reference (or of something that keeps the state alive
  // and owns no reference, see TryRef's callers). Relaxed: a new owner
  // needs no ordering until its own Unref, which is acq_rel.
  void Ref() noexcept { n_.fetch_add(1, Atomics::relaxed); }
  // Adds a reference unless the count is already zero.
  bool TryRef() noexcept {
    uint32_t n = n_.load(Atomics::relaxed);
    while (n != 0) {
      // Relaxed is enough: the memory is valid (the caller's guarantee), and
      // the matching Unref's acq_rel orders everything this owner does
      // against the destruction.
      if (n_.compare_exchange_strong(n, n + 1, Atomics::relaxed,
                                     Atomics::relaxed)) {
        return true;
      }
    }
    return false;
  }
  // Drops one reference; true if it was the last (the caller destroys).
  // acq_rel: the release publishes this owner's writes to whoever sees the
  // count reach zero (or one, IsSole); the acquire on the last decrement
  // pairs with every other owner's release.
  bool Unref() noexcept { return n_.fetch_sub(1, Atomics::acq_rel) == 1; }
  // True if the caller's reference is the only one (REFERENCES, R3).
  // Acquire: pairs with the release of every other owner's Unref, so their
  // writes happen before the caller's destruction.
  bool IsSole() const noexcept {
    return n_.load(InjectRelaxedSoleCheck<Atomics>::value
                       ? Atomics::relaxed
                       : Atomics::acquire) == 1;
  }

 private:
  typename Atomics::template Atomic<uint32_t> n_;
};

class CancelState {
 public:
  static constexpr uint32_t kRequested = 1u << 0;
  static constexpr uint32_t kLocked = 1u << 1;
  static constexpr uint32_t kClosed = 1u << 2;
  static constexpr int kFirstOwnerBit = 3;

  // Called by the winning requester (step 4) with the word as it was just
  // before the request, after the reason is published and before callbacks
  // run. May run concurrently with the owner's destructor of a derived
  // object when the state has no callbacks (see the protocol): it must not
  // touch what its owner does not keep alive.
  using RequestHook = void (*)(CancelState* state,
                               uint32_t previous_word) noexcept;

  CancelState(const CancelState&) = delete;
  CancelState& operator=(const CancelState&) = delete;

  // The hot check: one acquire load. Pairs with the RMW in
  // RequestCancellation that sets kRequested.
  bool IsCancellationRequested() const noexcept {
    return (word_.load(std::memory_order_acquire) & kRequested) != 0;
  }

  // Requests cancellation. Returns true if this call won (first request, and
  // the state was not closed). A non-OK `reason` is kept as given; an OK one
  // becomes absl::CancelledError("cancellation requested").
  bool RequestCancellation(absl::Status reason) noexcept;

  // The reason given by the winning request; OkStatus() if none yet.
  absl::Status Reason() const noexcept;

  // The earliest deadline this state will be cancelled at, or
  // absl::InfiniteFuture(). Immutable once the state is shared.
  absl::Time Deadline() const noexcept { return deadline_; }

  // Registers `node`. Returns false, without registering, if cancellation was
  // already requested: the caller must then invoke the callback itself.
  bool TryAddCallback(CallbackNode* node) noexcept;
  // Deregisters `node` (see the protocol above), waiting for its callback if
  // it is running on another thread. `node` must have been registered with
  // TryAddCallback returning true.
  void RemoveCallback(CallbackNode* node) noexcept {
    if (!TryRemoveCallback(node)) WaitCallbackComplete(node);
  }
  // The non-waiting half: true if the node is gone for good (unlinked, or
  // destroyed from inside its own callback); false if a requester on another
  // thread took it, in which case call WaitCallbackComplete() -- after
  // releasing any lock that callback may need.
  bool TryRemoveCallback(CallbackNode* node) noexcept;
  static void WaitCallbackComplete(CallbackNode* node) noexcept;
  // True once the requester (or the callback itself, see below) marked a
  // taken node complete. Acquire: pairs with the release that marks it.
  static bool IsCallbackComplete(const CallbackNode* node) noexcept {
    return node->completed_.load(std::memory_order_acquire);
  }
  // Called by the callback of `node`, on the requesting thread, while a
  // requester is running it: marks the node complete now, as if the callback
  // had returned, so that a RemoveCallback waiting on another thread may
  // return and free it; the requester will not touch the node again, and
  // neither may the rest of the callback (copy what it needs first). Not for
  // callbacks run inline by a registration. At most once per node.
  static void CompleteFromCallback(CallbackNode* node) noexcept;

  // Reference counting for the enclosing allocation.
  void Ref() noexcept { refs_.Ref(); }
  // Adds a reference only if the count is not already zero (the deadline
  // timer and a request use this to avoid reviving a state being destroyed).
  // The caller must know the memory is still valid: the timer holds its
  // mutex, which the destructor's Disarm() takes; a request runs before the
  // destructor's unlinking returns.
  bool TryRef() noexcept { return refs_.TryRef(); }
  void Unref() noexcept {
    // acq_rel inside (RefCountT::Unref): the release publishes this owner's
    // writes to whoever sees the count reach zero; the acquire on the last
    // decrement pairs with every other owner's release before destruction.
    if (refs_.Unref()) Destroy();
  }

  // Sets kClosed (waiting out a request's brief step 1-3 window): later
  // requests return false and have no effect. Returns the word before the
  // change; `previous & kRequested` tells whether a request came first.
  // `extra_bits` are or-ed in by the same RMW (the pool's "done" phase).
  uint32_t Close(uint32_t extra_bits = 0) noexcept;

  // Access to the whole word for embedding types (owner bits).
  std::atomic<uint32_t>& word() noexcept { return word_; }
  const std::atomic<uint32_t>& word() const noexcept { return word_; }

  // Arms the shared deadline timer for `deadline` (an absl::Now() time,
  // converted once to the monotonic clock: clock.h) and records it. Must be
  // called before the state is shared with other threads, at most once. A
  // deadline already in the past requests cancellation immediately. The
  // timer is armed even when a parent's deadline is earlier: a parent may be
  // closed without being cancelled (a finished task), and then nothing else
  // would ever cancel this state at its own deadline.
  void ArmDeadline(absl::Time deadline) noexcept;
  // The same for a relative timeout, measured on the monotonic clock only
  // (immune to wall-clock steps); Deadline() reports absl::Now() + timeout.
  void ArmTimeout(absl::Duration timeout) noexcept;
  // The std::stop_source bridged to this state (created on first use).
  std::stop_token GetStopToken() noexcept;

  // Records an inherited deadline (from a parent) without arming a timer: the
  // parent's own timer will propagate. Before sharing only.
  void InheritDeadline(absl::Time deadline) noexcept {
    if (deadline < deadline_) deadline_ = deadline;
  }

 protected:
  explicit CancelState(uint32_t initial_word = 0, uint32_t initial_refs = 1,
                       RequestHook request_hook = nullptr) noexcept
      : word_(initial_word), refs_(initial_refs), request_hook_(request_hook) {}
  // Disarms the deadline timer. The embedding type's destructor must have
  // removed every callback node it owns by now.
  virtual ~CancelState();

  // Called when the last reference goes away; frees the enclosing allocation.
  virtual void DestroyState() noexcept = 0;

  // RELEASE WITHOUT AN RMW (the pool's sole-owner finish, pool/internal/
  // task.h, F1-F4). For an owner holding one reference, after its last use
  // of the state: if that reference is the only one left, destroys the state
  // (DESTRUCTION, as Unref would) and returns true; otherwise changes nothing
  // and returns false (the caller goes on with its usual path and Unref).
  // Only valid where no thread can take a new reference without already
  // holding one, which the caller must guarantee, except for the two ways
  // this class itself offers (TryRef): the deadline timer and a parent
  // link's propagation -- a state with either (`has_parent_link`, an armed
  // timer) is refused here.
  bool ReleaseIfLast(bool has_parent_link) noexcept {
    if (has_parent_link || uses_timer_) return false;
    // Acquire inside IsSole: pairs with the acq_rel fetch_sub of every other
    // owner's Unref, so everything they did happens before the destruction.
    if (!refs_.IsSole()) return false;
    Destroy();
    return true;
  }

  // REQUEST for an owner that resolves many states in one pass (the pool's
  // cancel shutdown, pool/internal/shutdown.cc): steps 1-3 as in
  // RequestCancellation, with `reason` copied (one reference on its rep).
  // Returns false if this call lost. On a win, *previous is the word before
  // the request, and:
  //   - with callbacks, steps 4-5 ran here, hook included, exactly as in
  //     RequestCancellation (*hook_ran = true);
  //   - without (the common case), the hook was NOT called (*hook_ran =
  //     false): the caller must do the hook's work itself, later, and must
  //     keep the state alive until then (hold a reference).
  // A non-OK `reason` is required.
  bool RequestDeferringHook(const absl::Status& reason, uint32_t* previous,
                            bool* hook_ran) noexcept;

 private:
  friend class DeadlineTimer;
  friend class ParentLink;

  // Steps 1-3. False if the request lost (already requested, or closed).
  bool WinRequest(absl::Status reason, uint32_t* previous,
                  bool* has_callbacks) noexcept;
  // Step 4 (the hook) and, when the state has callbacks, step 5.
  void FinishRequest(uint32_t previous, bool has_callbacks) noexcept;
  // A request from a parent link's callback (PROPAGATION, P1-P2).
  void RequestFromParent(absl::Status reason) noexcept;
  // PROPAGATION P3: runs the pending propagations above `mark`.
  static void DrainPropagations(CancelState* mark) noexcept;
  // DESTRUCTION: DestroyState(), iteratively.
  void Destroy() noexcept;
  void ArmAt(absl::Time deadline, absl::Duration due) noexcept;

  void Lock() noexcept;
  void Unlock() noexcept {
    // Release: publishes list changes to the next locker's acquire.
    word_.fetch_and(~kLocked, std::memory_order_release);
  }

  std::atomic<uint32_t> word_;
  RefCountT<> refs_;
  // Written once by the winning requester before it sets kRequested
  // (release), read only after observing kRequested (acquire).
  absl::Status reason_;
  // Guarded by kLocked.
  CallbackNode* head_ = nullptr;
  CallbackNode* running_ = nullptr;
  std::thread::id requesting_thread_;
  // Immutable after sharing.
  const RequestHook request_hook_;
  // The effective deadline (own and inherited). Immutable after sharing.
  absl::Time deadline_ = absl::InfiniteFuture();
  // This state's own deadline on the monotonic clock (clock.h): the timer's
  // key. Set by ArmAt before sharing; immutable after.
  absl::Duration timer_due_ = absl::InfiniteDuration();
  // A pending propagation (PROPAGATION P2: the next entry, and the old word
  // of the winning request) or a pending destruction (DESTRUCTION: the next
  // entry). Used only by the thread that pushed the state, while it is on
  // one of those per-thread lists, which it never is on both at once (a
  // pending propagation holds a reference).
  CancelState* pending_next_ = nullptr;
  uint32_t pending_previous_ = 0;
  // Created once by GetStopToken (CAS; acq_rel pairs with the acquire load of
  // later callers), destroyed with the state.
  std::atomic<StopBridge*> stop_bridge_{nullptr};
  // Set by ArmDeadline before sharing; immutable after.
  bool uses_timer_ = false;
  // Deadline timer bookkeeping, guarded by the timer's mutex.
  bool timer_armed_ = false;
  size_t timer_index_ = 0;
};

// Ref-counting smart pointer for CancelState.
class StateRef {
 public:
  StateRef() noexcept = default;
  // Adopts one existing reference.
  static StateRef Adopt(CancelState* state) noexcept {
    StateRef r;
    r.state_ = state;
    return r;
  }
  // Adds a reference.
  static StateRef Share(CancelState* state) noexcept {
    if (state != nullptr) state->Ref();
    return Adopt(state);
  }
  StateRef(const StateRef& other) noexcept : state_(other.state_) {
    if (state_ != nullptr) state_->Ref();
  }
  StateRef(StateRef&& other) noexcept : state_(other.state_) {
    other.state_ = nullptr;
  }
  StateRef& operator=(StateRef other) noexcept {
    std::swap(state_, other.state_);
    return *this;
  }
  ~StateRef() {
    if (state_ != nullptr) state_->Unref();
  }
  CancelState* get() const noexcept { return state_; }
  CancelState* operator->() const noexcept { return state_; }
  explicit operator bool() const noexcept { return state_ != nullptr; }
  CancelState* Release() noexcept {
    CancelState* s = state_;
    state_ = nullptr;
    return s;
  }

 private:
  CancelState* state_ = nullptr;
};

// Links a child state to a parent: when the parent is cancelled, the child is
// cancelled with the parent's reason. Holds a reference on the parent while
// attached. Embedded in the child; Detach() before the child is destroyed.
class ParentLink final : private CallbackNode {
 public:
  ParentLink() noexcept : CallbackNode(&Propagate) {}
  ~ParentLink() { Detach(); }

  // Attaches `child` under `parent` (may be null: no-op). If the parent is
  // already cancelled, cancels the child now.
  void Attach(CancelState* parent, CancelState* child) noexcept;
  void Detach() noexcept {
    if (parent_ != nullptr) DetachSlow();
  }
  // True between Attach (with a parent) and Detach. Owner thread only.
  bool attached() const noexcept { return parent_ != nullptr; }

 private:
  static void Propagate(CallbackNode* node) noexcept;
  void DetachSlow() noexcept;

  CancelState* parent_ = nullptr;
  CancelState* child_ = nullptr;
  bool registered_ = false;
};

// absl::CancelledError("cancellation requested"): the default reason.
absl::Status DefaultCancelReason();

}  // namespace cancel_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_CANCEL_INTERNAL_CANCEL_STATE_H_
