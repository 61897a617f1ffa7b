// Copyright 2026 The cancelpool Authors.
//
// SignalShutdown: SIGINT/SIGTERM handling for servers built on ThreadPool,
// with no user code -- and no code of ours -- in a signal handler.
//
// MODEL
// Install() blocks the chosen signals (SIGINT and SIGTERM by default) in the
// calling thread and starts three dedicated threads (the third runs the
// shutdown stages: THE SHUTDOWN SEQUENCE below). Threads created
// afterwards inherit the blocked mask, so the kernel never runs a handler:
// the signals queue up for the dedicated threads, which handle them as
// ordinary code.
//   * The reader thread receives the signals through a signalfd(2), counts
//     them, keeps the grace timer and decides the stage. It never runs user
//     code and never calls into a pool, so nothing a hook, a pool or a
//     cancellation callback does can delay it.
//   * The stage thread carries out what the reader decided, in order: it
//     runs the hooks and calls Shutdown() on the watched pools (which runs
//     running tasks' cancellation callbacks, at kCancel). A slow hook delays
//     the stages after it, never the third signal's exit.
// Escalation, the way operators expect:
//   1st signal  graceful drain: `on_first_signal` runs (say, stop accepting
//               connections), then every watched pool gets
//               Shutdown(kDrain). A grace timer starts.
//   2nd signal, or the grace period ends:
//               `on_cancel` runs, then every watched pool gets
//               Shutdown(kCancel, reason): queued tasks resolve as cancelled
//               without running, running tasks' tokens are cancelled. The
//               reason names the signal, e.g.
//               CancelledError("SIGTERM received twice: cancelling") or
//               CancelledError("SIGINT grace period (5s) over: cancelling").
//   3rd signal  the process exits at once with status 128 + signal number
//               (std::_Exit: no destructors, no atexit handlers) -- the
//               operator's "stop now". The reader does this itself, whatever
//               the stage thread is doing (a hook or a cancellation callback
//               that blocks cannot hold it up).
// CurrentStage(), SignalsReceived() and Reason() change when the reader
// decides, which may be before the stage thread has acted.
//
// THE SHUTDOWN SEQUENCE (for servers)
// Shutdown stages, added at any time with AddShutdownStage (so a server
// created after Install can register "stop accepting, finish the in-flight
// requests"), run at the first signal, after `on_first_signal` and BEFORE
// the pools drain:
//   1. on_first_signal(signo)      (stage thread; should not block)
//   2. every shutdown stage, in the order added, on a third dedicated thread
//      (the sequence thread), each called with the end of the grace period
//      as its deadline (absl::InfiniteFuture() without one). A stage MAY
//      block -- stop a listener, wait for in-flight requests -- and should
//      return by its deadline.
//   3. Shutdown(kDrain) on every watched pool, once every stage returned.
//   4. On the second signal or when the grace ends -- also while a stage
//      is still blocking: the sequence thread is not waited for --
//      `on_cancel`, then Shutdown(kCancel, reason) on every pool (the
//      drain of step 3 is started first if it had not been). Stages not
//      yet started are skipped; a running one is left to return on its
//      own (cancelling the pools usually ends the requests it waits for).
//   5. The third signal exits at once, whatever is running (above).
// SequenceReport() gives each step's times, the grace's end, whether the
// grace ran out, and the watched pools' reports as WaitForShutdown saw them
// terminate.
// Counting is the kernel's: a standard signal sent while the same signal is
// still pending (not yet read by the reader) is merged with it, so two
// SIGTERMs sent within a scheduling delay of each other may count as one
// (the grace timer still escalates). Operators pressing Ctrl-C repeatedly
// are far slower than that.
// Trigger(signo) does the same as receiving `signo`, for tests and service
// managers that stop a process without a signal.
//
// PROCESS-WIDE CONSEQUENCES (read before calling Install)
//   * Call Install() from main() before any other thread starts. A thread
//     created earlier keeps its own signal mask; if it leaves the signals
//     unblocked the kernel may deliver a signal to it, and then the default
//     action (terminate) runs instead of this facility. Install() therefore
//     fails with FailedPrecondition if another thread of the process leaves
//     any of the signals unblocked (read from /proc/self/task/*/status),
//     unless Options::allow_existing_threads is set. Threads that already
//     block them (a sanitizer's runtime thread, say) are fine.
//   * The signals stay blocked in every thread for the life of the process,
//     also after the SignalShutdown object is destroyed (restoring the mask of
//     threads we did not create is impossible). A child started with
//     fork()+exec() inherits the blocked mask: unblock in the child (or use
//     posix_spawnattr_setsigmask) if it needs the default behaviour.
//   * Only one SignalShutdown may exist at a time (signalfd consumes the
//     signals; two would race). A second Install() fails with
//     AlreadyExists.
//
// ERRORS
// Install() checks its options before anything else and answers
// InvalidArgument, with nothing changed, for: no signals; a number that is
// not a signal the process may block (<= 0, above 64, or one glibc keeps for
// itself); SIGKILL or SIGSTOP (they cannot be caught); a negative grace.
// Then AlreadyExists and FailedPrecondition as above; ResourceExhausted if a
// thread or descriptor cannot be created (nothing is left installed).
//
// THREAD SAFETY AND LIFETIME
// All methods are thread-safe. A watched pool must stay alive until it is
// unwatched (Unwatch returned, or WaitForShutdown returned true) or the
// SignalShutdown is destroyed. Destroying the SignalShutdown stops and joins
// its threads; the stage thread first finishes what signals received before
// then asked for (it never shuts pools down by itself otherwise). Hooks run
// on the stage thread, one at a time, with no pool call in progress; the
// pools a stage acts on are those watched when its hook returns. The
// SignalShutdown must not be destroyed on its stage thread (from a hook or
// a cancellation callback the stage thread runs) nor in a shutdown stage.
// The destructor waits for a shutdown stage that is running.
#ifndef CANCELPOOL_POOL_SIGNAL_SHUTDOWN_H_
#define CANCELPOOL_POOL_SIGNAL_SHUTDOWN_H_

