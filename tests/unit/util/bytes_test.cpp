// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/util/bytes.hpp"

#include "hsmctl/util/secret.hpp"

#include <gtest/gtest.h>

namespace hsmctl {
namespace {

TEST(Bytes, HexRoundTrip) {
  Bytes b{0x00, 0x6A, 0x88, 0xFF};
  EXPECT_EQ(to_hex(b), "006A88FF");
  EXPECT_EQ(to_hex_spaced(b), "00 6A 88 FF");
  EXPECT_EQ(from_hex("00 6a:88ff"), b);
}

TEST(Bytes, RejectsBadHex) {
  EXPECT_FALSE(from_hex("0G").has_value());
  EXPECT_FALSE(from_hex("ABC").has_value());
}

TEST(Secret, MoveLeavesSourceEmptyAndComparesInConstantTime) {
  Secret a("648219");
  Secret b(a);
  EXPECT_TRUE(a.equals(b));
  Secret c(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_TRUE(c.equals(b));
  EXPECT_FALSE(c.equals(Secret("648218")));
}

}  // namespace
}  // namespace hsmctl
