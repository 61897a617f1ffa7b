// Copyright 2026 The cancelpool Authors.
//
// The seeded-stress driver shared by stress_test (CI-sized, a cc_test) and
// stress_runner (the long manual run, a cc_binary).
//
// Environment (or, for stress_runner, --flags of the same names in lower
// case without the prefix: --seed=, --first_seed=, --schedules=, --seconds=):
//   CANCELPOOL_STRESS_SEED=N        run exactly schedule N (reproduce a
//                                   failure; the seed is printed by every run)
//   CANCELPOOL_STRESS_FIRST_SEED=N  first seed of the range (default 1)
//   CANCELPOOL_STRESS_SCHEDULES=N   how many schedules
//   CANCELPOOL_STRESS_SECONDS=S     stop early after S seconds (0: never)
//   CANCELPOOL_STRESS_VERBOSE=1     print every schedule's figures, not only
//                                   its seed
//   CANCELPOOL_STRESS_JOBS=N        run N schedules at a time (default 1)
//   CANCELPOOL_STRESS_HOSTILE=SPEC  which hostile operations schedules may
//                                   draw (stress_harness.h, HOSTILE
//                                   OPERATIONS): "all", "none", names joined
//                                   by ',', "+name" adds to the default set
#ifndef CANCELPOOL_TESTS_RELIABILITY_STRESS_MAIN_H_
#define CANCELPOOL_TESTS_RELIABILITY_STRESS_MAIN_H_

#include <cstdint>
#include <string>

#include "tests/reliability/stress_harness.h"

namespace cancelpool {
namespace reliability {

struct StressConfig {
  bool single = false;
  uint64_t seed = 0;
  uint64_t first_seed = 1;
  uint64_t schedules = 200;
  double seconds = 0;
  bool verbose = false;
  int jobs = 1;  // schedules run concurrently (independent pools)
  uint32_t hostile = kHostileDefault;  // HostileOp bits
  std::string error;  // a bad setting: RunStress then fails without running
};

// Defaults overridden from the environment.
StressConfig StressConfigFromEnv(StressConfig defaults);

struct StressTotals {
  uint64_t schedules = 0;
  uint64_t failures = 0;
  uint64_t ops = 0;
  uint64_t hostile_ops = 0;
  uint64_t submitted = 0;
  uint64_t completed = 0, failed = 0, cancelled_before_start = 0,
           cancelled_while_running = 0, rejected = 0;
  uint64_t by_workers[3] = {0, 0, 0};  // 1, 2, 8
  uint64_t by_mode[4] = {0, 0, 0, 0};  // EndMode
  double seconds = 0;
  uint32_t hostile = 0;
  std::string first_failure;
};

// Runs the configured schedules, printing each seed (and failures in full).
StressTotals RunStress(const StressConfig& config);
std::string FormatTotals(const StressTotals& t);

}  // namespace reliability
}  // namespace cancelpool

#endif  // CANCELPOOL_TESTS_RELIABILITY_STRESS_MAIN_H_
