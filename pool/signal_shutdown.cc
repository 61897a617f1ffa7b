// Copyright 2026 The cancelpool Authors.
//
// THE PROTOCOL (reader thread, stage thread, and the callers of Watch,
// Unwatch and WaitForShutdown; everything below happens under mu_ unless it
// says otherwise).
//  1. The reader takes each signal (signalfd, or Trigger's list woken by the
//     eventfd) and counts it. 1st: stage_ = kDraining, grace_due_ set (on
//     the monotonic clock), a kDrain action queued. 2nd, or grace_due_
//     passed: stage_ = kCancelling, grace_due_ cleared, a kCancel action
//     queued (once).
//     3rd: writes one line to stderr and std::_Exit()s, without mu_ and
//     without waiting for anything. The reader never runs user code and
//     never calls into a pool: the exit cannot wait for either (issue 11,
//     item 19: it used to run the hooks and the pools' Shutdown itself).
//  2. The stage thread marks itself (tls_stage_thread_of = this) and pops
//     actions in order. For each: it runs the hook without mu_ and with no
//     pool call recorded (stage_calling_ empty), so a hook may Unwatch,
//     destroy, Watch or WaitForShutdown (step 6). Only after the hook
//     returned does it fix the set of entries to act on: those with a Watch
//     id below next_watch_id_ as of then (a pool watched later was shut down
//     by Watch itself, in the current stage). Then, one pool at a time: in
//     one critical section it picks the first entry still in pools_ that is
//     in that set and not yet done, marks it done and records it in
//     stage_calling_; calls Shutdown(mode, reason) on it without mu_; then
//     clears stage_calling_. It never holds a pool across a release of mu_
//     without stage_calling_ naming it, and re-reads pools_ before each
//     call. Rules out (issue N1): a hook or cancellation callback that
//     unwatches and destroys a pool still getting Shutdown() from a list
//     copied before (use after free); and a pool the hook unwatched being
//     acted on at all. After Shutdown(p) returns the stage thread does not
//     touch p (a cancellation callback may have unwatched and destroyed p
//     inside that very call: ThreadPool::Shutdown keeps its internals alive
//     for the call, and ~ThreadPool in a cancellation callback does not
//     wait).
//  3. Unwatch(p), in one critical section: removes p from pools_, then waits
//     (mu_.Await releases mu_ while waiting) until p is not in awaited_ and,
//     unless the caller is the stage thread, stage_calling_ is not p. Rules
//     out the stage thread calling p after Unwatch returned: it picks p and
//     records it in stage_calling_ in one critical section (step 2), so
//     either the pick is after the removal (no p) or Unwatch waits until
//     that call ends. On the stage thread (a hook, or a cancellation
//     callback run by the stage thread's Shutdown call) waiting for
//     stage_calling_ would wait for itself -- the deadlock of issue N1 --
//     and is not needed: the stage thread re-reads pools_ before its next
//     call and does not touch the current pool after its Shutdown returns
//     (step 2). Waiting for awaited_ there is bounded: a WaitForShutdown
//     holds an awaited_ entry for one AwaitTermination slice at most and
//     never waits for the stage thread meanwhile (step 4), and
//     AwaitTermination takes no lock that Shutdown holds while it runs
//     cancellation callbacks. Unwatch waits only for a call into p, not into
//     other pools, so a cancellation callback of pool A that waits for a
//     thread unwatching pool B does not deadlock either.
//  4. WaitForShutdown, after the first signal, repeatedly: picks (under mu_)
//     a watched entry not yet seen terminated, adds its pool to awaited_,
//     calls AwaitTermination on it without mu_ for at most one slice
//     (kAwaitSlice), then removes it from awaited_. It never keeps a pool
//     across a release of mu_ without its awaited_ entry: this rules out
//     calling a pool that another thread unwatched and destroyed meanwhile
//     (issue 11, item 3: it used to copy the list and call each pool later,
//     a use after free). The slice bounds how long Unwatch waits for it
//     (step 3), so a thread that unwatches a pool in order to finish it
//     itself cannot deadlock against a WaitForShutdown that waits for that
//     pool. Entries seen terminated are remembered by Watch id, not
//     address, so a new pool at a freed pool's address is still waited for.
//     When every entry is seen terminated and stage_calling_ is none of
//     them, it removes those entries (the stage thread's later picks cannot
//     include them, step 2) and returns true.
//  5. The destructor stops the reader (stop_reader_, eventfd) and joins it,
//     so no action is queued afterwards; then stops the stage thread
//     (stop_stages_), which finishes the queued actions first, and joins it.
//  6. WaitForShutdown on the stage thread returns false at once, without
//     waiting: the shutdown it would wait for is the one the stage thread is
//     carrying out (a hook runs before the pools are shut down; a
//     cancellation callback runs inside stage_calling_'s Shutdown), so any
//     wait there is a wait for itself (issue N1). The same on the sequence
//     thread (step 8): the pools drain only after the stages return.
// THE SHUTDOWN SEQUENCE (header): user stages that may block, on a third
// thread, so that neither the reader nor the stage thread waits for them.
//  7. The stage thread, on the kDrain action, after on_first_signal: sets
//     sequence_requested_ and waits (mu_.Await) until sequence_done_ or
//     stage_ == kCancelling. The reader sets kCancelling at the second
//     signal or the grace's end without the stage thread's help (step 1),
//     so a stage that blocks past the grace delays neither the drain nor
//     the cancel: the stage thread then drains and pops the queued kCancel.
//  8. The sequence thread waits for sequence_requested_ (or
//     stop_sequence_), then repeatedly, under mu_: picks the first stage
//     with an id above the last one it picked; if stage_ == kCancelling it
//     records it as skipped; otherwise records running_stage_ = id and
//     copies the stage's shared callable; releases mu_; calls it with
//     grace_end_; drops its copy; reads the monotonic clock; under mu_
//     clears running_stage_ and records the times. The stage overran the
//     grace if that reading is at or past grace_over_at_ (the instant the
//     reader escalates at, step 1), not by the wall clock: the report never
//     says "within the grace" for a stage the grace's end cancelled under.
//     With no stage left: sequence_done_ = true; the
//     thread ends. A stage added later than that never runs.
//  9. RemoveShutdownStage(id), under mu_: erases the entry (the callable
//     is destroyed once the sequence thread drops its copy, if it holds
//     one); then, unless the caller is the sequence thread, waits until
//     running_stage_ != id. Rules out a stage starting, or still running,
//     after RemoveShutdownStage returned (the pick and the mark are one
//     critical section), and a stage removing itself waiting for itself.
// Races ruled out by 7-9 besides: the grace being unbounded by a blocking
// stage (the reader escalates on its own, step 1); the reader or the third
// signal waiting for a stage (the reader never waits for either thread).
#include "cancelpool/pool/signal_shutdown.h"

