// SignalShutdown tests.
// Real-signal tests: start tests/signal/signal_mode_server as a child process,
// send it SIGTERM/SIGINT with kill(2), and check what it reports and how it
// exits. In-process tests: Install with SIGUSR2 only (blocking it in this
// process is harmless) and drive the stages with Trigger(); anything that can
// hang or must exit the process runs in a forked child (RunInChild).
#include "cancelpool/pool/signal_shutdown.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/internal/clock.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace {

using cancelpool::CancellationToken;
using cancelpool::SignalShutdown;
using cancelpool::ThreadPool;
using cancelpool::testing_util::ChildResult;
using cancelpool::testing_util::Gate;
using cancelpool::testing_util::kLong;
using cancelpool::testing_util::RunfilePath;
using cancelpool::testing_util::RunInChild;
using cancelpool::testing_util::SpawnWithStdout;

// A running signal_mode_server (see there for its arguments and output).
class Child {
 public:
  explicit Child(std::vector<std::string> args) {
    args.insert(args.begin(), RunfilePath("tests/signal/signal_mode_server"));
    pid_ = SpawnWithStdout(args, &out_);
    EXPECT_GT(pid_, 0) << "cannot start " << args[0];
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(out_);
  }

  // Reads output until a line starting with `prefix` appears (true) or EOF /
  // deadline (false).
  bool WaitForLine(const std::string& prefix) {
    const absl::Time deadline = absl::Now() + kLong;
    for (;;) {
      for (const std::string& line : Lines()) {
        if (line.rfind(prefix, 0) == 0) return true;
      }
      if (eof_ || absl::Now() > deadline) return false;
      ReadSome(deadline);
    }
  }
  void Signal(int signo) { ASSERT_EQ(kill(pid_, signo), 0); }
  // Reads to EOF and reaps; returns the wait status.
  int Finish() {
    const absl::Time deadline = absl::Now() + kLong;
    while (!eof_ && absl::Now() < deadline) ReadSome(deadline);
    EXPECT_TRUE(eof_) << "child did not finish in time; output:\n" << output_;
    if (!eof_) kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    return status;
  }
  std::vector<std::string> Lines() const {
    return absl::StrSplit(output_, '\n', absl::SkipEmpty());
  }
  const std::string& output() const { return output_; }
  // Parses the REPORT line into key -> value.
  std::map<std::string, int64_t> Report() const {
    std::map<std::string, int64_t> r;
    for (const std::string& line : Lines()) {
      if (line.rfind("REPORT ", 0) != 0) continue;
      for (absl::string_view kv : absl::StrSplit(line.substr(7), ' ')) {
        std::pair<std::string, std::string> p = absl::StrSplit(kv, '=');
        int64_t v = 0;
        if (absl::SimpleAtoi(p.second, &v)) r[p.first] = v;
      }
    }
    return r;
  }
  int CountLinesStartingWith(const std::string& prefix) const {
    int n = 0;
    for (const std::string& line : Lines()) n += line.rfind(prefix, 0) == 0;
    return n;
  }

 private:
  void ReadSome(absl::Time deadline) {
    pollfd p{out_, POLLIN, 0};
    const int ms =
        static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (poll(&p, 1, ms < 0 ? 0 : ms) <= 0) return;
    char buf[4096];
    const ssize_t n = read(out_, buf, sizeof(buf));
    if (n <= 0) {
      eof_ = true;
      return;
    }
    output_.append(buf, static_cast<size_t>(n));
  }

  pid_t pid_ = -1;
  int out_ = -1;
  bool eof_ = false;
  bool reaped_ = false;
  std::string output_;
};

void ExpectIdentity(const std::map<std::string, int64_t>& r,
                    const std::string& output) {
  ASSERT_TRUE(r.count("submitted")) << output;
  EXPECT_EQ(r.at("submitted"), r.at("completed") + r.at("failed") +
                                   r.at("cancelled_before_start") +
                                   r.at("cancelled_while_running") +
                                   r.at("rejected"))
      << output;
  EXPECT_EQ(r.at("submitted"), r.at("outside_submits")) << output;
  EXPECT_EQ(r.at("terminated"), 1) << output;
}

