// Copyright 2026 The cancelpool Authors.
//
// Extreme option values through the public API: 0, negative, INT_MAX,
// SIZE_MAX, infinite and negative durations, InfinitePast/InfiniteFuture
// deadlines, OK statuses given as cancellation reasons, odd signal numbers.

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <climits>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/cause.h"
#include "cancelpool/cancel/current.h"
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/future.h"
#include "cancelpool/pool/internal/testing.h"
#include "cancelpool/pool/options.h"
#include "cancelpool/pool/signal_shutdown.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

using ::cancelpool::pool_internal::ThreadPoolTestPeer;
namespace cancelpool {
namespace {

using testing_util::ChildResult;
using testing_util::CountThreadsNamed;
using testing_util::Gate;
using testing_util::kLong;
using testing_util::RunInChild;

// Runs a few tasks, including fork-join children, and returns 0 if all ran.
int Exercise(ThreadPool& pool) {
  auto parent = pool.Submit([&pool] {
    std::vector<Future<int>> kids;
    for (int i = 0; i < 50; ++i) kids.push_back(pool.Submit([i] { return i; }));
    int sum = 0;
    for (auto& k : kids) {
      auto v = k.Get();
      if (!v.ok()) return -1;
      sum += *v;
    }
    return sum;
  });
  auto v = parent.Get();
  return v.ok() && *v == 49 * 50 / 2 ? 0 : 1;
}

// options.h: "0 means std::thread::hardware_concurrency() (at least 1)".
TEST(HostileOptions, ZeroWorkers) {
  ThreadPoolOptions options;
  options.num_workers = 0;
  ThreadPool pool(std::move(options));
  EXPECT_GE(pool.NumWorkers(), 1);
  EXPECT_EQ(Exercise(pool), 0);
}

// Negative worker counts: bad input must give a clear error (the
// constructor can only throw) or a usable pool, never a crash or a hang.
TEST(HostileOptions, NegativeWorkers) {
  for (int n : {-1, INT_MIN}) {
    ChildResult r = RunInChild(
        [n] {
          ThreadPoolOptions options;
          options.num_workers = n;
          try {
            ThreadPool pool(std::move(options));
            if (pool.NumWorkers() < 1) return 2;
            return Exercise(pool) == 0 ? 0 : 3;
          } catch (const std::exception&) {
            return 0;
          }
        },
        absl::Seconds(60));
    EXPECT_TRUE(r.ok()) << "num_workers=" << n << ": " << r.ToString();
  }
}

// INT_MAX workers cannot be started: the constructor reports it and leaves
// no worker behind. Bounded by RLIMIT_AS (the pool allocates per-worker
// state up front, and an unbounded run would take the machine's memory), so
// only in plain builds: sanitizer runtimes reserve terabytes of address
// space.
TEST(HostileOptions, IntMaxWorkers) {
  if (testing_util::kSanitizer) {
    GTEST_SKIP() << "needs RLIMIT_AS, which sanitizers cannot run under";
  }
  ChildResult r = RunInChild(
      [] {
        struct rlimit rl;
        rl.rlim_cur = testing_util::VirtualBytes() + (long{2} << 30);
        rl.rlim_max = rl.rlim_cur;
        if (setrlimit(RLIMIT_AS, &rl) != 0) return 4;
        ThreadPoolOptions options;
        options.num_workers = INT_MAX;
        options.thread_name_prefix = "hostilemax";
        try {
          ThreadPool pool(std::move(options));
          return Exercise(pool) == 0 ? 0 : 2;
        } catch (const std::exception&) {
        }
        const absl::Time end = absl::Now() + absl::Seconds(30);
        while (CountThreadsNamed("hostilemax") != 0) {
          if (absl::Now() > end) return 3;
          absl::SleepFor(absl::Milliseconds(10));
        }
        return 0;
      },
      absl::Seconds(60));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// "the most tasks that may be queued ... 0 means unlimited". Any value
// larger than the number of tasks queued admits the task.
TEST(HostileOptions, HugeMaxQueuedTasksAdmits) {
  for (size_t limit : {std::numeric_limits<size_t>::max(), size_t{1} << 63,
                       (size_t{1} << 63) - 1, size_t{1} << 32}) {
    ThreadPoolOptions options;
    options.num_workers = 1;
    options.max_queued_tasks = limit;
    ThreadPool pool(std::move(options));
    auto v = pool.Submit([] { return 1; }).Get();
    EXPECT_TRUE(v.ok()) << "max_queued_tasks=" << limit << ": " << v.status();
  }
}

// "A Submit beyond it returns a future already failed with
// absl::ResourceExhaustedError"; PoolStats::rejected counts it.
TEST(HostileOptions, MaxQueuedTasksOne) {
  ThreadPoolOptions options;
  options.num_workers = 1;
  options.max_queued_tasks = 1;
  Gate gate;
  ThreadPool pool(std::move(options));
  auto blocker = pool.Submit([&gate] { gate.Block(); });
  gate.started.WaitForNotification();
  testing_util::NotifyAtExit release_gate(gate.release);
  auto queued = pool.Submit([] { return 1; });
  auto refused = pool.Submit([] { return 2; });
  EXPECT_TRUE(refused.IsReady());
  EXPECT_EQ(refused.Get().status().code(),
            absl::StatusCode::kResourceExhausted);
  gate.release.Notify();
  EXPECT_EQ(*queued.Get(), 1);
  EXPECT_EQ(pool.Stats().rejected, 1u);
}

// idle_spin_rounds: "How many rounds an idle worker searches ... before it
// parks". Any value gives a working pool, and shutdown (SHUTDOWN: "Shutdown
// does not block"; AwaitTermination) ends it promptly even if idle workers
// would spin for INT_MAX rounds.
TEST(HostileOptions, ExtremeIdleSpinRounds) {
  for (int rounds : {0, -1, INT_MIN, INT_MAX}) {
    ChildResult r = RunInChild(
        [rounds] {
          ThreadPoolOptions options;
          options.num_workers = 2;
          options.idle_spin_rounds = rounds;
          ThreadPool pool(std::move(options));
          if (Exercise(pool) != 0) return 2;
          pool.Shutdown();
          if (!pool.AwaitTermination(absl::Now() + absl::Seconds(20))) return 3;
          return 0;
        },
        absl::Seconds(20));
    EXPECT_TRUE(r.ok()) << "idle_spin_rounds=" << rounds << ": "
                        << r.ToString();
  }
}

// destructor_grace: "drain for `destructor_grace`, then cancel everything
// still queued or running". A zero, negative or -infinite grace cancels at
// once; a task observing its token then ends and the destructor returns.
TEST(HostileOptions, NonPositiveDestructorGrace) {
  for (absl::Duration grace :
       {absl::ZeroDuration(), absl::Seconds(-5), -absl::InfiniteDuration()}) {
    ChildResult r = RunInChild(
        [grace] {
          ThreadPoolOptions options;
          options.num_workers = 1;
          options.destructor_grace = grace;
          Future<int> running, queued;
          {
            ThreadPool pool(std::move(options));
            absl::Notification started;
            running = pool.Submit([&started] {
              started.Notify();
              return cancelpool::SleepFor(kLong) == WaitResult::kCancelled ? 1
                                                                           : 0;
            });
            started.WaitForNotification();
            queued = pool.Submit([] { return 2; });
          }
          if (!running.IsReady() || !queued.IsReady()) return 2;
          if (queued.Outcome() != TaskOutcome::kCancelled) return 3;
          auto v = running.Get();
          return v.ok() && *v == 1 ? 0 : 4;
        },
        absl::Seconds(30));
    EXPECT_TRUE(r.ok()) << "grace=" << grace << ": " << r.ToString();
  }
}

// An infinite grace drains everything queued.
TEST(HostileOptions, InfiniteDestructorGraceDrains) {
  ChildResult r = RunInChild(
      [] {
        ThreadPoolOptions options;
        options.num_workers = 2;
        options.destructor_grace = absl::InfiniteDuration();
        std::vector<Future<int>> futures;
        {
          ThreadPool pool(std::move(options));
          for (int i = 0; i < 200; ++i)
            futures.push_back(pool.Submit([i] { return i; }));
        }
        for (int i = 0; i < 200; ++i) {
          auto v = futures[i].Get();
          if (!v.ok() || *v != i) return 2;
        }
        return 0;
      },
      absl::Seconds(60));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// local_queue_capacity: "rounded up to a power of two". 0, 1, 3 and values
// whose rounding overflows must give a working pool or a clean error.
TEST(HostileOptions, ExtremeLocalQueueCapacity) {
  for (size_t capacity :
       {size_t{0}, size_t{1}, size_t{3}, std::numeric_limits<size_t>::max(),
        (size_t{1} << 63) + 1}) {
    ChildResult r = RunInChild(
        [capacity] {
          ThreadPoolOptions options;
          options.num_workers = 2;
          try {
            ThreadPool pool =
                ThreadPoolTestPeer::Make(std::move(options), capacity);
            return Exercise(pool) == 0 ? 0 : 2;
          } catch (const std::exception&) {
            return 0;
          }
        },
        absl::Seconds(20));
    EXPECT_TRUE(r.ok()) << "local_queue_capacity=" << capacity << ": "
                        << r.ToString();
  }
}

// "Worker threads are named "<prefix><index>" (truncated to 15 bytes, the
// Linux limit)". A long prefix is truncated, not rejected.
TEST(HostileOptions, LongAndEmptyThreadNamePrefix) {
  {
    ThreadPoolOptions options;
    options.num_workers = 3;
    options.thread_name_prefix = std::string(100, 'q');
    ThreadPool pool(std::move(options));
    absl::Notification ran;
    pool.Submit([&ran] { ran.Notify(); });
    ran.WaitForNotification();
    // Each worker names itself when it starts: poll until all three have.
    const absl::Time end = absl::Now() + kLong;
    while (CountThreadsNamed(std::string(15, 'q')) < 3 && absl::Now() < end) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    EXPECT_EQ(CountThreadsNamed(std::string(15, 'q')), 3);
  }
  {
    ThreadPoolOptions options;
    options.num_workers = 2;
    options.thread_name_prefix = "";
    ThreadPool pool(std::move(options));
    EXPECT_EQ(Exercise(pool), 0);
  }
}

// TaskOptions::deadline: "The task's token is cancelled with
// DeadlineExceeded at this time (a task still queued then never runs)".
TEST(HostileOptions, PastTaskDeadlinesNeverRun) {
  ThreadPool pool(2);
  std::atomic<int> ran{0};
  std::vector<TaskOptions> past;
  TaskOptions infinite_past;
  infinite_past.deadline = absl::InfinitePast();
  past.push_back(infinite_past);
  past.push_back(TaskOptions::WithTimeout(absl::Seconds(-1)));
  past.push_back(TaskOptions::WithTimeout(-absl::InfiniteDuration()));
  TaskOptions long_ago;
  long_ago.deadline = absl::UnixEpoch();
  past.push_back(long_ago);
  for (const TaskOptions& options : past) {
    auto f = pool.SubmitWith(options, [&ran] { ran.fetch_add(1); });
    ASSERT_TRUE(f.WaitFor(kLong));
    EXPECT_EQ(f.Outcome(), TaskOutcome::kCancelled);
    EXPECT_EQ(f.Get().code(), absl::StatusCode::kDeadlineExceeded);
  }
  EXPECT_EQ(ran.load(), 0);
}

TEST(HostileOptions, InfiniteTaskTimeoutRuns) {
  ThreadPool pool(2);
  auto f = pool.SubmitWith(TaskOptions::WithTimeout(absl::InfiniteDuration()),
                           [](CancellationToken t) {
                             return t.Deadline() == absl::InfiniteFuture() &&
                                    !t.IsCancellationRequested();
                           });
  auto v = f.Get();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(*v);
}

// cancellation.h: "Cancel with DeadlineExceeded at this time.
// InfiniteFuture: none." A deadline in the past cancels (at once or via the
// timer); an infinite timeout is no deadline.
TEST(HostileOptions, ExtremeSourceDeadlines) {
  std::vector<CancellationSource> past;
  past.push_back(CancellationSource::WithDeadline(absl::InfinitePast()));
  past.push_back(CancellationSource::WithTimeout(-absl::InfiniteDuration()));
  past.push_back(CancellationSource::WithTimeout(absl::Seconds(-3)));
  past.push_back(CancellationSource::WithTimeout(absl::ZeroDuration()));
  CancellationSource::Options o;
  o.deadline = absl::InfinitePast();
  past.push_back(CancellationSource(o));
  for (CancellationSource& s : past) {
    Event never;
    EXPECT_EQ(never.Wait(s.Token(), absl::Now() + kLong),
              WaitResult::kCancelled);
    EXPECT_EQ(s.Reason().code(), absl::StatusCode::kDeadlineExceeded);
  }
  CancellationSource forever =
      CancellationSource::WithTimeout(absl::InfiniteDuration());
  EXPECT_EQ(forever.Deadline(), absl::InfiniteFuture());
  EXPECT_FALSE(forever.IsCancellationRequested());
  // "A token reports its effective deadline: the earliest of its own and
  // its parents'."
  const absl::Time soon = absl::Now() + absl::Hours(1);
  CancellationSource parent = CancellationSource::WithDeadline(soon);
  CancellationToken parents[] = {parent.Token(), forever.Token()};
  CancellationSource child =
      CancellationSource::WithDeadline(absl::InfiniteFuture(), parents);
  EXPECT_EQ(child.Deadline(), soon);
}

// wait.h sleeps: "kTimeout after a full sleep, kCancelled if woken by
// cancellation". Non-positive durations return kTimeout at once; infinite
// ones until cancellation.
TEST(HostileOptions, ExtremeSleepDurations) {
  ChildResult r = RunInChild(
      [] {
        CancellationSource s;
        if (cancelpool::SleepFor(s.Token(), absl::Seconds(-1)) !=
            WaitResult::kTimeout)
          return 2;
        if (cancelpool::SleepFor(s.Token(), -absl::InfiniteDuration()) !=
            WaitResult::kTimeout) {
          return 3;
        }
        if (cancelpool::SleepUntil(s.Token(), absl::InfinitePast()) !=
            WaitResult::kTimeout) {
          return 4;
        }
        if (cancelpool::SleepFor(absl::ZeroDuration()) != WaitResult::kTimeout)
          return 5;
        std::thread canceller([&s] {
          absl::SleepFor(absl::Milliseconds(20));
          s.RequestCancellation();
        });
        const WaitResult w =
            cancelpool::SleepFor(s.Token(), absl::InfiniteDuration());
        canceller.join();
        if (w != WaitResult::kCancelled) return 6;
        // Already cancelled, with a past deadline: kCancelled over kTimeout.
        if (cancelpool::SleepUntil(s.Token(), absl::InfinitePast()) !=
            WaitResult::kCancelled) {
          return 7;
        }
        return 0;
      },
      absl::Seconds(20));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// The condition waits with InfinitePast / far-future deadlines: past ones
// time out at once ("kReady wins over kCancelled, and kCancelled over
// kTimeout"), far ones wait for the condition.
TEST(HostileOptions, ExtremeConditionWaitDeadlines) {
  ChildResult r = RunInChild(
      [] {
        CancellationSource s;
        absl::Mutex mu;
        bool flag = false;
        {
          absl::MutexLock lock(&mu);
          if (AwaitWithCancellation(mu, absl::Condition(&flag), s.Token(),
                                    absl::InfinitePast()) !=
              WaitResult::kTimeout) {
            return 2;
          }
        }
        std::mutex m;
        std::condition_variable cv;
        {
          std::unique_lock<std::mutex> lock(m);
          if (WaitWithCancellation(
                  cv, lock, s.Token(), [&] { return flag; },
                  absl::InfinitePast()) != WaitResult::kTimeout) {
            return 3;
          }
          if (WaitWithCancellation(
                  cv, lock, s.Token(), [&] { return flag; },
                  absl::Now() - absl::Hours(24 * 365 * 100)) !=
              WaitResult::kTimeout) {
            return 4;
          }
        }
        Event e;
        if (e.WaitFor(s.Token(), -absl::InfiniteDuration()) !=
            WaitResult::kTimeout) {
          return 5;
        }
        std::thread setter([&e] {
          absl::SleepFor(absl::Milliseconds(20));
          e.Set();
        });
        const WaitResult far =
            e.Wait(s.Token(), absl::Now() + absl::Hours(24 * 365 * 100));
        setter.join();
        if (far != WaitResult::kReady) return 6;
        // A far-future fd wait (beyond an int of milliseconds).
        int p[2];
        if (pipe(p) != 0) return 7;
        std::thread writer([&p] {
          absl::SleepFor(absl::Milliseconds(20));
          if (write(p[1], "x", 1) != 1) std::abort();
        });
        const absl::StatusOr<WaitResult> fd =
            WaitForFd(p[0], FdInterest::kReadable, s.Token(),
                      absl::Now() + absl::Hours(24 * 30));
        writer.join();
        if (fd != WaitResult::kReady) return 8;
        if (WaitForFd(p[1], FdInterest::kWritable, s.Token(),
                      absl::InfinitePast()) != WaitResult::kReady) {
          return 9;  // kReady wins over kTimeout
        }
        char c;
        if (read(p[0], &c, 1) != 1) return 10;
        if (WaitForFd(p[0], FdInterest::kReadable, s.Token(),
                      absl::InfinitePast()) != WaitResult::kTimeout) {
          return 11;
        }
        return 0;
      },
      absl::Seconds(20));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// future.h: "Returns true if resolved within `timeout` / by `deadline`".
// Past or negative limits answer at once; AwaitTermination likewise.
TEST(HostileOptions, ExtremeFutureWaitLimits) {
  ChildResult r = RunInChild(
      [] {
        Gate gate;
        ThreadPool pool(1);
        auto blocked = pool.Submit([&gate] { gate.Block(); });
        gate.started.WaitForNotification();
        testing_util::NotifyAtExit release_gate(gate.release);
        if (blocked.WaitFor(-absl::InfiniteDuration())) return 2;
        if (blocked.WaitFor(absl::Seconds(-1))) return 3;
        if (blocked.WaitFor(absl::ZeroDuration())) return 4;
        if (blocked.WaitUntil(absl::InfinitePast())) return 5;
        CancellationSource s;
        if (blocked.Wait(s.Token(), absl::InfinitePast()) !=
            WaitResult::kTimeout) {
          return 6;
        }
        if (pool.AwaitTermination(absl::InfinitePast())) return 7;
        gate.release.Notify();
        if (!blocked.WaitFor(absl::InfiniteDuration())) return 8;
        return 0;
      },
      absl::Seconds(30));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// DrainThenCancel(grace, cancel_timeout): "Drain for `grace`; if work
// remains, cancel it with `reason` and wait up to `cancel_timeout` more."
TEST(HostileOptions, ExtremeDrainThenCancel) {
  ChildResult r = RunInChild(
      [] {
        {  // infinite grace, finishing tasks: terminated.
          ThreadPool pool(2);
          for (int i = 0; i < 50; ++i) pool.Submit([] {});
          ShutdownReport rep = pool.DrainThenCancel(absl::InfiniteDuration(),
                                                    absl::InfiniteDuration());
          if (!rep.terminated || rep.stats.completed != 50) return 2;
        }
        {  // -infinite grace: cancels at once; the task observes its token.
          ThreadPool pool(1);
          absl::Notification started;
          auto f = pool.Submit([&started] {
            started.Notify();
            cancelpool::SleepFor(kLong);
          });
          started.WaitForNotification();
          ShutdownReport rep =
              pool.DrainThenCancel(-absl::InfiniteDuration(), kLong);
          if (!rep.terminated) return 3;
          if (f.Outcome() != TaskOutcome::kSucceeded &&
              f.Outcome() != TaskOutcome::kCancelled) {
            return 4;
          }
        }
        {  // zero/zero with a task ignoring its token: returns, not terminated.
          auto pool = new ThreadPool(1);  // leaked: its task never ends
          Gate* gate = new Gate;
          pool->Submit([gate] { gate->Block(); });
          gate->started.WaitForNotification();
          ShutdownReport rep = pool->DrainThenCancel(absl::ZeroDuration(),
                                                     -absl::InfiniteDuration());
          if (rep.terminated || rep.stats.InFlight() != 1) return 5;
          gate->release.Notify();
          if (!pool->AwaitTermination(absl::Now() + absl::Seconds(20)))
            return 6;
          delete pool;
        }
        return 0;
      },
      absl::Seconds(60));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// future.h RESULTS: "cancelled: ... Get() holds the cancellation reason".
// cancellation.h: "an OK status means the default, CancelledError". A
// cancelled future never holds an OK status, whatever reason was given.
TEST(HostileOptions, OkStatusAsCancelReason) {
  ChildResult r = RunInChild(
      [] {
        Gate gate;
        ThreadPool pool(1);
        auto blocker = pool.Submit([&gate] { gate.Block(); });
        gate.started.WaitForNotification();
        testing_util::NotifyAtExit release_gate(gate.release);
        auto v = pool.Submit([] {});
        auto i = pool.Submit([] { return 1; });
        auto h = pool.Submit([] { return 2; });
        if (!v.Cancel(absl::OkStatus())) return 2;
        if (!i.Cancel(absl::OkStatus())) return 3;
        if (!h.GetCancelHandle().Cancel(absl::OkStatus())) return 4;
        if (v.Outcome() != TaskOutcome::kCancelled) return 5;
        if (v.Get().code() != absl::StatusCode::kCancelled) return 6;
        if (i.Get().status().code() != absl::StatusCode::kCancelled) return 7;
        if (h.Get().status().code() != absl::StatusCode::kCancelled) return 8;
        // A running task cancelled with OK: its token's reason is not OK.
        absl::Notification started;
        gate.release.Notify();
        auto running =
            pool.Submit([&started](CancellationToken t) -> absl::Status {
              started.Notify();
              if (cancelpool::SleepFor(t, kLong) != WaitResult::kCancelled) {
                return absl::InternalError("not cancelled");
              }
              return t.Reason();
            });
        started.WaitForNotification();
        running.Cancel(absl::OkStatus());
        if (running.Get().code() != absl::StatusCode::kCancelled) return 9;
        return 0;
      },
      absl::Seconds(30));
  EXPECT_TRUE(r.ok()) << r.ToString();
}

// Shutdown(kCancel, reason): "every queued task resolves as cancelled
// without running; every running task's token is cancelled with `reason`".
TEST(HostileOptions, ShutdownWithNonCancelledReason) {
  ThreadPool pool(1);
  absl::Notification started;
  auto running = pool.Submit([&started](CancellationToken t) -> absl::Status {
    started.Notify();
    cancelpool::SleepFor(t, kLong);
    return t.Reason();
  });
  started.WaitForNotification();
  auto queued = pool.Submit([] { return 1; });
  pool.Shutdown(ShutdownMode::kCancel, absl::InternalError("custom"));
  EXPECT_EQ(queued.Outcome(), TaskOutcome::kCancelled);
  // Code and message kept; the shutdown cause added (cancel/cause.h).
  const absl::Status custom = WithCancellationCause(
      absl::InternalError("custom"), CancellationCause::kShutdown);
  EXPECT_EQ(queued.Get().status(), custom);
  EXPECT_EQ(running.Get(), custom);
  EXPECT_EQ(running.Outcome(), TaskOutcome::kCancelled);
  EXPECT_TRUE(pool.AwaitTermination(absl::Now() + kLong));
}

// ---------------------------------------------------------------------------
// SignalShutdown options, each in a child (Install changes the process).

SignalShutdown::Options Permissive() {
  SignalShutdown::Options options;
  options.allow_existing_threads = true;
  return options;
}

bool EventuallyStage(SignalShutdown* s, SignalShutdown::Stage stage,
                     absl::Duration limit) {
  const absl::Time end = absl::Now() + limit;
  while (s->CurrentStage() != stage) {
    if (absl::Now() > end) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

// A signal number outside 1..64 is bad input: InvalidArgument ("Bad input
// gets a clear error"), also when other threads exist.
TEST(HostileOptions, SignalInstallWithInvalidSignalNumbers) {
  for (int signo : {0, 65, -1, 1000, INT_MIN}) {
    for (bool other_thread : {false, true}) {
      ChildResult r = RunInChild(
          [signo, other_thread] {
            absl::Notification stop;
            std::thread other;
            if (other_thread) {
              other = std::thread([&stop] { stop.WaitForNotification(); });
            }
            SignalShutdown::Options options;
            options.signals = {signo};
            auto s = SignalShutdown::Install(std::move(options));
            stop.Notify();
            if (other.joinable()) other.join();
            return s.status().code() == absl::StatusCode::kInvalidArgument ? 0
                                                                           : 2;
          },
          absl::Seconds(20));
      EXPECT_TRUE(r.ok()) << "signal " << signo << ", other thread "
                          << other_thread << ": " << r.ToString();
    }
  }
}

// "Trigger(signo) ... Acts as if `signo` had been received (it need not be
// in the handled set)"; SignalName: '"signal N"' for others.
TEST(HostileOptions, SignalTriggerOddNumbers) {
  EXPECT_EQ(SignalShutdown::SignalName(SIGTERM), "SIGTERM");
  EXPECT_EQ(SignalShutdown::SignalName(0), "signal 0");
  EXPECT_EQ(SignalShutdown::SignalName(-7), "signal -7");
  EXPECT_EQ(SignalShutdown::SignalName(INT_MAX),
            "signal " + std::to_string(INT_MAX));
  for (int signo : {0, -7, 1000}) {
    ChildResult r = RunInChild(
        [signo] {
          auto s = SignalShutdown::Install(Permissive());
          if (!s.ok()) return 2;
          (*s)->Trigger(signo);
          if (!(*s)->WaitForSignal(absl::Now() + absl::Seconds(10))) return 3;
          if ((*s)->SignalsReceived() != 1) return 4;
          if ((*s)->CurrentStage() != SignalShutdown::Stage::kDraining)
            return 5;
          return 0;
        },
        absl::Seconds(20));
    EXPECT_TRUE(r.ok()) << "Trigger(" << signo << "): " << r.ToString();
  }
}

// Options::grace: "How long the drain may take before everything is
// cancelled. Not negative". ERRORS: InvalidArgument for "a negative grace".
// Zero: cancel at once. Infinite or longer than an int of milliseconds: no
// early escalation, and a second signal still escalates.
TEST(HostileOptions, SignalExtremeGrace) {
  for (absl::Duration grace : {absl::Seconds(-1), -absl::InfiniteDuration()}) {
    ChildResult r = RunInChild(
        [grace] {
          SignalShutdown::Options options = Permissive();
          options.grace = grace;
          auto s = SignalShutdown::Install(std::move(options));
          return absl::IsInvalidArgument(s.status()) ? 0 : 2;
        },
        absl::Seconds(30));
    EXPECT_TRUE(r.ok()) << "grace=" << grace << ": " << r.ToString();
  }
  for (absl::Duration grace : {absl::ZeroDuration()}) {
    ChildResult r = RunInChild(
        [grace] {
          SignalShutdown::Options options = Permissive();
          options.grace = grace;
          auto s = SignalShutdown::Install(std::move(options));
          if (!s.ok()) return 2;
          (*s)->Trigger(SIGTERM);
          return EventuallyStage(s->get(), SignalShutdown::Stage::kCancelling,
                                 absl::Seconds(10))
                     ? 0
                     : 3;
        },
        absl::Seconds(30));
    EXPECT_TRUE(r.ok()) << "grace=" << grace << ": " << r.ToString();
  }
  for (absl::Duration grace :
       {absl::InfiniteDuration(), absl::Hours(24 * 30),
        absl::Milliseconds(INT_MAX) + absl::Hours(1),
        absl::Milliseconds(uint64_t{1} << 32) + absl::Milliseconds(50)}) {
    ChildResult r = RunInChild(
        [grace] {
          SignalShutdown::Options options = Permissive();
          options.grace = grace;
          auto s = SignalShutdown::Install(std::move(options));
          if (!s.ok()) return 2;
          (*s)->Trigger(SIGTERM);
          if (!(*s)->WaitForSignal(absl::Now() + absl::Seconds(10))) return 3;
          absl::SleepFor(absl::Milliseconds(300));
          if ((*s)->CurrentStage() != SignalShutdown::Stage::kDraining)
            return 4;
          (*s)->Trigger(SIGTERM);
          return EventuallyStage(s->get(), SignalShutdown::Stage::kCancelling,
                                 absl::Seconds(10))
                     ? 0
                     : 5;
        },
        absl::Seconds(30));
    EXPECT_TRUE(r.ok()) << "grace=" << grace << ": " << r.ToString();
  }
}

}  // namespace
}  // namespace cancelpool
