// ThreadSanitizer suppressions compiled into every test binary.
//
// Only one known false positive is suppressed, and only where a frame of it
// lies inside Abseil's synchronization internals: Abseil allocates each
// thread's identity (and its Waiter) with LowLevelAlloc (mmap + memset) and
// hands it to other threads through its Mutex, whose internal hand-off TSan
// is told to ignore, so TSan sees the later atomic Waiter::Post/Wait as racing
// with the mmap. See google/sanitizers#953 and abseil/abseil-cpp#217. No frame
// of cancelpool's own code matches these patterns, so races in our code are
// still reported.
extern "C" const char* __tsan_default_suppressions() {
  return "race:absl::*::synchronization_internal::Waiter::Post\n"
         "race:absl::*::synchronization_internal::Waiter::Wait\n"
         "race:absl::*::synchronization_internal::Waiter::Poke\n"
         "race:absl::*::base_internal::LowLevelAlloc::Alloc\n";
}
