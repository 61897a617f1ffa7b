// Copyright 2026 The cancelpool Authors.
//
// A bounded Chase-Lev work-stealing deque of pointers.
//
// THREAD SAFETY
//   * One owner thread holds the DequeOwner handle: Push() and Pop() at the
//     bottom (LIFO, so fork-join runs depth-first and stays cache-hot).
//   * Any number of thieves hold DequeStealer handles: Steal() at the top
//     (FIFO, so they take the oldest, usually largest, work).
//   * SizeHint()/MaybeEmpty() may be called by anyone; they are racy hints
//     except where a protocol pairs them (see parking in idle.h).
// The types split the roles: only the owner can construct a DequeOwner (there
// is exactly one per deque), and a DequeStealer cannot push or pop.
//
// CAPACITY AND OVERFLOW
// The ring has a fixed power-of-two capacity. Push() returns false when it is
// full and the caller takes the defined overflow path (the pool moves the
// task, plus half of the local queue, to the shared injection queue). Fixed
// capacity means no buffer is ever freed while a thief may read it.
//
// ALGORITHM (Chase & Lev, SPAA 2005; memory orders after Le, Pop, Cohen and
// Zappa Nardelli, PPoPP 2013). Where that paper uses seq_cst fences, this
// version makes the adjacent accesses to `top_`/`bottom_` seq_cst instead:
// ThreadSanitizer under g++ cannot model fences, and on x86 the seq_cst store
// costs the same as store+mfence. The argument is unchanged: all seq_cst
// operations lie in one total order S.
//   Push(x):  b = bottom (own value); t = top (acquire);
//             if b - t >= capacity: full.
//             slot[b] = x (relaxed); bottom = b + 1 (seq_cst: release for the
//             slot, and seq_cst so the pool's wake-up check after Push cannot
//             be reordered before it -- see idle.h, PARKING).
//   Pop():    b = bottom - 1; bottom = b (seq_cst); t = top (seq_cst).
//             t < b : more than one element; take slot[b], no race possible.
//             t == b: last element; CAS top t -> t+1 (seq_cst) decides
//                     between owner and thieves; bottom = b + 1.
//             t > b : empty; bottom = b + 1.
//   Steal():  t = top (seq_cst); b = bottom (seq_cst);
//             t >= b: empty.  x = slot[t] (relaxed);
//             CAS top t -> t+1 (seq_cst): success means x is ours.
// Races ruled out:
//   * Owner and thief both taking the last element: both must CAS `top_`
//     from the same t; one fails.
//   * A thief reading a slot before the owner's write is visible: the
//     thief's load of `bottom_` reads the owner's release store (acquire is
//     implied by seq_cst), which happens after the slot write.
//   * Pop taking an element a thief already took: Pop stores `bottom_` before
//     loading `top_` (both seq_cst). A thief that loaded the old bottom is
//     ordered before our store in S, so its top CAS is visible to our top
//     load unless it has not happened yet -- in which case it sees t < b and
//     takes a different element, or t == b and contends on the CAS.
//   * A stale thief reading a slot the owner is overwriting after wrap-around:
//     slots are atomics, so the read is not a data race; the value read is
//     discarded because the thief's CAS on `top_` fails (top moved on).
// Model-checked with Relacy through this very code (Atomics = a Relacy
// policy): tests/reliability/deque_model_test.cc.
//
// PROTOCOL: THE LIFO SLOT (one extra element beside the ring)
// The owner may keep its newest element in a one-entry slot instead of the
// ring (Tokio's LIFO slot): a chain (a task that submits the next link)
// then runs on the same worker, cache-hot, without a thief taking every new
// link. The slot is stealable, but late: thieves take it only once it looks
// stuck, so an owner that blocks after pushing cannot strand it.
//   L1. PushLifo(x) (owner): lifo_seq_ += 1 (relaxed), then exchange the slot
//       to x (seq_cst: publishes x, and is the push's seq_cst write for the
//       wake-up check that follows, idle.h N1). Returns the displaced
//       element (or null), which the caller pushes on the ring.
//   L2. PopLifo() (owner): if the slot reads null (relaxed: only the owner
//       stores non-null, so a null it sees stays null), nothing; else
//       exchange it to null (seq_cst) and take what comes back (null if a
//       thief took it first).
//   L3. StealLifo(&seen) (thief): read lifo_seq_ (relaxed). If it differs
//       from `seen`, remember it and take nothing (the owner pushed since the
//       thief last looked: it is making progress). If equal, and the slot is
//       not null, CAS it from that value to null (seq_cst); success means the
//       element is the thief's.
//   L4. Steal() (drain: pool shutdown) takes from the ring, and once the
//       ring is empty, exchanges the slot to null (TakeLifo() does only the
//       latter: a helping wait's leapfrog, helping.cc H3); MaybeEmpty() is
//       false while the slot holds an element (a seq_cst load), so the parking
//       re-check and the termination check (idle.h, P3/Q4) see it.
// Races ruled out: an element taken twice, or by nobody (every taker uses one
// RMW on the slot word: exactly one of them gets a non-null value); a taker
// reading the element before the owner's writes (the owner's exchange is a
// release, every taking RMW an acquire, and RMWs read the latest value); a
// slot element invisible to a worker about to park (L1's seq_cst exchange
// and L4's seq_cst load, against idle.h's seq_cst searching_ accesses);
// ABA on the slot (a thief that read X, while the owner popped X and pushed
// a new element at the same address, takes the new one: still exactly once,
// and its CAS acquired the owner's latest exchange). The sequence check is a
// heuristic only: a wrong guess costs a steal, never correctness.
//
// TEST-ONLY BUG INJECTION
// An Atomics policy may define `static constexpr bool
// kInjectBugRelaxedStealBottom = true` to re-insert a known bug: Steal()
// loads bottom_ relaxed, so its slot read is no longer ordered after the
// owner's slot write (the crossbeam-deque#726 class of bug). The model's
// "has teeth" test uses it to show the checker catches that bug. StdAtomics
// does not define it: the switch is off and resolves at compile time to the
// seq_cst load above (no cost in production).
#ifndef CANCELPOOL_POOL_INTERNAL_WORK_STEALING_DEQUE_H_
#define CANCELPOOL_POOL_INTERNAL_WORK_STEALING_DEQUE_H_

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

