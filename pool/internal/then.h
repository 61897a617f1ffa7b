// Copyright 2026 The cancelpool Authors.
//
// Future::Then (contract: future.h, CONTINUATIONS) and the small helpers the
// combinators share: access to a ThreadPool's scheduler and to a Future's
// block, and blocks resolved directly (not run by a pool). Internal: included
// by thread_pool.h.
//
// PROTOCOL: CONTINUATION (a held block, task.h L4)
//   C1. Then creates the continuation block B holding f and the
//       antecedent's reference (ThenCall), marks it held, counts it as
//       submitted in the pool, attaches options.parent/deadline (a parent
//       already cancelled resolves B at once; see C4), and registers B's
//       listener on the antecedent A (L1; if A already resolved, C2 runs on
//       this thread). B's second reference (the "queue" one) belongs to the
//       listener until C2 hands it on.
//   C2. A resolves (listener, L2): if A was cancelled and f does not take
//       the Result, B is cancelled with A's reason (step 3 of task.h: not
//       started, so the canceller resolves it; counted as cancelled before
//       start) and the listener drops its reference. Otherwise
//       Scheduler::SubmitHeld queues B (clearing kHeld) or rejects it.
//   C3. B runs (a worker, or a helping wait once kHeld is clear): ThenCall
//       reads A's final result (A resolved before C2 started, and SubmitHeld
//       publishes the queue entry) and calls f, or returns A's error.
//   C4. B cancelled before it runs (Future::Cancel, its parent, deadline,
//       shutdown): the canceller resolves B (step 3 of task.h, in the hook
//       of REQUEST step 4), then runs B's callbacks (step 5), among them
//       the one registered at C1 that cancels A (upstream). A's listener
//       then finds B resolved (also when it runs nested on this very
//       thread) and only drops its reference. Cancelling upstream from the
//       hook itself, before B resolved, would run A's listener nested
//       inside B's resolution: it could neither queue B nor wait for it.
// Races ruled out: B running before A resolved (kHeld until C2); B resolved
// twice (C2 and C4 both go through step 3 or TryStart); the listener's
// reference dropped twice (only C2 touches it); A freed before C3 reads it
// (B holds A's reference until B is destroyed); a cancellation of B that
// re-enters through A's listener on the same thread (C4's ordering).
#ifndef CANCELPOOL_POOL_INTERNAL_THEN_H_
#define CANCELPOOL_POOL_INTERNAL_THEN_H_

#include <memory>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/pool/future.h"
#include "cancelpool/pool/internal/task.h"
#include "cancelpool/pool/options.h"
#include "cancelpool/pool/thread_pool.h"

