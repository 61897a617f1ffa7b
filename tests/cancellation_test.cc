#include "cancelpool/cancel/cancellation.h"

#include "gtest/gtest.h"

namespace cancelpool {
namespace {

TEST(CancellationTest, FirstRequestWins) {
  CancellationSource source;
  CancellationToken token = source.Token();
  EXPECT_FALSE(token.IsCancellationRequested());
  EXPECT_TRUE(source.RequestCancellation(absl::AbortedError("first")));
  EXPECT_FALSE(source.RequestCancellation(absl::InternalError("second")));
  EXPECT_TRUE(token.IsCancellationRequested());
  EXPECT_EQ(token.Reason(), absl::AbortedError("first"));
}

}  // namespace
}  // namespace cancelpool
