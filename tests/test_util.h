// Copyright 2026 The cancelpool Authors.
//
// Small helpers shared by the pool tests.
#ifndef CANCELPOOL_TESTS_TEST_UTIL_H_
#define CANCELPOOL_TESTS_TEST_UTIL_H_

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace cancelpool {
namespace testing_util {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitizer = true;
#else
inline constexpr bool kSanitizer = false;
#endif

// Bound for waits that only a bug can exhaust: a deadlock fails the test
// instead of hanging it.
inline constexpr absl::Duration kLong = absl::Seconds(60);

// A task body that announces itself and blocks until released (or kLong).
struct Gate {
  absl::Notification started;
  absl::Notification release;
  void Block() {
    started.Notify();
    release.WaitForNotificationWithTimeout(kLong);
  }
};

}  // namespace testing_util
}  // namespace cancelpool

#endif  // CANCELPOOL_TESTS_TEST_UTIL_H_