TEST(SignalShutdownTest, SigtermDrainsThenCancelsAfterGrace) {
  Child child({"busy", "2", "20", "200"});
  ASSERT_TRUE(child.WaitForLine("READY")) << child.output();
  child.Signal(SIGTERM);
  const int status = child.Finish();
  ASSERT_TRUE(WIFEXITED(status)) << child.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << child.output();
  EXPECT_EQ(child.CountLinesStartingWith("FIRST_SIGNAL SIGTERM"), 1);
  // Both running tasks ran their cleanup, and saw a reason naming the signal
  // and the grace period.
  EXPECT_EQ(child.CountLinesStartingWith("Task #0 stopped: CANCELLED: SIGTERM "
                                         "grace period"),
            1)
      << child.output();
  EXPECT_EQ(child.CountLinesStartingWith("Task #1 stopped: CANCELLED: SIGTERM "
                                         "grace period"),
            1)
      << child.output();
  auto r = child.Report();
  ExpectIdentity(r, child.output());
  EXPECT_EQ(r["submitted"], 22);
  // The queued tasks never ran (their cleanup never ran either: a task that
  // never starts never enters its body).
  EXPECT_EQ(r["cancelled_before_start"], 20) << child.output();
  EXPECT_EQ(r["cancelled_while_running"], 2) << child.output();
}

TEST(SignalShutdownTest, SecondSigintCancelsAtOnce) {
  Child child({"busy", "2", "5", "600000"});  // a 10-minute grace
  ASSERT_TRUE(child.WaitForLine("READY")) << child.output();
  child.Signal(SIGINT);
  ASSERT_TRUE(child.WaitForLine("FIRST_SIGNAL SIGINT")) << child.output();
  child.Signal(SIGINT);
  const int status = child.Finish();
  ASSERT_TRUE(WIFEXITED(status)) << child.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << child.output();
  EXPECT_EQ(child.CountLinesStartingWith(
                "Task #0 stopped: CANCELLED: SIGINT received twice"),
            1)
      << child.output();
  auto r = child.Report();
  ExpectIdentity(r, child.output());
  EXPECT_EQ(r["cancelled_before_start"], 5);
  EXPECT_EQ(r["cancelled_while_running"], 2);
}

TEST(SignalShutdownTest, ThirdSignalExitsAtOnce) {
  // Tasks ignore their tokens, so only the third signal ends the process.
  Child child({"stubborn", "2", "0", "600000"});
  ASSERT_TRUE(child.WaitForLine("READY")) << child.output();
  // Standard signals do not queue: two SIGTERMs pending at once merge into
  // one. Wait for each stage, as an operator's spaced Ctrl-Cs would.
  child.Signal(SIGTERM);
  ASSERT_TRUE(child.WaitForLine("FIRST_SIGNAL SIGTERM")) << child.output();
  child.Signal(SIGTERM);
  ASSERT_TRUE(child.WaitForLine("CANCELLING SIGTERM")) << child.output();
  child.Signal(SIGTERM);
  const int status = child.Finish();
  ASSERT_TRUE(WIFEXITED(status)) << child.output();
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM) << child.output();
  EXPECT_EQ(child.CountLinesStartingWith("REPORT"), 0);
}

TEST(SignalShutdownTest, SignalWhileIdle) {
  Child child({"idle", "0", "0", "200"});
  ASSERT_TRUE(child.WaitForLine("READY")) << child.output();
  child.Signal(SIGTERM);
  const int status = child.Finish();
  ASSERT_TRUE(WIFEXITED(status)) << child.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << child.output();
  auto r = child.Report();
  ExpectIdentity(r, child.output());
  EXPECT_EQ(r["submitted"], 0);
}

