// Copyright 2026 The cancelpool Authors.
#include "cancelpool/pool/internal/task_allocator.h"

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <new>

#include "absl/base/attributes.h"
#include "cancelpool/cancel/internal/spin.h"

namespace cancelpool {
namespace pool_internal {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCacheEnabled = false;
#else
constexpr bool kCacheEnabled = true;
#endif

constexpr size_t kClasses = kMaxCachedSize / kTaskSizeClass;

// A free block. Only the first block of a batch in the central pool uses
// the batch fields; blocks are at least kTaskSizeClass bytes, so they fit.
struct FreeBlock {
  FreeBlock* next;
  FreeBlock* next_batch;
  FreeBlock* batch_tail;
  size_t batch_count;
};

// A list of free blocks with its length; `tail` is valid while `head` is
// not null, so whole lists move in O(1).
struct BlockList {
  FreeBlock* head = nullptr;
  FreeBlock* tail = nullptr;
  size_t count = 0;

  void PushFront(FreeBlock* b) {
    if (head == nullptr) tail = b;
    b->next = head;
    head = b;
    ++count;
  }
  BlockList TakeAll() {
    BlockList all = *this;
    *this = BlockList();
    return all;
  }
  void FreeAll() {
    while (head != nullptr) {
      FreeBlock* b = head;
      head = b->next;
      ::operator delete(b);
    }
    tail = nullptr;
    count = 0;
  }
};

// A minimal lock for the central pool: no Abseil bookkeeping (in debug
// builds absl::Mutex consults a process-wide deadlock detector, whose own lock
// a fork()ed child may inherit held), so the fork handlers below are safe.
class CentralLock {
 public:
  void Lock() {
    cancel_internal::SpinWait spin;
    // Acquire: pairs with Unlock's release.
    while (locked_.exchange(true, std::memory_order_acquire)) spin.Once();
  }
  void Unlock() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

class CentralLockGuard {
 public:
  explicit CentralLockGuard(CentralLock& lock) : lock_(lock) { lock_.Lock(); }
  ~CentralLockGuard() { lock_.Unlock(); }
  CentralLockGuard(const CentralLockGuard&) = delete;
  CentralLockGuard& operator=(const CentralLockGuard&) = delete;

 private:
  CentralLock& lock_;
};

// The process-wide pool behind the thread caches (blocks freed on workers
// flow back to the threads that submit): per size class, a stack of whole
// lists ("batches", as thread caches hand them over), so a hand-over in
// either direction is O(1) under a lock taken once per batch.
class CentralPool {
 public:
  // Pops one batch (empty if none).
  BlockList Take(size_t cls) {
    Class& c = classes_[cls];
    CentralLockGuard lock(c.mu);
    FreeBlock* first = c.batches;
    if (first == nullptr) return BlockList();
    c.batches = first->next_batch;
    BlockList batch;
    batch.head = first;
    batch.tail = first->batch_tail;
    batch.count = first->batch_count;
    c.blocks -= batch.count;
    return batch;
  }
  // Pushes `blocks` as one batch, or frees it if the class holds
  // MaxCentralBlocks(cls) already.
  void Give(size_t cls, BlockList blocks) {
    if (blocks.head == nullptr) return;
    Class& c = classes_[cls];
    {
      CentralLockGuard lock(c.mu);
      if (c.blocks + blocks.count <= MaxCentralBlocks(cls)) {
        blocks.head->next_batch = c.batches;
        blocks.head->batch_tail = blocks.tail;
        blocks.head->batch_count = blocks.count;
        c.batches = blocks.head;
        c.blocks += blocks.count;
        return;
      }
    }
    blocks.FreeAll();
  }

  void LockAll() {
    for (auto& c : classes_) c.mu.Lock();
  }
  void UnlockAll() {
    for (auto& c : classes_) c.mu.Unlock();
  }

