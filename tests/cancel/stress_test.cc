// Copyright 2026 The cancelpool Authors.
//
// Concurrency stress for cancel/: many threads register, deregister, link,
// check and cancel on a shared tree of sources at once. Checks the callback
// contract under contention (never twice; inline when registered after the
// request; every registration alive when the request completes has run) and,
// under the sanitizers, the absence of races and use-after-free.
#include <atomic>
#include <barrier>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "cancelpool/cancel/cancellation.h"
#include "cancelpool/cancel/current.h"
#include "gtest/gtest.h"

namespace cancelpool {
namespace {

#if defined(__SANITIZE_THREAD__)
constexpr int kThreads = 4;
constexpr int kRounds = 60;
constexpr int kOpsPerRound = 150;
#elif defined(__SANITIZE_ADDRESS__)
constexpr int kThreads = 6;
constexpr int kRounds = 100;
constexpr int kOpsPerRound = 300;
#else
constexpr int kThreads = 8;
constexpr int kRounds = 200;
constexpr int kOpsPerRound = 500;
#endif

constexpr int kChildren = 4;
constexpr size_t kMaxLiveRegistrations = 8;

// Counts runs of a callback. Lives apart from the registration so that it can
// be read after the registration is gone.
struct CountRuns {
  std::atomic<int>* runs;
  void operator()() const noexcept {
    runs->fetch_add(1, std::memory_order_relaxed);
  }
};
using Registration = CancellationCallback<CountRuns>;

struct Entry {
  std::unique_ptr<std::atomic<int>> runs;
  std::unique_ptr<Registration> registration;
  int runs_when_retired = -1;
};

Entry Register(const CancellationToken& token) {
  Entry e;
  e.runs = std::make_unique<std::atomic<int>>(0);
  e.registration =
      std::make_unique<Registration>(token, CountRuns{e.runs.get()});
  return e;
}

// One round's tree: root -> kChildren children; workers add grandchildren.
struct Round {
  CancellationSource root;
  std::vector<CancellationSource> children;
};

TEST(CancellationStressTest, ManyThreadsRegisterDeregisterLinkAndCancelAtOnce) {
  // Workers plus the main thread, which cancels the root mid-round.
  std::barrier<> sync(kThreads + 1);
  std::unique_ptr<Round> round;  // replaced by the main thread between rounds
  std::atomic<int> violations{0};
  std::atomic<long> registrations{0};
  std::atomic<long> inline_runs{0};
  // Operations done in the current round, across workers: the main thread
  // cancels the root once a random number of them has happened.
  std::atomic<int> ops_done{0};

  auto violation = [&](const char* what) {
    violations.fetch_add(1);
    ADD_FAILURE() << what;
  };

  auto worker = [&](int id) {
    std::minstd_rand rng(static_cast<unsigned>(id) * 7919u + 1u);
    std::vector<Entry> live;
    std::vector<Entry> retired;
    for (int r = 0; r < kRounds; ++r) {
      sync.arrive_and_wait();  // the round's tree is ready
      for (int op = 0; op < kOpsPerRound; ++op) {
        ops_done.fetch_add(1, std::memory_order_relaxed);
        const int pick = static_cast<int>(rng() % (kChildren + 1));
        const CancellationToken token = pick == kChildren
                                            ? round->root.Token()
                                            : round->children[pick].Token();
        switch (rng() % 8) {
          case 0:
          case 1:
          case 2: {  // register
            if (live.size() >= kMaxLiveRegistrations) break;
            const bool already = token.IsCancellationRequested();
            live.push_back(Register(token));
            registrations.fetch_add(1, std::memory_order_relaxed);
            const int runs = live.back().runs->load();
            if (runs > 1) violation("ran twice");
            // Registered after the request was visible: ran inline.
            if (already && runs != 1) violation("not run inline");
            if (already) inline_runs.fetch_add(1, std::memory_order_relaxed);
            break;
          }
          case 3:
          case 4: {  // deregister one
            if (live.empty()) break;
            const size_t i = rng() % live.size();
            Entry e = std::move(live[i]);
            live[i] = std::move(live.back());
            live.pop_back();
            e.registration.reset();  // waits for a run on another thread
            e.runs_when_retired = e.runs->load();
            if (e.runs_when_retired > 1) violation("ran twice");
            retired.push_back(std::move(e));
            break;
          }
          case 5: {  // a grandchild with a registration, gone again
            CancellationSource grandchild(token);
            const bool already = grandchild.IsCancellationRequested();
            Entry e = Register(grandchild.Token());
            if (already && e.runs->load() != 1) violation("not run inline");
            e.registration.reset();
            if (e.runs->load() > 1) violation("ran twice");
            break;
          }
          case 6: {  // check through the current token
            CurrentTokenScope scope(token);
            try {
              ThrowIfCancellationRequested();
            } catch (const CancelledException& e) {
              if (e.Reason().ok()) violation("exception without a reason");
            }
            break;
          }
          case 7: {  // now and then cancel a child
            if (pick != kChildren && rng() % 16 == 0) {
              round->children[pick].RequestCancellation(
                  absl::AbortedError("child"));
            }
            break;
          }
        }
      }
      sync.arrive_and_wait();  // operations done; root's request returned
      // Every registration still alive existed when the root's request
      // completed (or was made after it, and ran inline): exactly once.
      for (Entry& e : live) {
        if (e.runs->load() != 1) violation("live registration not run once");
      }
      // A retired registration never runs after its destructor returned.
      for (Entry& e : retired) {
        if (e.runs->load() != e.runs_when_retired) {
          violation("ran after deregistration");
        }
      }
      live.clear();
      retired.clear();
      sync.arrive_and_wait();  // the round is over
    }
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(worker, i);
  std::minstd_rand rng(12345);
  for (int r = 0; r < kRounds; ++r) {
    round = std::make_unique<Round>();
    for (int c = 0; c < kChildren; ++c) {
      round->children.emplace_back(round->root.Token());
    }
    ops_done.store(0, std::memory_order_relaxed);
    const int cancel_after = static_cast<int>(
        rng() % static_cast<unsigned>(kThreads * kOpsPerRound));
    sync.arrive_and_wait();  // go
    // Cancel somewhere in the middle of the round.
    while (ops_done.load(std::memory_order_relaxed) < cancel_after) {
      std::this_thread::yield();
    }
    round->root.RequestCancellation(absl::CancelledError("round over"));
    for (const CancellationSource& child : round->children) {
      if (!child.IsCancellationRequested()) violation("child not cancelled");
    }
    sync.arrive_and_wait();  // workers done; checks follow
    sync.arrive_and_wait();
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(violations.load(), 0);
  RecordProperty("registrations", static_cast<int>(registrations.load()));
  RecordProperty("inline_runs", static_cast<int>(inline_runs.load()));
}

}  // namespace
}  // namespace cancelpool
