#include "cancelpool/pool/thread_pool.h"

#include "gtest/gtest.h"

namespace cancelpool {
namespace {

TEST(PoolSmokeTest, RunsATask) {
  ThreadPool pool(2);
  Future<int> f = pool.Submit([] { return 42; });
  absl::StatusOr<int> r = f.Get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 42);
}

}  // namespace
}  // namespace cancelpool
