// Copyright 2026 The cancelpool Authors.
//
// The protocol is at the top of disconnect_watcher.h.
#include "cancelpool/cancel/internal/disconnect_watcher.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cancelpool/cancel/cause.h"
#include "cancelpool/cancel/internal/cancel_state.h"

namespace cancelpool {
namespace cancel_internal {
namespace {

// Whether this thread is the watcher thread (U1). Set once by the thread.
thread_local bool tls_on_watcher = false;

absl::Status PeerDisconnectedReason() {
  // Shared: copies bump a reference count.
  static const absl::Status* const kReason = new absl::Status(
      WithCancellationCause(absl::CancelledError("peer disconnected"),
                            CancellationCause::kDisconnect));
  return *kReason;
}

absl::Status SocketErrorReason() {
  static const absl::Status* const kReason = new absl::Status(
      WithCancellationCause(absl::CancelledError("socket error"),
                            CancellationCause::kDisconnect));
  return *kReason;
}

absl::Status EpollCtlError(int err, int fd) {
  const std::string what = absl::StrCat("WatchDisconnect: epoll_ctl(fd ", fd,
                                        "): ", std::strerror(err));
  switch (err) {
    case EEXIST:
      return absl::AlreadyExistsError(
          absl::StrCat(what, " (the fd already has a registration)"));
    case EPERM:
    case EBADF:
    case EINVAL:
      return absl::InvalidArgumentError(what);
    case ENOMEM:
    case ENOSPC:
      return absl::ResourceExhaustedError(what);
    default:
      return absl::InternalError(what);
  }
}

}  // namespace

DisconnectWatcher& DisconnectWatcher::Get() {
  // Leaked on purpose, like the deadline timer: registrations may be
  // destroyed during static destruction.
  static DisconnectWatcher* const watcher = [] {
    auto* w = new DisconnectWatcher();
    // FORK (header): hold mu_ across fork().
    pthread_atfork([] { Get().mu_->Lock(); }, [] { Get().mu_->Unlock(); },
                   [] { Get().ResetInForkChild(); });
    return w;
  }();
  return *watcher;
}

void DisconnectWatcher::ResetInForkChild() {
  // Single-threaded, before any user code: no absl::Mutex call (its copy may
  // list parent threads as waiters; see deadline_timer.cc). A fresh mutex at
  // a new address; the copy, locked by the prepare handler, is abandoned
  // (leaked), which also keeps ThreadSanitizer from seeing it locked twice.
  mu_ = new absl::Mutex();
  if (epoll_fd_ >= 0) close(epoll_fd_);  // the parent's epoll instance
  epoll_fd_ = -1;
  thread_started_ = false;
  firing_ = 0;
  entries_ = new Map();  // the parent's entries are abandoned (leaked)
}

absl::Status DisconnectWatcher::StartLocked() {
  if (thread_started_) return absl::OkStatus();
  if (epoll_fd_ < 0) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) {
      const int err = errno;
      return absl::ResourceExhaustedError(
          absl::StrCat("WatchDisconnect: epoll_create1: ", std::strerror(err)));
    }
  }
  try {
    std::thread([this, fd = epoll_fd_] { Run(fd); }).detach();
  } catch (const std::system_error& e) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "WatchDisconnect: cannot start the watcher thread: ", e.what()));
  }
  thread_started_ = true;
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> DisconnectWatcher::Register(
    int fd, CancellationSource source) {
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("WatchDisconnect: negative fd ", fd));
  }
  if (fcntl(fd, F_GETFD) == -1) {
    return absl::InvalidArgumentError(
        absl::StrCat("WatchDisconnect: fd ", fd, " is not open"));
  }
  if (!source.Token().CanBeCancelled()) {
    return absl::InvalidArgumentError(
        "WatchDisconnect: the source has no state (moved from)");
  }
  absl::MutexLock lock(mu_);
  if (absl::Status started = StartLocked(); !started.ok()) return started;
  // R1: insert, then ADD.
  const uint64_t id = next_id_++;
  entries_->emplace(id, Entry{fd, std::move(source)});
  epoll_event ev{};
  ev.events = EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLONESHOT;
  ev.data.u64 = id;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    const int err = errno;
    // Never seen by the thread: no event can carry this id.
    entries_->erase(id);
    return EpollCtlError(err, fd);
  }
  return id;
}

void DisconnectWatcher::Unregister(uint64_t id) {
  if (id == 0) return;
  std::optional<CancellationSource> dropped;  // destroyed without mu_
  absl::MutexLock lock(mu_);
  auto it = entries_->find(id);
  if (it != entries_->end()) {
    // U1: no cancellation will come for this id.
    epoll_event unused{};
    (void)epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second.fd, &unused);
    dropped.emplace(std::move(it->second.source));
    entries_->erase(it);
    return;  // `lock` is released before `dropped` is destroyed
  }
  if (tls_on_watcher) return;  // a callback unregistering: do not wait
  auto not_firing = [this, id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return firing_ != id;
  };
  mu_->Await(absl::Condition(&not_firing));
}

size_t DisconnectWatcher::RegisteredCount() {
  absl::MutexLock lock(mu_);
  return entries_->size();
}

bool DisconnectWatcher::ThreadRunning() {
  absl::MutexLock lock(mu_);
  return thread_started_;
}

void DisconnectWatcher::Run(int epoll_fd) {
  pthread_setname_np(pthread_self(), "cancelpool-dc");
  tls_on_watcher = true;
  // Everything this thread runs is a library callback (cancel_state.h).
  ScopedLibraryCallback in_callback;
  constexpr int kBatch = 64;
  epoll_event events[kBatch];
  // Holds the one source being fired, moved out under mu_ (capacity
  // reserved once, so the push under the lock never allocates). A vector
  // rather than std::optional: GCC 12 -O2 reports a false
  // maybe-uninitialized on an optional of a reference-counted handle.
  std::vector<CancellationSource> firing_source;
  firing_source.reserve(1);
  for (;;) {
    const int n = epoll_wait(epoll_fd, events, kBatch, -1);  // W1, no mu_
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // cannot happen: the descriptor is never closed here
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[i].data.u64;
      {
        absl::MutexLock lock(mu_);
        auto it = entries_->find(id);
        if (it == entries_->end()) continue;  // gone, or a late event
        epoll_event unused{};
        (void)epoll_ctl(epoll_fd, EPOLL_CTL_DEL, it->second.fd, &unused);
        firing_source.push_back(std::move(it->second.source));
        entries_->erase(it);
        firing_ = id;
      }
      // W2.
      firing_source.back().RequestCancellation(
          (events[i].events & EPOLLERR) != 0 ? SocketErrorReason()
                                             : PeerDisconnectedReason());
      firing_source.clear();
      // W3.
      absl::MutexLock lock(mu_);
      firing_ = 0;
    }
  }
}

}  // namespace cancel_internal
}  // namespace cancelpool
