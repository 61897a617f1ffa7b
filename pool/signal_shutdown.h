// Copyright 2026 The cancelpool Authors.
//
// SignalShutdown: SIGINT/SIGTERM handling for servers built on ThreadPool,
// with no user code -- and no code of ours -- in a signal handler.
//
// MODEL
// Install() blocks the chosen signals (SIGINT and SIGTERM by default) in the
// calling thread and starts one dedicated thread that receives them through a
// signalfd(2). Threads created afterwards inherit the blocked mask, so the
// kernel never runs a handler: the signals queue up for the dedicated thread,
// which handles them as ordinary code. Escalation, the way operators expect:
//   1st signal  graceful drain: `on_first_signal` runs (say, stop accepting
//               connections), then every watched pool gets
//               Shutdown(kDrain). A grace timer starts.
//   2nd signal, or the grace period ends:
//               every watched pool gets Shutdown(kCancel, reason): queued
//               tasks resolve as cancelled without running, running tasks'
//               tokens are cancelled. The reason names the signal, e.g.
//               CancelledError("SIGTERM received twice: cancelling") or
//               CancelledError("SIGINT grace period (5s) over: cancelling").
//   3rd signal  the process exits at once with status 128 + signal number
//               (std::_Exit: no destructors, no atexit handlers) -- the
//               operator's "stop now".
// Counting is the kernel's: a standard signal sent while the same signal is
// still pending (not yet read by the dedicated thread) is merged with it, so
// two SIGTERMs sent within a scheduling delay of each other may count as one
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
// THREAD SAFETY AND LIFETIME
// All methods are thread-safe. A watched pool must stay alive until it is
// unwatched or the SignalShutdown is destroyed. Destroying the SignalShutdown
// stops and joins its thread (it never shuts pools down by itself).
#ifndef CANCELPOOL_POOL_SIGNAL_SHUTDOWN_H_
#define CANCELPOOL_POOL_SIGNAL_SHUTDOWN_H_

#include <csignal>
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

class SignalShutdown final {
 public:
  struct Options {
    // The signals to handle.
    std::vector<int> signals = {SIGINT, SIGTERM};
    // How long the drain may take before everything is cancelled.
    absl::Duration grace = absl::Seconds(10);
    // Runs on the signal thread at the first signal, before the pools start
    // draining (e.g. close the listening socket). Must not throw.
    absl::AnyInvocable<void(int signo)> on_first_signal;
    // Runs on the signal thread when cancellation starts. Must not throw.
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
  // is shut down at once in the current stage. Unwatch waits until the signal
  // thread is no longer calling into any pool; afterwards the pool may be
  // destroyed.
  void Watch(ThreadPool* pool) ABSL_LOCKS_EXCLUDED(mu_);
  void Unwatch(ThreadPool* pool) ABSL_LOCKS_EXCLUDED(mu_);

  // Acts as if `signo` had been received (it need not be in the handled set).
  // Returns at once; the signal thread does the work.
  void Trigger(int signo) ABSL_LOCKS_EXCLUDED(mu_);

  // Blocks until a first signal arrived and every watched pool has
  // terminated, or until `deadline`. Returns true in the first case; then the
  // pools are unwatched (the signal thread will not touch them again) and may
  // be destroyed. A later third signal still exits the process.
  bool WaitForShutdown(absl::Time deadline = absl::InfiniteFuture())
      ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until the first signal (or Trigger), or `deadline`.
  bool WaitForSignal(absl::Time deadline = absl::InfiniteFuture())
      ABSL_LOCKS_EXCLUDED(mu_);

  Stage stage() const ABSL_LOCKS_EXCLUDED(mu_);
  int signals_received() const ABSL_LOCKS_EXCLUDED(mu_);
  // The reason given to the pools at the current stage (OK while running).
  absl::Status reason() const ABSL_LOCKS_EXCLUDED(mu_);

  // "SIGINT", "SIGTERM", ... or "signal N".
  static std::string SignalName(int signo);

 private:
  SignalShutdown(Options options, int signal_fd, int wake_fd);
  void Run();
  void HandleSignal(int signo) ABSL_LOCKS_EXCLUDED(mu_);
  void StartCancelling(absl::Status reason, int signo)
      ABSL_LOCKS_EXCLUDED(mu_);
  void AwaitNoPoolCallsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EndPoolCalls() ABSL_LOCKS_EXCLUDED(mu_);

  Options options_;
  const int signal_fd_;
  const int wake_fd_;
  mutable absl::Mutex mu_;
  std::vector<ThreadPool*> pools_ ABSL_GUARDED_BY(mu_);
  std::vector<int> triggered_ ABSL_GUARDED_BY(mu_);
  Stage stage_ ABSL_GUARDED_BY(mu_) = Stage::kRunning;
  int received_ ABSL_GUARDED_BY(mu_) = 0;
  int first_signal_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status reason_ ABSL_GUARDED_BY(mu_);
  absl::Time grace_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Calls into watched pools the signal thread is making right now (it calls
  // them without holding mu_). Unwatch and WaitForShutdown wait for zero.
  int pool_calls_in_progress_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_SIGNAL_SHUTDOWN_H_
