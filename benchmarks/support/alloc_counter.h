// Copyright 2026 The cancelpool Authors.
//
// Heap-allocation counting for the benchmarks (scenario 8: allocations per
// submitted task).
//
// alloc_counter.cc replaces malloc/calloc/realloc/memalign/posix_memalign/
// aligned_alloc in the benchmark binary (forwarding to glibc's __libc_*
// entry points), so it counts every heap allocation made in the process while
// counting is on: operator new (libstdc++'s calls malloc), and direct malloc
// calls from shared libraries (libtbb, the C runtime) alike. Counting
// operator new alone would miss allocators that call malloc directly.
//
// What it cannot see: memory a library takes with mmap and carves up itself.
// oneTBB allocates task objects from a per-thread small-object pool whose
// backing memory comes from libtbbmalloc (mmap) when that library is
// installed (Debian's libtbbmalloc2 is), so TBB's per-task count is what
// reaches the heap (usually 0 in steady state: the pool recycles blocks).
//
// Under AddressSanitizer or ThreadSanitizer the replacement is compiled out
// (the sanitizer runtime owns malloc); Available() is then false.
#ifndef CANCELPOOL_BENCHMARKS_SUPPORT_ALLOC_COUNTER_H_
#define CANCELPOOL_BENCHMARKS_SUPPORT_ALLOC_COUNTER_H_

#include <cstdint>

namespace cancelpool_bench {

// True if allocations can be counted in this build.
bool AllocCountingAvailable();

// Counts allocations made by any thread between construction and Stop().
class AllocCounter {
 public:
  AllocCounter();   // starts counting (process-wide; one at a time)
  ~AllocCounter();  // stops if still counting
  // Stops counting; returns the number of allocations seen.
  uint64_t Stop();

 private:
  uint64_t start_;
  bool running_ = true;
};

}  // namespace cancelpool_bench

#endif  // CANCELPOOL_BENCHMARKS_SUPPORT_ALLOC_COUNTER_H_
