// Real-signal tests: start tests/signal_child as a child process, send it
// SIGTERM/SIGINT with kill(2), and check what it reports and how it exits.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace {

constexpr absl::Duration kGenerous = absl::Seconds(60);

std::string ChildPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  if (srcdir != nullptr && ws != nullptr) {
    return std::string(srcdir) + "/" + ws + "/tests/signal_child";
  }
  return "tests/signal_child";
}

class Child {
 public:
  explicit Child(std::vector<std::string> args) {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDOUT_FILENO);
      std::vector<char*> argv;
      std::string path = ChildPath();
      argv.push_back(path.data());
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(path.c_str(), argv.data());
      _exit(127);
    }
    close(fds[1]);
    out_ = fds[0];
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(out_);
  }

  // Reads output until a line starting with `prefix` appears (true) or EOF /
  // deadline (false).
  bool WaitForLine(const std::string& prefix) {
    const absl::Time deadline = absl::Now() + kGenerous;
    for (;;) {
      for (const std::string& line : Lines()) {
        if (line.rfind(prefix, 0) == 0) return true;
      }
      if (eof_ || absl::Now() > deadline) return false;
      ReadSome(deadline);
    }
  }
  void Signal(int signo) { ASSERT_EQ(kill(pid_, signo), 0); }
  // Reads to EOF and reaps; returns the wait status.
  int Finish() {
    const absl::Time deadline = absl::Now() + kGenerous;
    while (!eof_ && absl::Now() < deadline) ReadSome(deadline);
    EXPECT_TRUE(eof_) << "child did not finish in time; output:\n" << output_;
    if (!eof_) kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    return status;
  }
  std::vector<std::string> Lines() const {
    return absl::StrSplit(output_, '\n', absl::SkipEmpty());
  }
  const std::string& output() const { return output_; }
  // Parses the REPORT line into key -> value.
  std::map<std::string, int64_t> Report() const {
    std::map<std::string, int64_t> r;
    for (const std::string& line : Lines()) {
      if (line.rfind("REPORT ", 0) != 0) continue;
      for (absl::string_view kv : absl::StrSplit(line.substr(7), ' ')) {
        std::pair<std::string, std::string> p = absl::StrSplit(kv, '=');
        int64_t v = 0;
        if (absl::SimpleAtoi(p.second, &v)) r[p.first] = v;
      }
    }
    return r;
  }
  int CountLinesStartingWith(const std::string& prefix) const {
    int n = 0;
    for (const std::string& line : Lines()) n += line.rfind(prefix, 0) == 0;
    return n;
  }

 private:
  void ReadSome(absl::Time deadline) {
    pollfd p{out_, POLLIN, 0};
    const int ms = static_cast<int>(
        absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (poll(&p, 1, ms < 0 ? 0 : ms) <= 0) return;
    char buf[4096];
    const ssize_t n = read(out_, buf, sizeof(buf));
    if (n <= 0) {
      eof_ = true;
      return;
    }
    output_.append(buf, static_cast<size_t>(n));
  }

  pid_t pid_ = -1;
  int out_ = -1;
  bool eof_ = false;
  bool reaped_ = false;
  std::string output_;
};

void ExpectIdentity(const std::map<std::string, int64_t>& r,
                    const std::string& output) {
  ASSERT_TRUE(r.count("submitted")) << output;
  EXPECT_EQ(r.at("submitted"),
            r.at("completed") + r.at("failed") +
                r.at("cancelled_before_start") +
                r.at("cancelled_while_running") + r.at("rejected"))
      << output;
  EXPECT_EQ(r.at("submitted"), r.at("outside_submits")) << output;
  EXPECT_EQ(r.at("terminated"), 1) << output;
}

