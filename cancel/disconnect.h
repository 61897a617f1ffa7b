// Copyright 2026 The cancelpool Authors.
//
// WatchDisconnect: cancel a CancellationSource when the peer of a socket
// hangs up (a server cancels a request's work when its client goes away).
//
// MODEL
// WatchDisconnect(fd, source) registers `fd` with one process-wide watcher
// thread (started by the first registration; it waits in epoll(7) for
// EPOLLRDHUP, EPOLLHUP and EPOLLERR only, never for readable data, so it
// neither consumes nor reports the request's bytes). When the peer closes
// its end, shuts down its writing side (shutdown(SHUT_WR): a half-close counts
// as a disconnect), resets the connection, or the socket reports an error,
// the watcher requests cancellation of `source` with
//   CancelledError("peer disconnected") or CancelledError("socket error")
// carrying CancellationCause::kDisconnect (cancel/cause.h). It fires at most
// once per registration; the registration then stays valid (and inert) until
// destroyed. Registering and unregistering are O(1) (a hash map keyed by an
// id that is never reused; the id, not a pointer, is what epoll reports, so
// an event that arrives after its registration is gone is ignored).
//
// The watcher thread is the requester of the cancellation: the source's
// callbacks (and those of its children, a pool task's token included) run on
// it. Keep them short; a slow one delays every other disconnect.
//
// CONTRACT
//   * `fd` must be a socket (or another file epoll accepts: a pipe, a tty)
//     and must stay open, and not be dup2()ed over, until the registration is
//     destroyed or Reset(): epoll identifies it by number.
//   * One registration per fd at a time: a second returns AlreadyExists.
//   * A TCP socket that was never connected reports a hang-up at once:
//     register connected sockets.
//   * Errors: InvalidArgument for a negative or closed fd, or one epoll does
//     not support (a regular file); ResourceExhausted when the epoll instance
//     or the watcher thread cannot be created, or the kernel refuses the
//     registration (descriptor or memory limits). Nothing is registered then.
//     A source that cannot be cancelled (moved-from) is InvalidArgument.
//   * If the peer already hung up when WatchDisconnect is called, the source
//     is cancelled very soon after (by the watcher thread), not inline.
//
// LIFETIME AND BLOCKING
// DisconnectRegistration is move-only RAII. Its destructor (and Reset())
// unregisters: after it returns the watcher will not request cancellation of
// the source for this registration, unless it already began to -- then the
// destructor waits until that request (with its callbacks) has finished, so
// that after it returns nothing of this registration runs. Called on the
// watcher thread itself (from a cancellation callback), it does not wait (no
// deadlock). The destructor never waits for anything else.
//
// FORK
// In a child of fork() the registrations made before the fork are inert
// (they belong to the parent's threads; their destructors do nothing), and
// the child's first WatchDisconnect starts its own epoll instance and thread.
//
// THREAD SAFETY
// WatchDisconnect may be called from any thread; a registration object
// follows the usual value-type rule (do not use one object from two threads
// at once).
#ifndef CANCELPOOL_CANCEL_DISCONNECT_H_
#define CANCELPOOL_CANCEL_DISCONNECT_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "cancelpool/cancel/cancellation.h"

namespace cancelpool {

class DisconnectRegistration final {
 public:
  // Registers nothing.
  DisconnectRegistration() noexcept = default;
  DisconnectRegistration(DisconnectRegistration&& other) noexcept
      : id_(other.id_) {
    other.id_ = 0;
  }
  DisconnectRegistration& operator=(DisconnectRegistration&& other) noexcept;
  DisconnectRegistration(const DisconnectRegistration&) = delete;
  DisconnectRegistration& operator=(const DisconnectRegistration&) = delete;
  ~DisconnectRegistration() { Reset(); }

  // Unregisters now (see LIFETIME AND BLOCKING); then registers nothing.
  void Reset() noexcept;
  // True until Reset() or a move from this object (also after it fired).
  bool IsRegistered() const noexcept { return id_ != 0; }

 private:
  friend absl::StatusOr<DisconnectRegistration> WatchDisconnect(
      int fd, CancellationSource source);
  explicit DisconnectRegistration(uint64_t id) noexcept : id_(id) {}

  uint64_t id_ = 0;
};

// Cancels `source` (kDisconnect) when the peer of `fd` hangs up. See the top
// of this file.
absl::StatusOr<DisconnectRegistration> WatchDisconnect(
    int fd, CancellationSource source);

}  // namespace cancelpool

#endif  // CANCELPOOL_CANCEL_DISCONNECT_H_
