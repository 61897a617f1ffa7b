// Copyright 2026 The cancelpool Authors.
#include "tests/reliability/stress_harness.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/current.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/future.h"
#include "cancelpool/pool/thread_pool.h"

namespace cancelpool {
namespace reliability {

uint32_t SeededChoices::Next(uint32_t bound) {
  state_ += 0x9E3779B97F4A7C15ull;
  uint64_t z = state_;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return bound == 0 ? 0 : static_cast<uint32_t>(z % bound);
}

uint32_t ByteChoices::Next(uint32_t bound) {
  if (bound <= 1) return 0;
  uint32_t v = 0;
  for (uint32_t range = 1; range < bound && range != 0; range <<= 8) {
    const uint8_t b = pos_ < size_ ? data_[pos_] : 0;
    ++pos_;
    v = (v << 8) | b;
    if (range > (UINT32_MAX >> 8)) break;
  }
  return v % bound;
}

const char* EndModeName(EndMode mode) {
  switch (mode) {
    case EndMode::kDrain:
      return "drain";
    case EndMode::kCancel:
      return "cancel";
    case EndMode::kDrainThenCancel:
      return "drain-then-cancel";
    case EndMode::kDestructor:
      return "destructor";
  }
  return "?";
}

namespace {

// ---------------------------------------------------------------------------
// The program.

enum class Behavior {
  kValue,             // return the task id
  kError,             // return InternalError
  kThrow,             // throw std::runtime_error
  kCoopReturnReason,  // SleepFor(token); if cancelled return token.Reason()
  kCoopThrow,         // SleepFor(token); token.ThrowIfCancellationRequested()
  kCoopCurrentToken,  // SleepFor(current token); ThrowIfCancellationRequested()
  kIgnoreToken,       // spin, ignoring the token, then return the id
  kShutdownInside,    // pool->Shutdown(mode) from inside, return the id
  kSpawn,             // submit children from inside, maybe wait on them
};
constexpr int kNumLeafBehaviors = 8;  // all but kSpawn

struct Plan {
  Behavior behavior = Behavior::kValue;
  int micros = 0;
  int deadline_us = -1;  // TaskOptions::deadline = now + this; -1: none
  int parent = -1;       // TaskOptions::parent = parents[this]; -1: none
  ShutdownMode inside_mode = ShutdownMode::kDrain;
  int child_wait = 0;    // 0 Wait, 1 Get, 2 WaitFor(0), 3 none
  bool cancel_children = false;
  int slow_destroy_us = 0;  // the callable's destructor takes this long
  std::vector<Plan> children;
};

enum class OpKind {
  kSubmit,
  kCancel,        // Future::Cancel
  kCancelHandle,  // CancelHandle::Cancel
  kWait,
  kWaitFor,
  kGet,
  kCancelParent,
  kPause,
  kShutdown,      // mid-schedule
  kStats,
  kEmptyFutures,  // default and moved-from futures
};

struct Op {
  OpKind kind = OpKind::kPause;
  Plan plan;
  uint32_t target = 0;
  int micros = 0;
  ShutdownMode mode = ShutdownMode::kDrain;
};

struct Program {
  ThreadPoolOptions options;  // sans callbacks
  int workers = 1;
  EndMode end_mode = EndMode::kDrain;
  absl::Duration drain_grace;  // kDrainThenCancel
  std::vector<Op> client_ops[2];
  bool second_client = false;
};

Plan MakePlan(Choices& c, const HarnessLimits& limits, int depth) {
  Plan p;
  // Weighted: values and cooperative sleeps are common, in-task shutdown rare.
  static constexpr Behavior kTable[] = {
      Behavior::kValue,           Behavior::kValue,
      Behavior::kError,           Behavior::kThrow,
      Behavior::kCoopReturnReason, Behavior::kCoopReturnReason,
      Behavior::kCoopThrow,       Behavior::kCoopCurrentToken,
      Behavior::kIgnoreToken,     Behavior::kSpawn,
      Behavior::kSpawn,           Behavior::kValue,
  };
  static_assert(kNumLeafBehaviors == 8);
  p.behavior = kTable[c.Next(sizeof(kTable) / sizeof(kTable[0]))];
  if (p.behavior == Behavior::kSpawn && depth >= limits.max_depth) {
    p.behavior = Behavior::kValue;
  }
  if (c.OneIn(150)) p.behavior = Behavior::kShutdownInside;
  switch (p.behavior) {
    case Behavior::kCoopReturnReason:
    case Behavior::kCoopThrow:
    case Behavior::kCoopCurrentToken:
      p.micros = static_cast<int>(c.Next(limits.max_sleep_us + 1));
      break;
    case Behavior::kIgnoreToken:
      p.micros = static_cast<int>(c.Next(limits.max_spin_us + 1));
      break;
    case Behavior::kShutdownInside:
      p.inside_mode =
          c.OneIn(2) ? ShutdownMode::kDrain : ShutdownMode::kCancel;
      break;
    case Behavior::kSpawn: {
      const int n = 1 + static_cast<int>(c.Next(limits.max_children));
      p.child_wait = static_cast<int>(c.Next(4));
      p.cancel_children = c.OneIn(4);
      for (int i = 0; i < n; ++i) {
        p.children.push_back(MakePlan(c, limits, depth + 1));
      }
      break;
    }
    default:
      break;
  }
  if (c.OneIn(6)) {
    p.deadline_us = static_cast<int>(c.Next(limits.max_sleep_us + 1));
  }
  if (c.OneIn(5)) p.parent = static_cast<int>(c.Next(2));
  if (c.OneIn(8)) p.slow_destroy_us = static_cast<int>(c.Next(200));
  return p;
}

Op MakeOp(Choices& c, const HarnessLimits& limits, bool main_client) {
  Op op;
  const uint32_t r = c.Next(100);
  if (r < 50) {
    op.kind = OpKind::kSubmit;
    op.plan = MakePlan(c, limits, 0);
  } else if (r < 60) {
    op.kind = OpKind::kCancel;
  } else if (r < 65) {
    op.kind = OpKind::kCancelHandle;
  } else if (r < 70) {
    op.kind = OpKind::kWait;
  } else if (r < 75) {
    op.kind = OpKind::kWaitFor;
    op.micros = static_cast<int>(c.Next(limits.max_sleep_us + 1));
  } else if (r < 80) {
    op.kind = OpKind::kGet;
  } else if (r < 83) {
    op.kind = OpKind::kCancelParent;
  } else if (r < 90) {
    op.kind = OpKind::kPause;
    op.micros = static_cast<int>(c.Next(limits.max_sleep_us + 1));
  } else if (r < 91 && main_client) {
    op.kind = OpKind::kShutdown;
    op.mode = c.OneIn(2) ? ShutdownMode::kDrain : ShutdownMode::kCancel;
  } else if (r < 96) {
    op.kind = OpKind::kStats;
  } else {
    op.kind = OpKind::kEmptyFutures;
  }
  op.target = c.Next(1u << 16);
  return op;
}

Program MakeProgram(Choices& c, const HarnessLimits& limits) {
  Program p;
  static constexpr int kWorkers[] = {1, 2, 8};
  static constexpr size_t kCapacity[] = {2, 4, 1024};
  static constexpr int kSpin[] = {0, 1, 64};
  p.workers = kWorkers[c.Next(3)];
  p.options.num_workers = p.workers;
  p.options.local_queue_capacity = kCapacity[c.Next(3)];
  p.options.idle_spin_rounds = kSpin[c.Next(3)];
  p.options.max_queued_tasks = c.OneIn(4) ? 1 + c.Next(16) : 0;
  p.options.destructor_grace = absl::Milliseconds(c.Next(3));
  p.options.thread_name_prefix = "stress-";
  p.end_mode = static_cast<EndMode>(c.Next(4));
  p.drain_grace = absl::Microseconds(c.Next(2000));
  p.second_client = c.OneIn(2);
  for (int k = 0; k < (p.second_client ? 2 : 1); ++k) {
    const int n = 1 + static_cast<int>(c.Next(limits.max_ops));
    for (int i = 0; i < n && !c.Exhausted(); ++i) {
      p.client_ops[k].push_back(MakeOp(c, limits, k == 0));
    }
  }
  return p;
}

// ---------------------------------------------------------------------------
// Execution.

enum class Did : int {
  kNothing,
  kReturnedValue,
  kReturnedError,
  kThrewError,
  kAckCancel,  // returned the reason or threw CancelledException
};

struct Entry {
  explicit Entry(int i) : id(i) {}
  const int id;
  std::atomic<int> runs{0};
  std::atomic<int> destroyed{0};
  std::atomic<int> did{static_cast<int>(Did::kNothing)};
  // Owned by whoever submitted it (a client thread, or the parent task) until
  // the pool terminated; then by the checker.
  Future<int> future;
  bool taken = false;
  absl::StatusOr<int> taken_result;
};

void SpinFor(int micros) {
  const absl::Time end = absl::Now() + absl::Microseconds(micros);
  while (absl::Now() < end) {
  }
}

// Moves with the callable; counts the destruction of the live instance
// (optionally slowly: a callable whose captures take time to release widens
// every window between "cancellation requested" and "resolved").
class Probe {
 public:
  Probe(Entry* e, int slow_us) : e_(e), slow_us_(slow_us) {}
  Probe(Probe&& o) noexcept
      : e_(std::exchange(o.e_, nullptr)), slow_us_(o.slow_us_) {}
  Probe& operator=(Probe&&) = delete;
  Probe(const Probe&) = delete;
  ~Probe() {
    if (e_ == nullptr) return;
    if (slow_us_ > 0) SpinFor(slow_us_);
    e_->destroyed.fetch_add(1, std::memory_order_acq_rel);
  }