TEST(SignalShutdownTest, SigtermDrainsThenCancelsAfterGrace) {
  Child child({"busy", "2", "20", "200"});
  ASSERT_TRUE(child.WaitForLine("READY")) << child.output();
  child.Signal(SIGTERM);
  const int status = child.Finish();
  ASSERT_TRUE(WIFEXITED(status)) << child.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << child.output();
  EXPECT_EQ(child.CountLinesStartingWith("FIRST_SIGNAL SIGTERM"), 1);
  // Both running tasks ran their cleanup, and saw a reason naming the signal
  // and the grace period.
  EXPECT_EQ(child.CountLinesStartingWith("Task #0 stopped: CANCELLED: SIGTERM "
                                         "grace period"),
            1)
      << child.output();
  EXPECT_EQ(child.CountLinesStartingWith("Task #1 stopped: CANCELLED: SIGTERM "
                                         "grace period"),
            1)
      << child.output();
  auto r = child.Report();
  ExpectIdentity(r, child.output());
  EXPECT_EQ(r["submitted"], 22);
  // The queued tasks never ran (their cleanup never ran either: a task that
  // never starts never enters its body).
  EXPECT_EQ(r["cancelled_before_start"], 20) << child.output();
  EXPECT_EQ(r["cancelled_while_running"], 2) << child.output();
}

TEST(SignalShutdownTest, SecondSigintCancelsAtOnce) {
  Child child({"busy", "2", "5", "600000"});  // a 10-minute grace
  ASSERT_TRUE(child.WaitForLine("READY")) << child.output();
  child.Signal(SIGINT);
  ASSERT_TRUE(child.WaitForLine("FIRST_SIGNAL SIGINT")) << child.output();
  child.Signal(SIGINT);
  const int status = child.Finish();
  ASSERT_TRUE(WIFEXITED(status)) << child.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << child.output();
  EXPECT_EQ(child.CountLinesStartingWith(
                "Task #0 stopped: CANCELLED: SIGINT received twice"),
            1)
      << child.output();
  auto r = child.Report();
  ExpectIdentity(r, child.output());
  EXPECT_EQ(r["cancelled_before_start"], 5);
  EXPECT_EQ(r["cancelled_while_running"], 2);
}

TEST(SignalShutdownTest, ThirdSignalExitsAtOnce) {
  // Tasks ignore their tokens, so only the third signal ends the process.
  Child child({"stubborn", "2", "0", "600000"});
  ASSERT_TRUE(child.WaitForLine("READY")) << child.output();
  // Standard signals do not queue: two SIGTERMs pending at once merge into
  // one. Wait for each stage, as an operator's spaced Ctrl-Cs would.
  child.Signal(SIGTERM);
  ASSERT_TRUE(child.WaitForLine("FIRST_SIGNAL SIGTERM")) << child.output();
  child.Signal(SIGTERM);
  ASSERT_TRUE(child.WaitForLine("CANCELLING SIGTERM")) << child.output();
  child.Signal(SIGTERM);
  const int status = child.Finish();
  ASSERT_TRUE(WIFEXITED(status)) << child.output();
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM) << child.output();
  EXPECT_EQ(child.CountLinesStartingWith("REPORT"), 0);
}

TEST(SignalShutdownTest, SignalWhileIdle) {
  Child child({"idle", "0", "0", "200"});
  ASSERT_TRUE(child.WaitForLine("READY")) << child.output();
  child.Signal(SIGTERM);
  const int status = child.Finish();
  ASSERT_TRUE(WIFEXITED(status)) << child.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << child.output();
  auto r = child.Report();
  ExpectIdentity(r, child.output());
  EXPECT_EQ(r["submitted"], 0);
}

TEST(SignalShutdownTest, FiniteWorkDrainsCompletely) {
  Child child({"finite", "2", "30", "60000"});
  ASSERT_TRUE(child.WaitForLine("READY")) << child.output();
  child.Signal(SIGTERM);
  const int status = child.Finish();
  ASSERT_TRUE(WIFEXITED(status)) << child.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << child.output();
  auto r = child.Report();
  ExpectIdentity(r, child.output());
  EXPECT_EQ(r["completed"], 32) << child.output();
  EXPECT_EQ(r["cancelled_before_start"] + r["cancelled_while_running"], 0);
}

TEST(SignalShutdownTest, SignalDuringHeavySubmissionLosesNothing) {
  Child child({"heavy", "0", "0", "2000"});
  ASSERT_TRUE(child.WaitForLine("READY")) << child.output();
  child.Signal(SIGTERM);
  const int status = child.Finish();
  ASSERT_TRUE(WIFEXITED(status)) << child.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << child.output();
  auto r = child.Report();
  ExpectIdentity(r, child.output());
  EXPECT_GT(r["submitted"], 0);
  EXPECT_GT(r["rejected"], 0);  // at least the refusals after shutdown
}

}  // namespace
