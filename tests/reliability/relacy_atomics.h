// Copyright 2026 The cancelpool Authors.
//
// Relacy (header-only model checker, /usr/include/relacy) policies for the
// production code that is generic over its atomics -- the work-stealing deque
// (RelacyAtomics) and the idle/parking protocol (RelacySync) -- and small
// Relacy helpers shared by the models in this directory.
//
// pool/internal/work_stealing_deque.h is generic over its atomics:
//   template <typename T, typename Atomics = StdAtomics> class
//   WorkStealingDeque
// using only `Atomics::template Atomic<U>` (load / store /
// compare_exchange_strong) and the order constants relaxed / acquire /
// release / seq_cst. Relacy's rl::atomic<U> has the same operations but wants
// a debug-info argument after every memory order (its `$` macro). The
// adapter below forwards each call with the *caller's* file and line
// (std::source_location), so a failing Relacy history points at the line of
// work_stealing_deque.h that performed the access.
//
// Include order matters: relacy.hpp defines macros (new, delete, assert,
// memory_order_relaxed, ...) that break ordinary C++ included after it. Include
// the production headers and gtest first, then this header; it removes the
// global-spelling macros again (the models below use rl:: names explicitly).
#ifndef CANCELPOOL_TESTS_RELIABILITY_RELACY_ATOMICS_H_
#define CANCELPOOL_TESTS_RELIABILITY_RELACY_ATOMICS_H_

#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <relacy/relacy.hpp>
#include <relacy/stdlib/pthread.hpp>
#include <source_location>
#include <streambuf>
#include <string>

// Undo the spellings relacy.hpp redirects; we call Relacy explicitly.
#undef new
#undef delete
#undef malloc
#undef calloc
#undef realloc
#undef free
#undef assert
#undef errno
#undef memory_order_relaxed
#undef memory_order_consume
#undef memory_order_acquire
#undef memory_order_release
#undef memory_order_acq_rel
#undef memory_order_seq_cst

// Relacy replaces the global unsized operator new/delete (context.hpp):
// inside a simulation they use Relacy's checked heap, outside it
// malloc/free. Two consequences for a model binary, handled by expanding
// CANCELPOOL_RELACY_ALLOCATION_GLUE() once at namespace scope:
//   * C++14 code frees with the *sized* operator delete, which Relacy does
//     not replace (libstdc++'s forwards to the unsized one, ASan's does not):
//     route the sized forms to Relacy's, or memory crosses heaps;
//   * under ASan, frees through ASan's own operators of blocks Relacy's
//     operator new took from malloc are reported as "alloc-dealloc-mismatch"
//     -- a bookkeeping difference between two ASan-managed heaps, not a
//     memory error -- so that one check is off by default (ASAN_OPTIONS still
//     overrides it; leaks, overflows and use-after-free are still reported),
//     and the fiber stacks Relacy itself never frees are not reported as
//     leaks.
#define CANCELPOOL_RELACY_ALLOCATION_GLUE()                             \
  void operator delete(void* p, std::size_t) noexcept {                 \
    ::operator delete(p);                                               \
  }                                                                     \
  void operator delete[](void* p, std::size_t) noexcept {               \
    ::operator delete[](p);                                             \
  }                                                                     \
  extern "C" const char* __asan_default_options() {                     \
    return "alloc_dealloc_mismatch=0";                                  \
  }                                                                     \
  extern "C" const char* __lsan_default_suppressions() {                \
    return "leak:create_fiber\n"; /* Relacy never frees fiber stacks */ \
  }

namespace cancelpool {
namespace reliability {

inline rl::debug_info Where(const std::source_location& loc) {
  return rl::debug_info(loc.function_name(), loc.file_name(), loc.line());
}

// The policy. `Bugs` lets a model re-insert known bug patterns through the
// hooks work_stealing_deque.h reads from its Atomics policy (see
// DequeTestHooks there); the default has none.
template <bool kRelaxedStealBottom = false>
struct RelacyAtomicsT {
  template <typename T>
  class Atomic {
   public:
    Atomic() = default;
    Atomic(T v) : a_(v) {}  // NOLINT: mirrors std::atomic's constructor
    Atomic(const Atomic&) = delete;
    Atomic& operator=(const Atomic&) = delete;

    T load(rl::memory_order mo,
           std::source_location loc = std::source_location::current()) const {
      return a_.load(mo, Where(loc));
    }
    void store(T v, rl::memory_order mo,
               std::source_location loc = std::source_location::current()) {
      a_.store(v, mo, Where(loc));
    }
    bool compare_exchange_strong(
        T& expected, T desired, rl::memory_order success,
        rl::memory_order failure,
        std::source_location loc = std::source_location::current()) {
      const rl::debug_info info = Where(loc);
      return a_.compare_exchange_strong(expected, desired, success, info,
                                        failure, info);
    }
    T exchange(T v, rl::memory_order mo,
               std::source_location loc = std::source_location::current()) {
      return a_.exchange(v, mo, Where(loc));
    }
    T fetch_add(T v, rl::memory_order mo,
                std::source_location loc = std::source_location::current()) {
      return a_.fetch_add(v, mo, Where(loc));
    }
    T fetch_sub(T v, rl::memory_order mo,
                std::source_location loc = std::source_location::current()) {
      return a_.fetch_sub(v, mo, Where(loc));
    }
    rl::atomic<T>& raw() { return a_; }

