// Copyright 2026 The cancelpool Authors.
//
// See connection_fd.h for the protocol.
#include "examples/server/connection_fd.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

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
  // Step 4: scan.
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) {
    return absl::InternalError(
        absl::StrCat("opendir(/proc/self/fd): ", std::strerror(errno)));
  }
  const int dir_fd = dirfd(dir);
  int found = -1;
  while (dirent* entry = readdir(dir)) {
    int fd;
    if (!absl::SimpleAtoi(entry->d_name, &fd) || fd == dir_fd) continue;
    if (Matches(fd, req)) {
      found = fd;
      break;
    }
  }
  closedir(dir);
  if (found < 0) {
    return absl::NotFoundError(absl::StrCat(
        "no open socket connects ", req.local_addr, ":", req.local_port,
        " and ", req.remote_addr, ":", req.remote_port));
  }
  cached_fd = found;
  return found;
}

}  // namespace cancelpool_example
