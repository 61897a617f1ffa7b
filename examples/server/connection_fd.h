// Copyright 2026 The cancelpool Authors.
//
// FindConnectionFd: the socket descriptor of the connection an httplib
// request arrived on.
//
// cpp-httplib 0.11 gives a handler the peer's and its own address but not
// the socket, which a disconnect watch needs. A TCP connection is named by
// its address pair, so the descriptor is the open socket whose
// getsockname/getpeername give the request's local and remote addresses.
//
// PROTOCOL (why the answer is the right descriptor)
//   1. httplib runs a handler on the thread that owns the connection, and
//      closes the socket on that thread only after the handler returned. So
//      while the handler runs, the connection's descriptor is open and is not
//      reused for anything else.
//   2. Among open sockets, at most one connection has a given (local,
//      remote) address pair: the kernel refuses a second.
//   3. Each thread caches the last descriptor it found (a keep-alive
//      connection sends many requests on one thread); the cache is used only
//      after checking its address pair again (two system calls), so a
//      descriptor closed and reused since is never returned by mistake.
//   4. On a cache miss the thread scans /proc/self/fd and checks each
//      descriptor's address pair (one pass, O(open descriptors)).
// Ruled out: returning another connection's descriptor (2, 3), returning a
// closed descriptor (1).
//
// THREAD SAFETY
// Call only from the httplib handler thread serving `req`, while the handler
// runs (step 1). The returned descriptor stays owned by httplib: do not
// close it, read from it or use it after the handler returns.
#ifndef CANCELPOOL_EXAMPLES_SERVER_CONNECTION_FD_H_
#define CANCELPOOL_EXAMPLES_SERVER_CONNECTION_FD_H_

#include "absl/status/statusor.h"
#include "httplib.h"

namespace cancelpool_example {

// The descriptor of the connection `req` arrived on; NotFound if no open
// socket has its addresses (a request not from a socket), Internal if
// /proc/self/fd cannot be read.
absl::StatusOr<int> FindConnectionFd(const httplib::Request& req);

}  // namespace cancelpool_example

#endif  // CANCELPOOL_EXAMPLES_SERVER_CONNECTION_FD_H_