 private:
  Entry* e_;
  int slow_us_;
};

struct Context {
  ThreadPool* pool = nullptr;
  HarnessLimits limits;
  CancellationSource parents[2];
  std::atomic<uint64_t> submit_calls{0};
  absl::Mutex mu;
  std::vector<std::unique_ptr<Entry>> entries ABSL_GUARDED_BY(mu);

  Entry* NewEntry() {
    absl::MutexLock lock(&mu);
    entries.push_back(std::make_unique<Entry>(static_cast<int>(entries.size())));
    return entries.back().get();
  }
};

Entry* SubmitPlan(Context& ctx, const Plan& plan);

absl::StatusOr<int> RunPlan(Context& ctx, Entry* e, const Plan& plan,
                            const CancellationToken& token) {
  e->runs.fetch_add(1, std::memory_order_acq_rel);
  auto did = [e](Did d) {
    e->did.store(static_cast<int>(d), std::memory_order_release);
  };
  switch (plan.behavior) {
    case Behavior::kValue:
      break;
    case Behavior::kError:
      did(Did::kReturnedError);
      return absl::InternalError("planned error");
    case Behavior::kThrow:
      did(Did::kThrewError);
      throw std::runtime_error("planned throw");
    case Behavior::kCoopReturnReason:
      if (cancelpool::SleepFor(absl::Microseconds(plan.micros), token) ==
          WaitResult::kCancelled) {
        did(Did::kAckCancel);
        return token.Reason();
      }
      break;
    case Behavior::kCoopThrow:
      cancelpool::SleepFor(absl::Microseconds(plan.micros), token);
      if (token.IsCancellationRequested()) {
        did(Did::kAckCancel);
        token.ThrowIfCancellationRequested();
      }
      break;
    case Behavior::kCoopCurrentToken:
      cancelpool::SleepFor(absl::Microseconds(plan.micros));  // current token
      if (cancelpool::IsCancellationRequested()) {
        did(Did::kAckCancel);
        cancelpool::ThrowIfCancellationRequested();
      }
      break;
    case Behavior::kIgnoreToken:
      SpinFor(plan.micros);
      break;
    case Behavior::kShutdownInside:
      ctx.pool->Shutdown(plan.inside_mode,
                         absl::CancelledError("shutdown from inside a task"));
      break;
    case Behavior::kSpawn: {
      std::vector<Entry*> kids;
      for (const Plan& child : plan.children) {
        kids.push_back(SubmitPlan(ctx, child));
      }
      if (plan.cancel_children) {
        for (Entry* k : kids) k->future.Cancel();
      }
      for (Entry* k : kids) {
        switch (plan.child_wait) {
          case 0:
            k->future.Wait();  // helping wait
            break;
          case 1:
            k->taken_result = k->future.Get();
            k->taken = true;
            break;
          case 2:
            k->future.WaitFor(absl::ZeroDuration());
            break;
          default:
            break;
        }
      }
      break;
    }
  }
  did(Did::kReturnedValue);
  return e->id;
}

Entry* SubmitPlan(Context& ctx, const Plan& plan) {
  Entry* e = ctx.NewEntry();
  TaskOptions options;
  if (plan.deadline_us >= 0) {
    options.deadline = absl::Now() + absl::Microseconds(plan.deadline_us);
  }
  if (plan.parent >= 0) options.parent = ctx.parents[plan.parent].Token();
  ctx.submit_calls.fetch_add(1, std::memory_order_relaxed);
  e->future = ctx.pool->SubmitWith(
      options,
      [&ctx, e, plan, probe = Probe(e, plan.slow_destroy_us)](
          CancellationToken token) -> absl::StatusOr<int> {
        return RunPlan(ctx, e, plan, token);
      });
  return e;
}

// Returns an error message, or "" if fine.
std::string RunClient(Context& ctx, const std::vector<Op>& ops,
                      uint64_t* executed) {
  std::vector<Entry*> mine;
  auto pick = [&mine](uint32_t t) -> Entry* {
    return mine.empty() ? nullptr : mine[t % mine.size()];
  };
  for (const Op& op : ops) {
    ++*executed;
    Entry* e = op.kind == OpKind::kSubmit ? nullptr : pick(op.target);
    switch (op.kind) {
      case OpKind::kSubmit:
        mine.push_back(SubmitPlan(ctx, op.plan));
        break;
      case OpKind::kCancel:
        if (e != nullptr) {
          const bool was_ready = e->future.IsReady();
          const bool arrived = e->future.Cancel();
          if (was_ready && arrived) {
            return absl::StrCat("Cancel() on the finished task ", e->id,
                                " returned true");
          }
        }
        break;
      case OpKind::kCancelHandle:
        if (e != nullptr) e->future.GetCancelHandle().Cancel();
        break;
      case OpKind::kWait:
        if (e != nullptr) {
          e->future.Wait();
          if (!e->future.IsReady()) {
            return absl::StrCat("Wait() returned but task ", e->id,
                                " is not ready");
          }
        }
        break;
      case OpKind::kWaitFor:
        if (e != nullptr) {
          const bool ready = e->future.WaitFor(absl::Microseconds(op.micros));
          if (ready != e->future.IsReady() && ready) {
            return absl::StrCat("WaitFor() true but task ", e->id,
                                " not ready");
          }
        }
        break;
      case OpKind::kGet:
        if (e != nullptr) {
          absl::StatusOr<int> r = e->future.Get();
          if (e->taken) {
            if (r.status().code() != absl::StatusCode::kFailedPrecondition) {
              return absl::StrCat("second Get() on task ", e->id,
                                  " did not fail: ", r.status().ToString());
            }
          } else {
            e->taken = true;
            e->taken_result = std::move(r);
          }
        }
        break;
      case OpKind::kCancelParent:
        ctx.parents[op.target % 2].RequestCancellation(
            absl::AbortedError("parent cancelled"));
        break;
      case OpKind::kPause:
        absl::SleepFor(absl::Microseconds(op.micros));
        break;
      case OpKind::kShutdown:
        ctx.pool->Shutdown(op.mode, absl::CancelledError("mid-schedule"));
        break;
      case OpKind::kStats: {
        const PoolStats s = ctx.pool->Stats();
        if (s.submitted > ctx.submit_calls.load(std::memory_order_relaxed)) {
          return absl::StrCat("Stats().submitted ", s.submitted,
                              " exceeds Submit calls made");
        }
        break;
      }
      case OpKind::kEmptyFutures: {
        Future<int> empty;
        if (empty.valid() || empty.Cancel() || !empty.IsReady() ||
            empty.Get().status().code() !=
                absl::StatusCode::kFailedPrecondition) {
          return "a default-constructed future misbehaved";
        }
        if (e != nullptr) {
          Future<int> moved = std::move(e->future);
          if (e->future.valid() || e->future.Cancel() ||
              !e->future.IsReady()) {
            return "a moved-from future misbehaved";
          }
          e->future = std::move(moved);
        }
        break;
      }
    }
  }
  return "";
}

// Aborts the process with the schedule's description if it runs too long
// (a hang in a destructor cannot be turned into an error).
class Watchdog {
 public:
  Watchdog(absl::Duration limit, std::string what) : what_(std::move(what)) {
    thread_ = std::thread([this, limit] {
      absl::MutexLock lock(&mu_);
      if (!mu_.AwaitWithTimeout(absl::Condition(&done_), limit)) {
        std::fprintf(stderr, "HANG: %s did not finish within %s\n",
                     what_.c_str(), absl::FormatDuration(limit).c_str());
        std::fflush(stderr);
        std::abort();
      }
    });
  }
  ~Watchdog() {
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
    }
    thread_.join();
  }

