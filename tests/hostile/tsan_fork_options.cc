// Copyright 2026 The cancelpool Authors.
//
// ThreadSanitizer runtime options for the hostile tests. The tests fork
// children (testing_util::RunInChild) from a process in which the library's
// shared deadline-timer thread may already run, and the children start
// threads: the library supports that (docs/fork.md), but
// TSan kills such a child by default (die_after_fork=1). Variables from
// TSAN_OPTIONS still apply on top of these defaults.
#if defined(__SANITIZE_THREAD__)
extern "C" const char* __tsan_default_options() { return "die_after_fork=0"; }
#endif
