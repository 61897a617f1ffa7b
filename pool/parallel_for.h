// Copyright 2026 The cancelpool Authors.
//
// ParallelFor: a cancellable parallel loop over an index range, balanced by
// work stealing.
//
// MODEL
// ParallelFor(pool, begin, end, body, options) runs body for every index
// in [begin, end) on the pool's workers and returns when every index is
// settled (ran, or will never run). body is called as
//   body(const CancellationToken& token, int64_t i)            (per index)
// or
//   body(const CancellationToken& token, int64_t lo, int64_t hi)  (a chunk)
// returning void or absl::Status; the token is the running piece's own (a
// child of the loop's token, itself a child of options.parent, or of the
// calling task's token when ParallelFor is called inside a task and no
// parent is given). The range is split lazily: a piece runs chunks of
// `grain` indices from its front and splits off its back half only when
// its worker's deque is empty, i.e. when an idle worker could steal it
// (compose.h, P1-P4). Indices are not run in order.
//
// RESULT -- ParallelForResult{status, completed}:
//   * status: OK if every index ran and every body succeeded; else the first
//     failure (a body's non-OK status; an exception, as
//     UnknownError("parallel_for body threw: ...")); else the loop token's
//     reason when it was cancelled (parent, deadline); else the status of a
//     piece the pool did not run (shutdown). Bad input (end < begin, grain
//     < 0): InvalidArgument, nothing runs.
//   * completed: how many indices' bodies ran to completion -- how far it
//     got (end - begin on success; the first failing index counts as not
//     completed).
// The first failure cancels the loop: every piece stops before its next
// index, queued pieces never run.
//
// BLOCKING
// Blocks the caller until the loop settles. On a worker of `pool` it runs
// the first piece itself and helps (its waits for split-off pieces run them
// if nobody stole them: no deadlock even with one worker). On any other
// thread it submits the first piece and sleeps.
//
// CANCELLATION AND SHUTDOWN
// Cancelling options.parent stops the loop at each piece's next index.
// Shutdown(kDrain) lets it finish (pieces split off inside the pool are
// still accepted); kCancel cancels the running pieces' tokens and resolves
// queued pieces without running them: ParallelFor returns with status
// cancelled (the shutdown's reason) and `completed` below the range. Called
// from outside after Shutdown: FailedPrecondition, nothing runs.
//
// THREAD SAFETY
// body is called concurrently from several workers; it must be safe for
// that. ParallelFor itself may be called concurrently and nested.
#ifndef CANCELPOOL_POOL_PARALLEL_FOR_H_
#define CANCELPOOL_POOL_PARALLEL_FOR_H_

#include <algorithm>
#include <cstdint>
#include <exception>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/current.h"
#include "cancelpool/pool/future.h"
#include "cancelpool/pool/internal/compose.h"
#include "cancelpool/pool/thread_pool.h"

