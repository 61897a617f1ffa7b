// Copyright 2026 The cancelpool Authors.
//
// The shared deadline timer thread starts lazily, on the first deadline, and
// there is only ever one. A binary of its own: the check needs a process in
// which no deadline was armed before.

#include "cancelpool/cancel/internal/deadline_timer.h"

#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

using cancel_internal::DeadlineTimer;
using testing_util::CountThreads;

TEST(DeadlineTimerTest, TimerThreadStartsOnFirstDeadlineAndIsShared) {
  // Sanitizer runtimes start a helper thread of their own along with the
  // first user thread; let that happen before counting.
  std::thread([] {}).join();
  const int threads_at_start = CountThreads();
  ASSERT_GT(threads_at_start, 0);
  ASSERT_FALSE(DeadlineTimer::Get().ThreadRunning())
      << "no deadline was armed yet in this process";

  // Sources, links and cancellation without a deadline need no timer.
  {
    CancellationSource parent;
    CancellationSource child(parent.Token());
    parent.RequestCancellation();
  }
  EXPECT_FALSE(DeadlineTimer::Get().ThreadRunning());
  EXPECT_EQ(CountThreads(), threads_at_start);

  std::vector<CancellationSource> sources;
  sources.push_back(CancellationSource::WithTimeout(absl::Hours(1)));
  EXPECT_TRUE(DeadlineTimer::Get().ThreadRunning());
  EXPECT_EQ(CountThreads(), threads_at_start + 1);

  for (int i = 0; i < 1000; ++i) {
    sources.push_back(
        CancellationSource::WithTimeout(absl::Hours(1) + absl::Seconds(i)));
  }
  EXPECT_EQ(DeadlineTimer::Get().ArmedCount(), sources.size());
  EXPECT_EQ(CountThreads(), threads_at_start + 1);
  sources.clear();
  EXPECT_EQ(DeadlineTimer::Get().ArmedCount(), 0u);
}

}  // namespace
}  // namespace cancelpool
