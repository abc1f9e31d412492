// SPDX-License-Identifier: Apache-2.0
// main() of every GoogleTest binary: each test process runs in a fresh private directory under
// $TMPDIR (ctest starts one process per test), never in the caller's working directory. A test
// that writes a relative path by accident (or through a dangling pointer) cannot litter the
// checkout; the directory is removed when the tests finish.
#include "support/test_main.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace {
std::filesystem::path g_private_dir;  // NOLINT: set once in main before any test runs
}

namespace hsmctl::testing {
const std::filesystem::path& private_test_dir() {
  return g_private_dir;
}
}  // namespace hsmctl::testing

int main(int argc, char** argv) {
  std::error_code ec;
  const std::filesystem::path base = std::filesystem::temp_directory_path(ec);
  std::string templ = (ec ? std::filesystem::path("/tmp") : base) / "hsmctl-test.XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr || ::chdir(templ.c_str()) != 0) {
    std::perror("test main: cannot create or enter a private temporary directory");
    return 1;
  }
  g_private_dir = templ;
  ::testing::InitGoogleMock(&argc, argv);
  const int status = RUN_ALL_TESTS();
  if (::chdir("/") == 0)
    std::filesystem::remove_all(g_private_dir, ec);
  return status;
}
