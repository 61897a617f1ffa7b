// Copyright 2026 The cancelpool Authors.
#include "cancelpool/cancel/internal/deadline_timer.h"

#include <pthread.h>

#include <cstdlib>
#include <new>
#include <utility>

#include "absl/status/status.h"
#include "cancelpool/cancel/internal/cancel_state.h"

namespace cancelpool {
namespace cancel_internal {

DeadlineTimer& DeadlineTimer::Get() {
  // Leaked on purpose: states with deadlines may be destroyed during static
  // destruction, after an ordinary static would be gone.
  static DeadlineTimer* const timer = [] {
    auto* t = new DeadlineTimer();
    std::atexit([] { Get().StopAtExit(); });
    pthread_atfork([] { Get().mu_.Lock(); }, [] { Get().mu_.Unlock(); },
                   [] {
                     Get().mu_.Unlock();
                     Get().ForgetThreadAfterFork();
                   });
    return t;
  }();
  return *timer;
}

void DeadlineTimer::ForgetThreadAfterFork() {
  // The child has no timer thread; drop the handle without joining it (there
  // is nothing to join) so the next Arm() starts a fresh one.
  if (thread_started_) {
    new (&thread_) std::thread();  // the old handle is abandoned, not joined
    thread_started_ = false;
  }
}

void DeadlineTimer::Place(size_t i, CancelState* s) {
  heap_[i] = s;
  s->timer_index_ = i;
}

void DeadlineTimer::SiftUp(size_t i) {
  CancelState* s = heap_[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (heap_[parent]->deadline_ <= s->deadline_) break;
    Place(i, heap_[parent]);
    i = parent;
  }
  Place(i, s);
}

void DeadlineTimer::SiftDown(size_t i) {
  CancelState* s = heap_[i];
  const size_t n = heap_.size();
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap_[child + 1]->deadline_ < heap_[child]->deadline_) {
      ++child;
    }
    if (s->deadline_ <= heap_[child]->deadline_) break;
    Place(i, heap_[child]);
    i = child;
  }
  Place(i, s);
}

void DeadlineTimer::RemoveAt(size_t i) {
  heap_[i]->timer_armed_ = false;
  CancelState* last = heap_.back();
  heap_.pop_back();
  if (i < heap_.size()) {
    Place(i, last);
    SiftDown(i);
    SiftUp(last->timer_index_);
  }
}

void DeadlineTimer::Arm(CancelState* state) {
  absl::MutexLock lock(&mu_);
  state->timer_armed_ = true;
  heap_.push_back(state);
  SiftUp(heap_.size() - 1);
  if (exited_) return;
  if (!thread_started_) {
    thread_started_ = true;
    thread_ = std::thread([this] { Run(); });
  }
  if (heap_[0] == state) wake_.Signal();
}

void DeadlineTimer::Disarm(CancelState* state) {
  absl::MutexLock lock(&mu_);
  if (state->timer_armed_) RemoveAt(state->timer_index_);
}

size_t DeadlineTimer::ArmedCount() {
  absl::MutexLock lock(&mu_);
  return heap_.size();
}

bool DeadlineTimer::ThreadRunning() {
  absl::MutexLock lock(&mu_);
  return thread_started_;
}

void DeadlineTimer::Run() {
  pthread_setname_np(pthread_self(), "cancelpool-dl");
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    if (heap_.empty()) {
      wake_.Wait(&mu_);
      continue;
    }
    CancelState* top = heap_[0];
    if (top->deadline_ > absl::Now()) {
      wake_.WaitWithDeadline(&mu_, top->deadline_);
      continue;
    }
    RemoveAt(0);
    if (!top->TryRef()) continue;  // being destroyed
    mu_.Unlock();
    top->RequestCancellation(absl::DeadlineExceededError("deadline exceeded"));
    top->Unref();
    mu_.Lock();
  }
}

void DeadlineTimer::StopAtExit() {
  std::thread t;
  {
    absl::MutexLock lock(&mu_);
    exited_ = true;
    stopping_ = true;
    wake_.Signal();
    if (!thread_started_) return;
    t = std::move(thread_);
  }
  t.join();
}

}  // namespace cancel_internal
}  // namespace cancelpool