namespace cancelpool {
namespace pool_internal {

// The production atomics. A model checker substitutes its own type with the
// same interface (load/store/compare_exchange_strong and the orders).
struct StdAtomics {
  template <typename T>
  using Atomic = std::atomic<T>;
  static constexpr std::memory_order relaxed = std::memory_order_relaxed;
  static constexpr std::memory_order acquire = std::memory_order_acquire;
  static constexpr std::memory_order release = std::memory_order_release;
  static constexpr std::memory_order seq_cst = std::memory_order_seq_cst;
};

// Test-only (see TEST-ONLY BUG INJECTION): false unless the policy opts in.
template <typename A, typename = void>
struct InjectRelaxedStealBottom : std::false_type {};
template <typename A>
struct InjectRelaxedStealBottom<
    A, std::void_t<decltype(A::kInjectBugRelaxedStealBottom)>>
    : std::bool_constant<A::kInjectBugRelaxedStealBottom> {};

template <typename T, typename Atomics = StdAtomics>
class WorkStealingDeque;

template <typename T, typename Atomics = StdAtomics>
class DequeOwner;

template <typename T, typename Atomics = StdAtomics>
class DequeStealer;

template <typename T, typename Atomics>
class WorkStealingDeque final {
  static_assert(std::is_pointer_v<T>, "the deque holds pointers");

 public:
  // `capacity` is rounded up to a power of two, at least 2.
  explicit WorkStealingDeque(size_t capacity)
      : capacity_(RoundUp(capacity)),
        mask_(capacity_ - 1),
        slots_(new typename Atomics::template Atomic<T>[capacity_]) {
    for (size_t i = 0; i < capacity_; ++i) {
      slots_[i].store(nullptr, Atomics::relaxed);
    }
  }
  WorkStealingDeque(const WorkStealingDeque&) = delete;
  WorkStealingDeque& operator=(const WorkStealingDeque&) = delete;

  size_t capacity() const { return capacity_; }

  // Racy size estimate (never negative).
  size_t SizeHint() const {
    const int64_t b = bottom_.load(Atomics::seq_cst);
    const int64_t t = top_.load(Atomics::seq_cst);
    return b > t ? static_cast<size_t>(b - t) : 0;
  }
  // seq_cst loads: the parking re-check relies on them (idle.h, P3); the
  // LIFO slot counts (L4).
  bool MaybeEmpty() const {
    return SizeHint() == 0 && lifo_.load(Atomics::seq_cst) == nullptr;
  }

 private:
  friend class DequeOwner<T, Atomics>;
  friend class DequeStealer<T, Atomics>;