   private:
    mutable rl::atomic<T> a_;
  };
  static constexpr rl::memory_order relaxed = rl::mo_relaxed;
  static constexpr rl::memory_order acquire = rl::mo_acquire;
  static constexpr rl::memory_order release = rl::mo_release;
  static constexpr rl::memory_order acq_rel = rl::mo_acq_rel;
  static constexpr rl::memory_order seq_cst = rl::mo_seq_cst;

  // Test-only hook read by work_stealing_deque.h (see there).
  static constexpr bool kInjectBugRelaxedStealBottom = kRelaxedStealBottom;
};

using RelacyAtomics = RelacyAtomicsT<>;

// The synchronisation policy of pool/internal/sync.h over Relacy: the
// atomics above, rl::mutex, and Relacy's futex model (the wait re-checks the
// word and sleeps atomically). Instantiates the production Idle, Parker and
// InjectionQueue in tests/reliability/parking_model_test.cc. The two
// switches re-insert known bugs through the hooks sync.h reads (TEST-ONLY
// BUG INJECTION there); the default has none.
template <bool kRelaxedNotifyLoad = false, bool kRelaxedSizeLoad = false>
struct RelacySyncT : RelacyAtomicsT<> {
  class Mutex {
   public:
    void lock(const std::source_location& loc) { mu_.lock(Where(loc)); }
    void unlock(const std::source_location& loc) { mu_.unlock(Where(loc)); }

   private:
    rl::mutex mu_;
  };
  // absl::MutexLock's shape: constructed from a Mutex*.
  class Lock {
   public:
    explicit Lock(Mutex* mu,
                  std::source_location loc = std::source_location::current())
        : mu_(mu), loc_(loc) {
      mu_->lock(loc_);
    }
    ~Lock() { mu_->unlock(loc_); }
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

   private:
    Mutex* mu_;
    std::source_location loc_;
  };
  // Relacy's futex model works on rl::atomic<int>.
  using FutexWord = Atomic<int>;
  static void FutexWait(
      FutexWord* word, int expected,
      std::source_location loc = std::source_location::current()) {
    rl::rl_futex(&word->raw(), rl::RL_FUTEX_WAIT, expected, nullptr, nullptr, 0,
                 Where(loc));
  }
  static void FutexWakeAll(
      FutexWord* word,
      std::source_location loc = std::source_location::current()) {
    rl::rl_futex(&word->raw(), rl::RL_FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0,
                 Where(loc));
  }

  static constexpr bool kInjectBugRelaxedNotifyLoad = kRelaxedNotifyLoad;
  static constexpr bool kInjectBugRelaxedSizeLoad = kRelaxedSizeLoad;
};

using RelacySync = RelacySyncT<>;

// What one rl::simulate run reported.
struct ModelRun {
  bool ok = false;  // the test's expected result (success)
  rl::test_result_e result = rl::test_result_success;
  uint64_t iterations = 0;  // executions explored
  std::string output;       // Relacy's report (history on failure)
};

enum class Search { kRandom, kContextBound, kFull };

// CI sizes shrink in the (several times slower) ASan build.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr uint64_t kCiScaleDown = 4;
#else
inline constexpr uint64_t kCiScaleDown = 1;
#endif

// Relacy replaces the global operator new/delete and, inside a simulation,
// serves them from its own checked heap; a std::ostringstream growing while
// Relacy prints a counterexample would free a buffer Relacy never allocated.
// So its report goes to a buffer allocated up front that never grows (the
// tail of an overlong report is dropped).
class FixedBuffer : public std::streambuf {
 public:
  explicit FixedBuffer(size_t size) : buf_(new char[size]), size_(size) {
    setp(buf_.get(), buf_.get() + size_);
  }
  std::string str() const { return std::string(pbase(), pptr()); }

 protected:
  int_type overflow(int_type ch) override {
    return traits_type::not_eof(ch);  // full: drop
  }

 private:
  std::unique_ptr<char[]> buf_;
  size_t size_;
};

// Runs Relacy on `Model` (an rl::test_suite) and captures its report.
template <typename Model>
ModelRun RunModel(Search search, uint64_t iterations,
                  unsigned context_bound = 1) {
  FixedBuffer buffer(1 << 20);
  std::ostream out(&buffer);
  rl::test_params p;
  p.iteration_count = iterations;
  p.output_stream = &out;
  p.progress_stream = &out;
  switch (search) {
    case Search::kRandom:
      p.search_type = rl::sched_random;
      break;
    case Search::kContextBound:
      p.search_type = rl::sched_bound;
      p.context_bound = context_bound;
      break;
    case Search::kFull:
      p.search_type = rl::sched_full;
      break;
  }
  ModelRun run;
  run.ok = rl::simulate<Model>(p);
  run.result = p.test_result;
  run.iterations = p.stop_iteration;
  run.output = buffer.str();
  return run;
}

}  // namespace reliability
}  // namespace cancelpool

#endif  // CANCELPOOL_TESTS_RELIABILITY_RELACY_ATOMICS_H_
