// Copyright 2026 The cancelpool Authors.
//
// PROTOCOL: SLEEP (SleepFor / SleepUntil with a token that can be cancelled)
// State: a 32-bit futex word in the sleeper's frame, 0 until woken.
//   S1. The sleeper registers a wake-up on the token (ScopedWaker). If the
//       token is already cancelled nothing is registered and it returns.
//   S2. Loop: check the token (acquire); cancelled: return kCancelled. Past
//       the limit: kTimeout. Else FutexWait(word, 0, time left).
//   S3. The wake-up, on the cancelling thread (the request already set
//       kRequested, release): store 1 into the word, mark the node complete
//       (CompleteFromCallback), then FUTEX_WAKE the word's address, copied
//       to a local before the completion.
//   S4. Woken, timed out, interrupted or spuriously: back to S2.
//   S5. Leaving: ~ScopedWaker deregisters; if the wake-up was taken by the
//       requester, it waits until the node is complete (S3), which the
//       requester marks before its wake-up system call, so the sleeper never
//       waits for that system call to return.
// Races ruled out: a lost wake-up (a request before S1's registration is seen
// by the first S2 check; one after it runs S3, whose store makes a FutexWait
// that has not slept yet return at once, and whose wake finds one that has);
// the wake-up writing a frame that is gone (its only write, the store, comes
// before the completion, and the sleeper cannot leave before the completion);
// the late FUTEX_WAKE of S3 hitting a reused address (the kernel only looks
// the address up; at worst it wakes another futex waiter there spuriously,
// and every futex waiter re-checks its condition). A sleeper woken by S3
// runs at once, without waiting for the cancelling thread: on a machine
// with fewer free cores than runnable threads, waiting for it (a spin, then
// yields, then 50 us sleeps) had the woken sleeper and the canceller take
// turns on one core.
//
// PROTOCOL: EVENT (Event::Set / Clear / Wait)
// State: Event::word_ = kSet | kWaiters | counter * kWakeStep.
//   E1. Set: one release RMW that sets kSet and clears kWaiters; if kWaiters
//       was set, FUTEX_WAKE every sleeper. Nothing else touches the object.
//   E2. Clear: clear kSet (one RMW).
//   E3. Wait: load the word (acquire). kSet: kReady. Then, with a token that
//       can be cancelled, register a wake-up (S1); each round checks, in
//       this order: kSet (kReady), the token (kCancelled), the limit
//       (kTimeout) -- so ready wins over cancelled, and cancelled over
//       timeout.
//   E4. Before sleeping: if kWaiters is clear in the value `w` just loaded,
//       CAS it in (a failed CAS reloads and goes back to E3's checks); then
//       FutexWait(word, w | kWaiters, time left).
//   E5. A waiter's cancellation (on the cancelling thread): add kWakeStep to
//       the word, complete the node, FUTEX_WAKE the word's address (copied
//       first). Every sleeper wakes; the others find nothing new and sleep
//       again.
//   E6. Woken or not: back to E3's checks.
// Races ruled out: a Set lost by a sleeper (Set's RMW and E4's CAS are
// ordered on the one word: a Set after the CAS sees kWaiters and wakes, and
// its change makes a FutexWait that has not slept yet fail; a Set before
// the CAS makes the CAS fail); a lost cancellation (E5 changes the word, as
// S3 does); a Set or wake-up touching a destroyed event (E1's only access
// after its RMW is the address lookup of FUTEX_WAKE; E5's RMW comes before
// the completion, which the waiter waits for before it can return);
// kWaiters left clear while someone sleeps (only E1 clears it, and wakes
// every sleeper as it does). The counter wraps: only a change of the word
// matters, and E5's add never touches kSet or kWaiters.
#include "cancelpool/cancel/wait.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cancelpool/cancel/blocking.h"
#include "cancelpool/cancel/internal/clock.h"
#include "cancelpool/cancel/internal/futex.h"