namespace cancelpool {
namespace pool_internal {

// Defined in compose_support.cc (part of //pool).
void SubmitHeldTask(Scheduler* scheduler, TaskBase* task);
void CountSubmittedTask(Scheduler* scheduler, TaskBase* task);
bool LocalDequeLooksEmpty(Scheduler* scheduler);

struct ComposeAccess {
  static Scheduler* Get(ThreadPool& pool) { return pool.scheduler_.get(); }
  static std::shared_ptr<Scheduler> Share(ThreadPool& pool) {
    return pool.scheduler_;
  }
};

struct FutureAccess {
  // Takes the future's reference (the future becomes empty).
  template <typename R>
  static FutureState<R>* Release(Future<R>& future) {
    return std::exchange(future.state_, nullptr);
  }
  // Adopts one reference.
  template <typename R>
  static Future<R> Adopt(FutureState<R>* state) {
    return Future<R>(state);
  }
};

// The status part of a Result (absl::Status or absl::StatusOr<T>).
inline const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

// A block that no pool runs: a combinator resolves it directly. Starts with
// the two references of every block; the creator keeps both (one for the
// future it returns, one it passes on or drops).
template <typename R>
class DirectState : public FutureState<R> {
 public:
  // Claims the right to resolve (TryStart: fails if cancelled or claimed).
  bool Claim() noexcept { return this->TryStart(); }
  // After a successful Claim.
  void Succeed(typename ResultSlot<R>::Type result) noexcept {
    this->result_ = std::move(result);
    this->Finish(StatusOf(this->result_).ok() ? TaskOutcome::kSucceeded
                                              : TaskOutcome::kFailed);
  }
  void Fail(absl::Status status, TaskOutcome outcome) noexcept {
    this->SetError(std::move(status));
    this->Finish(outcome);
  }
};

// A future already failed with `status` (bad input, empty input future).
template <typename R>
Future<R> FailedFuture(absl::Status status) {
  auto* state = new DirectState<R>();
  state->Claim();
  state->Fail(std::move(status), TaskOutcome::kFailed);
  state->Unref();  // the second reference: nobody else holds the block
  return FutureAccess::Adopt<R>(state);
}

template <typename A, typename F>
struct ThenTraits {
  using In = typename ResultSlot<A>::Type;
  static constexpr bool TakesToken() {
    if constexpr (std::is_invocable_v<F&, CancellationToken, In&&>) {
      return true;
    } else if constexpr (std::is_void_v<A>) {
      return std::is_invocable_v<F&, CancellationToken>;
    } else {
      return std::is_invocable_v<F&, CancellationToken, A&&>;
    }
  }
  static constexpr bool kToken = TakesToken();
  static constexpr bool kSeesFailures =
      std::is_invocable_v<F&, In&&> ||
      std::is_invocable_v<F&, CancellationToken, In&&>;
  static auto Probe() {
    if constexpr (kSeesFailures) {
      if constexpr (kToken) {
        return std::type_identity<
            std::invoke_result_t<F&, CancellationToken, In&&>>();
      } else {
        return std::type_identity<std::invoke_result_t<F&, In&&>>();
      }
    } else if constexpr (std::is_void_v<A>) {
      if constexpr (kToken) {
        return std::type_identity<
            std::invoke_result_t<F&, CancellationToken>>();
      } else {
        static_assert(std::is_invocable_v<F&>,
                      "Then on Future<void>: f(), f(token), f(absl::Status) "
                      "or f(token, absl::Status)");
        return std::type_identity<std::invoke_result_t<F&>>();
      }
    } else {
      if constexpr (kToken) {
        return std::type_identity<
            std::invoke_result_t<F&, CancellationToken, A&&>>();
      } else {
        static_assert(std::is_invocable_v<F&, A&&>,
                      "Then on Future<T>: f(T), f(token, T), "
                      "f(absl::StatusOr<T>) or f(token, absl::StatusOr<T>)");
        return std::type_identity<std::invoke_result_t<F&, A&&>>();
      }
    }
  }
  using Raw = typename decltype(Probe())::type;
  using Value = typename UnwrapResult<std::decay_t<Raw>>::type;
  using Out = typename ResultSlot<Value>::Type;
};

// The continuation's callable (C3, C4).
template <typename A, typename F>
class ThenCall {
  using Traits = ThenTraits<A, F>;

 public:
  // `antecedent` is owned (one reference) by the enclosing ThenBlock.
  ThenCall(FutureState<A>* antecedent, F fn)
      : antecedent_(antecedent), fn_(std::move(fn)) {}
  ThenCall(ThenCall&& other) noexcept = default;
  ThenCall(const ThenCall&) = delete;
  ThenCall& operator=(const ThenCall&) = delete;
  ThenCall& operator=(ThenCall&&) = delete;

  typename Traits::Out operator()(CancellationToken token) {
    auto& in = antecedent_->result();
    if constexpr (Traits::kSeesFailures) {
      if constexpr (Traits::kToken) {
        return Wrap([&] { return fn_(std::move(token), std::move(in)); });
      } else {
        return Wrap([&] { return fn_(std::move(in)); });
      }
    } else {
      if (!StatusOf(in).ok()) return StatusOf(in);
      if constexpr (std::is_void_v<A>) {
        if constexpr (Traits::kToken) {
          return Wrap([&] { return fn_(std::move(token)); });
        } else {
          return Wrap([&] { return fn_(); });
        }
      } else {
        if constexpr (Traits::kToken) {
          return Wrap([&] { return fn_(std::move(token), std::move(*in)); });
        } else {
          return Wrap([&] { return fn_(std::move(*in)); });
        }
      }
    }
  }

 private:
  template <typename G>
  static typename Traits::Out Wrap(G&& g) {
    using Raw = typename Traits::Raw;
    if constexpr (std::is_void_v<Raw>) {
      g();
      return absl::OkStatus();
    } else {
      return typename Traits::Out(g());
    }
  }

