// Copyright 2026 The cancelpool Authors.
//
// Randomized real-signal trials: fork+exec signal_trial_server (a
// SignalShutdown "server", signal_trial_server.cc here; see there),
// wait for its READY, deliver SIGTERM/SIGINT with
// kill(2) at a random moment -- idle, during heavy submission, during a
// drain, a second signal during a drain, sometimes a third -- then read its
// REPORT from a pipe and check:
//   * no hang: READY within 30 s, exit within 60 s of the last signal (else
//     SIGKILL and fail);
//   * exit status 0 (or 128+signo after a third signal, which exits at once);
//   * the report: terminated, completed + failed + cancelled_before_start +
//     cancelled_while_running + rejected == submitted == the child's own
//     count of Submit calls; the signal count and escalation stage.
// CI-sized: 50 trials. CANCELPOOL_SIGNAL_TRIALS=N for the long run,
// CANCELPOOL_SIGNAL_SEED=S to change (or reproduce) the trial sequence; each
// trial prints its parameters. CANCELPOOL_SIGNAL_TRIAL_SERVER=path runs
// another signal_trial_server binary.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cancelpool/tests/test_util.h"
#include "gtest/gtest.h"

namespace {

using cancelpool::testing_util::EnvOr;
using cancelpool::testing_util::RunfilePath;
using cancelpool::testing_util::SpawnWithStdout;
using cancelpool::testing_util::SplitMix64;

std::string ChildPath() {
  if (const char* v = std::getenv("CANCELPOOL_SIGNAL_TRIAL_SERVER")) return v;
  return RunfilePath("tests/reliability/signal_trial_server");
}

struct Child {
  pid_t pid = -1;
  int out = -1;  // read end of its stdout
  std::string buffer;
};

// fork+exec with stdout on a pipe.
bool Spawn(const std::vector<std::string>& args, Child* child) {
  child->pid = SpawnWithStdout(args, &child->out);
  return child->pid > 0;
}

// Reads until a full line is available or EOF/timeout. Returns false on
// timeout; *eof on EOF.
bool ReadLine(Child* c, absl::Time deadline, std::string* line, bool* eof) {
  *eof = false;
  for (;;) {
    const size_t nl = c->buffer.find('\n');
    if (nl != std::string::npos) {
      *line = c->buffer.substr(0, nl);
      c->buffer.erase(0, nl + 1);
      return true;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd p = {c->out, POLLIN, 0};
    const int n =
        poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[4096];
    const ssize_t r = read(c->out, buf, sizeof(buf));
    if (r <= 0) {
      *eof = true;
      if (!c->buffer.empty()) {
        *line = c->buffer;
        c->buffer.clear();
        return true;
      }
      return true;
    }
    c->buffer.append(buf, static_cast<size_t>(r));
  }
}

std::map<std::string, uint64_t> ParseReport(const std::string& line) {
  std::map<std::string, uint64_t> m;
  std::istringstream in(line);
  std::string word;
  in >> word;  // REPORT
  while (in >> word) {
    const size_t eq = word.find('=');
    if (eq == std::string::npos) continue;
    m[word.substr(0, eq)] = std::strtoull(word.c_str() + eq + 1, nullptr, 10);
  }
  return m;
}

struct Trial {
  std::string scenario;  // child scenario
  int signals = 1;       // how many to send
  int workers = 2;
  int signo[3] = {SIGTERM, SIGTERM, SIGTERM};
  absl::Duration delay[3];  // before each signal
  uint64_t seed = 0;
  std::string Describe() const {
    return absl::StrFormat(
        "scenario=%s workers=%d signals=%d (%s,%s,%s) delays=%s,%s,%s seed=%d",
        scenario, workers, signals, strsignal(signo[0]), strsignal(signo[1]),
        strsignal(signo[2]), absl::FormatDuration(delay[0]),
        absl::FormatDuration(delay[1]), absl::FormatDuration(delay[2]), seed);
  }
};

Trial MakeTrial(uint64_t& rng) {
  static const char* kScenarios[] = {"idle",  "heavy", "drain",  "second",
                                     "heavy", "drain", "second", "third"};
  static constexpr int kWorkers[] = {1, 2, 8};
  Trial t;
  t.scenario = kScenarios[SplitMix64(rng) % 8];
  t.workers = kWorkers[SplitMix64(rng) % 3];
  t.seed = SplitMix64(rng);
  for (int i = 0; i < 3; ++i)
    t.signo[i] = SplitMix64(rng) % 2 ? SIGTERM : SIGINT;
  t.delay[0] = absl::Microseconds(SplitMix64(rng) % 20000);
  t.delay[1] = absl::Microseconds(SplitMix64(rng) % 20000);
  t.delay[2] = absl::Microseconds(SplitMix64(rng) % 5000);
  if (t.scenario == "second") {
    t.signals = 2;
  } else if (t.scenario == "third") {
    t.scenario = "second";
    t.signals = 3;
  } else if (SplitMix64(rng) % 4 == 0) {
    t.signals = 2;  // a second signal during whatever is going on
  }
  return t;
}

// Returns "" on success, else what went wrong.
// The child's SignalShutdown grace (signal_trial_server.cc).
constexpr absl::Duration kChildGrace = absl::Seconds(30);

std::string RunTrial(const Trial& t) {
  Child c;
  if (!Spawn({ChildPath(), "--scenario=" + t.scenario,
              absl::StrCat("--workers=", t.workers),
              absl::StrCat("--seed=", t.seed)},
             &c)) {
    return absl::StrCat("spawn failed: ", strerror(errno));
  }
  auto fail = [&c](std::string why) {
    kill(c.pid, SIGKILL);
    waitpid(c.pid, nullptr, 0);
    close(c.out);
    return why;
  };
  std::string line;
  bool eof = false;
  if (!ReadLine(&c, absl::Now() + absl::Seconds(30), &line, &eof)) {
    return fail("HANG: no READY within 30 s");
  }
  if (line != "READY")
    return fail(absl::StrCat("expected READY, got '", line, "'"));
  absl::Time first_signal = absl::InfiniteFuture();
  for (int i = 0; i < t.signals; ++i) {
    absl::SleepFor(t.delay[i]);
    if (i == 0) first_signal = absl::Now();
    if (kill(c.pid, t.signo[i]) != 0) {
      return fail(absl::StrCat("kill: ", strerror(errno)));
    }
  }
  std::string report;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  for (;;) {
    if (!ReadLine(&c, deadline, &line, &eof)) {
      return fail("HANG: no exit within 60 s of the last signal");
    }
    if (line.rfind("REPORT", 0) == 0) report = line;
    if (eof) break;
  }
  close(c.out);
  int status = 0;
  // EOF on stdout: the process is exiting; bound the wait anyway.
  for (int i = 0; waitpid(c.pid, &status, WNOHANG) == 0; ++i) {
    if (i > 60000) {
      kill(c.pid, SIGKILL);
      waitpid(c.pid, &status, 0);
      return "HANG: stdout closed but the process did not exit";
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  // Pending signals of one number coalesce, so the one handled third may
  // be either number.
  if (t.signals == 3 && WIFEXITED(status) && report.empty() &&
      (WEXITSTATUS(status) == 128 + SIGTERM ||
       WEXITSTATUS(status) == 128 + SIGINT)) {
    return "";  // the operator's "stop now": immediate exit, no report
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::StrCat(
        "bad exit status ", status,
        WIFSIGNALED(status)
            ? absl::StrCat(" (signal ", WTERMSIG(status), ")")
            : absl::StrCat(" (exit ", WEXITSTATUS(status), ")"));
  }
  if (report.empty()) return "no REPORT line";
  auto m = ParseReport(report);
  const uint64_t accounted = m["completed"] + m["failed"] +
                             m["cancelled_before_start"] +
                             m["cancelled_while_running"] + m["rejected"];
  if (m["shut"] != 1 || m["terminated"] != 1 || m["report_terminated"] != 1) {
    return absl::StrCat("not terminated: ", report);
  }
  if (accounted != m["submitted"]) {
    return absl::StrCat("identity broken: ", report);
  }
  if (m["submitted"] != m["calls"]) {
    return absl::StrCat("submitted != Submit calls: ", report);
  }
  if (m["signals"] < 1 || m["signals"] > static_cast<uint64_t>(t.signals)) {
    return absl::StrCat("signal count: ", report);
  }
  // Stage 1 = draining, 2 = cancelling. SignalShutdown counts a signal
  // before it acts on it, so a report taken just as the second signal
  // arrives may read signals=2 with the stage still draining. One signal
  // with stage 2 is right only once the drain's grace ran out: the kernel
  // merges a signal sent while the same one is still pending (not yet read
  // by the signal thread), so signals sent a millisecond apart may count as
  // one, and a drain that cannot finish then escalates at the grace's end.
  const uint64_t stage = m["stage"];
  const bool grace_over = absl::Now() - first_signal >= kChildGrace;
  if (stage < 1 || stage > 2 ||
      (stage == 2 && m["signals"] < 2 && !grace_over) ||
      (m["signals"] == 1 && stage != 1 && !grace_over)) {
    return absl::StrCat("stage: ", report);
  }
  if (t.scenario == "second" && t.signals >= 2 && m["signals"] >= 2 &&
      m["cancelled_before_start"] + m["cancelled_while_running"] == 0) {
    return absl::StrCat("second signal did not cancel anything: ", report);
  }
  return "";
}

TEST(SignalTrialsTest, RandomKills) {
  const uint64_t trials = EnvOr("CANCELPOOL_SIGNAL_TRIALS", 50);
  uint64_t rng = EnvOr("CANCELPOOL_SIGNAL_SEED", 7);
  std::printf("[signals] %llu trials, CANCELPOOL_SIGNAL_SEED=%llu\n",
              (unsigned long long)trials, (unsigned long long)rng);
  uint64_t failures = 0, delivered = 0, by_signals[4] = {0, 0, 0, 0};
  std::map<std::string, uint64_t> by_scenario;
  const absl::Time start = absl::Now();
  for (uint64_t i = 0; i < trials; ++i) {
    const Trial t = MakeTrial(rng);
    const absl::Time trial_start = absl::Now();
    const std::string err = RunTrial(t);
    const double ms = absl::ToDoubleMilliseconds(absl::Now() - trial_start);
    delivered += t.signals;
    by_signals[t.signals]++;
    by_scenario[t.scenario]++;
    std::printf("trial %llu: %s -> %s (%.0f ms)\n", (unsigned long long)i,
                t.Describe().c_str(), err.empty() ? "ok" : err.c_str(), ms);
    std::fflush(stdout);
    if (!err.empty()) {
      ++failures;
      ADD_FAILURE() << "trial " << i << " (" << t.Describe() << "): " << err;
    }
  }
  std::printf(
      "[signals] trials=%llu signals_delivered=%llu failures=%llu "
      "one/two/three-signal trials=%llu/%llu/%llu seconds=%.1f |",
      (unsigned long long)trials, (unsigned long long)delivered,
      (unsigned long long)failures, (unsigned long long)by_signals[1],
      (unsigned long long)by_signals[2], (unsigned long long)by_signals[3],
      absl::ToDoubleSeconds(absl::Now() - start));
  for (const auto& [k, v] : by_scenario) {
    std::printf(" %s=%llu", k.c_str(), (unsigned long long)v);
  }
  std::printf("\n");
}

}  // namespace