namespace cancelpool {
namespace {

using cancel_internal::CancelState;
using cancel_internal::FutexWait;
using cancel_internal::FutexWakeAll;
using cancel_internal::MonotonicAfter;
using cancel_internal::MonotonicNow;
using cancel_internal::PollTimeoutMillis;
using cancel_internal::RealtimeNow;
using cancel_internal::ScopedWaker;
using cancel_internal::ToMonotonic;
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
  bool operator()() const { return condition->Eval() || waker->cancelled(); }
};

// An eventfd that WaitForFd polls beside the caller's fd and a cancellation
// wake-up writes to. One per thread, created on first use. Shared: a wake-up
// running on the cancelling thread holds a reference while it writes, so the
// descriptor stays open (and its number is not reused) even if the waiting
// thread has returned, and even exited, meanwhile.
class WakeFd {
 public:
  // Takes ownership of the open eventfd `fd`.
  explicit WakeFd(int fd) : fd_(fd) {}
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

// This thread's eventfd, or null (errno set by eventfd(2)) if none exists
// and none can be created now.
std::shared_ptr<WakeFd> ThreadWakeFd() {
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
    wake_fd.reset();
    const int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) return nullptr;
    wake_fd = std::make_shared<WakeFd>(fd);
    generation = now;
  }
  return wake_fd;
}

std::string ErrnoText(int error) {
  const char* text = strerrordesc_np(error);
  return text != nullptr ? text : absl::StrCat("errno ", error);
}

// Waits, with `mu` held, until `condition` holds (true) or the monotonic
// clock reaches `due` (false; the condition is checked once more).
bool AwaitUntilMonotonic(absl::Mutex& mu, const absl::Condition& condition,
                         absl::Duration due) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
  // The callers checked the condition: this really waits.
  ScopedBlockingRegion region;
  if (due == absl::InfiniteDuration()) {
    mu.Await(condition);
    return true;
  }
  for (;;) {
    const absl::Duration left = due - MonotonicNow();
    if (left <= absl::ZeroDuration()) return condition.Eval();
    // Abseil's timed wait takes an absolute CLOCK_REALTIME time (see
    // CLOCKS in wait.h): based on clock_gettime, the clock the kernel
    // compares it with. A forward step of the wall clock ends it early; the
    // loop then waits for the rest.
    if (mu.AwaitWithDeadline(condition, RealtimeNow() + left)) return true;
  }
}

// AwaitWithCancellation with a monotonic `due`.
WaitResult AwaitWithCancellationUntil(absl::Mutex& mu,
                                      const absl::Condition& condition,
                                      const CancellationToken& token,
                                      absl::Duration due)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
  if (condition.Eval()) return WaitResult::kReady;
  CancelState* state = WatchedState(token);
  if (state == nullptr) {
    return AwaitUntilMonotonic(mu, condition, due) ? WaitResult::kReady
                                                   : WaitResult::kTimeout;
  }
  if (state->IsCancellationRequested()) return WaitResult::kCancelled;
  ScopedWaker<MutexPoke> waker(state, MutexPoke{&mu});
  ConditionOrCancelled<ScopedWaker<MutexPoke>> either{&condition, &waker};
  AwaitUntilMonotonic(mu, absl::Condition(&either), due);
  WaitResult result = condition.Eval() ? WaitResult::kReady
                      : state->IsCancellationRequested()
                          ? WaitResult::kCancelled
                          : WaitResult::kTimeout;
  AbslMutexRelocker relocker{mu};
  waker.Unregister(relocker);
  return result;
}

// Sleeps until the monotonic clock reaches `due` or `token` is cancelled:
// PROTOCOL: SLEEP at the top of this file.
WaitResult SleepUntilMonotonic(absl::Duration due,
                               const CancellationToken& token) {
  CancelState* state = WatchedState(token);
  if (due <= MonotonicNow()) {
    return state != nullptr && state->IsCancellationRequested()
               ? WaitResult::kCancelled
               : WaitResult::kTimeout;
  }
  if (state == nullptr) {
    ScopedBlockingRegion region;
    for (;;) {
      const absl::Duration left = due - MonotonicNow();
      if (left <= absl::ZeroDuration()) return WaitResult::kTimeout;
      absl::SleepFor(left);  // nanosleep: relative, so monotonic
    }
  }
  if (state->IsCancellationRequested()) return WaitResult::kCancelled;
  std::atomic<uint32_t> word{0};
  // S3, on the cancelling thread.
  auto wake = [&word](cancel_internal::CallbackNode* node) noexcept {
    std::atomic<uint32_t>* const w = &word;  // a copy: the closure is in node
    // Relaxed: the sleeper learns of the cancellation from its acquire load
    // of the state (IsCancellationRequested), which pairs with the request's
    // release; the word only ends its FutexWait (S4).
    w->store(1, std::memory_order_relaxed);
    CancelState::CompleteFromCallback(node);
    // The sleeper may be gone by now: the wake-up then only looks up the
    // address (S5).
    FutexWakeAll(w);
  };
  ScopedWaker<decltype(wake)> waker(state, wake);
  ScopedBlockingRegion region;
  for (;;) {
    // S2, after the waker's registration (S1).
    if (state->IsCancellationRequested()) return WaitResult::kCancelled;
    const absl::Duration left = due - MonotonicNow();
    if (left <= absl::ZeroDuration()) return WaitResult::kTimeout;
    FutexWait(&word, 0, left);
  }
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
  return AwaitWithCancellationUntil(mu, condition, token,
                                    ToMonotonic(deadline));
}

