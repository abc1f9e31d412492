// SPDX-License-Identifier: Apache-2.0
// Runs every other Store* test in a child process, captures everything it prints (stdout and
// stderr, including gtest's failure messages), and checks that no secret value used by the
// tests appears in it, raw or hex-encoded.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "hsmctl/util/bytes.hpp"
#include "store_test_support.hpp"

namespace hsmctl::store {
namespace {

using namespace hsmctl::store::testing;

TEST(StoreOutputScan, NoSecretValueInAnyStoreTestOutput) {
  if (getenv("HSMCTL_STORE_SCAN_CHILD") != nullptr) GTEST_SKIP() << "no recursion";
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  ASSERT_GT(n, 0);
  exe[n] = '\0';
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    setenv("HSMCTL_STORE_SCAN_CHILD", "1", 1);
    execl(exe, exe, "--gtest_filter=Store*:-StoreOutputScan.*", "--gtest_color=no",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::string output;
  char buf[4096];
  for (;;) {
    ssize_t got = read(fds[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    output.append(buf, static_cast<std::size_t>(got));
  }
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the scanned tests themselves failed";
  EXPECT_NE(output.find("[  PASSED  ]"), std::string::npos) << "the child did not run the tests";
  EXPECT_NE(output.find("StoreEncrypted."), std::string::npos);
  for (const auto& secret : all_secret_values()) {
    EXPECT_EQ(output.find(secret), std::string::npos) << "a secret value appears in test output";
    EXPECT_EQ(output.find(to_hex(bytes_of(secret))), std::string::npos)
        << "a secret value appears hex-encoded in test output";
  }
}

}  // namespace
}  // namespace hsmctl::store