 private:
  std::string what_;
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace

ScheduleResult RunSchedule(Choices& choices, const HarnessLimits& limits) {
  Program prog = MakeProgram(choices, limits);
  ScheduleResult result;
  result.workers = prog.workers;
  result.end_mode = prog.end_mode;
  const std::string config = absl::StrFormat(
      "workers=%d cap=%d spin=%d max_queued=%d end=%s clients=%d ops=%d+%d",
      prog.workers, static_cast<int>(prog.options.local_queue_capacity),
      prog.options.idle_spin_rounds,
      static_cast<int>(prog.options.max_queued_tasks),
      EndModeName(prog.end_mode), prog.second_client ? 2 : 1,
      static_cast<int>(prog.client_ops[0].size()),
      static_cast<int>(prog.client_ops[1].size()));
  auto fail = [&result, &config](std::string msg) {
    if (result.ok) {
      result.ok = false;
      result.error = absl::StrCat(msg, " [", config, "]");
    }
  };

  Watchdog watchdog(limits.hang_deadline + absl::Seconds(30), config);
  Context ctx;
  ctx.limits = limits;
  // Final counters, taken by the last worker to exit (also covers the
  // destructor mode, where the pool is gone before we could ask).
  // Valid once every client is done submitting: a pool that terminated
  // mid-schedule (a shutdown op) still counts later, rejected, submits.
  struct Final {
    absl::Mutex mu;
    int stopped = 0;
    bool clients_done = false;
    bool have_stats = false;
    PoolStats stats;
    std::atomic<ThreadPool*> pool{nullptr};
  } final_state;
  ThreadPoolOptions options = std::move(prog.options);
  options.on_worker_stop = [&final_state, n = prog.workers](int) {
    absl::MutexLock lock(&final_state.mu);
    if (++final_state.stopped == n && final_state.clients_done) {
      final_state.stats = final_state.pool.load()->Stats();
      final_state.have_stats = true;
    }
  };
  auto clients_done = [&final_state, n = prog.workers] {
    absl::MutexLock lock(&final_state.mu);
    final_state.clients_done = true;
    if (final_state.stopped == n) {  // terminated before: read it now
      final_state.stats = final_state.pool.load()->Stats();
      final_state.have_stats = true;
    }
  };

  uint64_t executed[2] = {0, 0};
  std::string client_error[2];
  bool report_terminated = true;
  PoolStats report_stats;
  bool have_report = false;
  {
    auto pool = std::make_unique<ThreadPool>(std::move(options));
    ctx.pool = pool.get();
    final_state.pool.store(pool.get());
    std::thread second;
    if (prog.second_client) {
      second = std::thread([&] {
        client_error[1] = RunClient(ctx, prog.client_ops[1], &executed[1]);
      });
    }
    client_error[0] = RunClient(ctx, prog.client_ops[0], &executed[0]);
    const absl::Time deadline = absl::Now() + limits.hang_deadline;
    switch (prog.end_mode) {
      case EndMode::kDrain:
        pool->Shutdown(ShutdownMode::kDrain);
        break;
      case EndMode::kCancel:
        pool->Shutdown(ShutdownMode::kCancel);
        break;
      case EndMode::kDrainThenCancel:
        pool->DrainThenCancel(prog.drain_grace, limits.hang_deadline);
        break;
      case EndMode::kDestructor:
        break;
    }
    if (second.joinable()) second.join();
    clients_done();
    if (prog.end_mode != EndMode::kDestructor) {
      if (!pool->AwaitTermination(deadline)) {
        fail(absl::StrCat("HANG: not terminated within ",
                          absl::FormatDuration(limits.hang_deadline)));
        // Keep going: cancel everything so the destructor can finish.
        pool->Shutdown(ShutdownMode::kCancel);
        pool->AwaitTermination(absl::InfiniteFuture());
      }
      const ShutdownReport report = pool->Report();
      report_terminated = report.terminated;
      report_stats = report.stats;
      have_report = true;
    }
  }  // ~ThreadPool
  for (int k = 0; k < 2; ++k) {
    if (!client_error[k].empty()) fail(client_error[k]);
  }
  result.ops = executed[0] + executed[1];

  PoolStats s;
  {
    absl::MutexLock lock(&final_state.mu);
    if (final_state.stopped != prog.workers) {
      fail(absl::StrCat("only ", final_state.stopped, " of ", prog.workers,
                        " workers exited"));
    }
    if (!final_state.have_stats) fail("no final counters were taken");
    s = final_state.stats;
  }
  result.stats = s;
  if (have_report) {
    if (!report_terminated) fail("Report().terminated is false");
    if (report_stats.submitted != s.submitted ||
        report_stats.completed != s.completed ||
        report_stats.failed != s.failed ||
        report_stats.rejected != s.rejected ||
        report_stats.cancelled_before_start != s.cancelled_before_start ||
        report_stats.cancelled_while_running != s.cancelled_while_running) {
      fail(absl::StrFormat(
          "Report() after termination differs from the final counters: "
          "report submitted=%d completed=%d failed=%d cbs=%d cwr=%d "
          "rejected=%d; final submitted=%d completed=%d failed=%d cbs=%d "
          "cwr=%d rejected=%d",
          report_stats.submitted, report_stats.completed,
          report_stats.failed, report_stats.cancelled_before_start,
          report_stats.cancelled_while_running, report_stats.rejected,
          s.submitted, s.completed, s.failed, s.cancelled_before_start,
          s.cancelled_while_running, s.rejected));
    }
  }
  const uint64_t accounted = s.completed + s.failed + s.cancelled_before_start +
                             s.cancelled_while_running + s.rejected;
  if (accounted != s.submitted) {
    fail(absl::StrFormat(
        "identity broken: completed %d + failed %d + cancelled_before_start "
        "%d + cancelled_while_running %d + rejected %d != submitted %d",
        s.completed, s.failed, s.cancelled_before_start,
        s.cancelled_while_running, s.rejected, s.submitted));
  }
  const uint64_t calls = ctx.submit_calls.load();
  if (s.submitted != calls) {
    fail(absl::StrCat("submitted ", s.submitted, " != Submit calls ", calls));
  }

  // Per-future checks and the tally.
  uint64_t completed = 0, failed = 0, cbs = 0, cwr = 0, rejected = 0;
  absl::MutexLock lock(&ctx.mu);
  for (auto& ep : ctx.entries) {
    Entry& e = *ep;
    const std::string who = absl::StrCat("task ", e.id);
    if (!e.future.valid()) {
      fail(absl::StrCat(who, ": future lost"));
      continue;
    }
    if (!e.future.IsReady()) {
      fail(absl::StrCat(who, ": future unresolved after termination"));
      continue;
    }
    const TaskOutcome outcome = e.future.outcome();
    absl::StatusOr<int> r =
        e.taken ? std::move(e.taken_result) : e.future.Get();
    const int destroyed = e.destroyed.load();
    const int runs = e.runs.load();
    const Did did = static_cast<Did>(e.did.load());
    if (destroyed != 1) {
      fail(absl::StrCat(who, ": callable destroyed ", destroyed, " times"));
    }
    if (runs > 1) fail(absl::StrCat(who, ": ran ", runs, " times"));
    const std::string got = absl::StrCat(
        " (outcome ", TaskOutcomeName(outcome), ", result ",
        r.ok() ? absl::StrCat(*r) : r.status().ToString(), ")");
    if (runs == 0) {
      if (outcome == TaskOutcome::kCancelled && !r.ok()) {
        ++cbs;
      } else if (outcome == TaskOutcome::kFailed &&
                 (r.status().code() == absl::StatusCode::kFailedPrecondition ||
                  r.status().code() ==
                      absl::StatusCode::kResourceExhausted)) {
        ++rejected;
      } else {
        fail(absl::StrCat(who, ": never ran but resolved as", got));
      }
      continue;
    }
    switch (did) {
      case Did::kReturnedValue:
        if (outcome == TaskOutcome::kSucceeded && r.ok() && *r == e.id) {
          ++completed;
        } else {
          fail(absl::StrCat(who, ": returned its id but resolved as", got));
        }
        break;
      case Did::kReturnedError:
        if (outcome == TaskOutcome::kFailed &&
            r.status().code() == absl::StatusCode::kInternal) {
          ++failed;
        } else {
          fail(absl::StrCat(who, ": returned an error but resolved as", got));
        }
        break;
      case Did::kThrewError:
        if (outcome == TaskOutcome::kFailed &&
            r.status().code() == absl::StatusCode::kUnknown &&
            r.status().message().find("task threw") != std::string::npos) {
          ++failed;
        } else {
          fail(absl::StrCat(who, ": threw but resolved as", got));
        }
        break;
      case Did::kAckCancel:
        if (outcome == TaskOutcome::kCancelled && !r.ok()) {
          ++cwr;
        } else {
          fail(absl::StrCat(who, ": acknowledged cancellation but resolved as",
                            got));
        }
        break;
      case Did::kNothing:
        fail(absl::StrCat(who, ": started but never returned", got));
        break;
    }
  }
  if (completed != s.completed || failed != s.failed ||
      cbs != s.cancelled_before_start || cwr != s.cancelled_while_running ||
      rejected != s.rejected) {
    fail(absl::StrFormat(
        "futures disagree with the counters: futures say completed %d failed "
        "%d cancelled_before_start %d cancelled_while_running %d rejected %d; "
        "counters say %d %d %d %d %d",
        completed, failed, cbs, cwr, rejected, s.completed, s.failed,
        s.cancelled_before_start, s.cancelled_while_running, s.rejected));
  }
  if (ctx.entries.size() != calls) {
    fail(absl::StrCat(ctx.entries.size(), " futures for ", calls,
                      " Submit calls"));
  }
  result.summary = absl::StrFormat(
      "%s submitted=%d completed=%d failed=%d cancelled_before_start=%d "
      "cancelled_while_running=%d rejected=%d steals=%d parks=%d",
      config, s.submitted, s.completed, s.failed, s.cancelled_before_start,
      s.cancelled_while_running, s.rejected, s.steals, s.parks);
  return result;
}

ScheduleResult RunSeed(uint64_t seed, const HarnessLimits& limits) {
  SeededChoices choices(seed);
  return RunSchedule(choices, limits);
}

}  // namespace reliability
}  // namespace cancelpool
