// Copyright 2026 The cancelpool Authors.
//
// cancel_internal::DisconnectWatcher: the one process-wide epoll thread
// behind WatchDisconnect (cancel/disconnect.h). Not for users.
//
// PROTOCOL (everything under mu_ unless it says otherwise)
//   R1. Register(fd, source): start the epoll instance and the thread if
//       there are none (failure: an error, nothing changed); take a fresh id
//       (never reused); insert {fd, source} into entries_ under that id;
//       epoll_ctl(ADD, fd, EPOLLRDHUP|EPOLLHUP|EPOLLERR|EPOLLONESHOT,
//       data = id). If ADD fails, erase the entry and return the error.
//       Inserting before ADD means an event can never carry an id that is
//       not (yet) in the map.
//   W1. The thread waits in epoll_wait without mu_. For each event: under
//       mu_, look the id up. Absent: the registration is gone (or the event
//       is a late one from before its removal) -- ignore it. Present:
//       epoll_ctl(DEL, fd) (the fd is still open: its registration exists),
//       move the source out, erase the entry, set firing_ = id; release mu_.
//   W2. Without mu_: source.RequestCancellation(kDisconnect reason), which
//       runs the callbacks; destroy the source copy.
//   W3. Under mu_: firing_ = 0 (waiters in U1 wake: mu_.Await).
//   U1. Unregister(id): if the entry is present, epoll_ctl(DEL) and erase it
//       (under mu_, so W1 cannot pick it afterwards): no cancellation will
//       come. If absent and firing_ == id and the caller is not the watcher
//       thread, wait (mu_.Await) until firing_ != id: the destructor returns
//       only after the request it raced with has finished. On the watcher
//       thread (a callback destroying its own registration) it returns at
//       once. The source copy is destroyed after mu_ is released.
// Races ruled out: a cancellation after Unregister returned (U1 under mu_
// against W1's pick; the wait for firing_); an event for a freed
// registration acting on another one (ids, not pointers, never reused); a
// lost ADD/event ordering (R1 inserts before ADD); a self-deadlock in a
// callback that unregisters (U1 on the watcher thread).
//
// FORK: like the deadline timer (deadline_timer.h): the forking thread holds
// mu_ across fork() (pthread_atfork prepare/parent), and the child handler,
// without any absl::Mutex call, replaces mu_ with a fresh mutex, closes its
// copy of the epoll descriptor (it names the parent's epoll instance: epoll_ctl
// on it would change the parent's registrations), abandons the parent's entries
// (leaked, not destroyed: their sources belong to parent threads), clears
// firing_ (the parent's thread does not exist here) and forgets the thread.
// The child's next Register starts afresh.
#ifndef CANCELPOOL_CANCEL_INTERNAL_DISCONNECT_WATCHER_H_
#define CANCELPOOL_CANCEL_INTERNAL_DISCONNECT_WATCHER_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cancelpool/cancel/cancellation.h"

namespace cancelpool {
namespace cancel_internal {

class DisconnectWatcher final {
 public:
  static DisconnectWatcher& Get();

  // R1. Returns the registration's id (never 0).
  absl::StatusOr<uint64_t> Register(int fd, CancellationSource source)
      ABSL_LOCKS_EXCLUDED(mu_);
  // U1. Unknown ids (0, fired, from before a fork) are fine.
  void Unregister(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);

  // Tests: the number of live registrations; whether the thread runs.
  size_t RegisteredCount() ABSL_LOCKS_EXCLUDED(mu_);
  bool ThreadRunning() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    int fd;
    CancellationSource source;
  };
  using Map = absl::flat_hash_map<uint64_t, Entry>;

  DisconnectWatcher() = default;
  absl::Status StartLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Run(int epoll_fd) ABSL_LOCKS_EXCLUDED(mu_);
  void ResetInForkChild() ABSL_NO_THREAD_SAFETY_ANALYSIS;

  // Replaced (and the old one leaked) in a fork child only.
  absl::Mutex* mu_ = new absl::Mutex();
  int epoll_fd_ ABSL_GUARDED_BY(mu_) = -1;
  bool thread_started_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t firing_ ABSL_GUARDED_BY(mu_) = 0;
  // A pointer so that the fork child can abandon the parent's map.
  Map* entries_ ABSL_GUARDED_BY(mu_) = new Map();
};

}  // namespace cancel_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_CANCEL_INTERNAL_DISCONNECT_WATCHER_H_
