// SPDX-License-Identifier: Apache-2.0
// The one hidden-input line reader (util/prompt.hpp): fixed buffer, limits, no value in errors.

#include "hsmctl/util/prompt.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <string>

namespace hsmctl {
namespace {

// A pipe holding `text`, write end closed: read_hidden_line sees it and then EOF.
int pipe_with(const std::string& text) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  EXPECT_EQ(write(fds[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fds[1]);
  return fds[0];
}

TEST(HiddenLine, ReadsOneLineAndLeavesTheRest) {
  int fd = pipe_with("first\r\nsecond\n");
  bool eof = true;
  auto v = read_hidden_line(fd, 64, Errc::kSecret, &eof);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->view(), "first");  // the '\r' of a CRLF line is dropped
  EXPECT_FALSE(eof);
  auto w = read_hidden_line(fd, 64, Errc::kSecret, &eof);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->view(), "second");
  auto end = read_hidden_line(fd, 64, Errc::kSecret, &eof);
  ASSERT_TRUE(end);
  EXPECT_TRUE(end->empty());
  EXPECT_TRUE(eof);
  close(fd);
}

TEST(HiddenLine, TooLongIsAnErrorWithoutTheValue) {
  std::string secret(100, 'S');
  int fd = pipe_with(secret + "\nnext\n");
  auto v = read_hidden_line(fd, 10, Errc::kStore, nullptr);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Errc::kStore);
  EXPECT_EQ(v.error().message.find("SSSS"), std::string::npos);
  // The rest of the overlong line was consumed, not taken as the next value.
  auto next = read_hidden_line(fd, 10, Errc::kStore, nullptr);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->view(), "next");
  close(fd);
}

TEST(HiddenLine, LimitIsCappedAtTheFixedBuffer) {
  std::string big(kMaxHiddenInput + 1, 'x');
  int fd = pipe_with(big + "\n");
  auto v = read_hidden_line(fd, kMaxHiddenInput * 4, Errc::kSecret, nullptr);
  EXPECT_FALSE(v);
  close(fd);
}

}  // namespace
}  // namespace hsmctl
