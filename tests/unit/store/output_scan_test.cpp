// SPDX-License-Identifier: Apache-2.0
// Runs every other Store* test in a child process, captures everything it prints (stdout and
// stderr, including gtest's failure messages), and checks that no secret value used by the
// tests appears in it, raw or hex-encoded.
#include "store_test_support.hpp"
#include "support/process.hpp"

#include "hsmctl/util/bytes.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <string>

namespace hsmctl::store {
namespace {

using namespace hsmctl::store::testing;

TEST(StoreOutputScan, NoSecretValueInAnyStoreTestOutput) {
  if (getenv("HSMCTL_STORE_SCAN_CHILD") != nullptr)
    GTEST_SKIP() << "no recursion";
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  ASSERT_GT(n, 0);
  exe[n] = '\0';
  const auto run = hsmctl::testing::run_process(
      {exe, "--gtest_filter=Store*:-StoreOutputScan.*", "--gtest_color=no"},
      {{"HSMCTL_STORE_SCAN_CHILD", "1"}}, "", 600);
  const std::string output = run.out + run.err;
  ASSERT_FALSE(run.timed_out) << "the scanned tests did not finish";
  ASSERT_EQ(run.term_signal, 0) << "the scanned tests were killed";
  EXPECT_EQ(run.exit_code, 0) << "the scanned tests themselves failed";
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
