// Copyright 2026 The cancelpool Authors.
//
// The interruptible sleeps through a using-declaration, as users write them.

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/wait.h"
#include "gtest/gtest.h"

namespace {

// wait.h: "WaitResult SleepFor(absl::Duration duration);  // current token"
// and "Returns kTimeout after a full sleep". A user who imports the name
// with a using-declaration must be able to call it with an absl::Duration
// (argument-dependent lookup also finds absl::SleepFor).
TEST(HostileAdl, UsingDeclarationSleepFor) {
  using cancelpool::SleepFor;
  using cancelpool::SleepUntil;
  EXPECT_EQ(SleepFor(absl::Milliseconds(5)), cancelpool::WaitResult::kTimeout);
  EXPECT_EQ(SleepUntil(absl::Now() + absl::Milliseconds(5)),
            cancelpool::WaitResult::kTimeout);
  cancelpool::CancellationSource source;
  EXPECT_EQ(SleepFor(source.Token(), absl::Milliseconds(5)),
            cancelpool::WaitResult::kTimeout);
}

}  // namespace