#include <csignal>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cancelpool/pool/thread_pool.h"

namespace cancelpool {

// One shutdown stage in a ShutdownSequenceReport.
struct ShutdownStageReport {
  std::string name;
  bool ran = false;  // false: skipped (cancelling began first)
  absl::Time start = absl::InfinitePast();  // when it was called
  absl::Time end = absl::InfinitePast();    // when it returned
  // Returned after its deadline (the end of the grace period), judged on the
  // monotonic clock that ends the grace: true whenever the grace ran out
  // while the stage was running, whatever the wall clock did meanwhile.
  bool overran_grace = false;
};

// What a SignalShutdown's sequence did (THE SHUTDOWN SEQUENCE). Times are
// absl::InfinitePast() for steps that did not happen (yet).
struct ShutdownSequenceReport {
  int first_signal = 0;                         // 0: no signal yet
  absl::Time signalled = absl::InfinitePast();  // the first signal arrived
  absl::Time grace_end = absl::InfiniteFuture();
  std::vector<ShutdownStageReport> stages;          // in the order they ran
  absl::Time stages_done = absl::InfinitePast();    // every stage returned
  absl::Time drain_started = absl::InfinitePast();  // step 3
  // Cancelling (step 4): when it began, and whether because the grace ran
  // out (false: a second signal).
  bool cancelled = false;
  bool grace_ran_out = false;
  absl::Time cancel_started = absl::InfinitePast();
  // When WaitForShutdown saw every watched pool terminated, and their
  // reports then (in the order they were watched).
  absl::Time pools_terminated = absl::InfinitePast();
  std::vector<ShutdownReport> pools;
};

class SignalShutdown final {
 public:
  struct Options {
    // The signals to handle.
    std::vector<int> signals = {SIGINT, SIGTERM};
    // How long the drain may take before everything is cancelled. Not
    // negative; absl::InfiniteDuration() (or one so long that the end does
    // not fit absl::Time) means only a second signal cancels. Any length
    // works: the reader wakes at least every ~24.8 days (poll's limit) and
    // checks again.
    absl::Duration grace = absl::Seconds(10);
    // Runs on the stage thread at the first signal, before the pools start
    // draining (e.g. close the listening socket). Must not throw.
    absl::AnyInvocable<void(int signo)> on_first_signal;
    // Runs on the stage thread when cancellation starts, before the pools
    // are cancelled. Must not throw.
    absl::AnyInvocable<void(int signo)> on_cancel;
    // See PROCESS-WIDE CONSEQUENCES.
    bool allow_existing_threads = false;
  };