  FutureState<A>* antecedent_;
  F fn_;
};

// The continuation block: a task block (run by the pool like any other)
// plus the listener registered on the antecedent (C2).
template <typename A, typename F>
class ThenBlock final : public TaskImpl<ThenCall<A, F>> {
  using Traits = ThenTraits<A, F>;

 public:
  // Adopts the antecedent's reference.
  ThenBlock(FutureState<A>* antecedent, F fn,
            std::shared_ptr<Scheduler> scheduler)
      : TaskImpl<ThenCall<A, F>>(ThenCall<A, F>(antecedent, std::move(fn))),
        antecedent_(antecedent),
        keep_(std::move(scheduler)) {
    listener_.on_resolved = &OnAntecedentResolved;
    listener_.owner = this;
    upstream_.owner = this;
  }
  ~ThenBlock() override {
    if (upstream_registered_) this->RemoveCallback(&upstream_);
    antecedent_->Unref();
  }

  ResolveListener* listener() { return &listener_; }

  // C4: registers the upstream cancellation on this block's own token (a
  // callback runs in step 5 of REQUEST, after the hook of step 4 resolved
  // the block, so the antecedent's listener then finds it resolved). Before
  // sharing.
  void WatchForCancellation() {
    upstream_registered_ = this->TryAddCallback(&upstream_);
    if (!upstream_registered_) CancelUpstream();
  }

 private:
  struct UpstreamNode : cancel_internal::CallbackNode {
    UpstreamNode() : CallbackNode(&Invoke) {}
    static void Invoke(cancel_internal::CallbackNode* node) noexcept {
      static_cast<UpstreamNode*>(node)->owner->CancelUpstream();
    }
    ThenBlock* owner = nullptr;
  };
  // No effect if the antecedent finished.
  void CancelUpstream() noexcept {
    CancelTask(antecedent_, DefaultFutureCancelReason());
  }

  static void OnAntecedentResolved(ResolveListener* self,
                                   TaskBase* task) noexcept {
    ThenBlock* block = static_cast<Node*>(self)->owner;
    std::shared_ptr<Scheduler> keep = std::move(block->keep_);
    if (block->IsResolved()) {  // C4 came first and is done
      block->Unref();
      return;
    }
    if (!Traits::kSeesFailures && task->outcome() == TaskOutcome::kCancelled) {
      auto* antecedent = static_cast<FutureState<A>*>(task);
      block->RequestCancellation(StatusOf(antecedent->result()));
      block->Unref();
      return;
    }
    SubmitHeldTask(keep.get(), block);
  }

  struct Node : ResolveListener {
    ThenBlock* owner;
  };
  Node listener_;
  UpstreamNode upstream_;
  bool upstream_registered_ = false;
  FutureState<A>* antecedent_;
  std::shared_ptr<Scheduler> keep_;
};

template <typename A, typename F>
auto MakeThen(ThreadPool& pool, Future<A> antecedent, F&& f,
              const TaskOptions& options) {
  using Fn = std::decay_t<F>;
  using V = typename ThenTraits<A, Fn>::Value;
  FutureState<A>* in = FutureAccess::Release(antecedent);
  if (in == nullptr) {
    return FailedFuture<V>(
        absl::FailedPreconditionError("Then() on an empty Future"));
  }
  auto* block = new ThenBlock<A, Fn>(in, Fn(std::forward<F>(f)),
                                     ComposeAccess::Share(pool));
  block->SetHeld();
  CountSubmittedTask(ComposeAccess::Get(pool), block);
  block->WatchForCancellation();
  block->AttachParentAndDeadline(
      cancel_internal::TokenAccess::State(options.parent), options.deadline);
  // The future's reference is taken now: the listener may resolve the
  // block and drop its own before this function returns.
  Future<V> out = FutureAccess::Adopt<V>(block);
  if (!in->AddListener(block->listener())) {
    block->listener()->on_resolved(block->listener(), in);
  }
  return out;
}

}  // namespace pool_internal

template <typename R>
template <typename F>
auto Future<R>::Then(ThreadPool& pool, F&& f, const TaskOptions& options) && {
  return pool_internal::MakeThen<R>(pool, std::move(*this), std::forward<F>(f),
                                    options);
}

}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_INTERNAL_THEN_H_
