// SPDX-License-Identifier: Apache-2.0
// The credential store at its edges through the real binary (issue 9, item 4).
#include "cli/cli_fixture.hpp"

#include <gmock/gmock.h>

#include <sys/stat.h>

#include <string>

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class StoreEdges : public CliTest {};

// `ulimit -f 0`: the key file cannot be written. hsmctl reports EFBIG with the file's name and
// exits 1, instead of dying from SIGXFSZ (exit 153) with no message.
TEST_F(StoreEdges, FileSizeLimitIsReportedNotASilentDeath) {
  auto r = run_process({"/bin/sh", "-c", "ulimit -f 0; exec \"$0\" \"$@\"", HSMCTL_BIN, "store",
                        "init", "--mode", "key-file"},
                       {{"HSMCTL_STORE", dir_.file("store.hsmctl")},
                        {"HSMCTL_STORE_KEY_FILE", dir_.file("store.key")}},
                       {}, 60);
  EXPECT_EQ(r.exit_code, 1) << r.all();
  EXPECT_THAT(r.err, HasSubstr("File too large"));
  EXPECT_THAT(r.err, HasSubstr("store.key"));
  struct stat st {};
  EXPECT_NE(::stat(dir_.file("store.key").c_str(), &st), 0) << "a partial key file was left";
}

}  // namespace
}  // namespace hsmctl::testing