#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cancelpool/cancel/cause.h"
#include "cancelpool/cancel/internal/clock.h"

namespace cancelpool {
namespace {

// One SignalShutdown at a time (signalfd consumes the signals). seq_cst.
std::atomic<bool> g_installed{false};

// WaitForShutdown's longest single AwaitTermination call (PROTOCOL, step 4).
constexpr absl::Duration kAwaitSlice = absl::Milliseconds(10);

// The SignalShutdown whose stage thread this is (PROTOCOL, step 2), or null.
// Written once, by the stage thread itself; read only on the same thread.
thread_local const SignalShutdown* tls_stage_thread_of = nullptr;
// The same for the sequence thread (step 8).
thread_local const SignalShutdown* tls_sequence_thread_of = nullptr;

// Counts the threads other than the caller that leave any of `signals`
// unblocked (they could receive a signal meant for the dedicated threads),
// from /proc/self/task/*/status's SigBlk mask. -1 if /proc is unreadable.
// `signals` are valid (1..64): Install checks them first.
int CountThreadsNotBlocking(const std::vector<int>& signals) {
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  const std::string self = absl::StrCat(gettid());
  int n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.' || self == e->d_name) continue;
    std::ifstream status(
        absl::StrCat("/proc/self/task/", e->d_name, "/status"));
    std::string line;
    uint64_t blocked = 0;
    while (std::getline(status, line)) {
      if (line.rfind("SigBlk:", 0) == 0) {
        blocked = std::strtoull(line.c_str() + 7, nullptr, 16);
        break;
      }
    }
    for (int signo : signals) {
      if ((blocked & (uint64_t{1} << (signo - 1))) == 0) {
        ++n;
        break;
      }
    }
  }
  closedir(dir);
  return n;
}

}  // namespace

std::string SignalShutdown::SignalName(int signo) {
  switch (signo) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
    case SIGQUIT:
      return "SIGQUIT";
    case SIGUSR1:
      return "SIGUSR1";
    case SIGUSR2:
      return "SIGUSR2";
    default:
      return absl::StrCat("signal ", signo);
  }
}

