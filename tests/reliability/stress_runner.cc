// Copyright 2026 The cancelpool Authors.
//
// The long seeded-stress run (manual; build it under --config=tsan or asan):
//   stress_runner --first_seed=1 --schedules=100000 [--seconds=S] [--jobs=N]
//                 [--verbose]
//   stress_runner --seed=N          # reproduce one schedule
//   --hostile=SPEC: which hostile operations (stress_main.h,
//   CANCELPOOL_STRESS_HOSTILE), e.g. --hostile=all or --hostile=+timed_wait
// The CANCELPOOL_STRESS_* environment variables work too (stress_main.h).
// Exit status 0 iff every schedule passed.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/reliability/stress_main.h"

int main(int argc, char** argv) {
  using cancelpool::reliability::StressConfig;
  StressConfig c = cancelpool::reliability::StressConfigFromEnv({});
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&a](const char* flag) -> const char* {
      const size_t n = std::strlen(flag);
      return a.compare(0, n, flag) == 0 ? a.c_str() + n : nullptr;
    };
    if (const char* v = value("--seed=")) {
      c.single = true;
      c.seed = std::strtoull(v, nullptr, 10);
    } else if (const char* v = value("--first_seed=")) {
      c.first_seed = std::strtoull(v, nullptr, 10);
    } else if (const char* v = value("--schedules=")) {
      c.schedules = std::strtoull(v, nullptr, 10);
    } else if (const char* v = value("--seconds=")) {
      c.seconds = std::atof(v);
    } else if (const char* v = value("--jobs=")) {
      c.jobs = std::atoi(v);
    } else if (const char* v = value("--hostile=")) {
      if (!cancelpool::reliability::ParseHostileOps(v, &c.hostile)) {
        std::fprintf(stderr, "--hostile: unknown operation in '%s'\n", v);
        return 2;
      }
    } else if (a == "--verbose") {
      c.verbose = true;
    } else {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  if (!c.error.empty()) {
    std::fprintf(stderr, "%s\n", c.error.c_str());
    return 2;
  }
  const auto t = cancelpool::reliability::RunStress(c);
  std::printf("[stress] %s\n",
              cancelpool::reliability::FormatTotals(t).c_str());
  if (t.failures != 0)
    std::printf("first failure: %s\n", t.first_failure.c_str());
  return t.failures == 0 ? 0 : 1;
}
