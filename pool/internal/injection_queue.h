// Copyright 2026 The cancelpool Authors.
//
// InjectionQueue: the multi-producer, multi-consumer FIFO of tasks submitted
// from outside the pool, and of local-deque overflow (worker.cc). A ring of
// task pointers under a mutex: a batch pop copies contiguous pointers without
// touching the tasks (no pointer chasing inside the lock), and the ring
// doubles when full, so there is no allocation per task.
//
// PROTOCOL
//   I1. Every change of the ring happens under mu_ and ends with a seq_cst
//       store of the new count to size_. That store is N1 of the parking
//       protocol (idle.h) for a push.
//   I2. MaybeEmpty() is a seq_cst load of size_: the P3 re-check and the
//       termination check (idle.h) read it, and rely on I1's store and this
//       load lying in one total order with the idle bookkeeping.
//   I3. SizeHint() is a relaxed load: only a guess of how much to take
//       (worker.cc, TakeFromInjector); PopBatch decides under mu_.
//   I4. Close() refuses later outside pushes (shutdown.cc); pushes by
//       workers (overflow, requeues) are always accepted, so a task already
//       owned by the pool is never lost.
//   I5. A push may count its tasks as submitted (PoolStats::submitted of an
//       outside Submit): under mu_, into counted_, a relaxed atomic with
//       this one writer at a time (mu_), so the submitter pays no shared RMW
//       of its own; Counted() is a relaxed read (statistics only). The count
//       is stored before mu_ is released, so before any worker can pop the
//       task and count it done.
// Races ruled out: a push that the P3 re-check cannot see (I1/I2); a pop of
// an entry twice or of a slot never written (all under mu_).
//
// Generic over its synchronisation policy (sync.h), so the parking model
// (tests/reliability/parking_model_test.cc) runs this code.
#ifndef CANCELPOOL_POOL_INTERNAL_INJECTION_QUEUE_H_
#define CANCELPOOL_POOL_INTERNAL_INJECTION_QUEUE_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "absl/base/attributes.h"
#include "cancelpool/pool/internal/sync.h"

namespace cancelpool {
namespace pool_internal {

template <typename T, typename Sync = StdSync>
class InjectionQueue final {
  static_assert(std::is_pointer_v<T>, "the queue holds pointers");

 public:
  InjectionQueue() : ring_(256, nullptr) {}
  InjectionQueue(const InjectionQueue&) = delete;
  InjectionQueue& operator=(const InjectionQueue&) = delete;

  // Appends `tasks[0..count)`. `outside` pushes are refused once the queue is
  // closed (I4). With `count_submitted`, an accepted push adds `count` to
  // Counted() (I5).
  enum class PushResult { kOk, kClosed };
  PushResult Push(const T* tasks, size_t count, bool outside,
                  bool count_submitted = false) {
    typename Sync::Lock lock(&mu_);
    if (outside && closed_) return PushResult::kClosed;
    if (count_submitted) {
      // I5. Relaxed: a statistic, written only under mu_.
      counted_.store(counted_.load(Sync::relaxed) + count, Sync::relaxed);
    }
    if (count_ + count > ring_.size()) Grow(count_ + count);
    const size_t mask = ring_.size() - 1;
    T* ring = ring_.data();
    for (size_t i = 0; i < count; ++i) {
      ring[(head_ + count_ + i) & mask] = tasks[i];
    }
    count_ += count;
    size_.store(count_, Sync::seq_cst);  // I1: N1 of the parking protocol
    return PushResult::kOk;
  }

  // Pops up to `max` tasks into `out`; returns how many.
  size_t PopBatch(T* out, size_t max) {
    typename Sync::Lock lock(&mu_);
    const size_t n = std::min(max, count_);
    const size_t mask = ring_.size() - 1;
    for (size_t i = 0; i < n; ++i) out[i] = ring_[(head_ + i) & mask];
    head_ = (head_ + n) & mask;
    count_ -= n;
    size_.store(count_, Sync::seq_cst);  // I1
    return n;
  }

  // Pops every entry into `out` (appended, in FIFO order) in one lock round
  // trip; returns how many. For a cancel shutdown (shutdown.cc, SQ1).
  size_t PopAll(std::vector<T>* out) {
    typename Sync::Lock lock(&mu_);
    const size_t n = count_;
    const size_t mask = ring_.size() - 1;
    // Two contiguous runs of the ring (no zero-fill of `out` first).
    const size_t first = std::min(n, ring_.size() - (head_ & mask));
    const auto start = ring_.begin() + static_cast<ptrdiff_t>(head_ & mask);
    out->insert(out->end(), start, start + static_cast<ptrdiff_t>(first));
    out->insert(out->end(), ring_.begin(),
                ring_.begin() + static_cast<ptrdiff_t>(n - first));
    head_ = 0;
    count_ = 0;
    size_.store(0, Sync::seq_cst);  // I1
    return n;
  }

  // Removes every resolved task (T must have IsResolved(): cancelled while
  // queued, or run by a helping wait) and appends it to `removed`, queue
  // reference included; the order of the others is kept. Returns how many.
  size_t RemoveResolved(std::vector<T>* removed) {
    typename Sync::Lock lock(&mu_);
    const size_t mask = ring_.size() - 1;
    size_t kept = 0;
    for (size_t i = 0; i < count_; ++i) {
      T t = ring_[(head_ + i) & mask];
      if (t->IsResolved()) {
        removed->push_back(t);
      } else {
        ring_[(head_ + kept) & mask] = t;
        ++kept;
      }
    }
    const size_t n = count_ - kept;
    count_ = kept;
    size_.store(count_, Sync::seq_cst);  // I1
    return n;
  }

  void Close() {
    typename Sync::Lock lock(&mu_);
    closed_ = true;
  }

  // I2. seq_cst; relaxed only under a model's bug switch (sync.h).
  bool MaybeEmpty() const { return size_.load(kMaybeEmptyOrder) == 0; }
  // I3.
  size_t SizeHint() const { return size_.load(Sync::relaxed); }
  // I5.
  uint64_t Counted() const { return counted_.load(Sync::relaxed); }

 private:
  static constexpr auto kMaybeEmptyOrder =
      InjectRelaxedSizeLoad<Sync>::value ? Sync::relaxed : Sync::seq_cst;

  // Under mu_: at least `needed` slots (out of line: rare).
  ABSL_ATTRIBUTE_NOINLINE void Grow(size_t needed) {
    size_t size = ring_.size() * 2;
    while (size < needed) size *= 2;
    std::vector<T> bigger(size, nullptr);
    const size_t mask = ring_.size() - 1;
    for (size_t i = 0; i < count_; ++i) bigger[i] = ring_[(head_ + i) & mask];
    ring_.swap(bigger);
    head_ = 0;
  }

  mutable typename Sync::Mutex mu_;
  std::vector<T> ring_;  // under mu_; power-of-two size
  size_t head_ = 0;      // under mu_
  size_t count_ = 0;     // under mu_
  bool closed_ = false;  // under mu_
  // I5: written under mu_ (relaxed), read without it (relaxed).
  typename Sync::template Atomic<uint64_t> counted_{0};
  // Mirrors count_: written under mu_ (I1), read without it (I2, I3).
  typename Sync::template Atomic<size_t> size_{0};
};

}  // namespace pool_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_INTERNAL_INJECTION_QUEUE_H_
