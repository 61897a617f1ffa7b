// Copyright 2026 The cancelpool Authors.
//
// Hostile types through the public API: over-aligned and move-only callables,
// arguments and results; results that are not default-constructible or that
// throw when moved; over-aligned and move-only cancellation callbacks.

#include <atomic>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <stop_token>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/current.h"
#include "cancelpool/pool/future.h"
#include "cancelpool/pool/options.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

using testing_util::IsAligned;
using testing_util::kLong;
using testing_util::RunInChild;

template <std::size_t kAlign>
struct alignas(kAlign) Over {
  unsigned char bytes[kAlign] = {};
  int value = 0;
};

// Every constructor records whether `this` is suitably aligned.
std::atomic<int> g_misaligned_constructions{0};

template <std::size_t kAlign>
struct alignas(kAlign) Tracked {
  explicit Tracked(int v) : value(v) { Check(); }
  Tracked(const Tracked& o) : value(o.value) { Check(); }
  Tracked(Tracked&& o) noexcept : value(o.value) { Check(); }
  Tracked& operator=(const Tracked&) = default;
  Tracked& operator=(Tracked&&) = default;
  void Check() const {
    if (!IsAligned(this, kAlign)) g_misaligned_constructions.fetch_add(1);
  }
  int value;
};

// thread_pool.h: "Submit(f, args...) runs f(args...) ... f may be
// move-only; args are decay-copied (moved)." A C++ object is always at an
// address that is a multiple of its alignment: a capture of an alignas(N)
// type must be N-aligned inside the running task.
template <std::size_t kAlign>
void CheckOverAlignedCapture() {
  ThreadPool pool(2);
  for (int i = 0; i < 64; ++i) {
    Over<kAlign> captured;
    captured.value = i;
    auto f = pool.Submit([captured]() {
      return IsAligned(&captured, kAlign) && captured.value >= 0;
    });
    auto r = f.Get();
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(*r) << "capture of alignas(" << kAlign << ") misaligned";
  }
}

TEST(HostileTypes, OverAlignedCapture32) { CheckOverAlignedCapture<32>(); }
TEST(HostileTypes, OverAlignedCapture64) { CheckOverAlignedCapture<64>(); }
TEST(HostileTypes, OverAlignedCapture128) { CheckOverAlignedCapture<128>(); }

// A callable class whose own alignment is over-aligned (not only a member).
struct alignas(128) AlignedCallable {
  int payload = 3;
  bool operator()() const { return IsAligned(this, 128) && payload == 3; }
};

TEST(HostileTypes, OverAlignedCallableObject) {
  ThreadPool pool(2);
  for (int i = 0; i < 64; ++i) {
    auto r = pool.Submit(AlignedCallable{}).Get();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(*r);
  }
}

// "args are decay-copied (moved)": the stored copy of an over-aligned
// argument must be aligned, with and without a token parameter.
TEST(HostileTypes, OverAlignedArguments) {
  g_misaligned_constructions = 0;
  ThreadPool pool(2);
  for (int i = 0; i < 32; ++i) {
    auto plain = pool.Submit(
        [](Tracked<64> a, Tracked<128> b) {
          return IsAligned(&a, 64) && IsAligned(&b, 128) ? a.value + b.value
                                                         : -1;
        },
        Tracked<64>(1), Tracked<128>(2));
    auto with_token = pool.Submit(
        [](CancellationToken t, Tracked<64> a) {
          return !t.IsCancellationRequested() && IsAligned(&a, 64) ? a.value
                                                                   : -1;
        },
        Tracked<64>(5));
    auto with_stop = pool.Submit(
        [](std::stop_token st, Tracked<128> a) {
          return !st.stop_requested() && IsAligned(&a, 128) ? a.value : -1;
        },
        Tracked<128>(6));
    EXPECT_EQ(*plain.Get(), 3);
    EXPECT_EQ(*with_token.Get(), 5);
    EXPECT_EQ(*with_stop.Get(), 6);
  }
  EXPECT_EQ(g_misaligned_constructions.load(), 0);
}

#if defined(__SANITIZE_ADDRESS__)
extern "C" int __asan_option_detect_stack_use_after_return;
#endif

// With GCC, ASan's use-after-return detection moves frames to a "fake
// stack" that does not honour alignments above 32, so the test's own
// over-aligned locals (the StatusOr that Get() returns) would be misplaced
// and UBSan would report the test, not the pool. Each test runs in a process
// of its own (one per shard), so turning the detection off for the rest of
// the process is enough.
void NoFakeStackForOverAlignedLocals() {
#if defined(__SANITIZE_ADDRESS__)
  __asan_option_detect_stack_use_after_return = 0;
#endif
}

