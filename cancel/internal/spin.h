// Copyright 2026 The cancelpool Authors.
//
// SpinWait: bounded busy-wait with a CPU pause, then yields, then short
// sleeps. For the very short critical sections of the cancellation state and
// for waits on a callback that is finishing on another thread.
#ifndef CANCELPOOL_CANCEL_INTERNAL_SPIN_H_
#define CANCELPOOL_CANCEL_INTERNAL_SPIN_H_

#include <chrono>
#include <thread>

namespace cancelpool {
namespace cancel_internal {

inline void CpuRelax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

class SpinWait {
 public:
  static constexpr int kPauseIterations = 64;
  static constexpr int kYieldIterations = 64 + 32;

  void Once() noexcept {
    if (count_ < kPauseIterations) {
      CpuRelax();
    } else if (count_ < kYieldIterations) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    ++count_;
  }

 private:
  int count_ = 0;
};

}  // namespace cancel_internal
}  // namespace cancelpool

#endif  // CANCELPOOL_CANCEL_INTERNAL_SPIN_H_
