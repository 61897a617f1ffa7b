// Copyright 2026 The cancelpool Authors.
//
// The README's quick-start example (README.md, "Example"). README.md shows
// the region between the START/END tags; //examples:readme_in_sync_test
// fails if the two differ. //examples:readme_cancel runs it as a test.

// [START quickstart]
#include <cstdio>

#include "absl/status/status.h"
#include "absl/time/time.h"
// [START includes]
#include "cancelpool/cancel/cancellation.h"  // sources, tokens, callbacks
#include "cancelpool/cancel/current.h"       // the current token, deferral
#include "cancelpool/cancel/wait.h"          // interruptible waits
// [END includes]

// Works in small steps until cancelled; returns the number of steps.
int CountSheep(const cancelpool::CancellationToken& token) {
  int sheep = 0;
  while (!token.IsCancellationRequested()) {
    ++sheep;
    // Sleeps 10 ms, but wakes at once when the token is cancelled.
    cancelpool::SleepFor(token, absl::Milliseconds(10));
  }
  return sheep;
}

int main() {
  // Cancelled with DeadlineExceeded after 100 ms, even if nobody polls.
  cancelpool::CancellationSource source =
      cancelpool::CancellationSource::WithTimeout(absl::Milliseconds(100));
  // Runs once, on the thread that cancels (here the deadline timer).
  cancelpool::CancellationCallback on_cancel(
      source.Token(), [] { std::puts("cancellation requested"); });

  const int sheep = CountSheep(source.Token());
  std::printf("counted %d sheep, then: %s\n", sheep,
              source.Reason().ToString().c_str());
  return absl::IsDeadlineExceeded(source.Reason()) ? 0 : 1;
}
// [END quickstart]
