// Copyright 2026 The cancelpool Authors.
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
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace cancelpool {
namespace {

// One SignalShutdown at a time (signalfd consumes the signals).
std::atomic<bool> g_installed{false};

// Counts the threads other than the caller that leave any of `signals`
// unblocked (they could receive a signal meant for the dedicated thread),
// from /proc/self/task/*/status's SigBlk mask. -1 if /proc is unreadable.
int CountThreadsNotBlocking(const std::vector<int>& signals) {
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  const std::string self = absl::StrCat(gettid());
  int n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.' || self == e->d_name) continue;
    std::ifstream status(absl::StrCat("/proc/self/task/", e->d_name, "/status"));
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
  if (options.signals.empty()) {
    return absl::InvalidArgumentError("SignalShutdown: no signals to handle");
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
  sigset_t set;
  sigemptyset(&set);
  for (int signo : options.signals) {
    if (sigaddset(&set, signo) != 0) {
      g_installed.store(false);
      return absl::InvalidArgumentError(
          absl::StrCat("SignalShutdown: invalid signal ", signo));
    }
  }
  if (int err = pthread_sigmask(SIG_BLOCK, &set, nullptr); err != 0) {
    g_installed.store(false);
    return absl::InternalError(
        absl::StrCat("pthread_sigmask: ", std::strerror(err)));
  }
  const int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    g_installed.store(false);
    return absl::InternalError(
        absl::StrCat("signalfd: ", std::strerror(errno)));
  }
  const int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) {
    close(sfd);
    g_installed.store(false);
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  std::unique_ptr<SignalShutdown> s(
      new SignalShutdown(std::move(options), sfd, efd));
  s->thread_ = std::thread([raw = s.get()] { raw->Run(); });
  return s;
}

SignalShutdown::SignalShutdown(Options options, int signal_fd, int wake_fd)
    : options_(std::move(options)), signal_fd_(signal_fd), wake_fd_(wake_fd) {}

SignalShutdown::~SignalShutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  thread_.join();
  close(signal_fd_);
  close(wake_fd_);
  g_installed.store(false);
}

void SignalShutdown::Watch(ThreadPool* pool) {
  Stage stage;
  absl::Status reason;
  {
    absl::MutexLock lock(&mu_);
    if (std::find(pools_.begin(), pools_.end(), pool) == pools_.end()) {
      pools_.push_back(pool);
    }
    stage = stage_;
    reason = reason_;
  }
  if (stage == Stage::kDraining) pool->Shutdown(ShutdownMode::kDrain, reason);
  if (stage == Stage::kCancelling) {
    pool->Shutdown(ShutdownMode::kCancel, reason);
  }
}

void SignalShutdown::Unwatch(ThreadPool* pool) {
  absl::MutexLock lock(&mu_);
  pools_.erase(std::remove(pools_.begin(), pools_.end(), pool), pools_.end());
  AwaitNoPoolCallsLocked();
}

void SignalShutdown::AwaitNoPoolCallsLocked() {
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return pool_calls_in_progress_ == 0;
  };
  mu_.Await(absl::Condition(&idle));
}

void SignalShutdown::EndPoolCalls() {
  absl::MutexLock lock(&mu_);
  --pool_calls_in_progress_;
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
  if (!WaitForSignal(deadline)) return false;
  std::vector<ThreadPool*> pools;
  {
    absl::MutexLock lock(&mu_);
    pools = pools_;
  }
  bool all = true;
  for (ThreadPool* pool : pools) all &= pool->AwaitTermination(deadline);
  if (!all) return false;
  // The signal thread may still be inside a pool's Shutdown(); wait for it,
  // and unwatch, so the caller may destroy the pools now.
  absl::MutexLock lock(&mu_);
  AwaitNoPoolCallsLocked();
  for (ThreadPool* pool : pools) {
    pools_.erase(std::remove(pools_.begin(), pools_.end(), pool),
                 pools_.end());
  }
  return true;
}

