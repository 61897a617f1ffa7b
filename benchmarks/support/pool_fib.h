// Copyright 2026 The cancelpool Authors.
//
// Fork-join fib(n) on a cancelpool::ThreadPool: a task per call that has
// children, the left child submitted and the right one run inline, then a
// helping Get(). Shared by the peer benchmark (scenario 1) and the
// idle_spin_rounds sweep of the pool benchmark.
#ifndef CANCELPOOL_BENCHMARKS_SUPPORT_POOL_FIB_H_
#define CANCELPOOL_BENCHMARKS_SUPPORT_POOL_FIB_H_

#include "cancelpool/pool/thread_pool.h"

namespace cancelpool_bench {

inline int PoolFib(cancelpool::ThreadPool& pool, int n) {
  if (n < 2) return n;
  auto child = pool.Submit([&pool, n] { return PoolFib(pool, n - 1); });
  const int y = PoolFib(pool, n - 2);
  const auto x = child.Get();
  return *x + y;
}

}  // namespace cancelpool_bench

#endif  // CANCELPOOL_BENCHMARKS_SUPPORT_POOL_FIB_H_
