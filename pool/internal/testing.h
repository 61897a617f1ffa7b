// Copyright 2026 The cancelpool Authors.
//
// Test-only construction of a ThreadPool with knobs that are not options:
// the capacity of each worker's local deque (small values exercise the
// overflow path to the injection queue constantly). Target //pool:testing,
// testonly and visible only inside this repository.
#ifndef CANCELPOOL_POOL_INTERNAL_TESTING_H_
#define CANCELPOOL_POOL_INTERNAL_TESTING_H_

#include <cstddef>
#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "cancelpool/pool/internal/scheduler.h"
#include "cancelpool/pool/options.h"
#include "cancelpool/pool/thread_pool.h"

namespace cancelpool {
namespace pool_internal {

class ThreadPoolTestPeer {
 public:
  static constexpr size_t kDefaultLocalQueueCapacity =
      Scheduler::kDefaultLocalQueueCapacity;
  static constexpr size_t kMaxLocalQueueCapacity =
      Scheduler::kMaxLocalQueueCapacity;

  // ThreadPool(options) with `local_queue_capacity` slots per worker deque,
  // rounded up to a power of two; 0 to kMaxLocalQueueCapacity (values below
  // 2 mean 2; a larger value is treated as kMaxLocalQueueCapacity). Throws
  // like ThreadPool(options).
  static ThreadPool Make(ThreadPoolOptions options,
                         size_t local_queue_capacity) {
    return ThreadPool(std::move(options), local_queue_capacity);
  }
  // ThreadPool::Create(options) with that capacity: InvalidArgument for a
  // capacity above kMaxLocalQueueCapacity.
  static absl::StatusOr<std::unique_ptr<ThreadPool>> Create(
      ThreadPoolOptions options, size_t local_queue_capacity) {
    return ThreadPool::Create(std::move(options), local_queue_capacity);
  }
};

}  // namespace pool_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_INTERNAL_TESTING_H_
