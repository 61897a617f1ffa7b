// Copyright 2026 The cancelpool Authors.
//
// The API-sequence fuzz target: fuzzer bytes decide a schedule -- pool size
// and options, the operations of one or two client threads (submit with
// plans, nested submits, cancel, wait, get, deadlines, parent tokens,
// shutdowns) and the final shutdown mode -- which the stress harness runs and
// checks exactly as the seeded stress test does (stress_harness.h). A failed
// check aborts with the reason, so libFuzzer records the input.
//
// Hostile operations (stress_harness.h): the default set, or
// CANCELPOOL_FUZZ_HOSTILE=SPEC (as CANCELPOOL_STRESS_HOSTILE in
// stress_main.h; an unknown name aborts at once).
//
// Built two ways:
//   * as a library (//tests/reliability:fuzz_target) replayed over the
//     checked-in corpus by fuzz_replay_test, under gcc and the sanitizers;
//   * as a real libFuzzer binary with clang-14 (build_fuzzer.sh).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/time/time.h"
#include "tests/reliability/stress_harness.h"

namespace {

uint32_t HostileFromEnv() {
  uint32_t mask = cancelpool::reliability::kHostileDefault;
  const char* v = std::getenv("CANCELPOOL_FUZZ_HOSTILE");
  if (v != nullptr && *v != '\0' &&
      !cancelpool::reliability::ParseHostileOps(v, &mask)) {
    std::fprintf(stderr, "CANCELPOOL_FUZZ_HOSTILE: unknown operation in '%s'\n",
                 v);
    std::abort();
  }
  return mask;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const uint32_t hostile = HostileFromEnv();
  using cancelpool::reliability::ByteChoices;
  using cancelpool::reliability::HarnessLimits;
  using cancelpool::reliability::RunSchedule;
  HarnessLimits limits;
  // Small and quick: executions per second matter more than long sleeps.
  limits.max_ops = 24;
  limits.max_children = 3;
  limits.max_depth = 2;
  limits.max_sleep_us = 50;
  limits.max_spin_us = 20;
  limits.hang_deadline = absl::Seconds(60);
  limits.hostile = hostile;
  ByteChoices choices(data, size);
  const auto result = RunSchedule(choices, limits);
  if (!result.ok) {
    std::fprintf(stderr, "cancelpool fuzz check failed: %s\n",
                 result.error.c_str());
    std::fflush(stderr);
    std::abort();
  }
  return 0;
}
