// Copyright 2026 The cancelpool Authors.
#include "cancelpool/cancel/disconnect.h"

#include <utility>

#include "cancelpool/cancel/internal/disconnect_watcher.h"

namespace cancelpool {

DisconnectRegistration& DisconnectRegistration::operator=(
    DisconnectRegistration&& other) noexcept {
  if (this != &other) {
    Reset();
    id_ = other.id_;
    other.id_ = 0;
  }
  return *this;
}

void DisconnectRegistration::Reset() noexcept {
  if (id_ == 0) return;
  cancel_internal::DisconnectWatcher::Get().Unregister(id_);
  id_ = 0;
}

absl::StatusOr<DisconnectRegistration> WatchDisconnect(
    int fd, CancellationSource source) {
  absl::StatusOr<uint64_t> id =
      cancel_internal::DisconnectWatcher::Get().Register(fd, std::move(source));
  if (!id.ok()) return id.status();
  return DisconnectRegistration(*id);
}

}  // namespace cancelpool
