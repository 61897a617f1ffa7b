// Copyright 2026 The cancelpool Authors.
#include "tests/reliability/stress_main.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/reliability/stress_harness.h"

namespace cancelpool {
namespace reliability {
namespace {

bool GetEnv(const char* name, std::string* out) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return false;
  *out = v;
  return true;
}

}  // namespace

StressConfig StressConfigFromEnv(StressConfig c) {
  std::string v;
  if (GetEnv("CANCELPOOL_STRESS_SEED", &v)) {
    c.single = true;
    c.seed = std::strtoull(v.c_str(), nullptr, 10);
  }
  if (GetEnv("CANCELPOOL_STRESS_FIRST_SEED", &v)) {
    c.first_seed = std::strtoull(v.c_str(), nullptr, 10);
  }
  if (GetEnv("CANCELPOOL_STRESS_SCHEDULES", &v)) {
    c.schedules = std::strtoull(v.c_str(), nullptr, 10);
  }
  if (GetEnv("CANCELPOOL_STRESS_SECONDS", &v)) c.seconds = std::atof(v.c_str());
  if (GetEnv("CANCELPOOL_STRESS_VERBOSE", &v)) c.verbose = v != "0";
  if (GetEnv("CANCELPOOL_STRESS_JOBS", &v)) c.jobs = std::atoi(v.c_str());
  if (GetEnv("CANCELPOOL_STRESS_HOSTILE", &v) &&
      !ParseHostileOps(v, &c.hostile)) {
    c.error = "CANCELPOOL_STRESS_HOSTILE: unknown operation in '" + v + "'";
  }
  return c;
}

StressTotals RunStress(const StressConfig& config) {
  StressTotals t;
  if (!config.error.empty()) {  // a bad setting fails the run, unrun
    t.failures = 1;
    t.first_failure = config.error;
    return t;
  }
  absl::Mutex mu;  // guards t and stdout
  HarnessLimits limits;
  limits.hostile = config.hostile;
  t.hostile = config.hostile;
  const absl::Time start = absl::Now();
  const uint64_t first = config.single ? config.seed : config.first_seed;
  const uint64_t count = config.single ? 1 : config.schedules;
  std::atomic<uint64_t> next{0};
  std::atomic<bool> out_of_time{false};
  auto worker = [&] {
    for (;;) {
      const uint64_t i = next.fetch_add(1);
      if (i >= count || out_of_time.load()) return;
      const uint64_t seed = first + i;
      if (!config.verbose) {
        absl::MutexLock lock(&mu);
        std::printf("seed=%llu\n", (unsigned long long)seed);
        std::fflush(stdout);
      }
      ScheduleResult r = RunSeed(seed, limits);
      absl::MutexLock lock(&mu);
      ++t.schedules;
      t.ops += r.ops;
      t.hostile_ops += r.hostile_ops;
      t.submitted += r.stats.submitted;
      t.completed += r.stats.completed;
      t.failed += r.stats.failed;
      t.cancelled_before_start += r.stats.cancelled_before_start;
      t.cancelled_while_running += r.stats.cancelled_while_running;
      t.rejected += r.stats.rejected;
      t.by_workers[r.workers == 1 ? 0 : r.workers == 2 ? 1 : 2]++;
      t.by_mode[static_cast<int>(r.end_mode)]++;
      if (config.verbose) {
        std::printf("seed=%llu %s %s\n", (unsigned long long)seed,
                    r.ok ? "ok" : "FAILED", r.summary.c_str());
      }
      if (!r.ok) {
        ++t.failures;
        std::printf(
            "FAILED seed=%llu: %s\n  reproduce: CANCELPOOL_STRESS_SEED=%llu"
            "\n",
            (unsigned long long)seed, r.error.c_str(),
            (unsigned long long)seed);
        if (t.first_failure.empty()) {
          t.first_failure = absl::StrFormat("seed=%d: %s", seed, r.error);
        }
      }
      std::fflush(stdout);
      if (config.seconds > 0 &&
          absl::ToDoubleSeconds(absl::Now() - start) > config.seconds) {
        out_of_time.store(true);
      }
    }
  };
  std::vector<std::thread> threads;
  for (int j = 1; j < config.jobs; ++j) threads.emplace_back(worker);
  worker();
  for (auto& th : threads) th.join();
  t.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return t;
}

std::string FormatTotals(const StressTotals& t) {
  return absl::StrFormat(
      "schedules=%d failures=%d seconds=%.1f ops=%d submitted=%d "
      "completed=%d failed=%d cancelled_before_start=%d "
      "cancelled_while_running=%d rejected=%d | workers 1/2/8: %d/%d/%d | "
      "end drain/cancel/drain-then-cancel/destructor: %d/%d/%d/%d | "
      "hostile: %s (%d ops)",
      t.schedules, t.failures, t.seconds, t.ops, t.submitted, t.completed,
      t.failed, t.cancelled_before_start, t.cancelled_while_running, t.rejected,
      t.by_workers[0], t.by_workers[1], t.by_workers[2], t.by_mode[0],
      t.by_mode[1], t.by_mode[2], t.by_mode[3], HostileOpsName(t.hostile),
      t.hostile_ops);
}

}  // namespace reliability
}  // namespace cancelpool
