// Copyright 2026 The cancelpool Authors.
#include "cancelpool/pool/internal/task_allocator.h"

#include <pthread.h>

#include <atomic>
#include <new>

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
// Blocks moved between a thread cache and the central pool at once.
constexpr size_t kTransferBatch = kMaxCachedPerClass / 2;
// Beyond this many blocks per class the central pool frees to the system.
constexpr size_t kMaxCentralPerClass = 64 * 1024;

struct FreeBlock {
  FreeBlock* next;
};

// A list of free blocks with its length.
struct BlockList {
  FreeBlock* head = nullptr;
  size_t count = 0;

  void PushFront(FreeBlock* b) {
    b->next = head;
    head = b;
    ++count;
  }
  // Detaches up to `n` blocks from the front.
  BlockList TakeFront(size_t n) {
    BlockList taken;
    if (n == 0 || head == nullptr) return taken;
    taken.head = head;
    FreeBlock* last = head;
    taken.count = 1;
    while (taken.count < n && last->next != nullptr) {
      last = last->next;
      ++taken.count;
    }
    head = last->next;
    last->next = nullptr;
    count -= taken.count;
    return taken;
  }
  void Splice(BlockList other) {
    if (other.head == nullptr) return;
    FreeBlock* last = other.head;
    while (last->next != nullptr) last = last->next;
    last->next = head;
    head = other.head;
    count += other.count;
  }
  void FreeAll() {
    while (head != nullptr) {
      FreeBlock* b = head;
      head = b->next;
      ::operator delete(b);
    }
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
// flow back to the threads that submit). One mutex per size class, taken
// once per kTransferBatch blocks.
class CentralPool {
 public:
  BlockList Take(size_t cls, size_t n) {
    CentralLockGuard lock(mu_[cls]);
    return lists_[cls].TakeFront(n);
  }
  void Give(size_t cls, BlockList blocks) {
    BlockList excess;
    {
      CentralLockGuard lock(mu_[cls]);
      lists_[cls].Splice(blocks);
      if (lists_[cls].count > kMaxCentralPerClass) {
        excess = lists_[cls].TakeFront(lists_[cls].count - kMaxCentralPerClass);
      }
    }
    excess.FreeAll();
  }

  void LockAll() {
    for (auto& mu : mu_) mu.Lock();
  }
  void UnlockAll() {
    for (auto& mu : mu_) mu.Unlock();
  }

 private:
  CentralLock mu_[kClasses];
  BlockList lists_[kClasses];
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

class ThreadBlockCache {
 public:
  ThreadBlockCache() { alive_ = true; }
  ~ThreadBlockCache() {
    alive_ = false;
    for (size_t c = 0; c < kClasses; ++c) {
      Central().Give(c, lists_[c].TakeFront(lists_[c].count));
    }
  }
  // False once this thread's cache was destroyed (thread exit in progress).
  static bool Alive() { return alive_; }

  void* Pop(size_t cls) {
    BlockList& list = lists_[cls];
    if (list.head == nullptr) {
      list.Splice(Central().Take(cls, kTransferBatch));
      if (list.head == nullptr) return nullptr;
    }
    FreeBlock* b = list.head;
    list.head = b->next;
    --list.count;
    return b;
  }
  void Push(size_t cls, void* block) {
    BlockList& list = lists_[cls];
    if (list.count >= kMaxCachedPerClass) {
      Central().Give(cls, list.TakeFront(kTransferBatch));
    }
    list.PushFront(static_cast<FreeBlock*>(block));
  }

 private:
  static thread_local bool alive_;
  BlockList lists_[kClasses];
};

thread_local bool ThreadBlockCache::alive_ = false;
thread_local ThreadBlockCache tls_cache;

inline size_t ClassOf(size_t size) {
  return (size + kTaskSizeClass - 1) / kTaskSizeClass - 1;
}

}  // namespace

void* AllocateTaskBlock(size_t size) {
  if (kCacheEnabled && size <= kMaxCachedSize) {
    // Touching tls_cache constructs it (and marks it alive) on first use.
    if (void* b = tls_cache.Pop(ClassOf(size))) return b;
    // Allocate the class's full size so any block of the class fits.
    return ::operator new((ClassOf(size) + 1) * kTaskSizeClass);
  }
  return ::operator new(size);
}

void FreeTaskBlock(void* block, size_t size) noexcept {
  if (kCacheEnabled && size <= kMaxCachedSize) {
    if (ThreadBlockCache::Alive()) {
      tls_cache.Push(ClassOf(size), block);
      return;
    }
    Central().Give(ClassOf(size), [block] {
      BlockList one;
      one.PushFront(static_cast<FreeBlock*>(block));
      return one;
    }());
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