absl::StatusOr<std::unique_ptr<SignalShutdown>> SignalShutdown::Install(
    Options options) {
  // Every input first: nothing below may use an unchecked signal number.
  if (options.signals.empty()) {
    return absl::InvalidArgumentError("SignalShutdown: no signals to handle");
  }
  sigset_t set;
  sigemptyset(&set);
  for (int signo : options.signals) {
    if (signo == SIGKILL || signo == SIGSTOP) {
      return absl::InvalidArgumentError(
          absl::StrCat("SignalShutdown: ", SignalName(signo), " (", signo,
                       ") cannot be caught"));
    }
    // sigaddset refuses <= 0, >= NSIG and glibc's internal signals.
    if (signo <= 0 || signo > 64 || sigaddset(&set, signo) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("SignalShutdown: invalid signal ", signo));
    }
  }
  if (options.grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("SignalShutdown: negative grace ",
                     absl::FormatDuration(options.grace)));
  }
  if (g_installed.exchange(true)) {
    return absl::AlreadyExistsError(
        "SignalShutdown: already installed in this process");
  }
  const int exposed = CountThreadsNotBlocking(options.signals);
  if (exposed > 0 && !options.allow_existing_threads) {
    g_installed.store(false);
    return absl::FailedPreconditionError(absl::StrCat(
        "SignalShutdown::Install must run before other threads start: ",
        exposed,
        " other thread(s) leave the signals unblocked and could receive them. "
        "Call it first thing in main(), or block the signals in those "
        "threads and set allow_existing_threads"));
  }
  if (int err = pthread_sigmask(SIG_BLOCK, &set, nullptr); err != 0) {
    g_installed.store(false);
    return absl::InternalError(
        absl::StrCat("pthread_sigmask: ", std::strerror(err)));
  }
  const int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    const int err = errno;
    g_installed.store(false);
    return absl::ResourceExhaustedError(
        absl::StrCat("signalfd: ", std::strerror(err)));
  }
  const int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) {
    const int err = errno;
    close(sfd);
    g_installed.store(false);
    return absl::ResourceExhaustedError(
        absl::StrCat("eventfd: ", std::strerror(err)));
  }
  // From here the destructor cleans up (it joins only started threads).
  std::unique_ptr<SignalShutdown> s(
      new SignalShutdown(std::move(options), sfd, efd));
  try {
    s->sequence_ = std::thread([raw = s.get()] { raw->RunSequence(); });
    s->stages_ = std::thread([raw = s.get()] { raw->RunStages(); });
    s->reader_ = std::thread([raw = s.get()] { raw->RunReader(); });
  } catch (const std::system_error& e) {
    return absl::ResourceExhaustedError(
        absl::StrCat("SignalShutdown: cannot start a thread: ", e.what()));
  }
  return s;
}

SignalShutdown::SignalShutdown(Options options, int signal_fd, int wake_fd)
    : options_(std::move(options)), signal_fd_(signal_fd), wake_fd_(wake_fd) {}

SignalShutdown::~SignalShutdown() {
  // PROTOCOL, step 5.
  {
    absl::MutexLock lock(&mu_);
    stop_reader_ = true;
  }
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  if (reader_.joinable()) reader_.join();
  {
    absl::MutexLock lock(&mu_);
    stop_stages_ = true;
  }
  if (stages_.joinable()) stages_.join();
  {
    absl::MutexLock lock(&mu_);
    stop_sequence_ = true;
  }
  if (sequence_.joinable()) sequence_.join();
  close(signal_fd_);
  close(wake_fd_);
  g_installed.store(false);
}

void SignalShutdown::Watch(ThreadPool* pool) {
  Stage stage;
  absl::Status reason;
  {
    absl::MutexLock lock(&mu_);
    const bool watched =
        std::any_of(pools_.begin(), pools_.end(),
                    [pool](const Watched& w) { return w.pool == pool; });
    if (!watched) pools_.push_back({pool, next_watch_id_++});
    stage = stage_;
    reason = reason_;
  }
  if (stage == Stage::kDraining) pool->Shutdown(ShutdownMode::kDrain, reason);
  if (stage == Stage::kCancelling) {
    pool->Shutdown(ShutdownMode::kCancel, reason);
  }
}

