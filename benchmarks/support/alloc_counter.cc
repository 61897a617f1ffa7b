// Copyright 2026 The cancelpool Authors.
#include "benchmarks/support/alloc_counter.h"

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define CANCELPOOL_BENCH_NO_MALLOC_HOOK 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CANCELPOOL_BENCH_NO_MALLOC_HOOK 1
#endif

namespace {
// Constant-initialised: valid before any constructor runs (malloc is called
// during start-up).
std::atomic<bool> g_counting{false};
std::atomic<uint64_t> g_allocations{0};

// Relaxed: pairs with nothing. An allocation racing with AllocCounter's
// start or stop may or may not be counted; the counted sections are bounded
// by the benchmark's own waits.
inline void Count() {
  if (g_counting.load(std::memory_order_relaxed)) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  }
}
}  // namespace

#ifndef CANCELPOOL_BENCH_NO_MALLOC_HOOK
// glibc's own entry points (exported by libc.so.6 for exactly this use).
extern "C" {
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t n, size_t size);
void* __libc_realloc(void* p, size_t size);
void* __libc_memalign(size_t alignment, size_t size);
void __libc_free(void* p);

void* malloc(size_t size) {
  Count();
  return __libc_malloc(size);
}
void* calloc(size_t n, size_t size) {
  Count();
  return __libc_calloc(n, size);
}
void* realloc(void* p, size_t size) {
  Count();
  return __libc_realloc(p, size);
}
void free(void* p) { __libc_free(p); }
void* memalign(size_t alignment, size_t size) {
  Count();
  return __libc_memalign(alignment, size);
}
void* aligned_alloc(size_t alignment, size_t size) {
  Count();
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, size_t alignment, size_t size) {
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) {
    return EINVAL;
  }
  Count();
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr && size != 0) return ENOMEM;
  *out = p;
  return 0;
}
}  // extern "C"
#endif

namespace cancelpool_bench {

bool AllocCountingAvailable() {
#ifdef CANCELPOOL_BENCH_NO_MALLOC_HOOK
  return false;
#else
  return true;
#endif
}

AllocCounter::AllocCounter()
    : start_(g_allocations.load(std::memory_order_relaxed)) {
  g_counting.store(true, std::memory_order_seq_cst);
}

AllocCounter::~AllocCounter() {
  if (running_) Stop();
}

uint64_t AllocCounter::Stop() {
  g_counting.store(false, std::memory_order_seq_cst);
  running_ = false;
  return g_allocations.load(std::memory_order_relaxed) - start_;
}

}  // namespace cancelpool_bench
