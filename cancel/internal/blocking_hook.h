// Copyright 2026 The cancelpool Authors.
//
// The seam between ScopedBlockingRegion (cancel/blocking.h) and whatever
// runs the current thread: a thread-local pointer to a hook that a pool
// worker installs for its own thread. cancel/ stays below pool/: it only
// calls the hook, it never names the pool.
//
// Thread-local: only the owning thread reads or writes the pointer and the
// depth, so they need no synchronisation. The hook object must outlive every
// region entered while it is installed (a pool worker installs its own and
// removes it before it exits).
#ifndef CANCELPOOL_CANCEL_INTERNAL_BLOCKING_HOOK_H_
#define CANCELPOOL_CANCEL_INTERNAL_BLOCKING_HOOK_H_

namespace cancelpool {
namespace cancel_internal {

class BlockingHook {
 public:
  // The outermost region on this thread begins / ends. Called on the owning
  // thread only; must not throw, and must not block for long (they may be
  // called with a user's mutex held, from inside a wait).
  virtual void EnterBlocking() noexcept = 0;
  virtual void ExitBlocking() noexcept = 0;

 protected:
  ~BlockingHook() = default;
};

struct ThreadBlockingContext {
  BlockingHook* hook = nullptr;  // installed by the thread's pool worker
  int depth = 0;                 // nesting of ScopedBlockingRegion
};
inline thread_local ThreadBlockingContext tls_blocking_context;

// Installs `hook` for the calling thread (null removes it). Only outside any
// region.
inline void SetThreadBlockingHook(BlockingHook* hook) noexcept {
  tls_blocking_context.hook = hook;
}

}  // namespace cancel_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_CANCEL_INTERNAL_BLOCKING_HOOK_H_
