// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/fingerprint.hpp"

#include "hsmctl/store/ephemeral_keeper.hpp"

#include <gtest/gtest.h>

namespace hsmctl::store {
namespace {

TEST(Fingerprint, HmacSha256Vectors) {
  // RFC 4231 test case 2.
  EXPECT_EQ(fingerprint(Secret(std::string_view("Jefe")),
                        Secret(std::string_view("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // RFC 4231 test case 6: a key longer than the block is hashed first.
  const std::string long_key(131, '\xaa');
  EXPECT_EQ(fingerprint(
                Secret(std::string_view(long_key)),
                Secret(std::string_view("Test Using Larger Than Block-Size Key - Hash Key First"))),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(Fingerprint, KeyIsCreatedOnceAndALegacyPrimusKeyIsKept) {
  EphemeralKeeper keeper;
  auto none = fingerprint_key(keeper, false);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  auto k1 = fingerprint_key(keeper, true);
  ASSERT_TRUE(k1 && k1->has_value());
  auto k2 = fingerprint_key(keeper, true);
  ASSERT_TRUE(k2 && k2->has_value());
  EXPECT_TRUE((*k1)->equals(**k2));

  EphemeralKeeper old;
  ASSERT_TRUE(old.record_current({"primus", "fingerprint-key"}, Secret(std::string_view("k"))));
  auto legacy = fingerprint_key(old, true);
  ASSERT_TRUE(legacy && legacy->has_value());
  EXPECT_EQ((*legacy)->view(), "k");
}

TEST(Fingerprint, RecordsAreLinesKeyedByFingerprint) {
  EphemeralKeeper keeper;
  const CredentialKey key{"pico:0011", "user-pin-rejected"};
  ASSERT_TRUE(remember(keeper, key, "aa", "rejected 1"));
  ASSERT_TRUE(remember(keeper, key, "aa", "rejected 2"));  // kept once
  ASSERT_TRUE(remember(keeper, key, "bb", ""));
  auto lines = load_lines(keeper, key);
  ASSERT_TRUE(lines);
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_EQ(lookup(*lines, "aa"), "rejected 1");
  EXPECT_EQ(lookup(*lines, "bb"), "");
  EXPECT_FALSE(lookup(*lines, "cc"));
}

}  // namespace
}  // namespace hsmctl::store
