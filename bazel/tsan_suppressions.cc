// Copyright 2026 The cancelpool Authors.
//
// ThreadSanitizer suppressions for known false positives in dependencies.
// `--config=tsan` links this into every binary and test (through
// --custom_malloc, see .bazelrc); TSan reads the list at start-up. Only
// reports whose stack runs through the named dependency functions are
// suppressed, never anything in cancelpool's own code.
//
// The definition is weak, so a test that defines its own
// __tsan_default_suppressions() takes precedence.

extern "C" __attribute__((weak, visibility("default"), used)) const char*
__tsan_default_suppressions() {
  // absl::Mutex hides its internal synchronisation from TSan. When a thread
  // first blocks in an absl::Mutex and another thread wakes it, TSan reports
  // a race between the sleeper creating its per-thread identity (mmap in
  // LowLevelAlloc) and the waker's Waiter::Post() on it. Known false
  // positive: google/sanitizers#953, abseil/abseil-cpp#217.
  //
  // Debian's libcpp-httplib.so (//examples/server) is not built with TSan:
  // its atomics and its own synchronisation are invisible, so the memcpy /
  // memcmp interceptors it calls report races between its threads that
  // never happen. Interceptor calls made from that library are not checked;
  // our code's accesses still are.
  return "race:absl::*synchronization_internal::Waiter::\n"
         "race:absl::*synchronization_internal::*ThreadIdentity\n"
         "called_from_lib:libcpp-httplib.so\n";
}
