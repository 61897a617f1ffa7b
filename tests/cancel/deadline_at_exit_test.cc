// Copyright 2026 The cancelpool Authors.
//
// exit() while a function-local static pool waits for a task that waits for
// its own deadline (issue 11, item 13). The deadline timer must keep firing
// while static destructors run: it used to be stopped by an exit hook that
// ran before the pool's destructor (registered later, at the first deadline),
// so the destructor waited the whole destructor_grace -- forever here.
#include <cstdlib>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

using testing_util::ChildResult;
using testing_util::RunInChild;

ThreadPool& StaticPool() {
  static ThreadPool pool([] {
    ThreadPoolOptions options;
    options.num_workers = 1;
    options.destructor_grace = absl::InfiniteDuration();
    return options;
  }());
  return pool;
}

TEST(ExitTest, StaticPoolWithATaskWaitingForItsDeadlineLetsExitReturn) {
  // Nothing in this binary uses a deadline before the child does, so the
  // timer's first use comes after the pool's construction, as in the report.
  const ChildResult child = RunInChild(
      [] {
        ThreadPool& pool = StaticPool();
        static absl::Notification started;
        // On a loaded machine the deadline can pass before the one worker
        // takes the task; it is then cancelled before it starts and never
        // runs. Submit again until one has started (each attempt's task
        // either starts or never runs, so `started` is notified once).
        for (int attempt = 0; attempt < 20 && !started.HasBeenNotified();
             ++attempt) {
          Future<void> task =
              pool.SubmitWith(TaskOptions::WithTimeout(absl::Milliseconds(500)),
                              [](CancellationToken token) {
                                started.Notify();
                                SleepFor(token, absl::Hours(1));
                              });
          while (!started.HasBeenNotified() && !task.IsReady()) {
            started.WaitForNotificationWithTimeout(absl::Milliseconds(10));
          }
        }
        if (!started.HasBeenNotified()) return 2;
        std::exit(0);  // static destructors: ~ThreadPool drains
        return 1;
      },
      absl::Seconds(30));
  EXPECT_TRUE(child.ok()) << child.ToString();
}

}  // namespace
}  // namespace cancelpool