SignalShutdown::Stage SignalShutdown::stage() const {
  absl::MutexLock lock(&mu_);
  return stage_;
}

int SignalShutdown::signals_received() const {
  absl::MutexLock lock(&mu_);
  return received_;
}

absl::Status SignalShutdown::reason() const {
  absl::MutexLock lock(&mu_);
  return reason_;
}

void SignalShutdown::StartCancelling(absl::Status reason, int signo) {
  std::vector<ThreadPool*> pools;
  {
    absl::MutexLock lock(&mu_);
    if (stage_ == Stage::kCancelling) return;
    stage_ = Stage::kCancelling;
    reason_ = reason;
    grace_deadline_ = absl::InfiniteFuture();
    pools = pools_;
    ++pool_calls_in_progress_;
  }
  if (options_.on_cancel) options_.on_cancel(signo);
  for (ThreadPool* pool : pools) pool->Shutdown(ShutdownMode::kCancel, reason);
  EndPoolCalls();
}

void SignalShutdown::HandleSignal(int signo) {
  int n;
  int first;
  std::vector<ThreadPool*> pools;
  absl::Status reason;
  {
    absl::MutexLock lock(&mu_);
    n = ++received_;
    if (n == 1) {
      first_signal_ = signo;
      stage_ = Stage::kDraining;
      reason_ = absl::CancelledError(
          absl::StrCat(SignalName(signo), " received: draining"));
      grace_deadline_ = absl::Now() + options_.grace;
      pools = pools_;
      reason = reason_;
      ++pool_calls_in_progress_;
    }
    first = first_signal_;
  }
  if (n == 1) {
    if (options_.on_first_signal) options_.on_first_signal(signo);
    for (ThreadPool* pool : pools) pool->Shutdown(ShutdownMode::kDrain, reason);
    EndPoolCalls();
    return;
  }
  if (n == 2) {
    StartCancelling(
        absl::CancelledError(
            signo == first
                ? absl::StrCat(SignalName(signo), " received twice: cancelling")
                : absl::StrCat(SignalName(signo), " received after ",
                               SignalName(first), ": cancelling")),
        signo);
    return;
  }
  // Third signal: stop now. No destructors, no atexit handlers.
  const std::string msg = absl::StrFormat(
      "cancelpool: %s received a third time: exiting now\n",
      SignalName(signo));
  (void)!write(STDERR_FILENO, msg.data(), msg.size());
  std::_Exit(128 + signo);
}

void SignalShutdown::Run() {
  pthread_setname_np(pthread_self(), "cancelpool-sig");
  for (;;) {
    absl::Time grace_deadline;
    int first;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      grace_deadline = grace_deadline_;
      first = first_signal_;
    }
    int timeout_ms = -1;
    if (grace_deadline != absl::InfiniteFuture()) {
      const absl::Duration left = grace_deadline - absl::Now();
      timeout_ms =
          left <= absl::ZeroDuration()
              ? 0
              : static_cast<int>(absl::ToInt64Milliseconds(
                    absl::Ceil(left, absl::Milliseconds(1))));
    }
    pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const int n = poll(fds, 2, timeout_ms);
    if (n < 0 && errno != EINTR) return;
    if (n > 0 && (fds[0].revents & POLLIN) != 0) {
      signalfd_siginfo info;
      while (read(signal_fd_, &info, sizeof(info)) ==
             static_cast<ssize_t>(sizeof(info))) {
        HandleSignal(static_cast<int>(info.ssi_signo));
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
      for (int signo : triggered) HandleSignal(signo);
    }
    if (grace_deadline != absl::InfiniteFuture() &&
        absl::Now() >= grace_deadline) {
      StartCancelling(
          absl::CancelledError(absl::StrCat(
              SignalName(first), " grace period (",
              absl::FormatDuration(options_.grace), ") over: cancelling")),
          first);
    }
  }
}

}  // namespace cancelpool
