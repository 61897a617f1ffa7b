// README.md, "Compose: fan-out, first success, hedging": a request handler
// that fans out to three "backends" (the first error cancels the rest, even
// while they run), then a hedged lookup, a first-of-replicas read and a
// cancellable parallel loop. Exits 0 only if every step behaved as the
// README says.
#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

// [START compose]
#include "cancelpool/cancel/wait.h"
#include "cancelpool/pool/hedge.h"
#include "cancelpool/pool/parallel_for.h"
#include "cancelpool/pool/task_group.h"
#include "cancelpool/pool/thread_pool.h"
#include "cancelpool/pool/when.h"

using cancelpool::CancellationToken;

// A backend call that waits interruptibly: cancellation stops it at once.
absl::StatusOr<std::string> CallBackend(CancellationToken token,
                                        std::string name,
                                        absl::Duration latency, bool fail) {
  if (cancelpool::SleepFor(token, latency) ==
      cancelpool::WaitResult::kCancelled) {
    return token.Reason();
  }
  if (fail) return absl::UnavailableError(name + " is down");
  return name + ": ok";
}

// Fan out to three backends; the first failure cancels the other two.
absl::Status HandleRequest(cancelpool::ThreadPool& pool,
                           const CancellationToken& request) {
  cancelpool::TaskGroup group(pool, cancelpool::TaskGroup::Policy::kFailFast,
                              request);
  auto users = group.Run(CallBackend, "users", absl::Seconds(5), false);
  auto orders = group.Run(CallBackend, "orders", absl::Milliseconds(5), true);
  auto stock = group.Run(CallBackend, "stock", absl::Seconds(5), false);
  return group.Wait();  // "orders is down", after users and stock stopped
}

// A hedged lookup: if the first replica has not answered in 10 ms, ask a
// second; the first answer wins and the slower attempt is cancelled.
cancelpool::Future<std::string> HedgedLookup(cancelpool::ThreadPool& pool,
                                             const CancellationToken& request) {
  cancelpool::HedgeOptions options;
  options.parent = request;
  options.deadline = absl::Now() + absl::Seconds(1);
  return cancelpool::Hedge(
      pool, absl::Milliseconds(10), /*max_attempts=*/3,
      [](CancellationToken token, int attempt) {
        // Attempt 0 hits a slow replica; later attempts fast ones.
        return CallBackend(
            std::move(token), "replica " + std::to_string(attempt),
            attempt == 0 ? absl::Seconds(5) : absl::Milliseconds(1), false);
      },
      options);
}
// [END compose]

// [START more]
// The first of three replicas to answer wins; the others are cancelled.
absl::StatusOr<cancelpool::AnyResult<std::string>> FirstReplica(
    cancelpool::ThreadPool& pool) {
  std::vector<cancelpool::Future<std::string>> replicas;
  for (int i = 0; i < 3; ++i) {
    replicas.push_back(pool.Submit(CallBackend, "r" + std::to_string(i),
                                   absl::Milliseconds(i == 1 ? 1 : 5000),
                                   false));
  }
  return cancelpool::WhenAny(std::move(replicas)).Get();  // r1 wins
}

// A continuation runs on the pool when its input is ready; no thread waits.
cancelpool::Future<size_t> Length(cancelpool::ThreadPool& pool) {
  return pool.Submit([] { return std::string("hello"); })
      .Then(pool, [](std::string v) { return v.size(); });
}

// A loop that stops early when the request is cancelled or a body fails,
// and says how far it got.
cancelpool::ParallelForResult Fill(cancelpool::ThreadPool& pool,
                                   const CancellationToken& request,
                                   std::vector<double>& out) {
  cancelpool::ParallelForOptions options;
  options.parent = request;
  return cancelpool::ParallelFor(
      pool, 0, static_cast<int64_t>(out.size()),
      [&out](const CancellationToken&, int64_t i) { out[i] = i * 0.5; },
      options);
}
// [END more]

namespace {

bool ok = true;
void Check(bool condition, const char* what) {
  std::printf("%s: %s\n", condition ? "ok  " : "FAIL", what);
  ok &= condition;
}

}  // namespace

int main() {
  cancelpool::ThreadPool pool(4);
  cancelpool::CancellationSource request;

  const absl::Time start = absl::Now();
  absl::Status s = HandleRequest(pool, request.Token());
  Check(s.code() == absl::StatusCode::kUnavailable &&
            s.message() == "orders is down",
        "fan-out: the first error is the request's error");
  Check(absl::Now() - start < absl::Seconds(4),
        "fan-out: the slow backends were cancelled, not waited for");

  auto first = FirstReplica(pool);
  auto length = Length(pool);
  std::vector<double> out(100000);
  cancelpool::ParallelForResult r = Fill(pool, request.Token(), out);

  Check(first.ok() && first->index == 1 && *first->result == "r1: ok",
        "WhenAny: the fast replica won");
  Check(*length.Get() == 5u, "Then: the continuation ran");
  Check(r.status.ok() && r.completed == 100000, "ParallelFor: every index");

  absl::StatusOr<std::string> hedged =
      HedgedLookup(pool, request.Token()).Get();
  Check(hedged.ok() && *hedged != "replica 0: ok",
        "Hedge: a later attempt answered first (the slow one was cancelled)");

  Check(pool.WaitForIdle(absl::Now() + absl::Seconds(30)),
        "every loser returned (WaitForIdle)");
  return ok ? 0 : 1;
}