// future.h RESULTS: "succeeded: Get() is OK and holds the value". The value
// lives in the task's block until taken; its constructions must be aligned.
// (A function of its own: instrumented functions choose the fake stack on
// entry, so the flag must be off before this frame starts.)
__attribute__((noinline)) void CheckOverAlignedResults() {
  g_misaligned_constructions = 0;
  ThreadPool pool(2);
  for (int i = 0; i < 64; ++i) {
    auto f64 = pool.Submit([i] { return Tracked<64>(i); });
    auto f128 = pool.Submit(
        [i]() -> absl::StatusOr<Tracked<128>> { return Tracked<128>(i); });
    auto r64 = f64.Get();
    auto r128 = f128.Get();
    ASSERT_TRUE(r64.ok());
    ASSERT_TRUE(r128.ok());
    EXPECT_EQ(r64->value, i);
    EXPECT_EQ(r128->value, i);
  }
  EXPECT_EQ(g_misaligned_constructions.load(), 0);
}

TEST(HostileTypes, OverAlignedResult) {
  NoFakeStackForOverAlignedLocals();
  CheckOverAlignedResults();
}

// Over-aligned callable submitted with SubmitWith (parent and deadline).
TEST(HostileTypes, OverAlignedSubmitWithParent) {
  ThreadPool pool(2);
  CancellationSource parent;
  TaskOptions options;
  options.parent = parent.Token();
  options.deadline = absl::Now() + kLong;
  for (int i = 0; i < 32; ++i) {
    Over<64> captured;
    auto r =
        pool.SubmitWith(options,
                        [captured](CancellationToken t) {
                          return IsAligned(&captured, 64) && t.CanBeCancelled();
                        })
            .Get();
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(*r);
  }
}

// "f may be move-only; args are decay-copied (moved)". Results may be
// move-only too (Future<T> for T, Get() moves it out).
TEST(HostileTypes, MoveOnlyCallableArgumentsAndResult) {
  ThreadPool pool(2);
  auto owned = std::make_unique<int>(40);
  auto f = pool.Submit(
      [p = std::move(owned)](std::unique_ptr<int> a,
                             std::unique_ptr<int> b) mutable {
        return std::make_unique<int>(*p + *a + *b);
      },
      std::make_unique<int>(1), std::make_unique<int>(1));
  absl::StatusOr<std::unique_ptr<int>> r = f.Get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(**r, 42);

  // Token-taking with a move-only argument, result through StatusOr.
  auto g = pool.Submit(
      [](CancellationToken t,
         std::unique_ptr<int> a) -> absl::StatusOr<std::unique_ptr<int>> {
        if (t.IsCancellationRequested()) return t.Reason();
        return a;
      },
      std::make_unique<int>(7));
  auto rg = g.Get();
  ASSERT_TRUE(rg.ok()) << rg.status();
  EXPECT_EQ(**rg, 7);

  // stop_token-taking with a move-only argument.
  auto h = pool.Submit(
      [](std::stop_token st, std::unique_ptr<int> a) {
        return st.stop_possible() ? *a : -1;
      },
      std::make_unique<int>(9));
  EXPECT_EQ(*h.Get(), 9);
}

// A move-only callable that is cancelled before it starts is destroyed at
// once ("the callable is destroyed there and then").
TEST(HostileTypes, MoveOnlyCallableDestroyedOnCancel) {
  ThreadPool pool(1);
  testing_util::Gate gate;
  auto blocker = pool.Submit([&gate] { gate.Block(); });
  gate.started.WaitForNotification();
  auto resource = std::make_shared<int>(1);
  std::weak_ptr<int> weak = resource;
  auto f = pool.Submit([r = std::move(resource), u = std::make_unique<int>(2)] {
    return *r + *u;
  });
  EXPECT_TRUE(f.Cancel());
  EXPECT_TRUE(weak.expired()) << "cancelled callable still alive";
  EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
  gate.release.Notify();
  EXPECT_TRUE(blocker.Get().ok());
}

struct NoDefault {
  NoDefault() = delete;
  explicit NoDefault(int v) : value(v) {}
  NoDefault(NoDefault&&) = default;
  NoDefault& operator=(NoDefault&&) = default;
  int value;
};

