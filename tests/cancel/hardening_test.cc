// Copyright 2026 The cancelpool Authors.
//
// Regression tests for what an outside tester broke in cancel/ (issue 11):
// a child's own deadline under a finished task's token (item 6), the request
// hook racing a task's destruction (7, meaningful under TSan), WaitForFd out
// of descriptors (8) and on an invalid fd (18), deep parent chains (12),
// `using cancelpool::SleepFor;` (21), and the poll-timeout helper.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/internal/clock.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

using testing_util::ChildResult;
using testing_util::kLong;
using testing_util::RunInChild;

// Notifies when the token is cancelled.
class CancelProbe {
 public:
  explicit CancelProbe(const CancellationToken& token)
      : callback_(token, [this] { fired_.Notify(); }) {}
  bool WaitFor(absl::Duration limit) {
    return fired_.WaitForNotificationWithTimeout(limit);
  }

 private:
  absl::Notification fired_;
  CancellationCallback<std::function<void()>> callback_;
};

// --- Item 21: using-declarations ------------------------------------------

TEST(SleepNamesTest, UsingDeclarationCompilesAndSleeps) {
  // With SleepFor a function, argument-dependent lookup also finds
  // absl::SleepFor(absl::Duration) and this call is ambiguous.
  using cancelpool::SleepFor;
  using cancelpool::SleepUntil;
  EXPECT_EQ(SleepFor(absl::Milliseconds(1)), WaitResult::kTimeout);
  EXPECT_EQ(SleepUntil(absl::Now() + absl::Milliseconds(1)),
            WaitResult::kTimeout);
  CancellationSource source;
  source.RequestCancellation();
  EXPECT_EQ(SleepFor(source.Token(), absl::Hours(1)), WaitResult::kCancelled);
  // The qualified forms keep working.
  EXPECT_EQ(cancelpool::SleepFor(CancellationToken(), absl::Milliseconds(1)),
            WaitResult::kTimeout);
}

// --- Items 8 and 18: WaitForFd errors --------------------------------------

TEST(WaitForFdErrorsTest, NegativeFdIsAnErrorAtOnceEvenWithoutDeadline) {
  // Before: poll(2) ignores a negative fd, so the wait lasted until the
  // deadline -- forever here. In a child: a hang fails the test.
  const ChildResult child = RunInChild(
      [] {
        CancellationSource source;
        const absl::StatusOr<WaitResult> with_token =
            WaitForFd(-1, FdInterest::kReadable, source.Token());
        if (with_token.status().code() != absl::StatusCode::kInvalidArgument) {
          return 1;
        }
        const absl::StatusOr<WaitResult> without =
            WaitForFd(-5, FdInterest::kWritable, CancellationToken());
        if (without.status().code() != absl::StatusCode::kInvalidArgument) {
          return 2;
        }
        return 0;
      },
      absl::Seconds(30));
  EXPECT_TRUE(child.ok()) << child.ToString();
}

TEST(WaitForFdErrorsTest, OutOfDescriptorsIsResourceExhaustedNotAbort) {
  // Before: the thread's eventfd could not be created and WaitForFd called
  // abort() ("eventfd: Too many open files").
  if (testing_util::kTsanCannotSymbolize) {
    GTEST_SKIP() << "TSan cannot symbolize out of descriptors";
  }
  const ChildResult child = RunInChild([] {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return 10;
    CancellationSource source;
    // A first wait on this thread, while descriptors are free: UBSan's
    // vptr check of the types involved is then cached (on a cache miss it
    // probes memory through a pipe, which needs two descriptors).
    if (WaitForFd(fds[1], FdInterest::kWritable, source.Token()) !=
        WaitResult::kReady) {
      return 11;
    }
    // A fresh thread has no eventfd yet; it starts now (UBSan, again) and
    // waits until the descriptors are gone.
    absl::Notification out_of_fds;
    std::vector<int> hogs;
    int rc = 0;
    std::thread waiter([&] {
      out_of_fds.WaitForNotification();
      const absl::StatusOr<WaitResult> exhausted =
          WaitForFd(fds[0], FdInterest::kReadable, source.Token(),
                    absl::Now() + absl::Milliseconds(10));
      if (exhausted.status().code() != absl::StatusCode::kResourceExhausted) {
        rc = 1;
        return;
      }
      // A token that can never be cancelled needs no eventfd.
      if (WaitForFd(fds[0], FdInterest::kReadable, CancellationToken(),
                    absl::Now() + absl::Milliseconds(10)) !=
          WaitResult::kTimeout) {
        rc = 2;
        return;
      }
      // Nothing was lost: with a descriptor free again, the next call works.
      if (hogs.empty()) {
        rc = 4;
        return;
      }
      close(hogs.back());
      hogs.pop_back();
      if (WaitForFd(fds[1], FdInterest::kWritable, source.Token()) !=
          WaitResult::kReady) {
        rc = 3;
      }
      // Free them all before this thread ends (UBSan checks its exit).
      for (int fd : hogs) close(fd);
    });
    rlimit limit{64, 64};
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) rc = 12;
    for (;;) {
      const int fd = dup(fds[0]);
      if (fd < 0) break;
      hogs.push_back(fd);
    }
    out_of_fds.Notify();
    waiter.join();
    return rc;
  });
  EXPECT_TRUE(child.ok()) << child.ToString();
}

