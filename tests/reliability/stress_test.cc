// Copyright 2026 The cancelpool Authors.
//
// CI-sized seeded stress: a few hundred randomized schedules (see
// stress_harness.h for what a schedule does and what is checked after it).
// Every seed is printed; a failure prints the line to reproduce it:
//   CANCELPOOL_STRESS_SEED=<seed> bazel-bin/tests/reliability/stress_test
// The long run is stress_runner (see BUILD).
#include <cstdio>

#include "gtest/gtest.h"
#include "tests/reliability/stress_main.h"

namespace cancelpool {
namespace reliability {
namespace {

TEST(StressTest, SeededSchedules) {
  StressConfig defaults;
  defaults.first_seed = 1;
  defaults.schedules = 2000;
  defaults.seconds = 6;  // CI-sized: stop early on a slow (sanitizer) build
  const StressConfig config = StressConfigFromEnv(defaults);
  const StressTotals t = RunStress(config);
  std::printf("[stress] %s\n", FormatTotals(t).c_str());
  EXPECT_EQ(t.failures, 0u) << t.first_failure;
  EXPECT_GT(t.schedules, 0u);
}

}  // namespace
}  // namespace reliability
}  // namespace cancelpool