namespace cancelpool {

struct ParallelForOptions {
  // The loop stops when `parent` is cancelled. Empty: the calling task's
  // token when called inside a task (CurrentToken()), else none.
  CancellationToken parent;
  // Indices per chunk, between splitting checks. 0: chosen from the range
  // and the number of workers.
  int64_t grain = 0;
};

struct ParallelForResult {
  absl::Status status;
  int64_t completed = 0;
};

namespace pool_internal {

template <typename Body>
absl::Status RunBodyChunk(Body& body, const CancellationToken& token,
                          int64_t lo, int64_t hi, int64_t* done) {
  *done = 0;
  if constexpr (std::is_invocable_v<Body&, const CancellationToken&, int64_t,
                                    int64_t>) {
    if (token.IsCancellationRequested()) return absl::OkStatus();
    using R =
        std::invoke_result_t<Body&, const CancellationToken&, int64_t, int64_t>;
    if constexpr (std::is_void_v<R>) {
      body(token, lo, hi);
    } else {
      absl::Status s = body(token, lo, hi);
      if (!s.ok()) return s;
    }
    *done = hi - lo;
  } else {
    static_assert(
        std::is_invocable_v<Body&, const CancellationToken&, int64_t>,
        "ParallelFor body: body(const CancellationToken&, int64_t) or "
        "body(const CancellationToken&, int64_t lo, int64_t hi)");
    using R = std::invoke_result_t<Body&, const CancellationToken&, int64_t>;
    for (int64_t i = lo; i < hi; ++i) {
      if (token.IsCancellationRequested()) break;
      if constexpr (std::is_void_v<R>) {
        body(token, i);
      } else {
        absl::Status s = body(token, i);
        if (!s.ok()) return s;
      }
      ++*done;
    }
  }
  return absl::OkStatus();
}

// P1-P4 for one piece [lo, hi). `token` is the piece's own token.
template <typename Body>
void RunPiece(LoopState* loop, Body* body, const CancellationToken& token,
              int64_t lo, int64_t hi) {
  std::vector<Future<void>> halves;
  const int64_t grain = loop->grain();
  while (lo < hi && !token.IsCancellationRequested()) {
    if (hi - lo > grain && loop->ShouldSplit()) {  // P1
      const int64_t mid = lo + (hi - lo) / 2;
      TaskOptions options;
      options.parent = token;
      halves.push_back(loop->pool()->SubmitWith(
          options, [loop, body, mid, hi](CancellationToken t) {
            RunPiece(loop, body, t, mid, hi);
          }));
      hi = mid;
      continue;
    }
    const int64_t chunk_end = std::min(hi, lo + grain);
    int64_t done = 0;
    absl::Status status;
    try {
      status = RunBodyChunk(*body, token, lo, chunk_end, &done);
    } catch (const CancelledException& e) {
      if (!token.IsCancellationRequested()) status = e.Reason();
    } catch (const std::exception& e) {
      status = absl::UnknownError(
          absl::StrCat("parallel_for body threw: ", e.what()));
    } catch (...) {
      status = absl::UnknownError("parallel_for body threw");
    }
    loop->AddCompleted(done);  // P2
    if (!status.ok()) {
      loop->Fail(std::move(status));  // P3
      break;
    }
    if (done < chunk_end - lo) break;  // stopped by the token mid-chunk
    lo = chunk_end;
  }
  // Stopped early by this piece's own token (the loop's, or the pool's
  // cancel shutdown reaching the running piece): say why.
  if (lo < hi && token.IsCancellationRequested()) {
    loop->NotePieceStatus(token.Reason());
  }
  for (Future<void>& half : halves) {  // P4
    absl::Status s = half.Get();
    if (!s.ok()) loop->NotePieceStatus(s);
  }
}

int64_t DefaultGrain(int64_t n, int workers);

}  // namespace pool_internal

template <typename Body>
ParallelForResult ParallelFor(ThreadPool& pool, int64_t begin, int64_t end,
                              Body&& body,
                              const ParallelForOptions& options = {}) {
  ParallelForResult result;
  if (end < begin || options.grain < 0) {
    result.status = absl::InvalidArgumentError(
        "ParallelFor: needs begin <= end and grain >= 0");
    return result;
  }
  if (end == begin) return result;
  const int64_t grain = options.grain > 0 ? options.grain
                                          : pool_internal::DefaultGrain(
                                                end - begin, pool.NumWorkers());
  CancellationToken parent = options.parent;
  if (cancel_internal::TokenAccess::State(parent) == nullptr) {
    parent = CurrentToken();
  }
  pool_internal::LoopState loop(pool_internal::ComposeAccess::Share(pool),
                                &pool, parent, grain);
  auto* b = &body;
  using B = std::remove_reference_t<Body>;
  if (pool.OnWorkerThread()) {
    const CancellationToken token = loop.Token();
    pool_internal::RunPiece<B>(&loop, b, token, begin, end);
  } else {
    TaskOptions task_options;
    task_options.parent = loop.Token();
    Future<void> root = pool.SubmitWith(
        task_options, [&loop, b, begin, end](CancellationToken t) {
          pool_internal::RunPiece<B>(&loop, b, t, begin, end);
        });
    absl::Status s = root.Get();
    if (!s.ok()) loop.NotePieceStatus(s);
  }
  result.status = loop.FinalStatus();
  result.completed = loop.completed();
  return result;
}

}  // namespace cancelpool

#endif  // CANCELPOOL_POOL_PARALLEL_FOR_H_