TEST(PollTimeoutTest, RoundsUpAndClamps) {
  using cancel_internal::PollTimeoutMillis;
  EXPECT_EQ(PollTimeoutMillis(absl::InfiniteDuration()), -1);
  EXPECT_EQ(PollTimeoutMillis(absl::ZeroDuration()), 0);
  EXPECT_EQ(PollTimeoutMillis(-absl::Seconds(3)), 0);
  EXPECT_EQ(PollTimeoutMillis(-absl::InfiniteDuration()), 0);
  EXPECT_EQ(PollTimeoutMillis(absl::Nanoseconds(1)), 1);
  EXPECT_EQ(PollTimeoutMillis(absl::Microseconds(1500)), 2);
  EXPECT_EQ(PollTimeoutMillis(absl::Seconds(2)), 2000);
  // Beyond ~24.8 days the count does not fit an int: clamped, not wrapped.
  EXPECT_EQ(PollTimeoutMillis(absl::Hours(24 * 25)), INT_MAX);
  EXPECT_EQ(PollTimeoutMillis(absl::Hours(24 * 365 * 1000)), INT_MAX);
}

// --- Item 12: deep parent chains --------------------------------------------

constexpr int kChainDepth = 200000;

// A chain root <- 1 <- 2 <- ... <- leaf; only the root and the leaf sources
// are kept (each link holds its parent's state).
struct Chain {
  CancellationSource root;
  CancellationSource leaf;
  Chain() {
    leaf = root;
    for (int i = 0; i < kChainDepth; ++i) {
      leaf = CancellationSource(leaf.Token());
    }
  }
};

TEST(DeepChainTest, CancellingTheRootOfA200kChainReachesTheLeaf) {
  // Before: one nested request per level (stack overflow). In a child, so
  // that a crash is reported as such.
  const ChildResult child = RunInChild([] {
    Chain chain;
    absl::Notification leaf_callback_ran;
    CancellationCallback on_leaf(chain.leaf.Token(),
                                 [&] { leaf_callback_ran.Notify(); });
    if (!chain.root.RequestCancellation(absl::AbortedError("root"))) return 1;
    // Every level's callbacks have run when the request returns.
    if (!leaf_callback_ran.HasBeenNotified()) return 2;
    if (chain.leaf.Reason().code() != absl::StatusCode::kAborted) return 3;
    return 0;  // destroying the chain: see the next test
  });
  EXPECT_TRUE(child.ok()) << child.ToString();
}

TEST(DeepChainTest, DestroyingA200kChainFromTheLeaf) {
  // Before: each state's destruction dropped its parent's last reference
  // inside the destructor (stack overflow).
  const ChildResult child = RunInChild([] {
    {
      Chain chain;
      chain.root = CancellationSource();  // the leaf holds the whole chain
    }
    {
      Chain cancelled;
      cancelled.root.RequestCancellation();
    }
    return 0;
  });
  EXPECT_TRUE(child.ok()) << child.ToString();
}

