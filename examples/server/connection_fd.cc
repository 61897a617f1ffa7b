// Copyright 2026 The cancelpool Authors.
//
// See connection_fd.h for the protocol.
#include "examples/server/connection_fd.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace cancelpool_example {
namespace {

// Writes the numeric host and port of `addr` (IPv4 or IPv6).
bool Decode(const sockaddr_storage& addr, std::string* host, int* port) {
  char buf[INET6_ADDRSTRLEN];
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    if (inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf)) == nullptr) {
      return false;
    }
    *port = ntohs(in->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    if (inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf)) == nullptr) {
      return false;
    }
    *port = ntohs(in6->sin6_port);
  } else {
    return false;
  }
  *host = buf;
  return true;
}

// Whether `fd` is a connected socket with the request's address pair.
bool Matches(int fd, const httplib::Request& req) {
  sockaddr_storage addr;
  socklen_t len = sizeof(addr);
  std::string host;
  int port = -1;
  // The peer first: it fails at once for what is not a connected socket.
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      !Decode(addr, &host, &port) || port != req.remote_port ||
      host != req.remote_addr) {
    return false;
  }
  len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      !Decode(addr, &host, &port)) {
    return false;
  }
  return port == req.local_port && host == req.local_addr;
}

}  // namespace

absl::StatusOr<int> FindConnectionFd(const httplib::Request& req) {
  // Step 3: this thread's last answer, checked again.
  thread_local int cached_fd = -1;
  if (cached_fd >= 0 && Matches(cached_fd, req)) return cached_fd;
  // Step 4: scan /proc/self/fd. Raw system calls rather than opendir: the
  // scan's own descriptor stays invisible to ThreadSanitizer's descriptor
  // tracking, which cannot see httplib's sockets being opened and closed
  // (an uninstrumented library) and would take the reuse of a number for a
  // race.
  const long dir_fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/fd",
                              O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    return absl::InternalError(
        absl::StrCat("open(/proc/self/fd): ", std::strerror(errno)));
  }
  struct LinuxDirent64 {  // getdents64(2)
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[1];
  };
  alignas(8) char buf[4096];
  int found = -1;
  for (;;) {
    const long n = syscall(SYS_getdents64, dir_fd, buf, sizeof(buf));
    if (n <= 0) break;
    for (long offset = 0; offset < n && found < 0;) {
      const auto* entry = reinterpret_cast<const LinuxDirent64*>(buf + offset);
      offset += entry->d_reclen;
      int fd;
      if (!absl::SimpleAtoi(entry->d_name, &fd) || fd == dir_fd) continue;
      if (Matches(fd, req)) found = fd;
    }
    if (found >= 0) break;
  }
  syscall(SYS_close, dir_fd);
  if (found < 0) {
    return absl::NotFoundError(absl::StrCat(
        "no open socket connects ", req.local_addr, ":", req.local_port,
        " and ", req.remote_addr, ":", req.remote_port));
  }
  cached_fd = found;
  return found;
}

}  // namespace cancelpool_example
