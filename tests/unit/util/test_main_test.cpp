// SPDX-License-Identifier: Apache-2.0
#include "support/test_main.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

namespace {

// Every test process runs in its own fresh directory, not in the caller's (ctest's) directory.
TEST(TestMain, RunsInItsOwnTemporaryDirectory) {
  const auto cwd = std::filesystem::current_path();
  const auto& dir = hsmctl::testing::private_test_dir();
  ASSERT_FALSE(dir.empty());
  EXPECT_EQ(std::filesystem::canonical(dir), cwd);
  EXPECT_EQ(cwd.filename().string().rfind("hsmctl-test.", 0), 0u) << cwd;
  EXPECT_EQ(std::filesystem::status(cwd).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_all);
}

}  // namespace
