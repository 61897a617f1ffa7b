// Copyright 2026 The cancelpool Authors.
#include "cancelpool/cancel/cause.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "cancelpool/cancel/internal/cause_payload.h"

namespace cancelpool {
namespace {

using cancel_internal::kCausePayloadUrl;

constexpr absl::string_view kParentMarker = ";parent";

constexpr CancellationCause kAllCauses[] = {
    CancellationCause::kNone,       CancellationCause::kRequested,
    CancellationCause::kParent,     CancellationCause::kDeadline,
    CancellationCause::kShutdown,   CancellationCause::kSignal,
    CancellationCause::kDisconnect,
};

// The decoded payload of a status that has one.
struct Decoded {
  CancellationCause cause = CancellationCause::kRequested;
  int signo = 0;
  bool through_parent = false;
};

std::optional<Decoded> Decode(const absl::Status& status) {
  if (status.ok()) return std::nullopt;
  // absl::optional: std::optional only where Abseil is built for C++17.
  auto payload = status.GetPayload(kCausePayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  std::string text(*payload);
  absl::string_view rest = text;
  Decoded d;
  d.through_parent = absl::ConsumeSuffix(&rest, kParentMarker);
  absl::string_view name = rest;
  absl::string_view signo;
  if (size_t colon = rest.find(':'); colon != absl::string_view::npos) {
    name = rest.substr(0, colon);
    signo = rest.substr(colon + 1);
  }
  for (CancellationCause c : kAllCauses) {
    if (CancellationCauseName(c) == name) {
      d.cause = c;
      break;
    }
  }
  if (d.cause == CancellationCause::kSignal &&
      (!absl::SimpleAtoi(signo, &d.signo) || d.signo <= 0)) {
    d.signo = 0;
  }
  return d;
}

std::string Encode(CancellationCause cause, int signo, bool through_parent) {
  std::string text(CancellationCauseName(cause));
  if (cause == CancellationCause::kSignal && signo > 0) {
    absl::StrAppend(&text, ":", signo);
  }
  if (through_parent) absl::StrAppend(&text, kParentMarker);
  return text;
}

}  // namespace

absl::string_view CancellationCauseName(CancellationCause cause) {
  switch (cause) {
    case CancellationCause::kNone:
      return "none";
    case CancellationCause::kRequested:
      return "requested";
    case CancellationCause::kParent:
      return "parent";
    case CancellationCause::kDeadline:
      return "deadline";
    case CancellationCause::kShutdown:
      return "shutdown";
    case CancellationCause::kSignal:
      return "signal";
    case CancellationCause::kDisconnect:
      return "disconnect";
  }
  return "unknown";
}

CancellationCause GetCancellationCause(const absl::Status& status) {
  if (status.ok()) return CancellationCause::kNone;
  std::optional<Decoded> d = Decode(status);
  return d.has_value() ? d->cause : CancellationCause::kRequested;
}

std::optional<int> GetCancellationSignal(const absl::Status& status) {
  std::optional<Decoded> d = Decode(status);
  if (!d.has_value() || d->cause != CancellationCause::kSignal ||
      d->signo <= 0) {
    return std::nullopt;
  }
  return d->signo;
}

bool CancelledThroughParent(const absl::Status& status) {
  std::optional<Decoded> d = Decode(status);
  return d.has_value() && d->through_parent;
}

absl::Status WithCancellationCause(absl::Status status, CancellationCause cause,
                                   int signo) {
  if (status.ok()) return status;
  if (cause == CancellationCause::kNone) {
    status.ErasePayload(kCausePayloadUrl);
    return status;
  }
  status.SetPayload(kCausePayloadUrl,
                    absl::Cord(Encode(cause, signo, /*through_parent=*/false)));
  return status;
}

namespace cancel_internal {

bool HasCancellationCause(const absl::Status& status) {
  return !status.ok() && status.GetPayload(kCausePayloadUrl).has_value();
}

absl::Status WithCauseIfAbsent(absl::Status status, CancellationCause cause,
                               int signo) {
  if (status.ok() || HasCancellationCause(status)) return status;
  return WithCancellationCause(std::move(status), cause, signo);
}

absl::Status ThroughParent(absl::Status reason) {
  if (reason.ok()) return reason;
  std::optional<Decoded> d = Decode(reason);
  if (d.has_value() && d->through_parent) return reason;
  Decoded fresh = d.value_or(Decoded{});
  reason.SetPayload(kCausePayloadUrl,
                    absl::Cord(Encode(fresh.cause, fresh.signo,
                                      /*through_parent=*/true)));
  return reason;
}

absl::Status DeadlineReason() {
  static const absl::Status* const kReason = new absl::Status(
      WithCancellationCause(absl::DeadlineExceededError("deadline exceeded"),
                            CancellationCause::kDeadline));
  return *kReason;
}

absl::Status DefaultShutdownReason() {
  static const absl::Status* const kReason = new absl::Status(
      WithCancellationCause(absl::CancelledError("thread pool shutdown"),
                            CancellationCause::kShutdown));
  return *kReason;
}

}  // namespace cancel_internal
}  // namespace cancelpool
