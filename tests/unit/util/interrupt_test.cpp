// SPDX-License-Identifier: Apache-2.0
// StopOnSignal (util/interrupt.hpp): the first SIGINT/SIGTERM only records a stop request; the
// second kills the process by that signal; the previous dispositions come back afterwards.

#include "hsmctl/util/interrupt.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace hsmctl {
namespace {

/// Runs `body` in a forked child and returns its wait status.
template <class Body>
int in_child(Body body) {
  const pid_t pid = fork();
  if (pid == 0) {
    body();
    _exit(0);
  }
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  return status;
}

/// Default dispositions first: a test runner may start the binary with SIGINT ignored.
class StopOnSignalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
  }
};

TEST_F(StopOnSignalTest, FirstSigintOnlyRecordsAStop) {
  StopOnSignal guard;
  EXPECT_EQ(stop_signal(), 0);
  ASSERT_EQ(raise(SIGINT), 0);  // without the handler, this would end the test binary
  EXPECT_EQ(stop_signal(), SIGINT);
  EXPECT_TRUE(stop_requested());
}

TEST_F(StopOnSignalTest, FirstSigtermOnlyRecordsAStop) {
  StopOnSignal guard;
  ASSERT_EQ(raise(SIGTERM), 0);
  EXPECT_EQ(stop_signal(), SIGTERM);
  EXPECT_STREQ(signal_name(stop_signal()), "SIGTERM");
}

TEST_F(StopOnSignalTest, TheRequestLivesAsLongAsTheGuard) {
  {
    StopOnSignal guard;
    ASSERT_EQ(raise(SIGINT), 0);
    EXPECT_EQ(stop_signal(), SIGINT);
  }
  EXPECT_EQ(stop_signal(), 0);  // no guard, no stop request
  StopOnSignal again;
  EXPECT_EQ(stop_signal(), 0);
}

TEST_F(StopOnSignalTest, SecondSigintKillsTheProcessBySigint) {
  const int status = in_child([] {
    StopOnSignal guard;
    raise(SIGINT);
    if (stop_signal() != SIGINT)
      _exit(10);
    raise(SIGINT);
    _exit(11);  // not reached: the second signal ends the process
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGINT);
}

TEST_F(StopOnSignalTest, SigtermAfterSigintKillsBySigterm) {
  const int status = in_child([] {
    StopOnSignal guard;
    raise(SIGINT);
    raise(SIGTERM);
    _exit(11);
  });
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
}

TEST_F(StopOnSignalTest, AnIgnoredSignalStaysIgnored) {
  signal(SIGINT, SIG_IGN);
  {
    StopOnSignal guard;
    raise(SIGINT);
    EXPECT_EQ(stop_signal(), 0);
  }
  struct sigaction now {};
  sigaction(SIGINT, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_IGN);
  signal(SIGINT, SIG_DFL);
}

TEST_F(StopOnSignalTest, RestoresThePreviousDispositions) {
  const int status = in_child([] {
    { StopOnSignal guard; }
    raise(SIGTERM);  // the default disposition again: the child dies
    _exit(11);
  });
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);

  struct sigaction before {};
  sigaction(SIGINT, nullptr, &before);
  { StopOnSignal guard; }
  struct sigaction after {};
  sigaction(SIGINT, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before.sa_handler);
}

}  // namespace
}  // namespace hsmctl