void SignalShutdown::Unwatch(ThreadPool* pool) {
  // PROTOCOL, step 3.
  const bool on_stage_thread = OnStageThread();
  absl::MutexLock lock(&mu_);
  pools_.erase(
      std::remove_if(pools_.begin(), pools_.end(),
                     [pool](const Watched& w) { return w.pool == pool; }),
      pools_.end());
  auto released = [this, pool,
                   on_stage_thread]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return (on_stage_thread || stage_calling_.pool != pool) &&
           std::find(awaited_.begin(), awaited_.end(), pool) == awaited_.end();
  };
  mu_.Await(absl::Condition(&released));
}

bool SignalShutdown::OnStageThread() const {
  return tls_stage_thread_of == this;
}

void SignalShutdown::Trigger(int signo) {
  {
    absl::MutexLock lock(&mu_);
    triggered_.push_back(signo);
  }
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

bool SignalShutdown::WaitForSignal(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto signalled = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stage_ != Stage::kRunning;
  };
  return mu_.AwaitWithDeadline(absl::Condition(&signalled), deadline);
}

bool SignalShutdown::WaitForShutdown(absl::Time deadline) {
  // PROTOCOL, step 6: it would wait for itself.
  if (OnStageThread() || tls_sequence_thread_of == this) return false;
  if (!WaitForSignal(deadline)) return false;
  {
    absl::MutexLock lock(&mu_);
    auto stages_done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return sequence_done_;
    };
    if (!mu_.AwaitWithDeadline(absl::Condition(&stages_done), deadline)) {
      return false;
    }
  }
  // PROTOCOL, step 4.
  std::vector<uint64_t> terminated;  // Watch ids seen terminated
  std::vector<std::pair<uint64_t, ShutdownReport>> reports;  // by Watch id
  auto seen = [&terminated](const Watched& w) {
    return std::find(terminated.begin(), terminated.end(), w.id) !=
           terminated.end();
  };
  absl::MutexLock lock(&mu_);
  for (;;) {
    auto next = std::find_if_not(pools_.begin(), pools_.end(), seen);
    if (next == pools_.end()) {
      // All terminated; the stage thread may still be inside one of their
      // Shutdown() calls. Wait for it (pools watched meanwhile: loop again).
      auto idle = [this, &seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stage_calling_.pool == nullptr || !seen(stage_calling_);
      };
      if (!mu_.AwaitWithDeadline(absl::Condition(&idle), deadline)) {
        return false;
      }
      if (std::all_of(pools_.begin(), pools_.end(), seen)) break;
      continue;
    }
    ThreadPool* const pool = next->pool;
    const uint64_t id = next->id;
    awaited_.push_back(pool);
    mu_.Unlock();
    const bool done =
        pool->AwaitTermination(std::min(deadline, absl::Now() + kAwaitSlice));
    // Still in awaited_: the pool cannot be unwatched and destroyed yet.
    std::optional<ShutdownReport> pool_report;
    if (done) pool_report = pool->Report();
    mu_.Lock();
    if (pool_report.has_value()) reports.emplace_back(id, *pool_report);
    awaited_.erase(std::find(awaited_.begin(), awaited_.end(), pool));
    if (done) {
      terminated.push_back(id);
    } else if (absl::Now() >= deadline) {
      return false;
    }
  }
  // A later call (nothing left to wait for) keeps the first call's figures.
  if (!reports.empty()) {
    report_.pools.clear();
    for (const Watched& w : pools_) {
      for (const auto& [id, r] : reports) {
        if (id == w.id) report_.pools.push_back(r);
      }
    }
    report_.pools_terminated = absl::Now();
  }
  pools_.erase(std::remove_if(pools_.begin(), pools_.end(), seen),
               pools_.end());
  return true;
}

uint64_t SignalShutdown::AddShutdownStage(
    std::string name, absl::AnyInvocable<void(absl::Time deadline)> stage) {
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_stage_id_++;
  shutdown_stages_.push_back(
      {id, std::move(name),
       std::make_shared<absl::AnyInvocable<void(absl::Time)>>(
           std::move(stage))});
  return id;
}

bool SignalShutdown::RemoveShutdownStage(uint64_t id) {
  // PROTOCOL, step 9.
  std::shared_ptr<absl::AnyInvocable<void(absl::Time)>> dropped;
  const bool on_sequence_thread = tls_sequence_thread_of == this;
  absl::MutexLock lock(&mu_);
  auto it = std::find_if(shutdown_stages_.begin(), shutdown_stages_.end(),
                         [id](const StageEntry& e) { return e.id == id; });
  if (it == shutdown_stages_.end()) return false;
  dropped = std::move(it->fn);
  shutdown_stages_.erase(it);
  if (!on_sequence_thread) {
    auto not_running = [this, id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return running_stage_ != id;
    };
    mu_.Await(absl::Condition(&not_running));
  }
  return true;  // `dropped` is released after mu_
}