  // seq_cst (see ALGORITHM); relaxed only under the test-only bug switch.
  static constexpr auto kStealBottomOrder =
      InjectRelaxedStealBottom<Atomics>::value ? Atomics::relaxed
                                               : Atomics::seq_cst;

  static size_t RoundUp(size_t n) {
    size_t c = 2;
    while (c < n) c <<= 1;
    return c;
  }

  bool Push(T item) {
    // Relaxed: only the owner writes bottom_.
    const int64_t b = bottom_.load(Atomics::relaxed);
    // Acquire: pairs with thieves' CAS on top_, so the slot they vacated is
    // not overwritten before they read it.
    const int64_t t = top_.load(Atomics::acquire);
    if (b - t >= static_cast<int64_t>(capacity_)) return false;
    // Relaxed: published by the seq_cst (release) store of bottom_ below.
    slots_[b & mask_].store(item, Atomics::relaxed);
    bottom_.store(b + 1, Atomics::seq_cst);
    return true;
  }

  T Pop() {
    const int64_t b = bottom_.load(Atomics::relaxed) - 1;
    bottom_.store(b, Atomics::seq_cst);
    int64_t t = top_.load(Atomics::seq_cst);
    if (t > b) {
      // Empty. Relaxed: only the owner reads its own bottom_ without the
      // seq_cst protocol; thieves racing here see t >= b either way.
      bottom_.store(b + 1, Atomics::relaxed);
      return nullptr;
    }
    // Relaxed: our own earlier write, or one we own since t <= b.
    T item = slots_[b & mask_].load(Atomics::relaxed);
    if (t == b) {
      // Last element: race the thieves for it.
      if (!top_.compare_exchange_strong(t, t + 1, Atomics::seq_cst,
                                        Atomics::relaxed)) {
        item = nullptr;
      }
      bottom_.store(b + 1, Atomics::relaxed);
    }
    return item;
  }

  // The owner's bottom index: elements pushed from now on get indices at or
  // above it. Owner only (relaxed: only the owner writes bottom_, and outside
  // Pop() it never holds the transient decremented value).
  int64_t Bottom() const { return bottom_.load(Atomics::relaxed); }

  // Pop(), but only an element at index >= `mark` (one pushed after the
  // owner read Bottom() == mark). Pop() takes index bottom-1, so refusing
  // when bottom <= mark is enough.
  T PopAbove(int64_t mark) {
    if (bottom_.load(Atomics::relaxed) <= mark) return nullptr;
    return Pop();
  }

  // Returns nullptr if empty, if the oldest element's index is below
  // `min_index`, or if it lost a race (callers treat all as "try elsewhere";
  // `*lost_race` tells the race apart). Indices only grow at the top, so a
  // successful CAS from t proves the element taken had index t.
  T Steal(bool* lost_race, int64_t min_index) {
    int64_t t = top_.load(Atomics::seq_cst);
    if (t < min_index) return nullptr;
    const int64_t b = bottom_.load(kStealBottomOrder);
    if (t >= b) return nullptr;
    // Relaxed: visibility comes from the bottom_ load above (see header).
    T item = slots_[t & mask_].load(Atomics::relaxed);
    if (!top_.compare_exchange_strong(t, t + 1, Atomics::seq_cst,
                                      Atomics::relaxed)) {
      if (lost_race != nullptr) *lost_race = true;
      return nullptr;
    }
    return item;
  }

  // L1.
  T PushLifo(T item) {
    // Relaxed: only the owner writes lifo_seq_; thieves read it as a hint.
    lifo_seq_.store(lifo_seq_.load(Atomics::relaxed) + 1, Atomics::relaxed);
    // seq_cst: release for the element; and N1 of idle.h (see L1).
    return lifo_.exchange(item, Atomics::seq_cst);
  }

  // L2.
  T PopLifo() {
    // Relaxed: only the owner stores a non-null value (see L2).
    if (lifo_.load(Atomics::relaxed) == nullptr) return nullptr;
    // seq_cst: decides against a thief's CAS (L3) or a drain (L4).
    return lifo_.exchange(nullptr, Atomics::seq_cst);
  }

  // L3.
  T StealLifo(uint64_t* seen) {
    // Relaxed: a progress hint only (see L3).
    const uint64_t seq = lifo_seq_.load(Atomics::relaxed);
    if (seq != *seen) {
      *seen = seq;
      return nullptr;
    }
    // Relaxed: a first look; the CAS below decides and acquires.
    T item = lifo_.load(Atomics::relaxed);
    if (item == nullptr) return nullptr;
    if (!lifo_.compare_exchange_strong(item, nullptr, Atomics::seq_cst,
                                       Atomics::relaxed)) {
      return nullptr;
    }
    return item;
  }

