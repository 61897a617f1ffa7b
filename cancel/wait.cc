// Copyright 2026 The cancelpool Authors.
#include "cancelpool/cancel/wait.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <limits>
#include <memory>

#include "cancelpool/cancel/internal/deadline_timer.h"

namespace cancelpool {
namespace {

using cancel_internal::CancelState;
using cancel_internal::RealtimeNow;
using cancel_internal::ScopedWaker;
using cancel_internal::WatchedState;

// Adapts absl::Mutex to ScopedWaker::Unregister's lock()/unlock().
struct AbslMutexRelocker {
  absl::Mutex& mu;
  void unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu.Unlock(); }
  void lock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu.Lock(); }
};

// Wakes an absl::Mutex waiter: releasing the mutex makes absl re-evaluate the
// waiters' conditions. The waiter returns only after retaking the mutex, that
// is after our Unlock, so the node is completed early, under the mutex (the
// waiter does not wait for the Unlock), and the Unlock touches only `mu`; an
// absl::Mutex may be destroyed by a thread that acquired it after such an
// Unlock, as absl::BlockingCounter relies on.
struct MutexPoke {
  absl::Mutex* mu;
  void operator()(cancel_internal::CallbackNode* node) const noexcept {
    absl::Mutex* const m = mu;  // a copy: this functor lives in the node
    m->Lock();
    CancelState::CompleteFromCallback(node);
    m->Unlock();
  }
};

// A condition that holds when the user's condition does or the waker fired.
template <typename Waker>
struct ConditionOrCancelled {
  const absl::Condition* condition;
  const Waker* waker;
  bool operator()() const {
    return condition->Eval() || waker->cancelled();
  }
};

// An eventfd that WaitForFd polls beside the caller's fd and a cancellation
// wake-up writes to. One per thread, created on first use. Shared: a wake-up
// running on the cancelling thread holds a reference while it writes, so the
// descriptor stays open (and its number is not reused) even if the waiting
// thread has returned, and even exited, meanwhile.
class WakeFd {
 public:
  WakeFd() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (fd_ < 0) {
      std::perror("cancelpool: eventfd");
      std::abort();
    }
  }
  ~WakeFd() { close(fd_); }
  WakeFd(const WakeFd&) = delete;
  WakeFd& operator=(const WakeFd&) = delete;

  int fd() const { return fd_; }
  void Signal() const {
    const uint64_t one = 1;
    // A full counter (impossible in practice) still leaves it readable.
    (void)!write(fd_, &one, sizeof(one));
  }
  // Consumes any pending signal (nonblocking).
  void Drain() const {
    uint64_t drained;
    (void)!read(fd_, &drained, sizeof(drained));
  }

 private:
  const int fd_;
};

// Bumped in every child of fork(). The race it rules out: the forking
// thread's eventfd is shared with the child (fork() duplicates the
// descriptor, and both refer to one counter). Had the child kept using it, a
// WaitForFd in the child would drain wake-ups that the parent's cancelling
// threads wrote for the same thread's wait in the parent -- which would then
// sleep on (a lost wake-up) -- and the parent's writes would wake the child.
// So a thread whose eventfd predates the last fork() gets a new one. Only
// the forking thread exists in the child, and it was inside fork(), not in a
// wait: no wake-up of the child's own still refers to the old eventfd.
std::atomic<uint64_t> fork_generation{0};

const std::shared_ptr<WakeFd>& ThreadWakeFd() {
  // Registered before the first eventfd of the process is created.
  static const bool registered [[maybe_unused]] =
      pthread_atfork(nullptr, nullptr, [] {
        fork_generation.fetch_add(1, std::memory_order_relaxed);
      }) == 0;
  thread_local std::shared_ptr<WakeFd> wake_fd;
  thread_local uint64_t generation = 0;
  // Relaxed: the bump happens in this thread (the child handler runs on the
  // forking thread), or in another process's copy of this memory.
  const uint64_t now = fork_generation.load(std::memory_order_relaxed);
  if (wake_fd == nullptr || generation != now) {
    // In a child, this closes the child's copy of the inherited descriptor
    // only; the parent's stays open.
    wake_fd = std::make_shared<WakeFd>();
    generation = now;
  }
  return wake_fd;
}

}  // namespace