// Future<T> for any T: a result type without a default constructor works
// when the task succeeds, fails, is cancelled before start or is rejected.
TEST(HostileTypes, NonDefaultConstructibleResult) {
  auto pool = std::make_unique<ThreadPool>(1);
  auto ok = pool->Submit([] { return NoDefault(5); });
  auto err = pool->Submit(
      []() -> absl::StatusOr<NoDefault> { return absl::InternalError("x"); });
  auto ok_r = ok.Get();
  ASSERT_TRUE(ok_r.ok());
  EXPECT_EQ(ok_r->value, 5);
  EXPECT_EQ(err.Get().status().code(), absl::StatusCode::kInternal);

  testing_util::Gate gate;
  auto blocker = pool->Submit([&gate] { gate.Block(); });
  gate.started.WaitForNotification();
  auto queued = pool->Submit([] { return NoDefault(6); });
  EXPECT_TRUE(queued.Cancel());
  EXPECT_EQ(queued.Get().status().code(), absl::StatusCode::kCancelled);
  gate.release.Notify();
  pool->Shutdown();
  auto rejected = pool->Submit([] { return NoDefault(7); });
  EXPECT_EQ(rejected.Get().status().code(),
            absl::StatusCode::kFailedPrecondition);
  pool.reset();
}

std::atomic<bool> g_throw_on_move{false};

struct ThrowOnMove {
  explicit ThrowOnMove(int v) : value(v) {}
  ThrowOnMove(ThrowOnMove&& o) : value(o.value) {
    if (g_throw_on_move.load()) throw std::runtime_error("move failed");
  }
  ThrowOnMove& operator=(ThrowOnMove&& o) {
    if (g_throw_on_move.load()) throw std::runtime_error("move failed");
    value = o.value;
    return *this;
  }
  int value;
};

// thread_pool.h: "An exception escaping a task never terminates a worker:
// the future reports it." future.h: "an exception never escapes into a
// worker: it becomes absl::UnknownError". Storing a result whose move
// constructor throws must not terminate the process or lose the future.
TEST(HostileTypes, ResultThatThrowsOnMove) {
  auto r = RunInChild([] {
    g_throw_on_move = true;
    ThreadPool pool(1);
    auto f = pool.Submit([] { return ThrowOnMove(1); });
    if (!f.WaitFor(absl::Seconds(30))) return 2;
    const TaskOutcome outcome = f.Outcome();
    if (outcome != TaskOutcome::kFailed && outcome != TaskOutcome::kSucceeded) {
      return 3;
    }
    // The worker survived: the pool still runs tasks.
    auto g = pool.Submit([] { return 4; });
    if (!g.WaitFor(absl::Seconds(30))) return 4;
    g_throw_on_move = false;
    auto v = g.Get();
    if (!v.ok() || *v != 4) return 5;
    if (outcome == TaskOutcome::kFailed) {
      auto s = f.Get().status();
      if (s.code() != absl::StatusCode::kUnknown) return 6;
    }
    return 0;
  });
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// A callable whose call throws something that is not a std::exception.
TEST(HostileTypes, TaskThrowsNonStdException) {
  ThreadPool pool(1);
  auto f = pool.Submit([]() -> int { throw 42; });
  auto r = f.Get();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnknown) << r.status();
  EXPECT_EQ(f.Outcome(), TaskOutcome::kFailed);
  EXPECT_EQ(*pool.Submit([] { return 1; }).Get(), 1);
}

// cancellation.h: CancellationCallback stores any invocable; over-aligned
// and move-only callbacks are stored and run correctly, inline (already
// cancelled) and on the requesting thread. The registrations live on the
// heap: where a local goes is the compiler's business, and ASan's fake stack
// (detect_stack_use_after_return) places over-aligned locals at 32 bytes.
TEST(HostileTypes, OverAlignedMoveOnlyCancellationCallback) {
  CancellationSource source;
  int runs = 0;
  Over<128> big;
  auto move_only_callback = [&runs, big, p = std::make_unique<int>(1)]() {
    if (IsAligned(&big, 128) && *p == 1) ++runs;
  };
  using MoveOnlyReg = CancellationCallback<decltype(move_only_callback)>;
  auto move_only = std::make_unique<MoveOnlyReg>(source.Token(),
                                                 std::move(move_only_callback));
  auto copyable_callback = [&runs, big]() {
    if (IsAligned(&big, 128)) ++runs;
  };
  using CopyableReg = CancellationCallback<decltype(copyable_callback)>;
  auto copyable =
      std::make_unique<CopyableReg>(source.Token(), copyable_callback);
  EXPECT_TRUE(source.RequestCancellation());
  EXPECT_EQ(runs, 2);
  auto inline_run =
      std::make_unique<CopyableReg>(source.Token(), copyable_callback);
  EXPECT_EQ(runs, 3);
}

}  // namespace
}  // namespace cancelpool
