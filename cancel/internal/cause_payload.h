// Copyright 2026 The cancelpool Authors.
//
// The library's side of cancellation causes (cancel/cause.h): how the
// places that make a reason attach a cause without overriding one the
// program chose. Not for users.
//
// Payload format (type URL kCausePayloadUrl): "<cause name>[:<signo>]" then
// ";parent" when the reason came through a parent link.
#ifndef CANCELPOOL_CANCEL_INTERNAL_CAUSE_PAYLOAD_H_
#define CANCELPOOL_CANCEL_INTERNAL_CAUSE_PAYLOAD_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace cancelpool {

// Defined in cancelpool/cancel/cause.h (public, in //cancel:cancel, which
// depends on this target: hence only declared here).
enum class CancellationCause;

namespace cancel_internal {

inline constexpr absl::string_view kCausePayloadUrl =
    "cancelpool/CancellationCause";

// True if `status` carries a cause payload.
bool HasCancellationCause(const absl::Status& status);

// `status` unchanged if it is OK or already carries a cause; otherwise
// `status` with `cause` (and `signo`) attached.
absl::Status WithCauseIfAbsent(absl::Status status, CancellationCause cause,
                               int signo = 0);

// The reason a child gets when its parent was cancelled with `reason`:
// same code, message and cause, plus the through-parent marker. Returns
// `reason` itself (no allocation) when it already has the marker.
absl::Status ThroughParent(absl::Status reason);

// Shared reasons (copies only bump a reference count).
// DeadlineExceeded("deadline exceeded") with kDeadline.
absl::Status DeadlineReason();
// Cancelled("thread pool shutdown") with kShutdown.
absl::Status DefaultShutdownReason();

}  // namespace cancel_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_CANCEL_INTERNAL_CAUSE_PAYLOAD_H_
