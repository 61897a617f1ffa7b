// Copyright 2026 The cancelpool Authors.
//
// The "compose" hostile operation of the stress harness (stress_harness.h):
// one self-checking scenario of the combinators (issue 16) on a side pool of
// 1-3 workers, chosen and shaped by `target`: a TaskGroup fan-out, WhenAll/
// WhenAny with losers running, a Then chain, a Hedge, a ParallelFor -- each
// with a cancellation and/or a shutdown (drain or cancel) landing at a
// random point. CHECKS: every future the scenario created resolves; the
// group's Wait and ParallelFor return; the side pool terminates with
// nothing in flight; ParallelFor ran no index twice and reports no more
// than it ran.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/hedge.h"
#include "cancelpool/pool/parallel_for.h"
#include "cancelpool/pool/task_group.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/pool/when.h"

namespace cancelpool {
namespace reliability {
namespace {

constexpr absl::Duration kLimit = absl::Seconds(60);

// Random-ish but deterministic in `target`.
struct Bits {
  uint32_t v;
  uint32_t Take(uint32_t n) {
    const uint32_t r = v % n;
    v = v / n + 0x9E37u * (r + 1);
    return r;
  }
};

absl::StatusOr<int> Work(CancellationToken t, uint32_t us, bool fail) {
  if (SleepFor(t, absl::Microseconds(us)) == WaitResult::kCancelled) {
    return t.Reason();
  }
  if (fail) return absl::UnavailableError("compose op: planned failure");
  return static_cast<int>(us);
}

template <typename F>
std::string CheckReady(const F& f, const char* what) {
  if (!f.IsReady()) return absl::StrCat("compose: ", what, " never resolved");
  return "";
}

}  // namespace

std::string HostileCompose(uint32_t target) {
  Bits b{target};
  ThreadPoolOptions o;
  o.num_workers = 1 + static_cast<int>(b.Take(3));
  o.thread_name_prefix = "compose-";
  o.destructor_grace = absl::ZeroDuration();
  ThreadPool pool(std::move(o));
  const uint32_t scenario = b.Take(5);
  const uint32_t shutdown = b.Take(3);  // 0 none, 1 drain, 2 cancel
  const uint32_t n = 2 + b.Take(30);
  std::string error;
  auto maybe_shutdown = [&] {
    if (shutdown == 1) pool.Shutdown(ShutdownMode::kDrain);
    if (shutdown == 2) pool.Shutdown(ShutdownMode::kCancel);
  };
  switch (scenario) {
    case 0: {  // TaskGroup fan-out
      const auto policy = static_cast<TaskGroup::Policy>(b.Take(3));
      std::vector<Future<int>> fs;
      {
        TaskGroup group(pool, policy);
        for (uint32_t i = 0; i < n; ++i) {
          const uint32_t us = b.Take(200);
          const bool fail = b.Take(6) == 0;
          fs.push_back(group.Run(
              [us, fail](CancellationToken t) { return Work(t, us, fail); }));
          if (i == n / 2) maybe_shutdown();
        }
        if (b.Take(2) == 0) (void)group.Wait();
      }  // destroyed: cancels and joins
      for (const auto& f : fs) {
        if (error.empty()) error = CheckReady(f, "a group task");
      }
      break;
    }
    case 1: {  // WhenAll / WhenAny
      std::vector<Future<int>> fs;
      for (uint32_t i = 0; i < n; ++i) {
        const uint32_t us = b.Take(300);
        const bool fail = b.Take(5) == 0;
        fs.push_back(pool.Submit(
            [us, fail](CancellationToken t) { return Work(t, us, fail); }));
      }
      std::vector<CancelHandle> handles;
      for (const auto& f : fs) handles.push_back(f.GetCancelHandle());
      const bool cancel = b.Take(3) == 0;
      if (b.Take(2) == 0) {
        auto all = WhenAll(std::move(fs), {.fail_fast = b.Take(2) == 0});
        maybe_shutdown();
        if (cancel) all.Cancel();
        if (!all.WaitFor(kLimit)) error = "compose: WhenAll never resolved";
      } else {
        auto any = WhenAny(std::move(fs), {.first_success = b.Take(2) == 0});
        maybe_shutdown();
        if (cancel) any.Cancel();
        if (!any.WaitFor(kLimit)) error = "compose: WhenAny never resolved";
      }
      pool.Shutdown();
      if (!pool.AwaitTermination(absl::Now() + kLimit)) break;
      for (const auto& h : handles) {
        if (!h.IsReady() && error.empty()) {
          error = "compose: a WhenAll/WhenAny input never resolved";
        }
      }
      break;
    }
    case 2: {  // Then chain
      Future<int> f = pool.Submit([us = b.Take(200)](CancellationToken t) {
        return Work(t, us, false);
      });
      const uint32_t len = 1 + b.Take(5);
      for (uint32_t i = 0; i < len; ++i) {
        if (b.Take(2) == 0) {
          f = std::move(f).Then(pool, [](int v) { return v + 1; });
        } else {
          f = std::move(f).Then(
              pool, [](absl::StatusOr<int> r) { return r.ok() ? *r : -1; });
        }
      }
      maybe_shutdown();
      if (b.Take(3) == 0) f.Cancel();
      if (!f.WaitFor(kLimit)) error = "compose: a Then chain never resolved";
      break;
    }
    case 3: {  // Hedge
      const uint32_t attempts = 1 + b.Take(4);
      const uint32_t fail_mask = b.Take(16);
      auto h = Hedge(pool, absl::Microseconds(b.Take(300)),
                     static_cast<int>(attempts),
                     [fail_mask](CancellationToken t, int a) {
                       return Work(t, 100 * static_cast<uint32_t>(a + 1),
                                   ((fail_mask >> a) & 1u) != 0);
                     });
      maybe_shutdown();
      if (b.Take(3) == 0) h.Cancel();
      if (!h.WaitFor(kLimit)) error = "compose: a Hedge never resolved";
      break;
    }
    case 4: {  // ParallelFor
      const int64_t len = 1 + b.Take(5000);
      auto hits = std::make_unique<std::atomic<int>[]>(len);
      const int64_t fail_at = b.Take(2) == 0 ? b.Take(5000) : -1;
      std::atomic<bool> once{false};
      ParallelForResult r =
          ParallelFor(pool, 0, len,
                      [&](const CancellationToken&, int64_t i) -> absl::Status {
                        hits[i].fetch_add(1, std::memory_order_relaxed);
                        if (i == len / 3 && !once.exchange(true))
                          maybe_shutdown();
                        if (i == fail_at) return absl::DataLossError("planned");
                        return absl::OkStatus();
                      },
                      {.parent = CancellationToken(), .grain = 1 + b.Take(64)});
      int64_t ran = 0;
      for (int64_t i = 0; i < len; ++i) {
        const int h = hits[i].load();
        if (h > 1)
          error = absl::StrCat("compose: ParallelFor ran ", i, " twice");
        ran += h;
      }
      if (r.completed > ran) error = "compose: ParallelFor over-reported";
      if (r.status.ok() && r.completed != len) {
        error = "compose: ParallelFor OK but incomplete";
      }
      break;
    }
  }
  pool.Shutdown(b.Take(2) == 0 ? ShutdownMode::kDrain : ShutdownMode::kCancel);
  if (!pool.AwaitTermination(absl::Now() + kLimit)) {
    return absl::StrCat("compose scenario ", scenario,
                        ": pool never terminated");
  }
  if (!pool.Report().terminated) {
    return absl::StrCat("compose scenario ", scenario,
                        ": tasks left in flight: ", pool.Stats().InFlight());
  }
  return error;
}

}  // namespace reliability
}  // namespace cancelpool
