// Copyright 2026 The cancelpool Authors.
//
// Allocation costs promised by cancel/cancellation.h: a default token costs
// nothing (no allocation to make, copy or check it), tokens are copied
// without allocating, and a source is one allocation. Counts calls to the
// global operator new, replaced in this binary only.
#include <atomic>
#include <cstdlib>
#include <new>

#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/current.h"
#include "gtest/gtest.h"

namespace {
std::atomic<long> allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace cancelpool {
namespace {

// Allocations made by `f` on any thread (the tests run single-threaded).
template <typename F>
long AllocationsDuring(F f) {
  const long before = allocations.load();
  f();
  return allocations.load() - before;
}

TEST(AllocationTest, DefaultTokenCostsNothing) {
  EXPECT_EQ(AllocationsDuring([] {
              CancellationToken token;
              CancellationToken copy = token;
              CancellationToken moved = std::move(copy);
              EXPECT_FALSE(moved.IsCancellationRequested());
              EXPECT_NO_THROW(moved.ThrowIfCancellationRequested());
              EXPECT_TRUE(moved.Reason().ok());
              CancellationCallback callback(moved, [] {});
              CurrentTokenScope scope(moved);
              EXPECT_FALSE(IsCancellationRequested());
            }),
            0);
}

TEST(AllocationTest, TokenCopiesAndChecksDoNotAllocate) {
  CancellationSource source;
  EXPECT_EQ(AllocationsDuring([&] {
              for (int i = 0; i < 1000; ++i) {
                CancellationToken token = source.Token();
                CancellationToken copy = token;
                EXPECT_FALSE(copy.IsCancellationRequested());
                copy.ThrowIfCancellationRequested();
              }
            }),
            0);
}

TEST(AllocationTest, SourceIsOneAllocation) {
  EXPECT_EQ(AllocationsDuring([] { CancellationSource source; }), 1);
  CancellationSource parent;
  EXPECT_EQ(
      AllocationsDuring([&] { CancellationSource child(parent.Token()); }), 1);
}

TEST(AllocationTest, RegistrationAndRequestDoNotAllocate) {
  CancellationSource source;
  int runs = 0;
  EXPECT_EQ(AllocationsDuring([&] {
              CancellationCallback a(source.Token(), [&] { ++runs; });
              CancellationCallback b(source.Token(), [&] { ++runs; });
              source.RequestCancellation(absl::CancelledError());
            }),
            0);
  EXPECT_EQ(runs, 2);
}

}  // namespace
}  // namespace cancelpool
