// Copyright 2026 The cancelpool Authors.
#include "cancelpool/cancel/cancellation.h"

#include <optional>
#include <utility>

#include "absl/container/fixed_array.h"
#include "absl/strings/str_cat.h"
#include "cancelpool/cancel/cause.h"
#include "cancelpool/cancel/internal/cause_payload.h"

namespace cancelpool {
namespace {

using cancel_internal::CancelState;
using cancel_internal::ParentLink;
using cancel_internal::StateRef;

// Requests cancellation of a state when a std::stop_token is stop-requested.
struct StdParentCallback {
  CancelState* child;
  void operator()() const noexcept {
    // Shared: copies bump a reference count. The cause upstream of a
    // std::stop_token is unknown: kParent, through a parent (cause.h).
    static const absl::Status* const kReason =
        new absl::Status(cancel_internal::ThroughParent(WithCancellationCause(
            absl::CancelledError("std::stop_token stop requested"),
            CancellationCause::kParent)));
    child->RequestCancellation(*kReason);
  }
};

// The state behind a CancellationSource: the base state plus its links.
class SourceState final : public CancelState {
 public:
  // A deadline, or a relative timeout (measured on the monotonic clock), or
  // neither (InfiniteFuture / InfiniteDuration).
  SourceState(absl::Span<const CancellationToken> parents,
              absl::Span<const std::stop_token> std_parents,
              absl::Time deadline, absl::Duration timeout)
      : links_(parents.size()) {
    for (size_t i = 0; i < parents.size(); ++i) {
      links_[i].Attach(cancel_internal::TokenAccess::State(parents[i]), this);
    }
    if (!std_parents.empty()) {
      std_links_.reserve(std_parents.size());
      for (const std::stop_token& st : std_parents) {
        std_links_.push_back(
            std::make_unique<std::stop_callback<StdParentCallback>>(
                st, StdParentCallback{this}));
      }
    }
    // Armed even if a parent's deadline is earlier: that parent may finish
    // (be closed) without ever being cancelled.
    if (timeout != absl::InfiniteDuration()) {
      ArmTimeout(timeout);
    } else if (deadline != absl::InfiniteFuture()) {
      ArmDeadline(deadline);
    }
  }

  ~SourceState() override {
    // Unlink before the base state goes away; each unlink waits for a
    // propagation that is running on another thread.
    std_links_.clear();
    for (ParentLink& link : links_) link.Detach();
  }

 private:
  void DestroyState() noexcept override { delete this; }

  absl::FixedArray<ParentLink, 1> links_;
  std::vector<std::unique_ptr<std::stop_callback<StdParentCallback>>>
      std_links_;
};

StateRef MakeSourceState(absl::Span<const CancellationToken> parents,
                         absl::Span<const std::stop_token> std_parents,
                         absl::Time deadline = absl::InfiniteFuture(),
                         absl::Duration timeout = absl::InfiniteDuration()) {
  return StateRef::Adopt(
      new SourceState(parents, std_parents, deadline, timeout));
}

}  // namespace

CancelledException::CancelledException(absl::Status reason)
    : reason_(reason.ok() ? cancel_internal::DefaultCancelReason()
                          : std::move(reason)),
      what_(absl::StrCat("cancelled: ", reason_.ToString())) {}

void CancellationToken::ThrowCancelled() const {
  throw CancelledException(Reason());
}

std::stop_token CancellationToken::ToStopToken() const {
  if (!state_) return std::stop_token();
  return state_->GetStopToken();
}

CancellationSource::CancellationSource()
    : state_(MakeSourceState({}, {}, absl::InfiniteFuture())) {}

CancellationSource::CancellationSource(const CancellationToken& parent)
    : state_(MakeSourceState(absl::MakeConstSpan(&parent, 1), {},
                             absl::InfiniteFuture())) {}

CancellationSource::CancellationSource(
    absl::Span<const CancellationToken> parents)
    : state_(MakeSourceState(parents, {}, absl::InfiniteFuture())) {}

CancellationSource::CancellationSource(std::stop_token parent)
    : state_(MakeSourceState({}, absl::MakeConstSpan(&parent, 1),
                             absl::InfiniteFuture())) {}

CancellationSource::CancellationSource(const Options& options)
    : state_(MakeSourceState(options.parents, options.std_parents,
                             options.deadline)) {}

CancellationSource CancellationSource::WithDeadline(
    absl::Time deadline, absl::Span<const CancellationToken> parents) {
  return CancellationSource(MakeSourceState(parents, {}, deadline));
}

CancellationSource CancellationSource::WithTimeout(
    absl::Duration timeout, absl::Span<const CancellationToken> parents) {
  return CancellationSource(
      MakeSourceState(parents, {}, absl::InfiniteFuture(), timeout));
}

}  // namespace cancelpool