 private:
  struct Class {
    CentralLock mu;
    // Under mu: the batches, linked through their first blocks' next_batch;
    // each first block also records its batch's tail and length.
    FreeBlock* batches = nullptr;
    size_t blocks = 0;  // under mu: blocks in all batches
  };
  static size_t MaxCentralBlocks(size_t cls) {
    return kMaxCentralBytesPerClass / ((cls + 1) * kTaskSizeClass);
  }
  Class classes_[kClasses];
};

CentralPool& Central() {
  // Never destroyed. fork(): hold every class lock across it, so a child
  // never inherits one locked by a thread that does not exist there.
  static CentralPool* const pool = [] {
    auto* p = new CentralPool();
    pthread_atfork([] { Central().LockAll(); }, [] { Central().UnlockAll(); },
                   [] { Central().UnlockAll(); });
    return p;
  }();
  return *pool;
}

// The thread's cache: constant-initialised and trivially destructible, so
// the fast paths reach it without a thread_local initialisation check.
enum class CacheState : unsigned char { kUnused, kActive, kDead };
struct ThreadCache {
  BlockList lists[kClasses];
  CacheState state = CacheState::kUnused;
};
constinit thread_local ThreadCache tls_cache;

// Gives the thread's blocks to the central pool when the thread exits.
// Constructed (and its destructor registered) by the first slow-path call of
// the thread.
struct ThreadCacheFlusher {
  bool armed = false;
  ~ThreadCacheFlusher() {
    tls_cache.state = CacheState::kDead;
    for (size_t c = 0; c < kClasses; ++c) {
      Central().Give(c, tls_cache.lists[c].TakeAll());
    }
  }
};
thread_local ThreadCacheFlusher tls_flusher;

// True if this thread may use its cache (arms the flusher on first use).
bool CacheUsable() {
  if (tls_cache.state == CacheState::kActive) return true;
  if (tls_cache.state == CacheState::kDead) return false;
  tls_flusher.armed = true;  // constructs it: registers its destructor
  tls_cache.state = CacheState::kActive;
  return true;
}

inline size_t ClassOf(size_t size) {
  return (size + kTaskSizeClass - 1) / kTaskSizeClass - 1;
}

ABSL_ATTRIBUTE_NOINLINE void* AllocateSlow(size_t cls) {
  if (CacheUsable()) {
    BlockList& list = tls_cache.lists[cls];
    list = Central().Take(cls);
    if (FreeBlock* b = list.head) {
      list.head = b->next;
      --list.count;
      return b;
    }
  }
  // Allocate the class's full size so any block of the class fits.
  return ::operator new((cls + 1) * kTaskSizeClass);
}

ABSL_ATTRIBUTE_NOINLINE void FreeSlow(void* block, size_t cls) {
  BlockList& list = tls_cache.lists[cls];
  if (CacheUsable()) {
    // Full: hand the whole list over in one batch, then start a new one.
    if (list.count >= kMaxCachedPerClass) Central().Give(cls, list.TakeAll());
    list.PushFront(static_cast<FreeBlock*>(block));
    return;
  }
  BlockList one;
  one.PushFront(static_cast<FreeBlock*>(block));
  Central().Give(cls, one);
}

}  // namespace

void* AllocateTaskBlock(size_t size) {
  if (kCacheEnabled && size <= kMaxCachedSize) {
    const size_t cls = ClassOf(size);
    BlockList& list = tls_cache.lists[cls];
    if (FreeBlock* b = list.head) {  // fast path: the thread's own list
      list.head = b->next;
      --list.count;
      return b;
    }
    return AllocateSlow(cls);
  }
  return ::operator new(size);
}

void FreeTaskBlock(void* block, size_t size) noexcept {
  if (kCacheEnabled && size <= kMaxCachedSize) {
    const size_t cls = ClassOf(size);
    BlockList& list = tls_cache.lists[cls];
    // Fast path: an active cache with room (a dead one never has room: its
    // lists were emptied and kDead is checked on the slow path).
    if (tls_cache.state == CacheState::kActive &&
        list.count < kMaxCachedPerClass) {
      list.PushFront(static_cast<FreeBlock*>(block));
      return;
    }
    FreeSlow(block, cls);
    return;
  }
  ::operator delete(block);
}

void* AllocateAlignedTaskBlock(size_t size, std::align_val_t alignment) {
  return ::operator new(size, alignment);
}

void FreeAlignedTaskBlock(void* block, size_t size,
                          std::align_val_t alignment) noexcept {
  ::operator delete(block, size, alignment);
}

}  // namespace pool_internal
}  // namespace cancelpool
