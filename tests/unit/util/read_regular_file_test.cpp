// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/util/atomic_file.hpp"
#include "hsmctl/util/text.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace hsmctl {
namespace {

using ::testing::HasSubstr;

// Bytes this process has read through read(2) so far (Linux /proc/self/io "rchar").
long long bytes_read_so_far() {
  std::ifstream io("/proc/self/io");
  std::string key;
  long long value = 0;
  while (io >> key >> value) {
    if (key == "rchar:")
      return value;
  }
  return -1;
}

TEST(ReadRegularFile, ReadsARegularFileAndReportsItsMode) {
  { std::ofstream("f") << "hello"; }
  ASSERT_EQ(::chmod("f", 0640), 0);
  auto r = read_regular_file("f", 100);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(std::string(r->content.begin(), r->content.end()), "hello");
  EXPECT_EQ(r->mode & 0777, 0640u);
}

TEST(ReadRegularFile, RefusesFifoDeviceAndDirectoryWithoutBlocking) {
  ASSERT_EQ(::mkfifo("fifo", 0600), 0);
  auto fifo = read_regular_file("fifo", 100);  // no writer: a blocking open would hang here
  ASSERT_FALSE(fifo);
  EXPECT_EQ(fifo.error().to_string(), "fifo: not a regular file (a FIFO)");
  // The file is named by the position, not by text a caller would have to cut off.
  ASSERT_TRUE(fifo.error().where);
  EXPECT_EQ(fifo.error().where->file, "fifo");
  EXPECT_EQ(fifo.error().message, "not a regular file (a FIFO)");
  auto zero = read_regular_file("/dev/zero", 100);
  ASSERT_FALSE(zero);
  EXPECT_THAT(zero.error().message, HasSubstr("a character device"));
  auto dir = read_regular_file(".", 100);
  ASSERT_FALSE(dir);
  EXPECT_THAT(dir.error().message, HasSubstr("a directory"));
}

TEST(ReadRegularFile, ChecksTheSizeBeforeReading) {
  int fd = ::open("big", O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 64 << 20), 0);  // 64 MiB, sparse
  ::close(fd);
  const long long before = bytes_read_so_far();
  ASSERT_GE(before, 0);
  auto r = read_regular_file("big", 1 << 20);
  const long long consumed = bytes_read_so_far() - before;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().to_string(), "big: too large: 67108864 bytes (limit 1048576)");
  EXPECT_LT(consumed, 1 << 20) << "the file was read although its size is over the limit";
}

TEST(ReadRegularFile, NoFollowRefusesASymlink) {
  { std::ofstream("target") << "x"; }
  ASSERT_EQ(::symlink("target", "link"), 0);
  EXPECT_TRUE(read_regular_file("link", 10));
  auto r = read_regular_file("link", 10, /*no_follow=*/true);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("a symbolic link"));
  EXPECT_EQ(r.error().sys_errno(), ELOOP);
}

TEST(ReadRegularFile, AMissingFileIsUnavailableWithItsErrno) {
  auto r = read_regular_file("missing", 10);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUnavailable);
  EXPECT_EQ(r.error().to_string(), "missing: no such file");
  EXPECT_EQ(r.error().sys_errno(), ENOENT);
}

TEST(ReadFile, NamesTheFileInTheMessage) {
  auto r = read_file("missing");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "no such file: missing");
  EXPECT_FALSE(r.error().where);
  EXPECT_EQ(r.error().sys_errno(), ENOENT);
  auto dir = read_file(".");  // opens, but read(2) fails with EISDIR
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().message, std::string(".: cannot read: ") + strerror(EISDIR));
  EXPECT_FALSE(dir.error().where);
  EXPECT_EQ(dir.error().sys_errno(), EISDIR);
}

TEST(ReadFdLimited, RefusesMoreThanTheLimit) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ASSERT_EQ(::write(p[1], "0123456789", 10), 10);
  ::close(p[1]);
  auto r = read_fd_limited(p[0], 5, "<stdin>");
  ::close(p[0]);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().to_string(), "<stdin>: too large (limit 5 bytes)");
}

TEST(EscapeForDisplay, EscapesControlCharactersAndInvalidBytes) {
  EXPECT_EQ(escape_for_display("plain käse"), "plain käse");
  EXPECT_EQ(escape_for_display("a\nb\rc\td"), "a\\nb\\rc\\td");
  EXPECT_EQ(escape_for_display("\x1b[31mred"), "\\e[31mred");
  EXPECT_EQ(escape_for_display(std::string("n\0ul\x7f", 5)), "n\\x00ul\\x7f");
  EXPECT_EQ(escape_for_display("c1 \xc2\x9b"), "c1 \\u009b");
  EXPECT_EQ(escape_for_display("bad \xff\xc3"), "bad \\xff\\xc3");
}

}  // namespace
}  // namespace hsmctl