namespace cancel_internal {

std::chrono::steady_clock::time_point ToSteadyClock(absl::Time deadline) {
  const absl::Duration now = MonotonicNow();
  const absl::Duration due =
      std::min(ToMonotonic(deadline), now + absl::Hours(24 * 365 * 100));
  // steady_clock is CLOCK_MONOTONIC, from the same origin as MonotonicNow().
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          absl::ToChronoNanoseconds(due)));
}

WaitResult SleepUntilFn::operator()(const CancellationToken& token,
                                    absl::Time deadline) const {
  return SleepUntilMonotonic(ToMonotonic(deadline), token);
}

WaitResult SleepUntilFn::operator()(absl::Time deadline) const {
  return SleepUntilMonotonic(ToMonotonic(deadline), CurrentToken());
}

WaitResult SleepForFn::operator()(const CancellationToken& token,
                                  absl::Duration duration) const {
  return SleepUntilMonotonic(MonotonicAfter(duration), token);
}

WaitResult SleepForFn::operator()(absl::Duration duration) const {
  return SleepUntilMonotonic(MonotonicAfter(duration), CurrentToken());
}

}  // namespace cancel_internal

void Event::Set() noexcept {
  // E1. Release: pairs with the acquire loads in IsSet() and Wait (E3).
  // Relaxed on failure: the retry only recomputes the new value.
  uint32_t w = word_.load(std::memory_order_relaxed);
  while (!word_.compare_exchange_weak(w, (w | kSet) & ~kWaiters,
                                      std::memory_order_release,
                                      std::memory_order_relaxed)) {
  }
  // The object may be gone from here on (LIFETIME in wait.h): only the
  // address is used.
  if ((w & kWaiters) != 0) FutexWakeAll(&word_);
}

void Event::Clear() noexcept {
  // E2. Relaxed: a Clear publishes nothing; waiters only test the bit.
  word_.fetch_and(~kSet, std::memory_order_relaxed);
}

WaitResult Event::Wait(const CancellationToken& token, absl::Time deadline) {
  return WaitUntilMonotonic(token, ToMonotonic(deadline));
}

WaitResult Event::WaitFor(const CancellationToken& token,
                          absl::Duration timeout) {
  return WaitUntilMonotonic(token, MonotonicAfter(timeout));
}

WaitResult Event::WaitUntilMonotonic(const CancellationToken& token,
                                     absl::Duration due) {
  // E3. Acquire loads of the word pair with Set's release RMW.
  if ((word_.load(std::memory_order_acquire) & kSet) != 0) {
    return WaitResult::kReady;
  }
  CancelState* state = WatchedState(token);
  if (state != nullptr && state->IsCancellationRequested()) {
    return WaitResult::kCancelled;
  }
  // E5, on the cancelling thread.
  auto wake = [word = &word_](cancel_internal::CallbackNode* node) noexcept {
    std::atomic<uint32_t>* const w = word;  // a copy: the closure is in node
    // Relaxed: the waiter learns of the cancellation from its acquire load
    // of the state, which pairs with the request's release; the change only
    // ends its FutexWait.
    w->fetch_add(kWakeStep, std::memory_order_relaxed);
    CancelState::CompleteFromCallback(node);
    FutexWakeAll(w);
  };
  // Null state: nothing is registered.
  ScopedWaker<decltype(wake)> waker(state, wake);
  // Entered before the first sleep; ends before the waker deregisters.
  std::optional<ScopedBlockingRegion> region;
  for (;;) {
    uint32_t w = word_.load(std::memory_order_acquire);
    if ((w & kSet) != 0) return WaitResult::kReady;
    if (state != nullptr && state->IsCancellationRequested()) {
      return WaitResult::kCancelled;
    }
    const absl::Duration left = due - MonotonicNow();
    if (left <= absl::ZeroDuration()) return WaitResult::kTimeout;
    if ((w & kWaiters) == 0) {
      // E4. Relaxed: the CAS only announces a sleeper; Set's RMW on the same
      // word is ordered before or after it (see the protocol), and the next
      // round reloads with acquire.
      if (!word_.compare_exchange_weak(w, w | kWaiters,
                                       std::memory_order_relaxed,
                                       std::memory_order_relaxed)) {
        continue;
      }
      w |= kWaiters;
    }
    if (!region.has_value()) region.emplace();
    FutexWait(&word_, w, left);  // E6
  }
}

