// Copyright 2026 The cancelpool Authors.
#include "tests/reliability/stress_harness.h"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
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
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/current.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/future.h"
#include "cancelpool/pool/internal/testing.h"
#include "cancelpool/pool/thread_pool.h"

using ::cancelpool::pool_internal::ThreadPoolTestPeer;
namespace cancelpool {
namespace reliability {

// stress_compose.cc.
std::string HostileCompose(uint32_t target);

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

struct HostileOpName {
  uint32_t bit;
  const char* name;
};
constexpr HostileOpName kHostileOpNames[] = {
    {kHostileOverAligned, "over_aligned"},
    {kHostileMoveOnly, "move_only"},
    {kHostileCycleRun, "cycle_run"},
    {kHostileCycleCancel, "cycle_cancel"},
    {kHostileDestroyInside, "destroy_inside"},
    {kHostileExtremeOptions, "extreme_options"},
    {kHostileCancelFlood, "cancel_flood"},
    {kHostileTimedWait, "timed_wait"},
    {kHostileCompose, "compose"},
};

}  // namespace

bool ParseHostileOps(const std::string& spec, uint32_t* mask) {
  absl::string_view rest = spec;
  uint32_t m = 0;
  if (!rest.empty() && rest[0] == '+') {
    m = kHostileDefault;
    rest.remove_prefix(1);
  }
  for (absl::string_view part : absl::StrSplit(rest, ',', absl::SkipEmpty())) {
    if (part == "all") {
      m |= kHostileAll;
    } else if (part == "default") {
      m |= kHostileDefault;
    } else if (part != "none") {
      bool found = false;
      for (const HostileOpName& n : kHostileOpNames) {
        if (part == n.name) {
          m |= n.bit;
          found = true;
        }
      }
      if (!found) return false;
    }
  }
  *mask = m;
  return true;
}

std::string HostileOpsName(uint32_t mask) {
  std::string out;
  for (const HostileOpName& n : kHostileOpNames) {
    if ((mask & n.bit) == 0) continue;
    if (!out.empty()) out += ",";
    out += n.name;
  }
  return out.empty() ? "none" : out;
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
  int child_wait = 0;  // 0 Wait, 1 Get, 2 WaitFor(0), 3 none
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
  kShutdown,  // mid-schedule
  kStats,
  kEmptyFutures,  // default and moved-from futures
  kHostile,       // one of HOSTILE OPERATIONS (stress_harness.h)
};

struct Op {
  OpKind kind = OpKind::kPause;
  Plan plan;
  uint32_t target = 0;
  int micros = 0;
  ShutdownMode mode = ShutdownMode::kDrain;
  HostileOp hostile = kHostileMoveOnly;  // kHostile
};

struct Program {
  ThreadPoolOptions options;           // sans callbacks
  size_t local_queue_capacity = 1024;  // ThreadPoolTestPeer
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
      Behavior::kValue,
      Behavior::kValue,
      Behavior::kError,
      Behavior::kThrow,
      Behavior::kCoopReturnReason,
      Behavior::kCoopReturnReason,
      Behavior::kCoopThrow,
      Behavior::kCoopCurrentToken,
      Behavior::kIgnoreToken,
      Behavior::kSpawn,
      Behavior::kSpawn,
      Behavior::kValue,
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
      p.inside_mode = c.OneIn(2) ? ShutdownMode::kDrain : ShutdownMode::kCancel;
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

// The enabled operation-level hostile ops (extreme_options is a property of
// the program, not an op).
std::vector<HostileOp> HostileOps(uint32_t mask) {
  std::vector<HostileOp> ops;
  for (const HostileOpName& n : kHostileOpNames) {
    if ((mask & n.bit) != 0 && n.bit != kHostileExtremeOptions) {
      ops.push_back(static_cast<HostileOp>(n.bit));
    }
  }
  return ops;
}

Op MakeOp(Choices& c, const HarnessLimits& limits, bool main_client) {
  Op op;
  // No choice is consumed unless a hostile op is enabled: with none, the
  // schedules are those of the plain harness.
  if (const std::vector<HostileOp> hostile = HostileOps(limits.hostile);
      !hostile.empty() && c.OneIn(24)) {
    op.kind = OpKind::kHostile;
    op.hostile = hostile[c.Next(static_cast<uint32_t>(hostile.size()))];
    op.target = c.Next(1u << 16);
    return op;
  }
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
  p.local_queue_capacity = kCapacity[c.Next(3)];
  p.options.idle_spin_rounds = kSpin[c.Next(3)];
  p.options.max_queued_tasks = c.OneIn(4) ? 1 + c.Next(16) : 0;
  p.options.destructor_grace = absl::Milliseconds(c.Next(3));
  p.options.thread_name_prefix = "stress-";
  if ((limits.hostile & kHostileExtremeOptions) != 0 && c.OneIn(4)) {
    if (c.OneIn(2)) {
      // Item 11: anything above INT64_MAX used to refuse every Submit.
      static constexpr size_t kHuge[] = {std::numeric_limits<size_t>::max(),
                                         size_t{1} << 63,
                                         (size_t{1} << 63) + 1};
      p.options.max_queued_tasks = kHuge[c.Next(3)];
    } else {
      p.workers = 1;
      p.options.num_workers = 1;
      p.options.idle_spin_rounds = 0;
      p.options.destructor_grace = absl::ZeroDuration();
    }
  }
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

// Hostile ops' tasks on the schedule's pool ("side tasks"): not entries,
// but counted the same way, so the identity and the tally still close.
struct SideCounts {
  std::atomic<uint64_t> calls{0};
  std::atomic<uint64_t> completed{0}, failed{0}, cbs{0}, cwr{0}, rejected{0};
  std::atomic<int64_t> alive{0};  // side callables made minus destroyed
};

// Moves with a side task's callable; counts the live instance.
class SideProbe {
 public:
  explicit SideProbe(SideCounts* c) : c_(c) {
    c_->alive.fetch_add(1, std::memory_order_relaxed);
  }
  SideProbe(SideProbe&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  SideProbe& operator=(SideProbe&&) = delete;
  SideProbe(const SideProbe&) = delete;
  ~SideProbe() {
    if (c_ != nullptr) c_->alive.fetch_sub(1, std::memory_order_acq_rel);
  }

 private:
  SideCounts* c_;
};

struct Context {
  ThreadPool* pool = nullptr;
  HarnessLimits limits;
  CancellationSource parents[2];
  std::atomic<uint64_t> submit_calls{0};
  // max_queued_tasks above INT64_MAX: no Submit may be refused as over it.
  bool huge_queue_limit = false;
  SideCounts side;
  absl::Mutex mu;
  std::vector<std::unique_ptr<Entry>> entries ABSL_GUARDED_BY(mu);
  std::string hostile_error ABSL_GUARDED_BY(mu);  // the first

  Entry* NewEntry() {
    absl::MutexLock lock(&mu);
    entries.push_back(
        std::make_unique<Entry>(static_cast<int>(entries.size())));
    return entries.back().get();
  }
  void Fail(const std::string& why) {
    absl::MutexLock lock(&mu);
    if (hostile_error.empty()) hostile_error = why;
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
      if (cancelpool::SleepFor(token, absl::Microseconds(plan.micros)) ==
          WaitResult::kCancelled) {
        did(Did::kAckCancel);
        return token.Reason();
      }
      break;
    case Behavior::kCoopThrow:
      cancelpool::SleepFor(token, absl::Microseconds(plan.micros));
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

// ---------------------------------------------------------------------------
// Hostile operations (stress_harness.h, HOSTILE OPERATIONS). Each returns ""
// or what went wrong; side tasks on the schedule's pool are tallied.

// A bound only a hang exhausts (the watchdog is later still).
constexpr absl::Duration kSideLimit = absl::Seconds(30);

template <typename F, typename... Args>
auto SubmitSide(Context& ctx, F&& f, Args&&... args) {
  ctx.submit_calls.fetch_add(1, std::memory_order_relaxed);
  ctx.side.calls.fetch_add(1, std::memory_order_relaxed);
  return ctx.pool->Submit(std::forward<F>(f), std::forward<Args>(args)...);
}

// Counts a resolved side task the way the pool's counters should have.
void TallySide(Context& ctx, TaskOutcome outcome, const absl::Status& status,
               bool ran, const char* what) {
  SideCounts& c = ctx.side;
  switch (outcome) {
    case TaskOutcome::kSucceeded:
      if (!ran) ctx.Fail(absl::StrCat(what, ": succeeded without running"));
      c.completed.fetch_add(1);
      break;
    case TaskOutcome::kFailed:
      if (ran) {
        c.failed.fetch_add(1);
      } else if (status.code() == absl::StatusCode::kFailedPrecondition ||
                 status.code() == absl::StatusCode::kResourceExhausted) {
        c.rejected.fetch_add(1);
        if (status.code() == absl::StatusCode::kResourceExhausted &&
            ctx.huge_queue_limit) {
          ctx.Fail(absl::StrCat("extreme_options: ", what,
                                " refused with max_queued_tasks above "
                                "INT64_MAX: ",
                                status.ToString()));
        }
      } else {
        ctx.Fail(absl::StrCat(what,
                              ": failed without running: ", status.ToString()));
      }
      break;
    case TaskOutcome::kCancelled:
      (ran ? c.cwr : c.cbs).fetch_add(1);
      break;
    case TaskOutcome::kPending:
      ctx.Fail(absl::StrCat(what, ": unresolved after Wait()"));
      break;
  }
}

// over_aligned: the capture and the result slot must honour alignas(64).
struct alignas(64) Aligned64 {
  explicit Aligned64(int v) : value(v), misaligned(Misplaced(this)) {}
  Aligned64(const Aligned64& o)
      : value(o.value), misaligned(o.misaligned || Misplaced(this)) {}
  Aligned64& operator=(const Aligned64& o) {
    value = o.value;
    misaligned = o.misaligned || Misplaced(this);
    return *this;
  }
  static bool Misplaced(const void* p) {
    return reinterpret_cast<uintptr_t>(p) % 64 != 0;
  }
  int value;
  bool misaligned;  // this object, or one it was copied from, was misplaced
};

std::string HostileOverAligned(Context& ctx, uint32_t target) {
  const int v = static_cast<int>(target % 1000);
  std::atomic<bool> ran{false};
  const Aligned64 capture(v);
  Future<Aligned64> f =
      SubmitSide(ctx, [&ran, capture, probe = SideProbe(&ctx.side)]() {
        ran.store(true);
        Aligned64 out(capture.value + 1);
        out.misaligned = capture.misaligned || Aligned64::Misplaced(&capture);
        return out;
      });
  f.Wait();
  const TaskOutcome outcome = f.Outcome();
  absl::StatusOr<Aligned64> r = f.Get();
  TallySide(ctx, outcome, r.status(), ran.load(), "over_aligned task");
  if (!r.ok()) return "";  // refused or cancelled: nothing to check
  if (r->value != v + 1) {
    return absl::StrCat("over_aligned: result ", r->value, ", expected ",
                        v + 1);
  }
  if (r->misaligned) {
    return "over_aligned: an alignas(64) capture or result was not 64-byte "
           "aligned in the task block";
  }
  return "";
}

std::string HostileMoveOnly(Context& ctx, uint32_t target) {
  const int v = static_cast<int>(target % 1000);
  std::atomic<bool> ran{false};
  Future<std::unique_ptr<int>> f = SubmitSide(
      ctx,
      [&ran, own = std::make_unique<int>(1),
       probe = SideProbe(&ctx.side)](std::unique_ptr<int> arg) {
        ran.store(true);
        return std::make_unique<int>(*arg + *own);
      },
      std::make_unique<int>(v));
  f.Wait();
  const TaskOutcome outcome = f.Outcome();
  absl::StatusOr<std::unique_ptr<int>> r = f.Get();
  TallySide(ctx, outcome, r.status(), ran.load(), "move_only task");
  if (r.ok() && (*r == nullptr || **r != v + 1)) {
    return "move_only: wrong result";
  }
  return "";
}

// timed_wait: the child can finish only after the parent's timed wait
// returned; run inline inside that wait, it waits out kInline and says so.
std::string HostileTimedWait(Context& ctx, uint32_t target) {
  constexpr absl::Duration kInline = absl::Seconds(5);
  const bool use_token = target % 2 == 0;
  std::atomic<bool> ran{false};
  Future<int> parent = SubmitSide(
      ctx, [&ctx, &ran, use_token, probe = SideProbe(&ctx.side)]() -> int {
        ran.store(true);
        auto release = std::make_shared<absl::Notification>();
        auto child_ran = std::make_shared<std::atomic<bool>>(false);
        Future<int> child = SubmitSide(
            ctx, [release, child_ran, probe = SideProbe(&ctx.side)]() -> int {
              child_ran->store(true);
              return release->WaitForNotificationWithTimeout(kInline) ? 1 : 0;
            });
        if (use_token) {
          CancellationSource limit =
              CancellationSource::WithTimeout(absl::Milliseconds(2));
          child.Wait(limit.Token());
        } else {
          child.WaitFor(absl::Milliseconds(2));
        }
        release->Notify();
        child.Wait();
        const TaskOutcome outcome = child.Outcome();
        absl::StatusOr<int> r = child.Get();
        TallySide(ctx, outcome, r.status(), child_ran->load(),
                  "timed_wait child");
        return r.ok() && *r == 0 ? 0 : 1;
      });
  parent.Wait();
  const TaskOutcome outcome = parent.Outcome();
  absl::StatusOr<int> r = parent.Get();
  TallySide(ctx, outcome, r.status(), ran.load(), "timed_wait parent");
  if (r.ok() && *r == 0) {
    return absl::StrCat(
        "timed_wait: ",
        use_token ? "Wait(token cancelled at 2 ms)" : "WaitFor(2 ms)",
        " inside a task ran the child inline to completion");
  }
  return "";
}

// What a side pool's op shares with its tasks (they may outlive the op).
struct SideState {
  absl::Notification destroyed;  // the callable's live instance went away
  absl::Notification stopped;    // on_worker_stop finished its work
};

// Moves with a callable; notifies when the live instance is destroyed.
class DestroyGuard {
 public:
  explicit DestroyGuard(std::shared_ptr<SideState> s) : s_(std::move(s)) {}
  DestroyGuard(DestroyGuard&& o) noexcept = default;
  DestroyGuard& operator=(DestroyGuard&&) = delete;
  ~DestroyGuard() {
    if (s_ != nullptr) s_->destroyed.Notify();
  }

 private:
  std::shared_ptr<SideState> s_;
};

ThreadPoolOptions SideOptions(uint32_t target) {
  ThreadPoolOptions o;
  o.num_workers = 1;
  o.destructor_grace = absl::Milliseconds(target % 3);
  o.thread_name_prefix = "hostile-";
  return o;
}

std::string HostileCycleRun(uint32_t target) {
  auto st = std::make_shared<SideState>();
  auto pool = std::make_shared<ThreadPool>(SideOptions(target));
  Future<int> f =
      pool->Submit([keep = pool, guard = DestroyGuard(st)] { return 7; });
  pool.reset();  // the task's callable holds the last reference
  if (!f.WaitFor(kSideLimit)) return "cycle_run: the task never resolved";
  absl::StatusOr<int> r = f.Get();
  if (!r.ok() || *r != 7) {
    return absl::StrCat("cycle_run: resolved as ", r.status().ToString());
  }
  if (!st->destroyed.WaitForNotificationWithTimeout(kSideLimit)) {
    return "cycle_run: the callable (last owner of its pool) was never "
           "destroyed";
  }
  return "";
}

// Waits until a fresh 1 ms deadline fires: false if the shared deadline
// timer is stuck.
bool DeadlineTimerFires() {
  CancellationSource probe =
      CancellationSource::WithTimeout(absl::Milliseconds(1));
  return cancelpool::SleepFor(probe.Token(), kSideLimit) ==
         WaitResult::kCancelled;
}

std::string HostileCycleCancel(uint32_t target) {
  const bool by_deadline = target % 2 == 0;
  auto st = std::make_shared<SideState>();
  auto pool = std::make_shared<ThreadPool>(SideOptions(target));
  auto started = std::make_shared<absl::Notification>();
  // Holds the only worker until cancelled (by the pool's destructor).
  Future<void> blocker = pool->Submit([started](CancellationToken t) {
    started->Notify();
    cancelpool::SleepFor(t, kSideLimit);
  });
  if (!started->WaitForNotificationWithTimeout(kSideLimit)) {
    return "cycle_cancel: the blocker never started";
  }
  TaskOptions options;
  if (by_deadline) options.deadline = absl::Now() + absl::Milliseconds(1);
  Future<int> f = pool->SubmitWith(
      options, [keep = pool, guard = DestroyGuard(st)] { return 7; });
  pool.reset();  // the queued task's callable holds the last reference
  if (!by_deadline) f.Cancel();
  const char* how = by_deadline ? "by its deadline" : "by Future::Cancel";
  if (!f.WaitFor(kSideLimit)) {
    return absl::StrCat("cycle_cancel: the task owning its pool, cancelled ",
                        how, " while queued, never resolved");
  }
  if (f.Outcome() != TaskOutcome::kCancelled) {
    return absl::StrCat("cycle_cancel: cancelled ", how, " while queued but ",
                        TaskOutcomeName(f.Outcome()));
  }
  if (!st->destroyed.WaitForNotificationWithTimeout(kSideLimit)) {
    return absl::StrCat(
        "cycle_cancel: the callable (last owner of its pool) "
        "was never destroyed after cancellation ",
        how);
  }
  if (!blocker.WaitFor(kSideLimit)) {
    return "cycle_cancel: the blocker never resolved (pool never cancelled)";
  }
  if (!DeadlineTimerFires()) {
    return absl::StrCat("cycle_cancel: after a self-owned pool was cancelled ",
                        how, ", a new 1 ms deadline did not fire");
  }
  return "";
}

struct PoolHolder {
  std::shared_ptr<ThreadPool> pool;
};

std::string HostileDestroyInside(uint32_t target) {
  auto st = std::make_shared<SideState>();
  auto holder = std::make_shared<PoolHolder>();
  switch (target % 3) {
    case 0: {  // from inside its own running task
      holder->pool = std::make_shared<ThreadPool>(SideOptions(target));
      ThreadPool* raw = holder->pool.get();
      Future<int> f = raw->Submit([holder, guard = DestroyGuard(st)] {
        holder->pool.reset();
        return 7;
      });
      // `raw` may be gone from here on.
      if (!f.WaitFor(kSideLimit)) {
        return "destroy_inside: a task that destroyed its pool never "
               "resolved";
      }
      absl::StatusOr<int> r = f.Get();
      if (!r.ok() || *r != 7) {
        return absl::StrCat("destroy_inside (task): resolved as ",
                            r.status().ToString());
      }
      break;
    }
    case 1: {  // from a cancellation callback of the task's parent token
      holder->pool = std::make_shared<ThreadPool>(SideOptions(target));
      CancellationSource parent;
      TaskOptions options;
      options.parent = parent.Token();
      auto started = std::make_shared<absl::Notification>();
      Future<int> f = holder->pool->SubmitWith(
          options, [started, guard = DestroyGuard(st)](CancellationToken t) {
            started->Notify();
            cancelpool::SleepFor(t, kSideLimit);
            return 7;
          });
      if (!started->WaitForNotificationWithTimeout(kSideLimit)) {
        return "destroy_inside: the task never started";
      }
      {
        CancellationCallback cb(parent.Token(),
                                [holder] { holder->pool.reset(); });
        parent.RequestCancellation(absl::CancelledError("hostile parent"));
      }
      if (!f.WaitFor(kSideLimit)) {
        return "destroy_inside: a task whose pool was destroyed from a "
               "cancellation callback never resolved";
      }
      break;
    }
    default: {  // from on_worker_stop, after a shutdown from inside a task
      ThreadPoolOptions o = SideOptions(target);
      o.on_worker_stop = [holder, st](int) {
        holder->pool.reset();
        st->stopped.Notify();
      };
      holder->pool = std::make_shared<ThreadPool>(std::move(o));
      ThreadPool* raw = holder->pool.get();
      Future<int> f = raw->Submit([raw, guard = DestroyGuard(st)] {
        raw->Shutdown(ShutdownMode::kDrain);
        return 7;
      });
      // `raw` may be gone from here on.
      if (!f.WaitFor(kSideLimit)) {
        return "destroy_inside: the task never resolved";
      }
      if (!st->stopped.WaitForNotificationWithTimeout(kSideLimit)) {
        return "destroy_inside: on_worker_stop (which destroys the pool) "
               "never finished";
      }
      break;
    }
  }
  if (!st->destroyed.WaitForNotificationWithTimeout(kSideLimit)) {
    return "destroy_inside: a callable was never destroyed";
  }
  return "";
}

// Bytes the allocator has handed out and not had back: glibc malloc's
// figure (all arenas, and mmapped chunks), or the sanitizer allocator's.
// The pool's task-block caches (off under ASan) can hide growth: blocks
// they already hold are reused without new allocations, so this sees the
// flood only once those run dry.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
extern "C" size_t __sanitizer_get_current_allocated_bytes();
size_t HeapInUse() { return __sanitizer_get_current_allocated_bytes(); }
#else
size_t HeapInUse() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;  // small chunks + mmapped ones
}
#endif

std::string HostileCancelFlood(uint32_t target) {
  constexpr size_t kLimit = 8;
  constexpr int kWarm = 2048;
  constexpr int kFlood = 8192;
  ThreadPoolOptions o = SideOptions(target);
  o.max_queued_tasks = kLimit;
  ThreadPool pool(std::move(o));
  auto started = std::make_shared<absl::Notification>();
  Future<void> blocker = pool.Submit([started](CancellationToken t) {
    started->Notify();
    cancelpool::SleepFor(t, kSideLimit);
  });
  if (!started->WaitForNotificationWithTimeout(kSideLimit)) {
    return "cancel_flood: the blocker never started";
  }
  for (int i = 0; i < kWarm; ++i) pool.Submit([i] { return i; }).Cancel();
  const size_t before = HeapInUse();
  int accepted = 0;
  for (int i = 0; i < kFlood; ++i) {
    Future<int> f = pool.Submit([i] { return i; });
    if (f.Cancel()) ++accepted;
  }
  const size_t after = HeapInUse();
  std::string error;
  if (after > before && after - before > kFlood * size_t{32}) {
    error = absl::StrFormat(
        "cancel_flood: %d submit-then-cancel (%d accepted) with "
        "max_queued_tasks=%d and the worker stalled grew the heap by %d "
        "bytes: cancelled queued tasks are kept without bound",
        kFlood, accepted, kLimit, after - before);
  }
  // Not wedged: live tasks are admitted up to the limit, and no further.
  std::vector<Future<int>> live;
  for (size_t i = 0; i < kLimit; ++i) {
    live.push_back(pool.Submit([] { return 1; }));
  }
  for (const auto& f : live) {
    if (f.IsReady() && error.empty()) {
      error =
          "cancel_flood: a live task was refused below max_queued_tasks "
          "after the flood";
    }
  }
  Future<int> over = pool.Submit([] { return 1; });
  if (!over.IsReady() && error.empty()) {
    error = "cancel_flood: a task beyond max_queued_tasks was admitted";
  }
  blocker.Cancel();
  for (auto& f : live) f.Wait();
  return error;
}

std::string RunHostile(Context& ctx, const Op& op) {
  switch (op.hostile) {
    case kHostileOverAligned:
      return HostileOverAligned(ctx, op.target);
    case kHostileMoveOnly:
      return HostileMoveOnly(ctx, op.target);
    case kHostileCycleRun:
      return HostileCycleRun(op.target);
    case kHostileCycleCancel:
      return HostileCycleCancel(op.target);
    case kHostileDestroyInside:
      return HostileDestroyInside(op.target);
    case kHostileCancelFlood:
      return HostileCancelFlood(op.target);
    case kHostileTimedWait:
      return HostileTimedWait(ctx, op.target);
    case kHostileCompose:
      return HostileCompose(op.target);
    case kHostileExtremeOptions:
      break;
  }
  return "";
}

// Returns an error message, or "" if fine.
std::string RunClient(Context& ctx, const std::vector<Op>& ops,
                      uint64_t* executed, uint64_t* hostile) {
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
        if (empty.IsValid() || empty.Cancel() || !empty.IsReady() ||
            empty.Get().status().code() !=
                absl::StatusCode::kFailedPrecondition) {
          return "a default-constructed future misbehaved";
        }
        if (e != nullptr) {
          Future<int> moved = std::move(e->future);
          if (e->future.IsValid() || e->future.Cancel() ||
              !e->future.IsReady()) {
            return "a moved-from future misbehaved";
          }
          e->future = std::move(moved);
        }
        break;
      }
      case OpKind::kHostile:
        ++*hostile;
        if (std::string err = RunHostile(ctx, op); !err.empty()) return err;
        break;
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
      "workers=%d cap=%d spin=%d max_queued=%u end=%s clients=%d ops=%d+%d",
      prog.workers, static_cast<int>(prog.local_queue_capacity),
      prog.options.idle_spin_rounds, prog.options.max_queued_tasks,
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
  ctx.huge_queue_limit =
      prog.options.max_queued_tasks >
      static_cast<size_t>(std::numeric_limits<int64_t>::max());
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
  uint64_t hostile_executed[2] = {0, 0};
  std::string client_error[2];
  bool report_terminated = true;
  PoolStats report_stats;
  bool have_report = false;
  {
    // Direct-initialised from the prvalue (ThreadPool cannot move).
    std::unique_ptr<ThreadPool> pool(new ThreadPool(ThreadPoolTestPeer::Make(
        std::move(options), prog.local_queue_capacity)));
    ctx.pool = pool.get();
    final_state.pool.store(pool.get());
    std::thread second;
    if (prog.second_client) {
      second = std::thread([&] {
        client_error[1] = RunClient(ctx, prog.client_ops[1], &executed[1],
                                    &hostile_executed[1]);
      });
    }
    client_error[0] =
        RunClient(ctx, prog.client_ops[0], &executed[0], &hostile_executed[0]);
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
  {
    absl::MutexLock lock(&ctx.mu);
    if (!ctx.hostile_error.empty()) fail(ctx.hostile_error);
  }
  if (const int64_t alive = ctx.side.alive.load(); alive != 0) {
    fail(absl::StrCat("side tasks: ", alive,
                      " callables not destroyed exactly once (made minus "
                      "destroyed)"));
  }
  result.ops = executed[0] + executed[1];
  result.hostile_ops = hostile_executed[0] + hostile_executed[1];

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
          report_stats.submitted, report_stats.completed, report_stats.failed,
          report_stats.cancelled_before_start,
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

  // Per-future checks and the tally (side tasks counted already).
  uint64_t completed = ctx.side.completed.load(),
           failed = ctx.side.failed.load(), cbs = ctx.side.cbs.load(),
           cwr = ctx.side.cwr.load(), rejected = ctx.side.rejected.load();
  absl::MutexLock lock(&ctx.mu);
  for (auto& ep : ctx.entries) {
    Entry& e = *ep;
    const std::string who = absl::StrCat("task ", e.id);
    if (!e.future.IsValid()) {
      fail(absl::StrCat(who, ": future lost"));
      continue;
    }
    if (!e.future.IsReady()) {
      fail(absl::StrCat(who, ": future unresolved after termination"));
      continue;
    }
    const TaskOutcome outcome = e.future.Outcome();
    absl::StatusOr<int> r =
        e.taken ? std::move(e.taken_result) : e.future.Get();
    const int destroyed = e.destroyed.load();
    const int runs = e.runs.load();
    const Did did = static_cast<Did>(e.did.load());
    if (destroyed != 1) {
      fail(absl::StrCat(who, ": callable destroyed ", destroyed, " times"));
    }
    if (runs > 1) fail(absl::StrCat(who, ": ran ", runs, " times"));
    const std::string got =
        absl::StrCat(" (outcome ", TaskOutcomeName(outcome), ", result ",
                     r.ok() ? absl::StrCat(*r) : r.status().ToString(), ")");
    if (runs == 0) {
      if (outcome == TaskOutcome::kCancelled && !r.ok()) {
        ++cbs;
      } else if (outcome == TaskOutcome::kFailed &&
                 (r.status().code() == absl::StatusCode::kFailedPrecondition ||
                  r.status().code() == absl::StatusCode::kResourceExhausted)) {
        ++rejected;
        if (ctx.huge_queue_limit &&
            r.status().code() == absl::StatusCode::kResourceExhausted) {
          fail(absl::StrCat("extreme_options: ", who,
                            " refused with max_queued_tasks above INT64_MAX: ",
                            r.status().ToString()));
        }
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
  if (ctx.entries.size() + ctx.side.calls.load() != calls) {
    fail(absl::StrCat(ctx.entries.size(), " futures and ",
                      ctx.side.calls.load(), " side tasks for ", calls,
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
