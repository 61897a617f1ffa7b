// Copyright 2026 The cancelpool Authors.
//
// WhenAll / WhenAny: results, fail-fast, losers cancelled while running,
// cancelling the combined future, races.
#include "cancelpool/pool/when.h"

#include <atomic>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

using testing_util::kLong;

// A task that runs until its token is cancelled (or kLong), then reports it.
absl::StatusOr<int> Spin(CancellationToken token) {
  if (SleepFor(token, kLong) == WaitResult::kCancelled) return token.Reason();
  return -1;
}

TEST(WhenAllTest, CollectsEveryResultInOrder) {
  ThreadPool pool(2);
  std::vector<Future<int>> fs;
  for (int i = 0; i < 10; ++i) {
    fs.push_back(pool.Submit([i]() -> absl::StatusOr<int> {
      if (i == 3) return absl::InternalError("three");
      return i * i;
    }));
  }
  auto all = WhenAll(std::move(fs));
  auto r = all.Get();
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 10u);
  for (int i = 0; i < 10; ++i) {
    if (i == 3) {
      EXPECT_EQ((*r)[3].status().code(), absl::StatusCode::kInternal);
    } else {
      EXPECT_EQ(*(*r)[i], i * i);
    }
  }
}

TEST(WhenAllTest, EmptyAndInvalidInputs) {
  auto none = WhenAll(std::vector<Future<int>>());
  ASSERT_TRUE(none.Get().ok());
  std::vector<Future<int>> one(1);
  auto r = WhenAll(std::move(one)).Get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(WhenAllTest, FailFastCancelsRunningSiblings) {
  ThreadPool pool(3);
  std::vector<Future<int>> fs;
  fs.push_back(pool.Submit(Spin));
  fs.push_back(pool.Submit(Spin));
  absl::Notification go;
  fs.push_back(pool.Submit([&]() -> absl::StatusOr<int> {
    go.WaitForNotification();
    return absl::UnavailableError("backend down");
  }));
  CancelHandle h0 = fs[0].GetCancelHandle();
  auto all = WhenAll(std::move(fs), {.fail_fast = true});
  go.Notify();
  auto r = all.Get();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  // The spinning siblings were cancelled and return promptly.
  pool.Shutdown();
  EXPECT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_TRUE(h0.IsReady());
}

TEST(WhenAllTest, VariadicTuple) {
  ThreadPool pool(2);
  auto all =
      WhenAll(pool.Submit([] { return 1; }),
              pool.Submit([] { return std::string("x"); }), pool.Submit([] {}));
  auto r = all.Get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*std::get<0>(*r), 1);
  EXPECT_EQ(*std::get<1>(*r), "x");
  EXPECT_TRUE(std::get<2>(*r).ok());
}

TEST(WhenAllTest, CancellingCombinedCancelsInputs) {
  ThreadPool pool(2);
  std::vector<Future<int>> fs;
  fs.push_back(pool.Submit(Spin));
  fs.push_back(pool.Submit(Spin));
  auto all = WhenAll(std::move(fs));
  EXPECT_TRUE(all.Cancel());
  EXPECT_EQ(all.Outcome(), TaskOutcome::kCancelled);
  pool.Shutdown();
  EXPECT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
}

TEST(WhenAnyTest, FirstWinsLosersCancelledWhileRunning) {
  ThreadPool pool(3);
  std::atomic<int> losers_saw_cancel{0};
  auto loser = [&](CancellationToken t) -> absl::StatusOr<int> {
    if (SleepFor(t, kLong) == WaitResult::kCancelled) ++losers_saw_cancel;
    return -1;
  };
  std::vector<Future<int>> fs;
  fs.push_back(pool.Submit(loser));
  fs.push_back(pool.Submit([] { return 7; }));
  fs.push_back(pool.Submit(loser));
  auto any = WhenAny(std::move(fs));
  auto r = any.Get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->index, 1u);
  EXPECT_EQ(*r->result, 7);
  pool.Shutdown();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_EQ(losers_saw_cancel.load() +
                static_cast<int>(pool.Stats().cancelled_before_start),
            2);
}

TEST(WhenAnyTest, FirstSuccessSkipsFailures) {
  ThreadPool pool(2);
  absl::Notification fail_first;
  std::vector<Future<int>> fs;
  fs.push_back(pool.Submit(
      []() -> absl::StatusOr<int> { return absl::InternalError("bad"); }));
  fs.push_back(pool.Submit([]() -> absl::StatusOr<int> {
    absl::SleepFor(absl::Milliseconds(5));
    return 9;
  }));
  auto r = WhenAny(std::move(fs), {.first_success = true}).Get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->index, 1u);
  EXPECT_EQ(*r->result, 9);
}

TEST(WhenAnyTest, AllFailGivesLastFailure) {
  ThreadPool pool(2);
  std::vector<Future<int>> fs;
  for (int i = 0; i < 3; ++i) {
    fs.push_back(pool.Submit(
        []() -> absl::StatusOr<int> { return absl::InternalError("bad"); }));
  }
  auto any = WhenAny(std::move(fs), {.first_success = true});
  EXPECT_EQ(any.Get().status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(any.Outcome(), TaskOutcome::kFailed);
  EXPECT_EQ(WhenAny(std::vector<Future<int>>()).Get().status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(WhenAnyTest, VariadicSameType) {
  ThreadPool pool(2);
  auto r = WhenAny(pool.Submit([] { return 1; }), pool.Submit(Spin)).Get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->index, 0u);
}

TEST(WhenTest, CancelVersusCompleteRace) {
  const int kRounds = testing_util::kSanitizer ? 200 : 2000;
  ThreadPool pool(2);
  for (int i = 0; i < kRounds; ++i) {
    std::vector<Future<int>> fs;
    for (int j = 0; j < 4; ++j) fs.push_back(pool.Submit([j] { return j; }));
    auto any = WhenAny(std::move(fs));
    if (i % 3 == 0) any.Cancel();
    auto r = any.Get();
    if (!r.ok()) {
      EXPECT_EQ(any.Outcome(), TaskOutcome::kCancelled);
    }
    std::vector<Future<int>> gs;
    for (int j = 0; j < 4; ++j) gs.push_back(pool.Submit([j] { return j; }));
    auto all = WhenAll(std::move(gs), {.fail_fast = true});
    if (i % 3 == 1) all.Cancel();
    (void)all.Get();
  }
  pool.Shutdown();
  ASSERT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
  EXPECT_TRUE(pool.Report().terminated);
}

}  // namespace
}  // namespace cancelpool