ShutdownSequenceReport SignalShutdown::SequenceReport() const {
  absl::MutexLock lock(&mu_);
  return report_;
}

void SignalShutdown::AwaitShutdownStages() {
  // PROTOCOL, step 7.
  absl::MutexLock lock(&mu_);
  sequence_requested_ = true;
  auto done_or_cancelling = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return sequence_done_ || stage_ == Stage::kCancelling;
  };
  mu_.Await(absl::Condition(&done_or_cancelling));
}

void SignalShutdown::RunSequence() {
  pthread_setname_np(pthread_self(), "cancelpool-seq");
  tls_sequence_thread_of = this;  // PROTOCOL, step 8
  absl::MutexLock lock(&mu_);
  auto requested = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return sequence_requested_ || stop_sequence_;
  };
  mu_.Await(absl::Condition(&requested));
  if (!sequence_requested_) return;
  uint64_t last = 0;
  for (;;) {
    auto next =
        std::find_if(shutdown_stages_.begin(), shutdown_stages_.end(),
                     [last](const StageEntry& e) { return e.id > last; });
    if (next == shutdown_stages_.end()) break;
    last = next->id;
    ShutdownStageReport r;
    r.name = next->name;
    if (stage_ == Stage::kCancelling) {
      report_.stages.push_back(std::move(r));  // skipped
      continue;
    }
    running_stage_ = last;
    std::shared_ptr<absl::AnyInvocable<void(absl::Time)>> fn = next->fn;
    const absl::Time deadline = grace_end_;
    r.ran = true;
    r.start = absl::Now();
    mu_.Unlock();
    (*fn)(deadline);
    fn.reset();  // RemoveShutdownStage may wait for this (step 9)
    const absl::Duration returned_at = cancel_internal::MonotonicNow();
    r.end = absl::Now();
    mu_.Lock();
    running_stage_ = 0;
    r.overran_grace = returned_at >= grace_over_at_;
    report_.stages.push_back(std::move(r));
  }
  sequence_done_ = true;
  report_.stages_done = absl::Now();
}

SignalShutdown::Stage SignalShutdown::CurrentStage() const {
  absl::MutexLock lock(&mu_);
  return stage_;
}

int SignalShutdown::SignalsReceived() const {
  absl::MutexLock lock(&mu_);
  return received_;
}

absl::Status SignalShutdown::Reason() const {
  absl::MutexLock lock(&mu_);
  return reason_;
}

void SignalShutdown::EscalateLocked(absl::Status reason, int signo,
                                    bool by_grace) {
  if (stage_ == Stage::kCancelling) return;
  report_.cancelled = true;
  report_.grace_ran_out = by_grace;
  // The tasks' reason says which signal (cause.h).
  reason = WithCancellationCause(std::move(reason), CancellationCause::kSignal,
                                 signo);
  stage_ = Stage::kCancelling;
  reason_ = reason;
  grace_due_ = absl::InfiniteDuration();
  actions_.push_back({ShutdownMode::kCancel, signo, std::move(reason)});
}

void SignalShutdown::OnSignal(int signo) {
  // PROTOCOL, step 1. Runs on the reader only.
  {
    absl::MutexLock lock(&mu_);
    const int n = ++received_;
    if (n == 1) {
      first_signal_ = signo;
      stage_ = Stage::kDraining;
      reason_ =
          WithCancellationCause(absl::CancelledError(absl::StrCat(
                                    SignalName(signo), " received: draining")),
                                CancellationCause::kSignal, signo);
      grace_due_ = cancel_internal::MonotonicAfter(options_.grace);
      grace_over_at_ = grace_due_;
      // The stages' deadline (absl::Time saturates at InfiniteFuture).
      report_.first_signal = signo;
      report_.signalled = absl::Now();
      grace_end_ = report_.signalled + options_.grace;
      report_.grace_end = grace_end_;
      actions_.push_back({ShutdownMode::kDrain, signo, reason_});
      return;
    }
    if (n == 2) {
      const int first = first_signal_;
      EscalateLocked(
          absl::CancelledError(
              signo == first
                  ? absl::StrCat(SignalName(signo),
                                 " received twice: cancelling")
                  : absl::StrCat(SignalName(signo), " received after ",
                                 SignalName(first), ": cancelling")),
          signo, /*by_grace=*/false);
      return;
    }
  }
  // Third signal: stop now. No destructors, no atexit handlers, and nothing
  // to wait for (the stage thread may be stuck in user code).
  const std::string msg = absl::StrFormat(
      "cancelpool: %s received a third time: exiting now\n", SignalName(signo));
  (void)!write(STDERR_FILENO, msg.data(), msg.size());
  std::_Exit(128 + signo);
}