const char* WaitResultName(WaitResult result) {
  switch (result) {
    case WaitResult::kReady:
      return "ready";
    case WaitResult::kTimeout:
      return "timeout";
    case WaitResult::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

WaitResult AwaitWithCancellation(absl::Mutex& mu,
                                 const absl::Condition& condition,
                                 const CancellationToken& token,
                                 absl::Time deadline) {
  if (condition.Eval()) return WaitResult::kReady;
  CancelState* state = WatchedState(token);
  if (state == nullptr) {
    return mu.AwaitWithDeadline(condition, deadline) ? WaitResult::kReady
                                                     : WaitResult::kTimeout;
  }
  if (state->IsCancellationRequested()) return WaitResult::kCancelled;
  ScopedWaker<MutexPoke> waker(state, MutexPoke{&mu});
  ConditionOrCancelled<ScopedWaker<MutexPoke>> either{&condition, &waker};
  mu.AwaitWithDeadline(absl::Condition(&either), deadline);
  WaitResult result = condition.Eval()               ? WaitResult::kReady
                      : state->IsCancellationRequested() ? WaitResult::kCancelled
                                                         : WaitResult::kTimeout;
  AbslMutexRelocker relocker{mu};
  waker.Unregister(relocker);
  return result;
}

WaitResult SleepUntil(absl::Time deadline, const CancellationToken& token) {
  CancelState* state = WatchedState(token);
  if (state == nullptr) {
    absl::SleepFor(deadline - RealtimeNow());
    return WaitResult::kTimeout;
  }
  if (state->IsCancellationRequested()) return WaitResult::kCancelled;
  absl::Mutex mu;
  absl::MutexLock lock(&mu);
  static constexpr bool kNever = false;
  const absl::Condition never(&kNever);
  WaitResult result = AwaitWithCancellation(mu, never, token, deadline);
  return result;
}

WaitResult SleepFor(absl::Duration duration, const CancellationToken& token) {
  return SleepUntil(RealtimeNow() + duration, token);
}

WaitResult SleepUntil(absl::Time deadline) {
  return SleepUntil(deadline, CurrentToken());
}

WaitResult SleepFor(absl::Duration duration) {
  return SleepUntil(RealtimeNow() + duration, CurrentToken());
}

void Event::Set() {
  absl::MutexLock lock(&mu_);
  // Release: pairs with the acquire in IsSet(). Unlocking re-evaluates the
  // waiters' conditions.
  set_.store(true, std::memory_order_release);
}

void Event::Clear() {
  absl::MutexLock lock(&mu_);
  set_.store(false, std::memory_order_relaxed);
}

WaitResult Event::Wait(const CancellationToken& token, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto is_set = [this]() { return set_.load(std::memory_order_relaxed); };
  return AwaitWithCancellation(mu_, absl::Condition(&is_set), token, deadline);
}

WaitResult WaitForFd(int fd, FdInterest interest,
                     const CancellationToken& token, absl::Time deadline) {
  CancelState* state = WatchedState(token);
  const std::shared_ptr<WakeFd>& wake_fd = ThreadWakeFd();
  // On the cancelling thread: take a reference to the eventfd, complete the
  // node early (the waiter need not wait for the write system call), then
  // write. A write that lands after this wait returned is a stale wake-up
  // that a later wait on this thread drains.
  auto wake = [wake_fd](cancel_internal::CallbackNode* node) noexcept {
    const std::shared_ptr<WakeFd> keep = wake_fd;  // the closure is in node
    CancelState::CompleteFromCallback(node);
    keep->Signal();
  };
  WaitResult result = WaitResult::kTimeout;
  {
    ScopedWaker<decltype(wake)> waker(state, wake);
    pollfd fds[2];
    fds[0].fd = fd;
    fds[0].events = interest == FdInterest::kReadable ? POLLIN : POLLOUT;
    fds[1].fd = wake_fd->fd();
    fds[1].events = POLLIN;
    for (;;) {
      fds[0].revents = fds[1].revents = 0;
      // Checked after the waker was constructed: a request that came before
      // its registration is seen here, one that comes after writes wake_fd.
      // Once cancelled, poll only looks (timeout 0), so that a ready fd still
      // wins over cancellation.
      const bool cancelled =
          state != nullptr && state->IsCancellationRequested();
      int timeout_ms = -1;
      if (cancelled) {
        timeout_ms = 0;
      } else if (deadline != absl::InfiniteFuture()) {
        const absl::Duration left = deadline - RealtimeNow();
        // Clamped: a deadline more than ~24.8 days away does not fit poll's
        // int (the loop polls again until the deadline).
        timeout_ms = left <= absl::ZeroDuration()
                         ? 0
                         : static_cast<int>(std::min<int64_t>(
                               absl::ToInt64Milliseconds(
                                   absl::Ceil(left, absl::Milliseconds(1))),
                               std::numeric_limits<int>::max()));
      }
      const int n = poll(fds, 2, timeout_ms);
      if (n < 0 && errno == EINTR) continue;
      if (fds[0].revents != 0 || n < 0) {
        result = WaitResult::kReady;  // an error: let the caller's I/O say it
        break;
      }
      if (cancelled || (state != nullptr && state->IsCancellationRequested())) {
        result = WaitResult::kCancelled;
        break;
      }
      if (n == 0 && timeout_ms >= 0 && RealtimeNow() >= deadline) {
        result = WaitResult::kTimeout;
        break;
      }
      // A stale wake-up left by an earlier wait on this thread: drain, retry.
      wake_fd->Drain();
    }
  }
  // The waker is gone; drain what it wrote, if it wrote already, so that the
  // next wait usually starts clean.
  wake_fd->Drain();
  return result;
}

}  // namespace cancelpool