TEST(DeepChainTest, NestedRequestFromACallbackRunsItsOwnChildrenFirst) {
  // A callback that cancels another source sees that source's children
  // cancelled (and their callbacks run) when its request returns.
  CancellationSource outer;
  CancellationSource other;
  CancellationSource other_child(other.Token());
  CancellationSource other_grandchild(other_child.Token());
  std::atomic<bool> grandchild_callback_ran{false};
  CancellationCallback on_grandchild(other_grandchild.Token(), [&] {
    grandchild_callback_ran.store(true, std::memory_order_relaxed);
  });
  bool seen_in_callback = false;
  CancellationCallback on_outer(outer.Token(), [&] {
    other.RequestCancellation();
    seen_in_callback =
        grandchild_callback_ran.load(std::memory_order_relaxed) &&
        other_grandchild.IsCancellationRequested();
  });
  outer.RequestCancellation();
  EXPECT_TRUE(seen_in_callback);
}

// --- Item 6: a child's own deadline under a finished task -------------------

TEST(ShadowedDeadlineTest, ChildDeadlineFiresAfterItsParentTaskFinished) {
  // The task's deadline is earlier than the child's, so the child's timer
  // used to be skipped; the task then finished, its token was closed and
  // never cancelled, and the child was never cancelled at all. On a loaded
  // machine the task may not even start before its deadline: then try again
  // with longer ones.
  ThreadPool pool(2);
  absl::Duration task_timeout = absl::Milliseconds(300);
  for (int attempt = 0; attempt < 4; ++attempt, task_timeout *= 3) {
    const absl::Duration child_timeout = task_timeout + task_timeout / 3;
    Future<CancellationSource> future = pool.SubmitWith(
        TaskOptions::WithTimeout(task_timeout),
        [child_timeout](CancellationToken token) {
          return CancellationSource::WithTimeout(child_timeout, {&token, 1});
        });
    absl::StatusOr<CancellationSource> child = future.Get();
    if (!child.ok()) {
      ASSERT_EQ(child.status().code(), absl::StatusCode::kDeadlineExceeded)
          << child.status();
      continue;  // cancelled before it started
    }
    CancelProbe probe(child->Token());
    ASSERT_TRUE(probe.WaitFor(absl::Seconds(30)))
        << "the child's own deadline never fired";
    // DeadlineExceeded either way: its own, or the task's if it was still
    // running at its deadline.
    EXPECT_EQ(child->Reason().code(), absl::StatusCode::kDeadlineExceeded);
    return;
  }
  FAIL() << "the task never started before its deadline";
}

TEST(ShadowedDeadlineTest, SourceUnderAnEarlierSourceDeadlineStillArmsItsOwn) {
  // The same rule without a pool: both deadlines are armed; the earlier
  // parent fires first and the child follows it.
  CancellationSource parent =
      CancellationSource::WithTimeout(absl::Milliseconds(20));
  CancellationSource child =
      CancellationSource::WithTimeout(absl::Hours(1), {parent.Token()});
  EXPECT_EQ(child.Deadline(), parent.Deadline());
  CancelProbe probe(child.Token());
  ASSERT_TRUE(probe.WaitFor(kLong));
  EXPECT_EQ(child.Reason().code(), absl::StatusCode::kDeadlineExceeded);
}

// --- Item 7: parent cancellation reaching a finishing task -------------------

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int kHookRounds = 300;
#else
constexpr int kHookRounds = 2000;
#endif

TEST(RequestHookTest, ParentCancelReachesRunningTasksWhileTheyAreFreed) {
  // Each task spins until its parent's cancellation reaches it, returns, and
  // is freed by its worker (the future was dropped) while the cancelling
  // thread is still in the request's step 4. TSan reported the former
  // virtual call there racing the derived destructors' vtable writes.
  ThreadPool pool(2);
  for (int round = 0; round < kHookRounds; ++round) {
    CancellationSource parent;
    TaskOptions options;
    options.parent = parent.Token();
    auto started = std::make_shared<absl::Notification>();
    // The future is dropped at once: the worker frees the task when it
    // returns.
    // A result with an out-of-line destructor, so the derived destructors'
    // vtable-pointer writes are not optimised away.
    pool.SubmitWith(options, [started](CancellationToken token) {
      started->Notify();
      while (!token.IsCancellationRequested()) std::this_thread::yield();
      return std::string(100, 'x');
    });
    ASSERT_TRUE(started->WaitForNotificationWithTimeout(kLong));
    EXPECT_TRUE(parent.RequestCancellation());
  }
}

}  // namespace
}  // namespace cancelpool