TEST(SignalShutdownTest, FiniteWorkDrainsCompletely) {
  Child child({"finite", "2", "30", "60000"});
  ASSERT_TRUE(child.WaitForLine("READY")) << child.output();
  child.Signal(SIGTERM);
  const int status = child.Finish();
  ASSERT_TRUE(WIFEXITED(status)) << child.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << child.output();
  auto r = child.Report();
  ExpectIdentity(r, child.output());
  EXPECT_EQ(r["completed"], 32) << child.output();
  EXPECT_EQ(r["cancelled_before_start"] + r["cancelled_while_running"], 0);
}

TEST(SignalShutdownTest, SignalDuringHeavySubmissionLosesNothing) {
  Child child({"heavy", "0", "0", "2000"});
  ASSERT_TRUE(child.WaitForLine("READY")) << child.output();
  child.Signal(SIGTERM);
  const int status = child.Finish();
  ASSERT_TRUE(WIFEXITED(status)) << child.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << child.output();
  auto r = child.Report();
  ExpectIdentity(r, child.output());
  EXPECT_GT(r["submitted"], 0);
  EXPECT_GT(r["rejected"], 0);  // at least the refusals after shutdown
}

// ---------------------------------------------------------------------------
// In-process tests (SIGUSR2 and Trigger).

using cancelpool::testing_util::kLong;

SignalShutdown::Options InProcessOptions() {
  SignalShutdown::Options o;
  o.signals = {SIGUSR2};
  // Pool workers of this test, and the sanitizers' own threads, may exist.
  o.allow_existing_threads = true;
  return o;
}

std::unique_ptr<SignalShutdown> MustInstall(SignalShutdown::Options o) {
  auto installed = SignalShutdown::Install(std::move(o));
  EXPECT_TRUE(installed.ok()) << installed.status();
  return installed.ok() ? *std::move(installed) : nullptr;
}

// Issue 11, item 17: the signal numbers were used (as shift amounts, to read
// the other threads' masks) before they were validated, and the answer was
// FailedPrecondition. Every invalid input must be InvalidArgument, whatever
// other threads exist, and leave nothing installed.
TEST(SignalShutdownInstallTest, InvalidInputIsInvalidArgumentWithOtherThreads) {
  // A thread that leaves every signal unblocked (the main thread blocks
  // none of these when it starts it).
  absl::Notification done;
  std::thread other([&done] { done.WaitForNotification(); });
  struct Case {
    std::vector<int> signals;
    absl::Duration grace;
  };
  const absl::Duration ok_grace = absl::Seconds(1);
  const Case cases[] = {
      {{0}, ok_grace},
      {{65}, ok_grace},
      {{-1}, ok_grace},
      {{INT_MIN}, ok_grace},
      {{INT_MAX}, ok_grace},
      {{SIGUSR2, 0}, ok_grace},
      {{SIGUSR2, 65}, ok_grace},
      {{SIGKILL}, ok_grace},
      {{SIGUSR2, SIGSTOP}, ok_grace},
      {{}, ok_grace},
      {{SIGUSR2}, -absl::Seconds(1)},
  };
  for (const bool allow : {false, true}) {
    for (const Case& c : cases) {
      SignalShutdown::Options o;
      o.signals = c.signals;
      o.grace = c.grace;
      o.allow_existing_threads = allow;
      const std::string what = absl::StrCat(
          "signals {", absl::StrJoin(c.signals, ","), "} grace ",
          absl::FormatDuration(c.grace), " allow_existing_threads ", allow);
      auto installed = SignalShutdown::Install(std::move(o));
      EXPECT_EQ(installed.status().code(), absl::StatusCode::kInvalidArgument)
          << what << ": " << installed.status();
    }
  }
  done.Notify();
  other.join();
  // Nothing was left half-installed.
  std::unique_ptr<SignalShutdown> s = MustInstall(InProcessOptions());
  EXPECT_NE(s, nullptr);
}