absl::StatusOr<WaitResult> WaitForFd(int fd, FdInterest interest,
                                     const CancellationToken& token,
                                     absl::Time deadline) {
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("WaitForFd: invalid file descriptor ", fd));
  }
  const absl::Duration due = ToMonotonic(deadline);
  CancelState* state = WatchedState(token);
  // Only a token that can be cancelled needs the eventfd.
  std::shared_ptr<WakeFd> wake_fd;
  if (state != nullptr) {
    wake_fd = ThreadWakeFd();
    if (wake_fd == nullptr) {
      const int error = errno;
      return absl::ResourceExhaustedError(
          absl::StrCat("WaitForFd: cannot create the thread's wake-up "
                       "eventfd: ",
                       ErrnoText(error)));
    }
  }
  // On the cancelling thread: take a reference to the eventfd, complete the
  // node early (the waiter need not wait for the write system call), then
  // write. A write that lands after this wait returned is a stale wake-up
  // that a later wait on this thread drains.
  auto wake = [wake_fd](cancel_internal::CallbackNode* node) noexcept {
    const std::shared_ptr<WakeFd> keep = wake_fd;  // the closure is in node
    CancelState::CompleteFromCallback(node);
    keep->Signal();
  };
  absl::StatusOr<WaitResult> result = WaitResult::kTimeout;
  {
    ScopedWaker<decltype(wake)> waker(state, wake);
    pollfd fds[2];
    fds[0].fd = fd;
    fds[0].events = interest == FdInterest::kReadable ? POLLIN : POLLOUT;
    const nfds_t nfds = wake_fd != nullptr ? 2 : 1;
    // Entered before the first poll that may sleep.
    std::optional<ScopedBlockingRegion> region;
    if (wake_fd != nullptr) {
      fds[1].fd = wake_fd->fd();
      fds[1].events = POLLIN;
    }
    for (;;) {
      fds[0].revents = fds[1].revents = 0;
      // Checked after the waker was constructed: a request that came before
      // its registration is seen here, one that comes after writes wake_fd.
      // Once cancelled, poll only looks (timeout 0), so that a ready fd still
      // wins over cancellation.
      const bool cancelled =
          state != nullptr && state->IsCancellationRequested();
      const int timeout_ms =
          cancelled ? 0 : PollTimeoutMillis(due - MonotonicNow());
      if (timeout_ms != 0 && !region.has_value()) region.emplace();
      const int n = poll(fds, nfds, timeout_ms);
      if (n < 0) {
        const int error = errno;
        if (error == EINTR) continue;
        result =
            absl::Status(absl::ErrnoToStatusCode(error),
                         absl::StrCat("WaitForFd: poll: ", ErrnoText(error)));
        break;
      }
      if ((fds[0].revents & POLLNVAL) != 0) {
        result = absl::InvalidArgumentError(
            absl::StrCat("WaitForFd: file descriptor ", fd, " is not open"));
        break;
      }
      if (fds[0].revents != 0) {
        result = WaitResult::kReady;
        break;
      }
      if (cancelled || (state != nullptr && state->IsCancellationRequested())) {
        result = WaitResult::kCancelled;
        break;
      }
      if (n == 0 && timeout_ms >= 0 && MonotonicNow() >= due) {
        result = WaitResult::kTimeout;
        break;
      }
      // A stale wake-up left by an earlier wait on this thread (or a clamped
      // timeout that ran out): drain, retry.
      if (wake_fd != nullptr) wake_fd->Drain();
    }
  }
  // The waker is gone; drain what it wrote, if it wrote already, so that the
  // next wait usually starts clean.
  if (wake_fd != nullptr) wake_fd->Drain();
  return result;
}

}  // namespace cancelpool
