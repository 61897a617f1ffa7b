// Copyright 2026 The cancelpool Authors.
//
// Per-thread caches of task blocks by size class.
//
// Task blocks are allocated on the submitting thread and freed on whichever
// thread drops the last reference (a worker, or the thread that destroys the
// future). glibc's per-thread cache holds only 7 blocks per size, which
// fork-join's "allocate deep, free later" pattern overflows at once, falling
// into the slower general allocator for every task; and with outside
// submission every block is allocated on one thread and freed on another.
// Here each thread keeps up to kMaxCachedPerClass freed blocks per 64-byte
// size class (up to kMaxCachedSize bytes). A full thread cache hands its
// whole list of a class to a central pool as one batch; an empty one takes
// one batch from it -- so blocks freed by workers return to the threads that
// submit, and a hand-over costs O(1) under a lock taken once per batch. The
// central pool keeps at most kMaxCentralBytesPerClass bytes of blocks per
// class (128Ki blocks of 256 bytes) and frees
// batches beyond it; a thread's cache goes to the central pool when the
// thread exits. Larger blocks use ::operator new/delete directly. Memory
// held: at most the peak of blocks live at once, bounded as above.
//
// Under AddressSanitizer the cache is off, so use-after-free of a task block
// is still reported.
#ifndef CANCELPOOL_POOL_INTERNAL_TASK_ALLOCATOR_H_
#define CANCELPOOL_POOL_INTERNAL_TASK_ALLOCATOR_H_

#include <cstddef>
#include <new>

namespace cancelpool {
namespace pool_internal {

inline constexpr size_t kTaskSizeClass = 64;
inline constexpr size_t kMaxCachedSize = 512;
inline constexpr size_t kMaxCachedPerClass = 1024;
inline constexpr size_t kMaxCentralBytesPerClass = size_t{32} << 20;

void* AllocateTaskBlock(size_t size);
void FreeTaskBlock(void* block, size_t size) noexcept;
// Blocks aligned beyond __STDCPP_DEFAULT_NEW_ALIGNMENT__ (an over-aligned
// callable or result): straight from the aligned ::operator new, no cache.
void* AllocateAlignedTaskBlock(size_t size, std::align_val_t alignment);
void FreeAlignedTaskBlock(void* block, size_t size,
                          std::align_val_t alignment) noexcept;

}  // namespace pool_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_INTERNAL_TASK_ALLOCATOR_H_
