// Copyright 2026 The cancelpool Authors.
//
// Small helpers for the hostile tests (public API only).
#ifndef CANCELPOOL_TESTS_HOSTILE_HOSTILE_UTIL_H_
#define CANCELPOOL_TESTS_HOSTILE_HOSTILE_UTIL_H_

#include <dirent.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "absl/synchronization/notification.h"

namespace cancelpool {
namespace hostile {

// True if `p` is a multiple of `alignment`. The address goes through an
// empty asm statement so that the compiler cannot fold the check from the
// declared alignment of the object's type.
[[gnu::noinline]] inline bool IsAligned(const void* p, std::size_t alignment) {
  std::uintptr_t v = reinterpret_cast<std::uintptr_t>(p);
  asm volatile("" : "+r"(v));
  return v % alignment == 0;
}

// Notifies `n` (if not yet notified) when it goes out of scope: declared
// after a pool, it releases a blocked task before the pool's destructor
// waits for it, also on a test's early-return (failure) paths.
class NotifyAtExit {
 public:
  explicit NotifyAtExit(absl::Notification& n) : n_(n) {}
  ~NotifyAtExit() {
    if (!n_.HasBeenNotified()) n_.Notify();
  }
  NotifyAtExit(const NotifyAtExit&) = delete;
  NotifyAtExit& operator=(const NotifyAtExit&) = delete;

 private:
  absl::Notification& n_;
};

// Number of threads of this process whose name starts with `prefix`.
inline int CountThreadsNamed(const std::string& prefix) {
  int n = 0;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
    std::string name;
    std::getline(comm, name);
    if (name.rfind(prefix, 0) == 0) ++n;
  }
  closedir(dir);
  return n;
}

// Number of threads of this process.
inline int CountThreads() { return CountThreadsNamed(""); }

// Resident set size in bytes, from /proc/self/statm.
inline long ResidentBytes() {
  long pages_total = 0, pages_resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) {
    pages_resident = -1;
  }
  std::fclose(f);
  return pages_resident * sysconf(_SC_PAGESIZE);
}

// Virtual size in bytes, from /proc/self/statm.
inline long VirtualBytes() {
  long pages_total = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  if (std::fscanf(f, "%ld", &pages_total) != 1) pages_total = -1;
  std::fclose(f);
  return pages_total * sysconf(_SC_PAGESIZE);
}

}  // namespace hostile
}  // namespace cancelpool

#endif  // CANCELPOOL_TESTS_HOSTILE_HOSTILE_UTIL_H_