  // Where the escalation stands.
  enum class Stage { kRunning, kDraining, kCancelling };

  static absl::StatusOr<std::unique_ptr<SignalShutdown>> Install(
      Options options);
  static absl::StatusOr<std::unique_ptr<SignalShutdown>> Install() {
    return Install(Options());
  }
  ~SignalShutdown();
  SignalShutdown(const SignalShutdown&) = delete;
  SignalShutdown& operator=(const SignalShutdown&) = delete;

  // Adds/removes a pool to shut down. A pool watched after the first signal
  // is shut down at once, on the calling thread, in the current stage.
  // Unwatch waits until the stage thread is not inside a call into this
  // pool and no WaitForShutdown is waiting on it (WaitForShutdown waits in
  // slices of at most 10 ms, so that part is short); afterwards the stage
  // thread does not touch the pool again and it may be destroyed.
  // Unwatch from the stage thread itself -- in a hook, or in a cancellation
  // callback that the stage thread's Shutdown() call runs -- does not wait
  // for the stage thread: it returns once the pool is removed (and no
  // WaitForShutdown is inside it), and the stage thread neither calls that
  // pool again nor touches it after the Shutdown() call in progress, if
  // any, returns. So a hook or such a callback may unwatch and then destroy
  // any watched pool, including the one whose Shutdown() is running it
  // (~ThreadPool inside a cancellation callback starts the pool's shutdown
  // and returns without waiting for it: pool/thread_pool.h, DESTRUCTION).
  // A hook that destroys a pool waits for it as ~ThreadPool does anywhere
  // else.
  void Watch(ThreadPool* pool) ABSL_LOCKS_EXCLUDED(mu_);
  void Unwatch(ThreadPool* pool) ABSL_LOCKS_EXCLUDED(mu_);

  // Adds a stage to THE SHUTDOWN SEQUENCE (step 2); returns its id (never
  // 0). `stage(deadline)` runs at most once, on the sequence thread; it may
  // block, and must not throw. Added after the sequence passed the point
  // where it would run, it never runs. Callable from any thread, also from a
  // stage or a hook.
  uint64_t AddShutdownStage(std::string name,
                            absl::AnyInvocable<void(absl::Time deadline)> stage)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Removes a stage: afterwards it will not start, and its callable is
  // destroyed. If it is running, waits until it returns -- except on the
  // sequence thread itself (a stage removing itself or another), which does
  // not wait. Returns false for an unknown id (removed, or never added).
  bool RemoveShutdownStage(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);

  // A copy of the sequence's report so far (final once WaitForShutdown
  // returned true).
  ShutdownSequenceReport SequenceReport() const ABSL_LOCKS_EXCLUDED(mu_);

  // Acts as if `signo` had been received (it need not be in the handled set).
  // Returns at once; the reader and stage threads do the work.
  void Trigger(int signo) ABSL_LOCKS_EXCLUDED(mu_);

  // Blocks until a first signal arrived, the shutdown stages have returned
  // and every watched pool has terminated, or until `deadline`. Returns true in
  // the first case; then the pools are unwatched (the stage thread will not
  // touch them again) and may be destroyed. A later third signal still exits
  // the process. Other threads may Watch and Unwatch (and then destroy) pools
  // meanwhile: an unwatched pool is no longer waited for, a newly watched one
  // is. On the stage thread (in a hook, or in a cancellation callback that the
  // stage thread's Shutdown() call runs) it cannot wait for the shutdown
  // that thread is carrying out: it returns false at once and unwatches
  // nothing.
  bool WaitForShutdown(absl::Time deadline = absl::InfiniteFuture())
      ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until the first signal (or Trigger), or `deadline`.
  bool WaitForSignal(absl::Time deadline = absl::InfiniteFuture())
      ABSL_LOCKS_EXCLUDED(mu_);

