// SPDX-License-Identifier: Apache-2.0
// Self-test of the shared test-support library (tests/support): the process runner every CLI and
// e2e test uses (exit code and output captured, PATH lookup, timeout kills the child by PID, a
// session of its own), TempDir and the whole-file helpers.

#include "support/process.hpp"

#include "support/files.hpp"
#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <sstream>
#include <string>

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;

TEST(TestSupportProcess, CapturesExitCodeStdoutAndStderrSeparately) {
  const ProcessResult r =
      run_process({"/bin/sh", "-c", "printf 'to out\\n'; printf 'to err\\n' >&2; exit 3"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.term_signal, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.out, "to out\n");
  EXPECT_EQ(r.err, "to err\n");
  EXPECT_EQ(r.all(), "to out\nto err\n");
  EXPECT_THAT(r.diagnostics(), HasSubstr("exit: 3"));
  EXPECT_THAT(r.diagnostics(), HasSubstr("command: /bin/sh -c"));
}

TEST(TestSupportProcess, FeedsStdinAndPassesTheEnvironment) {
  const ProcessResult r =
      run_process({"/bin/sh", "-c", "cat; printf '%s|%s' \"$A_VAR\" \"${HOME-unset}\""},
                  {{"A_VAR", "set-by-test"}, {"HOME", ""}}, "from stdin\n");
  EXPECT_EQ(r.exit_code, 0) << r.diagnostics();
  EXPECT_EQ(r.out, "from stdin\nset-by-test|unset") << "an empty value unsets the variable";
}

TEST(TestSupportProcess, LooksUpABareNameInPath) {
  TempDir bin;
  ASSERT_TRUE(write_text(bin.file("hsmctl-support-probe"), "#!/bin/sh\necho found \"$@\"\n", 0700));
  // PATH as the child sees it: only the test's directory and the shell's.
  const ProcessResult r =
      run_process({"hsmctl-support-probe", "arg"}, {{"PATH", bin.path() + ":/bin:/usr/bin"}});
  EXPECT_EQ(r.exit_code, 0) << r.diagnostics();
  EXPECT_EQ(r.out, "found arg\n");

  const ProcessResult missing =
      run_process({"hsmctl-support-no-such-program"}, {{"PATH", bin.path()}});
  EXPECT_EQ(missing.exit_code, 127);
  EXPECT_THAT(missing.err, HasSubstr("exec hsmctl-support-no-such-program"));
}

TEST(TestSupportProcess, TimeoutKillsTheChildByPid) {
  // The child reports its PID, then would run for a minute: the runner must end it after 1 s.
  const ProcessResult r = run_process({"/bin/sh", "-c", "echo $$; exec sleep 60"}, {}, "", 1);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.term_signal, SIGKILL);
  EXPECT_EQ(r.exit_code, 128 + SIGKILL);
  EXPECT_THAT(r.diagnostics(), HasSubstr("(timed out, killed)"));
  std::istringstream in(r.out);
  pid_t pid = 0;
  ASSERT_TRUE(in >> pid) << "output before the kill is kept: " << r.out;
  ASSERT_GT(pid, 0);
  errno = 0;
  EXPECT_NE(::kill(pid, 0), 0) << "process " << pid << " still runs";
  EXPECT_EQ(errno, ESRCH) << "the killed child was not reaped";
}

TEST(TestSupportProcess, ChildRunsInASessionOfItsOwn) {
  // Field 6 of /proc/<pid>/stat is the session id: the child leads its own session, so it has no
  // controlling terminal and /dev/tty cannot be opened.
  const ProcessResult r = run_process({"/bin/sh", "-c", "echo $$; cat /proc/$$/stat; : </dev/tty"});
  std::istringstream in(r.out);
  std::string pid;
  std::string field;
  ASSERT_TRUE(in >> pid) << r.diagnostics();
  for (int i = 0; i < 6; ++i)
    ASSERT_TRUE(in >> field) << r.diagnostics();
  EXPECT_EQ(field, pid) << "session id";
  EXPECT_NE(r.exit_code, 0) << "/dev/tty opened: " << r.diagnostics();
}

TEST(TestSupportProcess, EmptyArgvNeverRuns) {
  const ProcessResult r = run_process({});
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_FALSE(r.err.empty());
}

TEST(TestSupportTempDir, IsFreshPrivateAndRemovedWithItsContent) {
  std::string path;
  {
    TempDir a("hsmctl-support");
    TempDir b("hsmctl-support");
    path = a.path();
    EXPECT_NE(a.path(), b.path());
    EXPECT_THAT(std::filesystem::path(path).filename().string(),
                ::testing::StartsWith("hsmctl-support-"));
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    EXPECT_EQ(a.file("x"), path + "/x");
    std::filesystem::create_directories(a.fs_path() / "sub");
    ASSERT_TRUE(write_text(a.file("sub/f"), "content"));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(TestSupportFiles, WriteSetsTheModeAndReadReturnsTheBytes) {
  TempDir dir;
  const std::string file = dir.file("f");
  ASSERT_TRUE(write_text(file, std::string("a\0b\n", 4), 0640));
  EXPECT_EQ(read_text(file), std::string("a\0b\n", 4));
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  ASSERT_TRUE(write_text(file, "shorter"));
  EXPECT_EQ(read_text(file), "shorter") << "write replaces the content";
  EXPECT_EQ(read_text(dir.file("missing")), "");
  EXPECT_FALSE(write_text(dir.file("no-such-dir/f"), "x"));
}

}  // namespace
}  // namespace hsmctl::testing