// The scheduler state of thread `tid` of this process ('S' = sleeping).
char ThreadState(pid_t tid) {
  std::ifstream in(absl::StrCat("/proc/self/task/", tid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return '?';
  return stat[paren + 2];
}

// Issue 11, item 3: WaitForShutdown snapshotted the watched pools and then
// called each one, so a pool another thread unwatched and destroyed in
// between was still called: a use after free, or, as here, where another
// pool (never watched) is built in the destroyed pool's memory, a wait on
// that unrelated pool (its task never ends, so WaitForShutdown never
// returned true).
TEST(SignalShutdownWaitTest, UnwatchAndDestroyWhileWaitForShutdownWaits) {
  ThreadPool pool_p(1);
  alignas(ThreadPool) unsigned char storage[sizeof(ThreadPool)];
  ThreadPool* pool_a = new (storage) ThreadPool(1);
  Gate gate_p, gate_a, gate_b;
  auto fp = pool_p.Submit([&gate_p] { gate_p.Block(); });
  auto fa = pool_a->Submit([&gate_a] { gate_a.Block(); });
  ASSERT_TRUE(gate_p.started.WaitForNotificationWithTimeout(kLong));
  ASSERT_TRUE(gate_a.started.WaitForNotificationWithTimeout(kLong));
  std::unique_ptr<SignalShutdown> s = MustInstall(InProcessOptions());
  ASSERT_NE(s, nullptr);
  s->Watch(&pool_p);
  s->Watch(pool_a);

  std::atomic<pid_t> waiter_tid{0};
  absl::Notification waiter_done;
  bool waiter_result = false;
  std::thread waiter([&] {
    waiter_tid.store(gettid());
    waiter_result = s->WaitForShutdown(absl::Now() + absl::Seconds(20));
    waiter_done.Notify();
  });
  s->Trigger(SIGUSR2);
  ASSERT_TRUE(s->WaitForSignal(absl::Now() + kLong));
  // Only for this test's power against the old code (the fix is right in
  // any order): let the waiter block inside a pool's wait before the pool
  // goes away. Bounded; the outcome does not depend on it.
  const absl::Time until = absl::Now() + absl::Seconds(5);
  while (absl::Now() < until &&
         !(pool_p.IsShutdown() && pool_a->IsShutdown() &&
           waiter_tid.load() != 0 && ThreadState(waiter_tid.load()) == 'S')) {
    std::this_thread::yield();
  }
  s->Unwatch(pool_a);
  gate_a.release.Notify();
  fa.Wait();
  pool_a->~ThreadPool();
  ThreadPool* pool_b = new (storage) ThreadPool(1);  // never watched
  auto fb = pool_b->Submit([&gate_b] { gate_b.Block(); });
  gate_p.release.Notify();
  EXPECT_TRUE(waiter_done.WaitForNotificationWithTimeout(kLong));
  gate_b.release.Notify();
  waiter.join();
  EXPECT_TRUE(waiter_result)
      << "WaitForShutdown waited on a pool that was unwatched and destroyed";
  EXPECT_TRUE(fp.IsReady());
  s.reset();
  pool_b->~ThreadPool();
}

// The same race without the choreography, many times: ASan sees a call into
// a destroyed pool, TSan a race on it.
TEST(SignalShutdownWaitTest, UnwatchAndDestroyRacesWaitForShutdown) {
  for (int round = 0; round < 20; ++round) {
    std::vector<std::unique_ptr<ThreadPool>> pools;
    for (int i = 0; i < 4; ++i)
      pools.push_back(std::make_unique<ThreadPool>(1));
    std::unique_ptr<SignalShutdown> s = MustInstall(InProcessOptions());
    ASSERT_NE(s, nullptr);
    for (auto& p : pools) s->Watch(p.get());
    bool waiter_result = false;
    std::thread waiter(
        [&] { waiter_result = s->WaitForShutdown(absl::Now() + kLong); });
    absl::Notification go;
    std::thread unwatcher([&] {
      go.WaitForNotification();
      for (size_t i = 1; i < pools.size(); ++i) {
        s->Unwatch(pools[i].get());
        pools[i].reset();
      }
    });
    s->Trigger(SIGUSR2);
    go.Notify();
    unwatcher.join();
    waiter.join();
    EXPECT_TRUE(waiter_result) << "round " << round;
    s.reset();
  }
}

// Issue N1: a hook or a cancellation callback runs on the stage thread, and
// Unwatch / WaitForShutdown from there waited for that very thread (Unwatch
// for the stage thread's pool call in progress; WaitForShutdown for pools
// the stage thread had not shut down yet): a deadlock. And the stage thread
// called Shutdown() on a list of pools copied before the callbacks ran, so
// a pool they unwatched and destroyed was called afterwards (use after
// free). Hooks here unwatch and destroy pools and call WaitForShutdown.
int HooksUnwatchDestroyAndWait() {
  ThreadPool* first = new ThreadPool(1);
  ThreadPool* second = new ThreadPool(1);
  ThreadPool* kept = new ThreadPool(1);
  SignalShutdown* self = nullptr;
  std::atomic<int> hook_results{0};  // bit set per WaitForShutdown == false
  absl::Notification hooks_done;
  SignalShutdown::Options o = InProcessOptions();
  o.on_first_signal = [&](int) {
    if (!self->WaitForShutdown()) hook_results.fetch_or(1);  // no deadline
    self->Unwatch(first);
    delete first;  // a hook may destroy it: it waits like anywhere else
    first = nullptr;
  };
  o.on_cancel = [&](int) {
    if (!self->WaitForShutdown()) hook_results.fetch_or(2);
    self->Unwatch(second);
    delete second;
    second = nullptr;
    hooks_done.Notify();
  };
  auto installed = SignalShutdown::Install(std::move(o));
  if (!installed.ok()) return 2;
  std::unique_ptr<SignalShutdown> s = *std::move(installed);
  self = s.get();
  s->Watch(first);
  s->Watch(second);
  s->Watch(kept);
  s->Trigger(SIGUSR2);
  s->Trigger(SIGUSR2);
  if (!hooks_done.WaitForNotificationWithTimeout(kLong)) return 3;
  if (!s->WaitForShutdown(absl::Now() + kLong)) return 4;
  if (hook_results.load() != 3) return 5;  // a hook's wait did not say false
  if (first != nullptr || second != nullptr) return 6;
  if (!kept->IsShutdown()) return 7;  // the pool left watched was shut down
  s.reset();
  delete kept;
  return 0;
}

TEST(SignalShutdownStageThreadTest, HooksUnwatchDestroyAndWaitForShutdown) {
  const ChildResult r =
      RunInChild(HooksUnwatchDestroyAndWait, absl::Seconds(60));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// Shutdown(kCancel) runs a running task's cancellation callbacks on the
// stage thread. The callback here unwatches and destroys its own pool (whose
// Shutdown() is running it) and another watched pool that the stage thread
// would call next, and calls WaitForShutdown.
int CancellationCallbackUnwatchesDestroysAndWaits() {
  auto installed = SignalShutdown::Install(InProcessOptions());
  if (!installed.ok()) return 2;
  std::unique_ptr<SignalShutdown> s = *std::move(installed);
  SignalShutdown* self = s.get();
  ThreadPool* own = new ThreadPool(1);
  ThreadPool* next = new ThreadPool(1);
  ThreadPool* kept = new ThreadPool(1);
  absl::Notification registered, callback_done;
  std::atomic<bool> wait_said_false{false};
  auto task = own->Submit([&](CancellationToken token) {
    cancelpool::CancellationCallback cb(token, [&] {
      if (!self->WaitForShutdown()) wait_said_false.store(true);
      self->Unwatch(next);
      delete next;  // inside a cancellation callback: does not wait
      next = nullptr;
      self->Unwatch(own);
      delete own;  // the pool whose Shutdown() runs this callback
      own = nullptr;
      callback_done.Notify();
    });
    registered.Notify();
    cancelpool::SleepFor(token, kLong);
    // The request may wake this sleep before it reaches `cb`: a callback
    // deregistered before it starts never runs, so keep it registered until
    // it has run.
    callback_done.WaitForNotificationWithTimeout(kLong);
  });
  if (!registered.WaitForNotificationWithTimeout(kLong)) return 3;
  s->Watch(own);   // called first by the stage thread
  s->Watch(next);  // would be called next: the callback destroys it first
  s->Watch(kept);
  s->Trigger(SIGUSR2);
  s->Trigger(SIGUSR2);
  if (!callback_done.WaitForNotificationWithTimeout(kLong)) return 4;
  if (!s->WaitForShutdown(absl::Now() + kLong)) return 5;
  if (!wait_said_false.load()) return 6;
  if (!task.WaitFor(kLong)) return 7;  // the task saw its token
  if (!kept->IsShutdown()) return 8;
  s.reset();
  delete kept;
  return 0;
}

TEST(SignalShutdownStageThreadTest,
     CancellationCallbackUnwatchesDestroysAndWaits) {
  const ChildResult r = RunInChild(
      CancellationCallbackUnwatchesDestroysAndWaits, absl::Seconds(60));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// Issue 11, item 19: the third signal's immediate exit waited for user code
// on the signal thread. Each case blocks in user code for ten minutes at a
// different stage, then sends the third signal: the process must exit with
// 128 + signo at once (the child's time limit is far shorter).
enum class BlockIn { kFirstSignalHook, kCancelHook, kCancellationCallback };

int ThirdSignalWhileUserCodeBlocks(BlockIn where) {
  absl::Notification blocking;
  absl::Notification never;
  auto block = [&blocking, &never] {
    blocking.Notify();
    never.WaitForNotificationWithTimeout(absl::Minutes(10));
  };
  SignalShutdown::Options o = InProcessOptions();
  if (where == BlockIn::kFirstSignalHook)
    o.on_first_signal = [&](int) { block(); };
  if (where == BlockIn::kCancelHook) o.on_cancel = [&](int) { block(); };
  auto installed = SignalShutdown::Install(std::move(o));
  if (!installed.ok()) return 2;
  std::unique_ptr<SignalShutdown> s = *std::move(installed);
  ThreadPool pool(1);
  absl::Notification running;
  cancelpool::Future<void> task;
  if (where == BlockIn::kCancellationCallback) {
    // Shutdown(kCancel) runs the running task's cancellation callbacks on
    // the thread that calls it.
    task = pool.Submit([&](CancellationToken t) {
      cancelpool::CancellationCallback cb(t, [&] { block(); });
      running.Notify();
      never.WaitForNotificationWithTimeout(absl::Minutes(10));
    });
    if (!running.WaitForNotificationWithTimeout(kLong)) return 3;
  }
  s->Watch(&pool);
  s->Trigger(SIGTERM);
  if (where == BlockIn::kFirstSignalHook &&
      !blocking.WaitForNotificationWithTimeout(kLong)) {
    return 4;
  }
  s->Trigger(SIGTERM);
  if (where != BlockIn::kFirstSignalHook &&
      !blocking.WaitForNotificationWithTimeout(kLong)) {
    return 5;
  }
  s->Trigger(SIGTERM);  // exits the process with 128 + SIGTERM
  never.WaitForNotificationWithTimeout(absl::Minutes(10));
  return 6;
}

TEST(SignalShutdownExitTest, ThirdSignalExitsWhileFirstSignalHookBlocks) {
  const ChildResult r = RunInChild(
      [] { return ThirdSignalWhileUserCodeBlocks(BlockIn::kFirstSignalHook); },
      absl::Seconds(30));
  EXPECT_TRUE(r.exited() && r.exit_code == 128 + SIGTERM) << r.ToString();
}

TEST(SignalShutdownExitTest, ThirdSignalExitsWhileCancelHookBlocks) {
  const ChildResult r = RunInChild(
      [] { return ThirdSignalWhileUserCodeBlocks(BlockIn::kCancelHook); },
      absl::Seconds(30));
  EXPECT_TRUE(r.exited() && r.exit_code == 128 + SIGTERM) << r.ToString();
}

TEST(SignalShutdownExitTest, ThirdSignalExitsWhileCancellationCallbackBlocks) {
  const ChildResult r = RunInChild(
      [] {
        return ThirdSignalWhileUserCodeBlocks(BlockIn::kCancellationCallback);
      },
      absl::Seconds(30));
  EXPECT_TRUE(r.exited() && r.exit_code == 128 + SIGTERM) << r.ToString();
}

// The same with real signals: the first signal's hook blocks for ten
// minutes; SIGINT then SIGTERM (distinct numbers, so the kernel cannot merge
// them) are the second and third.
TEST(SignalShutdownTest, ThirdRealSignalExitsWhileFirstSignalHookBlocks) {
  Child child({"slowhook", "0", "0", "600000"});
  ASSERT_TRUE(child.WaitForLine("READY")) << child.output();
  child.Signal(SIGTERM);
  ASSERT_TRUE(child.WaitForLine("FIRST_SIGNAL SIGTERM")) << child.output();
  child.Signal(SIGINT);
  child.Signal(SIGTERM);
  const int status = child.Finish();
  ASSERT_TRUE(WIFEXITED(status)) << child.output();
  // The lower-numbered pending signal is read first: SIGTERM is the third.
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM) << child.output();
  EXPECT_EQ(child.CountLinesStartingWith("REPORT"), 0);
}

// Issue 11, item 20: the poll timeout was the time left cast to int, so a
// grace more than ~24.8 days away overflowed (a negative timeout: the grace
// never ended; or a tiny one: early wake-ups).
// The reader now takes its timeout from the shared helper
// (cancel_internal::PollTimeoutMillis), for the time left until the grace
// ends on the monotonic clock: these are the old helper's cases, each as the
// time left (deadline - now).
TEST(SignalShutdownPollTimeoutTest, RoundedUpAndClampedToInt) {
  using cancelpool::cancel_internal::PollTimeoutMillis;
  const absl::Time now = absl::FromUnixSeconds(1800000000);
  EXPECT_EQ(PollTimeoutMillis(absl::InfiniteFuture() - now), -1);
  EXPECT_EQ(PollTimeoutMillis(now - now), 0);
  EXPECT_EQ(PollTimeoutMillis((now - absl::Seconds(1)) - now), 0);
  EXPECT_EQ(PollTimeoutMillis(absl::InfinitePast() - now), 0);
  EXPECT_EQ(PollTimeoutMillis((now + absl::Nanoseconds(1)) - now), 1);
  EXPECT_EQ(PollTimeoutMillis((now + absl::Microseconds(1500)) - now), 2);
  EXPECT_EQ(PollTimeoutMillis((now + absl::Milliseconds(1500)) - now), 1500);
  EXPECT_EQ(PollTimeoutMillis((now + absl::Milliseconds(INT_MAX)) - now),
            INT_MAX);
  const int64_t beyond[] = {
      int64_t{INT_MAX} + 1,
      int64_t{25} * 24 * 3600 * 1000,              // 25 days
      int64_t{30} * 24 * 3600 * 1000,              // 30 days: was negative
      (int64_t{1} << 32) + 5,                      // was 5 ms
      (int64_t{1} << 32),                          // was 0 ms: a busy loop
      int64_t{100} * 365 * 24 * 3600 * 1000,       // a century
      std::numeric_limits<int64_t>::max() / 1000,  // near absl's range
  };
  for (const int64_t ms : beyond) {
    EXPECT_EQ(PollTimeoutMillis((now + absl::Milliseconds(ms)) - now), INT_MAX)
        << ms;
  }
  // The largest finite time left (the old case of a deadline seen from
  // absl::InfinitePast()).
  EXPECT_EQ(
      PollTimeoutMillis(absl::Seconds(std::numeric_limits<int64_t>::max())),
      INT_MAX);
}

// A grace beyond 25 days, as the reader computes its poll timeout: the grace
// ends at MonotonicAfter(grace), seen from MonotonicNow().
TEST(SignalShutdownPollTimeoutTest, ThirtyDayGraceIsPositiveAndClamped) {
  using cancelpool::cancel_internal::MonotonicAfter;
  using cancelpool::cancel_internal::MonotonicNow;
  using cancelpool::cancel_internal::PollTimeoutMillis;
  const absl::Duration due = MonotonicAfter(absl::Hours(24 * 30));
  EXPECT_EQ(PollTimeoutMillis(due - MonotonicNow()), INT_MAX);
  const absl::Duration near = MonotonicAfter(absl::Hours(24 * 24));
  const int ms = PollTimeoutMillis(near - MonotonicNow());
  EXPECT_GT(ms, 0);
  EXPECT_LE(ms, 24 * 24 * 3600 * 1000);
}

// A 30-day grace, then a signal: the pools drain and WaitForShutdown returns
// promptly, in the draining stage (the grace neither ended at once nor made
// the reader spin). In a child: a hang is a failure, not a stuck test.
int ThirtyDayGraceDrains() {
  SignalShutdown::Options o = InProcessOptions();
  o.grace = absl::Hours(24 * 30);
  auto installed = SignalShutdown::Install(std::move(o));
  if (!installed.ok()) return 2;
  std::unique_ptr<SignalShutdown> s = *std::move(installed);
  ThreadPool pool(2);
  s->Watch(&pool);
  cancelpool::Future<int> task = pool.Submit([](CancellationToken t) {
    // Still draining (not cancelled) while it runs.
    return cancelpool::SleepFor(t, absl::Milliseconds(50)) ==
                   cancelpool::WaitResult::kTimeout
               ? 7
               : -1;
  });
  s->Trigger(SIGUSR2);
  if (!s->WaitForShutdown(absl::Now() + absl::Seconds(20))) return 3;
  if (s->CurrentStage() != SignalShutdown::Stage::kDraining) return 4;
  if (s->SignalsReceived() != 1) return 5;
  absl::StatusOr<int> result = task.Get();
  if (!result.ok() || *result != 7) return 6;
  return 0;
}

TEST(SignalShutdownTest, ThirtyDayGraceDrainsPromptly) {
  const ChildResult r = RunInChild(ThirtyDayGraceDrains, absl::Seconds(30));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

TEST(SignalShutdownTest, GraceBeyondTwentyFiveDaysEscalatesOnSecondSignal) {
  const absl::Duration graces[] = {
      absl::Hours(24 * 25) + absl::Milliseconds(1),
      absl::Hours(24 * 30),
      absl::Milliseconds((int64_t{1} << 32) + 5),
      absl::Hours(24 * 365 * 1000),
  };
  for (const absl::Duration grace : graces) {
    SCOPED_TRACE(absl::FormatDuration(grace));
    ThreadPool pool(1);
    absl::Notification running;
    // Ends only when cancelled; reports the reason.
    auto task = pool.Submit([&running](CancellationToken t) -> absl::Status {
      running.Notify();
      while (cancelpool::SleepFor(t, kLong) !=
             cancelpool::WaitResult::kCancelled) {
      }
      return t.Reason();
    });
    ASSERT_TRUE(running.WaitForNotificationWithTimeout(kLong));
    SignalShutdown::Options o = InProcessOptions();
    o.grace = grace;
    std::unique_ptr<SignalShutdown> s = MustInstall(std::move(o));
    ASSERT_NE(s, nullptr);
    s->Watch(&pool);
    s->Trigger(SIGUSR2);
    ASSERT_TRUE(s->WaitForSignal(absl::Now() + kLong));
    EXPECT_EQ(s->CurrentStage(), SignalShutdown::Stage::kDraining);
    EXPECT_FALSE(task.IsReady());  // the grace has not ended
    s->Trigger(SIGUSR2);
    ASSERT_TRUE(task.WaitFor(kLong));
    const absl::Status reason = task.Get();
    EXPECT_EQ(reason.code(), absl::StatusCode::kCancelled) << reason;
    EXPECT_NE(reason.message().find("SIGUSR2 received twice"),
              std::string::npos)
        << reason;
    EXPECT_EQ(s->CurrentStage(), SignalShutdown::Stage::kCancelling);
    EXPECT_TRUE(s->WaitForShutdown(absl::Now() + kLong));
  }
}

}  // namespace