  Stage CurrentStage() const ABSL_LOCKS_EXCLUDED(mu_);
  int SignalsReceived() const ABSL_LOCKS_EXCLUDED(mu_);
  // The reason given to the pools at the current stage (OK while running).
  absl::Status Reason() const ABSL_LOCKS_EXCLUDED(mu_);

  // "SIGINT", "SIGTERM", ... or "signal N".
  static std::string SignalName(int signo);

 private:
  // What the reader asks the stage thread to do.
  struct Action {
    ShutdownMode mode = ShutdownMode::kDrain;
    int signo = 0;
    absl::Status reason;
  };
  struct Watched {
    ThreadPool* pool;
    uint64_t id;  // unique per Watch: a new pool at a freed address differs
  };

  struct StageEntry {
    uint64_t id;
    std::string name;
    // Shared with the sequence thread while it runs the stage.
    std::shared_ptr<absl::AnyInvocable<void(absl::Time)>> fn;
  };

  SignalShutdown(Options options, int signal_fd, int wake_fd);
  void RunReader();
  void RunStages();
  void RunSequence();
  // Step 2 from the stage thread: start the sequence, wait until it is done
  // or cancelling began.
  void AwaitShutdownStages() ABSL_LOCKS_EXCLUDED(mu_);
  void OnSignal(int signo) ABSL_LOCKS_EXCLUDED(mu_);
  // Whether the caller is this object's stage thread (in a hook, or in a
  // cancellation callback run by the stage thread's Shutdown call).
  bool OnStageThread() const;
  void EscalateLocked(absl::Status reason, int signo, bool by_grace)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Options options_;  // the hooks are called only by the stage thread
  const int signal_fd_;
  const int wake_fd_;
  mutable absl::Mutex mu_;
  std::vector<Watched> pools_ ABSL_GUARDED_BY(mu_);
  uint64_t next_watch_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<int> triggered_ ABSL_GUARDED_BY(mu_);
  std::deque<Action> actions_ ABSL_GUARDED_BY(mu_);
  Stage stage_ ABSL_GUARDED_BY(mu_) = Stage::kRunning;
  int received_ ABSL_GUARDED_BY(mu_) = 0;
  int first_signal_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status reason_ ABSL_GUARDED_BY(mu_);
  // When the grace ends, a point of the monotonic clock
  // (cancel_internal::MonotonicNow); InfiniteDuration() while none runs.
  absl::Duration grace_due_ ABSL_GUARDED_BY(mu_) = absl::InfiniteDuration();
  bool stop_reader_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_stages_ ABSL_GUARDED_BY(mu_) = false;
  // The watched entry the stage thread is calling Shutdown() on right now
  // (it calls without holding mu_), or {nullptr, 0}. Unwatch from other
  // threads waits until it is not their pool; WaitForShutdown until it is
  // none of the pools it unwatches.
  Watched stage_calling_ ABSL_GUARDED_BY(mu_) = {nullptr, 0};
  // The pools WaitForShutdown calls are inside AwaitTermination of right
  // now (one entry per call). Unwatch waits until its pool is not here.
  std::vector<ThreadPool*> awaited_ ABSL_GUARDED_BY(mu_);
  // THE SHUTDOWN SEQUENCE (signal_shutdown.cc, PROTOCOL steps 7-9).
  std::vector<StageEntry> shutdown_stages_ ABSL_GUARDED_BY(mu_);
  uint64_t next_stage_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t running_stage_ ABSL_GUARDED_BY(mu_) = 0;
  bool sequence_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool sequence_done_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_sequence_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time grace_end_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  // The same instant as grace_due_ at the first signal, but kept after the
  // cancel: a stage overran the grace if it returned at or after this point
  // of the clock the reader escalates by (step 8).
  absl::Duration grace_over_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteDuration();
  ShutdownSequenceReport report_ ABSL_GUARDED_BY(mu_);
  std::thread reader_;
  std::thread stages_;
  std::thread sequence_;
};

}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_SIGNAL_SHUTDOWN_H_
