// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/util/atomic_file.hpp"

#include <gtest/gtest.h>

#include <dirent.h>
#include <sys/stat.h>

#include <string>

namespace hsmctl {
namespace {

int entries_in(const std::string& dir) {
  int n = 0;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr)
    return -1;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..")
      ++n;
  }
  closedir(d);
  return n;
}

// Both kinds of write replace the whole file with the requested mode and leave no temporary
// file; Sync::kNone only skips waiting for the disk.
TEST(WriteFileAtomically, ReplacesTheFileWithEitherSyncChoice) {
  ASSERT_EQ(mkdir("d", 0700), 0);
  for (Sync sync : {Sync::kDurable, Sync::kNone}) {
    ASSERT_TRUE(write_file_atomically("d/f", bytes_of("first, longer content"), 0600, sync));
    ASSERT_TRUE(write_file_atomically("d/f", bytes_of("second"), 0640, sync));
    auto back = read_file("d/f");
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(std::string(back->begin(), back->end()), "second");
    struct stat st {};
    ASSERT_EQ(stat("d/f", &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
    EXPECT_EQ(entries_in("d"), 1) << "no temporary file left behind";
  }
}

}  // namespace
}  // namespace hsmctl
