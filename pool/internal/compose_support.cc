// Copyright 2026 The cancelpool Authors.
//
// The scheduler entry points that the combinators' templates (then.h,
// compose.h) call without including scheduler.h.
#include "cancelpool/pool/internal/scheduler.h"
#include "cancelpool/pool/internal/then.h"

namespace cancelpool {
namespace pool_internal {

void SubmitHeldTask(Scheduler* scheduler, TaskBase* task) {
  scheduler->SubmitHeld(task);
}

void CountSubmittedTask(Scheduler* scheduler, TaskBase* task) {
  scheduler->CountSubmitted(task);
}

bool LocalDequeLooksEmpty(Scheduler* scheduler) {
  return scheduler->LocalDequeLooksEmpty();
}

}  // namespace pool_internal
}  // namespace cancelpool