void SignalShutdown::RunReader() {
  pthread_setname_np(pthread_self(), "cancelpool-sig");
  for (;;) {
    absl::Duration grace_due;
    {
      absl::MutexLock lock(&mu_);
      if (stop_reader_) return;
      grace_due = grace_due_;
    }
    pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    // Clamped to ~24.8 days (poll's int): a longer grace takes several polls.
    const int n = poll(fds, 2,
                       cancel_internal::PollTimeoutMillis(
                           grace_due - cancel_internal::MonotonicNow()));
    if (n < 0 && errno != EINTR) return;
    if (n > 0 && (fds[0].revents & POLLIN) != 0) {
      signalfd_siginfo info;
      while (read(signal_fd_, &info, sizeof(info)) ==
             static_cast<ssize_t>(sizeof(info))) {
        OnSignal(static_cast<int>(info.ssi_signo));
      }
    }
    if (n > 0 && (fds[1].revents & POLLIN) != 0) {
      uint64_t drained;
      (void)!read(wake_fd_, &drained, sizeof(drained));
      std::vector<int> triggered;
      {
        absl::MutexLock lock(&mu_);
        triggered.swap(triggered_);
      }
      for (int signo : triggered) OnSignal(signo);
    }
    absl::MutexLock lock(&mu_);
    if (grace_due_ != absl::InfiniteDuration() &&
        cancel_internal::MonotonicNow() >= grace_due_) {
      EscalateLocked(
          absl::CancelledError(absl::StrCat(
              SignalName(first_signal_), " grace period (",
              absl::FormatDuration(options_.grace), ") over: cancelling")),
          first_signal_, /*by_grace=*/true);
    }
  }
}

void SignalShutdown::RunStages() {
  pthread_setname_np(pthread_self(), "cancelpool-stage");
  tls_stage_thread_of = this;  // PROTOCOL, step 2
  for (;;) {
    Action action;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !actions_.empty() || stop_stages_;
      };
      mu_.Await(absl::Condition(&ready));
      if (actions_.empty()) return;  // stop_stages_, and nothing left to do
      action = std::move(actions_.front());
      actions_.pop_front();
    }
    // PROTOCOL, step 2. The hook first, with no pool call recorded.
    auto& hook = action.mode == ShutdownMode::kDrain ? options_.on_first_signal
                                                     : options_.on_cancel;
    if (hook) hook(action.signo);
    // THE SHUTDOWN SEQUENCE: the stages before the drain (step 7).
    if (action.mode == ShutdownMode::kDrain) AwaitShutdownStages();
    {
      absl::MutexLock lock(&mu_);
      if (action.mode == ShutdownMode::kDrain) {
        report_.drain_started = absl::Now();
      } else {
        report_.cancel_started = absl::Now();
      }
    }
    // The entries to act on are fixed only now that the hook has returned.
    std::vector<uint64_t> done;  // Watch ids already shut down
    uint64_t end_id;             // act on ids below this
    {
      absl::MutexLock lock(&mu_);
      end_id = next_watch_id_;
    }
    for (;;) {
      ThreadPool* pool = nullptr;
      {
        absl::MutexLock lock(&mu_);
        for (const Watched& w : pools_) {
          if (w.id < end_id &&
              std::find(done.begin(), done.end(), w.id) == done.end()) {
            done.push_back(w.id);
            stage_calling_ = w;
            pool = w.pool;
            break;
          }
        }
      }
      if (pool == nullptr) break;
      // May run cancellation callbacks that unwatch and destroy `pool`
      // itself: `pool` is not touched after this call.
      pool->Shutdown(action.mode, action.reason);
      absl::MutexLock lock(&mu_);
      stage_calling_ = Watched{nullptr, 0};
    }
  }
}

}  // namespace cancelpool
