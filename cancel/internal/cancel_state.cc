// Copyright 2026 The cancelpool Authors.
#include "cancelpool/cancel/internal/cancel_state.h"

#include <utility>

#include "absl/time/clock.h"
#include "cancelpool/cancel/cause.h"
#include "cancelpool/cancel/internal/cause_payload.h"
#include "cancelpool/cancel/internal/clock.h"
#include "cancelpool/cancel/internal/deadline_timer.h"
#include "cancelpool/cancel/internal/spin.h"

namespace cancelpool {
namespace cancel_internal {

absl::Status DefaultCancelReason() {
  // Shared: copies bump a reference count instead of allocating a message.
  static const absl::Status* const kReason = new absl::Status(
      WithCancellationCause(absl::CancelledError("cancellation requested"),
                            CancellationCause::kRequested));
  return *kReason;
}

// A std::stop_source requested by a callback on the state.
class StopBridge final : public CallbackNode {
 public:
  StopBridge() noexcept : CallbackNode(&Fire) {}
  static void Fire(CallbackNode* node) noexcept {
    static_cast<StopBridge*>(node)->source.request_stop();
  }
  std::stop_source source;
  bool registered = false;
};

CancelState::~CancelState() {
  if (uses_timer_) DeadlineTimer::Get().Disarm(this);
  // Relaxed: the last Unref's acquire already ordered every creator's writes.
  if (StopBridge* bridge = stop_bridge_.load(std::memory_order_relaxed)) {
    if (bridge->registered) RemoveCallback(bridge);
    delete bridge;
  }
}

std::stop_token CancelState::GetStopToken() noexcept {
  // Acquire: pairs with the acq_rel CAS below that published the bridge.
  StopBridge* bridge = stop_bridge_.load(std::memory_order_acquire);
  if (bridge == nullptr) {
    auto* fresh = new StopBridge();
    if (stop_bridge_.compare_exchange_strong(bridge, fresh,
                                             std::memory_order_acq_rel,
                                             std::memory_order_acquire)) {
      bridge = fresh;
      // Only the CAS winner registers; `registered` is read by the destructor
      // after the last Unref (acquire), which orders it.
      if (TryAddCallback(bridge)) {
        bridge->registered = true;
      } else {
        bridge->source.request_stop();
      }
    } else {
      delete fresh;
    }
  }
  // A caller that has seen the cancellation gets a requested token, even if
  // the requester has not reached the bridge yet (or the creator above has
  // not requested it yet).
  if (IsCancellationRequested()) bridge->source.request_stop();
  return bridge->source.get_token();
}

void CancelState::Lock() noexcept {
  SpinWait spin;
  uint32_t w = word_.load(std::memory_order_relaxed);
  for (;;) {
    if ((w & kLocked) == 0 &&
        // Acquire: pairs with Unlock's release; we see the list as the last
        // holder left it.
        word_.compare_exchange_weak(w, w | kLocked, std::memory_order_acquire,
                                    std::memory_order_relaxed)) {
      return;
    }
    if ((w & kLocked) != 0) {
      spin.Once();
      w = word_.load(std::memory_order_relaxed);
    }
  }
}

uint32_t CancelState::Close(uint32_t extra_bits) noexcept {
  SpinWait spin;
  uint32_t w = word_.load(std::memory_order_relaxed);
  for (;;) {
    if ((w & kLocked) != 0 && (w & kRequested) == 0) {
      // A request may be between its steps 1 and 3; wait it out so that the
      // request and the close are ordered. (kLocked held for list edits after
      // the request does not matter: the request already won.)
      spin.Once();
      w = word_.load(std::memory_order_relaxed);
      continue;
    }
    // acq_rel: acquire pairs with the request's release (we see its reason);
    // release publishes the closer's writes (the task result) to anyone who
    // later observes kClosed.
    if (word_.compare_exchange_weak(w, w | kClosed | extra_bits,
                                    std::memory_order_acq_rel,
                                    std::memory_order_relaxed)) {
      return w;
    }
  }
}

namespace {

// PROPAGATION P2-P3: this thread's pending propagations, a stack linked
// through CancelState::pending_next_. Only this thread reads or writes it.
thread_local CancelState* tls_pending_propagations = nullptr;

// DESTRUCTION: whether this thread is inside Destroy(), and the states whose
// destruction waits for it, linked through CancelState::pending_next_.
thread_local bool tls_destroying = false;
thread_local CancelState* tls_pending_destructions = nullptr;

}  // namespace

bool CancelState::WinRequest(absl::Status reason, uint32_t* previous,
                             bool* has_callbacks) noexcept {
  // Step 1: lock unless already requested or closed.
  SpinWait spin;
  uint32_t w = word_.load(std::memory_order_relaxed);
  for (;;) {
    if ((w & (kRequested | kClosed)) != 0) return false;
    if ((w & kLocked) != 0) {
      spin.Once();
      w = word_.load(std::memory_order_relaxed);
      continue;
    }
    // Acquire: pairs with Unlock's release (list state).
    if (word_.compare_exchange_weak(w, w | kLocked, std::memory_order_acquire,
                                    std::memory_order_relaxed)) {
      break;
    }
  }
  // Step 2.
  // (Two assignments, not a conditional expression: that would build a
  // temporary Status on the way.)
  if (reason.ok()) {
    reason_ = DefaultCancelReason();
  } else {
    reason_ = std::move(reason);
  }
  requesting_thread_ = std::this_thread::get_id();
  // Once kRequested is set the list can only shrink (registrations are
  // refused and run inline), so an empty list now means no callback -- and
  // no registered std bridge -- will ever need this request's step 5.
  *has_callbacks = head_ != nullptr;
  // Step 3: publish, and drop kLocked in the same RMW (we hold kLocked and
  // kRequested is clear, so adding kRequested - kLocked sets the one and
  // clears the other; other bits are untouched). Release pairs with the
  // acquire load in IsCancellationRequested()/Reason() and with the next
  // locker's acquire; acquire pairs with owner-bit updates.
  *previous = word_.fetch_add(kRequested - kLocked, std::memory_order_acq_rel);
  return true;
}

bool CancelState::RequestCancellation(absl::Status reason) noexcept {
  uint32_t previous;
  bool has_callbacks;
  if (!WinRequest(std::move(reason), &previous, &has_callbacks)) return false;
  // The hook, the callbacks and the propagation to children below run user
  // code for the library (ScopedLibraryCallback, cancel_state.h).
  ScopedLibraryCallback in_callback;
  if (!has_callbacks) {
    // Fast path (step 4 only): no user callback runs, so nothing can drop an
    // owner behind our back except what the hook itself does, and after it
    // returns this thread does not touch *this. Nothing was pushed either
    // (pushes come from step 5).
    if (request_hook_ != nullptr) request_hook_(this, previous);
    return true;
  }
  CancelState* const mark = tls_pending_propagations;
  // Step 4. A callback may drop the last reference (see the protocol).
  const bool held = TryRef();
  FinishRequest(previous, has_callbacks);
  if (held) Unref();  // may destroy *this: the last access
  DrainPropagations(mark);
  return true;
}

bool CancelState::RequestDeferringHook(const absl::Status& reason,
                                       uint32_t* previous,
                                       bool* hook_ran) noexcept {
  bool has_callbacks;
  if (!WinRequest(reason, previous, &has_callbacks)) return false;
  *hook_ran = has_callbacks;
  if (!has_callbacks) return true;  // step 4 is the caller's
  // As in RequestCancellation's slow path.
  ScopedLibraryCallback in_callback;
  CancelState* const mark = tls_pending_propagations;
  const bool held = TryRef();
  FinishRequest(*previous, has_callbacks);
  if (held) Unref();
  DrainPropagations(mark);
  return true;
}

void CancelState::FinishRequest(uint32_t previous,
                                bool has_callbacks) noexcept {
  if (request_hook_ != nullptr) request_hook_(this, previous);
  if (!has_callbacks) return;
  // The std bridge first, before any callback: std-style code polling a
  // stop_token (which a callback may be waiting for) must not lag behind.
  // Acquire: pairs with GetStopToken's publishing CAS. A bridge published
  // after this load is registered as a callback (step 5) or requested by its
  // creator; request_stop() is idempotent.
  if (StopBridge* bridge = stop_bridge_.load(std::memory_order_acquire)) {
    bridge->source.request_stop();
  }
  // Step 5.
  for (;;) {
    Lock();
    CallbackNode* node = head_;
    if (node == nullptr) {
      running_ = nullptr;
      Unlock();
      break;
    }
    head_ = node->next_;
    if (head_ != nullptr) head_->prev_ = nullptr;
    node->listed_ = false;
    running_ = node;
    Unlock();

    bool destroyed = false;
    node->destroyed_flag_ = &destroyed;
    node->invoke_(node);
    if (!destroyed) {
      node->destroyed_flag_ = nullptr;
      // Release: pairs with the acquire in RemoveCallback's wait. The last
      // access to `node` by this thread.
      node->completed_.store(true, std::memory_order_release);
    }
  }
}

void CancelState::RequestFromParent(absl::Status reason) noexcept {
  // P1.
  uint32_t previous;
  bool has_callbacks;
  if (!WinRequest(std::move(reason), &previous, &has_callbacks)) return;
  if (!has_callbacks) {
    if (request_hook_ != nullptr) request_hook_(this, previous);
    return;
  }
  // P2.
  if (!TryRef()) {
    // Being destroyed; its destructor waits for this propagation.
    FinishRequest(previous, has_callbacks);
    return;
  }
  pending_previous_ = previous;
  pending_next_ = tls_pending_propagations;
  tls_pending_propagations = this;
}

void CancelState::DrainPropagations(CancelState* mark) noexcept {
  // P3. Entries above `mark` were pushed by the request that took the mark
  // (or by entries it popped); entries below belong to enclosing requests.
  while (tls_pending_propagations != mark) {
    CancelState* s = tls_pending_propagations;
    tls_pending_propagations = s->pending_next_;
    s->pending_next_ = nullptr;
    s->FinishRequest(s->pending_previous_, /*has_callbacks=*/true);
    s->Unref();  // the reference of P2; may destroy s
  }
}

void CancelState::Destroy() noexcept {
  if (tls_destroying) {
    // An enclosing Destroy() on this thread destroys it when it is done.
    pending_next_ = tls_pending_destructions;
    tls_pending_destructions = this;
    return;
  }
  tls_destroying = true;
  DestroyState();
  while (tls_pending_destructions != nullptr) {
    CancelState* s = tls_pending_destructions;
    tls_pending_destructions = s->pending_next_;
    s->DestroyState();
  }
  tls_destroying = false;
}

absl::Status CancelState::Reason() const noexcept {
  if (!IsCancellationRequested()) return absl::OkStatus();
  return reason_;
}

bool CancelState::TryAddCallback(CallbackNode* node) noexcept {
  // Take kLocked unless kRequested is set. kRequested is only ever set by a
  // requester holding kLocked (step 3), so once our CAS from a word without
  // it succeeds, no request can slip in before we unlock: no second check.
  SpinWait spin;
  // Acquire (load and failed CAS): a refusal lets the caller run its
  // callback inline, after the request's writes (release in step 3).
  uint32_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    if ((w & kRequested) != 0) return false;
    if ((w & kLocked) != 0) {
      spin.Once();
      w = word_.load(std::memory_order_acquire);
      continue;
    }
    // Acquire on success: pairs with Unlock's release (list state).
    if (word_.compare_exchange_weak(w, w | kLocked, std::memory_order_acquire,
                                    std::memory_order_acquire)) {
      break;
    }
  }
  node->prev_ = nullptr;
  node->next_ = head_;
  if (head_ != nullptr) head_->prev_ = node;
  head_ = node;
  node->listed_ = true;
  Unlock();
  return true;
}

bool CancelState::TryRemoveCallback(CallbackNode* node) noexcept {
  Lock();
  if (node->listed_) {
    if (node->prev_ != nullptr) {
      node->prev_->next_ = node->next_;
    } else {
      head_ = node->next_;
    }
    if (node->next_ != nullptr) node->next_->prev_ = node->prev_;
    node->listed_ = false;
    Unlock();
    return true;
  }
  // Taken by a requester: running now or already complete.
  const bool on_requesting_thread =
      running_ == node && requesting_thread_ == std::this_thread::get_id();
  Unlock();
  if (on_requesting_thread) {
    // Destroyed from inside its own callback (or another callback of the same
    // request): tell the requester not to touch the node again, and do not
    // wait for ourselves.
    if (node->destroyed_flag_ != nullptr) *node->destroyed_flag_ = true;
    return true;
  }
  return false;
}

void CancelState::CompleteFromCallback(CallbackNode* node) noexcept {
  // `destroyed_flag_` points into the requester's frame (step 5) and is only
  // used on this, the requesting, thread: after the callback returns, the
  // requester sees the flag and leaves the node alone.
  if (node->destroyed_flag_ != nullptr) *node->destroyed_flag_ = true;
  node->destroyed_flag_ = nullptr;
  // Release: pairs with the acquire in WaitCallbackComplete /
  // IsCallbackComplete. The last access to `node` by this thread.
  node->completed_.store(true, std::memory_order_release);
}

void CancelState::WaitCallbackComplete(CallbackNode* node) noexcept {
  SpinWait spin;
  // Acquire: pairs with the requester's release store after the callback.
  while (!node->completed_.load(std::memory_order_acquire)) spin.Once();
}

void CancelState::ArmDeadline(absl::Time deadline) noexcept {
  ArmAt(deadline, ToMonotonic(deadline));
}

void CancelState::ArmTimeout(absl::Duration timeout) noexcept {
  // Wall clock first, as in ToMonotonic (clock.cc): the monotonic point
  // may only fall later than the reported deadline, never earlier. (As two
  // arguments of one call, the order of the reads would be unspecified; GCC
  // read the monotonic clock first, and a deadline fired 66 us early under
  // TSan.)
  const absl::Time deadline = absl::Now() + timeout;
  ArmAt(deadline, MonotonicAfter(timeout));
}

void CancelState::ArmAt(absl::Time deadline, absl::Duration due) noexcept {
  if (deadline < deadline_) deadline_ = deadline;
  timer_due_ = due;
  if (due <= MonotonicNow()) {
    RequestCancellation(DeadlineReason());
  }
  // Armed even when already expired, so that ~CancelState's Disarm() is
  // uniform; the timer finds it expired and the request is a no-op. Armed
  // even when an inherited deadline is earlier (see the header).
  uses_timer_ = true;
  DeadlineTimer::Get().Arm(this);
}

void ParentLink::Attach(CancelState* parent, CancelState* child) noexcept {
  if (parent == nullptr) return;
  parent->Ref();
  parent_ = parent;
  child_ = child;
  child->InheritDeadline(parent->Deadline());
  if (parent->TryAddCallback(this)) {
    registered_ = true;
  } else {
    child->RequestCancellation(ThroughParent(parent->Reason()));
  }
}

void ParentLink::DetachSlow() noexcept {
  if (registered_) parent_->RemoveCallback(this);
  registered_ = false;
  parent_->Unref();
  parent_ = nullptr;
}

void ParentLink::Propagate(CallbackNode* node) noexcept {
  auto* link = static_cast<ParentLink*>(node);
  // The child's reason: the parent's, marked as coming through a parent
  // (cause.h, PARENTS).
  link->child_->RequestFromParent(ThroughParent(link->parent_->Reason()));
}

}  // namespace cancel_internal
}  // namespace cancelpool