  // Relaxed: hints only (DequeStealer::LifoOccupied, LifoPushes).
  bool LifoOccupied() const { return lifo_.load(Atomics::relaxed) != nullptr; }
  uint64_t LifoPushes() const { return lifo_seq_.load(Atomics::relaxed); }

  // L4's slot part. seq_cst: as L2.
  T TakeLifo() { return lifo_.exchange(nullptr, Atomics::seq_cst); }

  const size_t capacity_;
  const size_t mask_;
  std::unique_ptr<typename Atomics::template Atomic<T>[]> slots_;
  alignas(64) typename Atomics::template Atomic<int64_t> top_{0};
  alignas(64) typename Atomics::template Atomic<int64_t> bottom_{0};
  // The LIFO slot and its push count (L1-L4): written by the owner on every
  // slot push and pop, read by thieves only when they find the ring empty.
  alignas(64) typename Atomics::template Atomic<T> lifo_{nullptr};
  typename Atomics::template Atomic<uint64_t> lifo_seq_{0};
};

// The owner's handle: Push and Pop. Exactly one per deque, used by one thread
// at a time.
template <typename T, typename Atomics>
class DequeOwner final {
 public:
  explicit DequeOwner(WorkStealingDeque<T, Atomics>* deque) : deque_(deque) {}
  // False when full: take the overflow path.
  bool Push(T item) { return deque_->Push(item); }
  // nullptr when empty.
  T Pop() { return deque_->Pop(); }
  // The index the next Push() will use; see PopAbove.
  int64_t Bottom() const { return deque_->Bottom(); }
  // Pops only an element pushed after Bottom() returned `mark`: a helping
  // wait takes only work the waiting task (or what runs above it) created.
  T PopAbove(int64_t mark) { return deque_->PopAbove(mark); }
  // Elements in the ring (the LIFO slot not counted).
  size_t SizeHint() const { return deque_->SizeHint(); }
  // L1: puts `item` in the LIFO slot; returns the element it displaced (or
  // nullptr), for the caller to Push().
  T PushLifo(T item) { return deque_->PushLifo(item); }
  // L2: the LIFO slot's element, or nullptr.
  T PopLifo() { return deque_->PopLifo(); }

 private:
  WorkStealingDeque<T, Atomics>* deque_;
};

// A thief's handle: Steal only. Any number, from any thread.
template <typename T, typename Atomics>
class DequeStealer final {
 public:
  explicit DequeStealer(WorkStealingDeque<T, Atomics>* deque) : deque_(deque) {}
  // Any element: the ring's oldest, else (the ring empty and no race lost)
  // the LIFO slot's (L4). For draining the deque.
  T Steal(bool* lost_race = nullptr) {
    bool lost = false;
    T item = deque_->Steal(&lost, INT64_MIN);
    if (item == nullptr && !lost) item = deque_->TakeLifo();
    if (lost_race != nullptr && lost) *lost_race = true;
    return item;
  }
  // L3: the LIFO slot's element, if the owner pushed nothing into it since
  // this thief's previous look (`*seen`, updated).
  T StealLifo(uint64_t* seen) { return deque_->StealLifo(seen); }
  // Hints for choosing a victim (relaxed loads): whether the LIFO slot holds
  // an element, and how many pushes it has had (the count L3 compares).
  bool LifoOccupied() const { return deque_->LifoOccupied(); }
  uint64_t LifoPushes() const { return deque_->LifoPushes(); }
  // The LIFO slot's element now, however fresh (L4's slot part): for a
  // helper that knows the slot holds work of the task it waits for.
  T TakeLifo() { return deque_->TakeLifo(); }
  // Steals only a ring element whose index is >= `min_index`, i.e. one the
  // owner pushed after its Bottom() was `min_index` (leapfrogging, helping.cc
  // H3); INT64_MIN: the ring's oldest. Never the LIFO slot.
  T StealAbove(int64_t min_index, bool* lost_race = nullptr) {
    return deque_->Steal(lost_race, min_index);
  }
  bool MaybeEmpty() const { return deque_->MaybeEmpty(); }

 private:
  WorkStealingDeque<T, Atomics>* deque_;
};

}  // namespace pool_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_INTERNAL_WORK_STEALING_DEQUE_H_
