// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/families/primus/ppin.hpp"

#include <gtest/gtest.h>

namespace hsmctl::families::primus {
namespace {

TEST(PrimusPpinParse, ListingToleratesPaddingAndOtherLines) {
  const char* out =
      "********************\nPrimus Permanent PIN\n********************\n"
      "[00] slot-id 0: user 'DEMO_PARTITION' permanent secret: Configured\r\n"
      "[01]   slot-id 2:     user 'OTHER'     permanent secret:   MISSING\n"
      "  [02] slot-id 0: user 'DEMO_PARTITION' permanent secret: Configured\n"
      "[00] service/proxy user 'SERVICE_USER'   permanent secret:  Configured\n"
      "[01] service/proxy user 'SERVICE_USER' permanent secret: MISSING\n"
      "garbage [03] slot-id 9: user 'X' permanent secret: Configured\n";
  Listing l = parse_listing(out);
  ASSERT_EQ(l.slots.size(), 3u);
  EXPECT_EQ(l.slots[1].slot_id, 2);
  EXPECT_EQ(l.slots[1].user, "OTHER");
  EXPECT_FALSE(l.slots[1].configured);
  EXPECT_EQ(l.user_configured("DEMO_PARTITION"), true);
  EXPECT_EQ(l.user_configured("OTHER"), false);
  EXPECT_EQ(l.user_configured("X"), std::nullopt);
  ASSERT_EQ(l.proxies.size(), 2u);
  // One MISSING line means not configured everywhere.
  EXPECT_EQ(l.proxy_configured("SERVICE_USER"), false);
}

TEST(PrimusPpinParse, ErrorCodes) {
  EXPECT_EQ(find_error_code("ERROR: login with setup password failed (0x80005017)"), 0x80005017u);
  EXPECT_EQ(find_error_code("failed: 0xC0000123 system"), 0xC0000123u);
  EXPECT_EQ(find_error_code("slot-id 0x2 fine"), std::nullopt);
  EXPECT_EQ(error_for_code(0x80005017, "x").code, Errc::kAuth);
  EXPECT_EQ(error_for_code(0x80005018, "x").code, Errc::kAuth);
  EXPECT_EQ(error_for_code(0x8000000B, "x").code, Errc::kAuth);
  EXPECT_EQ(error_for_code(0x80000037, "x").code, Errc::kAuth);
  EXPECT_EQ(error_for_code(0x80005015, "x").code, Errc::kUnavailable);
  EXPECT_EQ(error_for_code(0x80005007, "x").code, Errc::kIo);
  EXPECT_NE(error_for_code(0x80005018, "ppin -a").message.find("setup password expired"),
            std::string::npos);
}

TEST(PrimusPpinParse, ErrorForCodeCarriesTheCodeAsItsCause) {
  EXPECT_EQ(error_for_code(0x80005017, "ppin -a for 'X'").vendor_code(), 0x80005017u);
  // The code is the one ppin reported, whatever text the caller's description holds.
  EXPECT_EQ(error_for_code(0x80005015, "ppin -a for /tmp/0x80005017").vendor_code(), 0x80005015u);
  EXPECT_EQ(make_error(Errc::kIo, "cannot stat /tmp/d0x80005017/x").value().vendor_code(),
            std::nullopt);
}

TEST(PrimusPpinParse, VersionAndTest) {
  auto v = parse_version("Primus HSM PKCS#11 2.2.4\n");
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, "2.2.4");
  EXPECT_FALSE(parse_version("ppin: command not found"));
  const char* t =
      "Load config file: '/etc/primus/primus.cfg'\n\n"
      "hsm0: Connect to '82.197.162.10' on port 2411, firmware: RP-2.11.2-T\n"
      "    slot0 (id=2), user=DEMO-TEST: OK\n"
      "hsm1: Connect to a-api.cloudshsm.com port 2310\n"
      "    slot0 (id=2), user=DEMO-TEST: CKR_TOKEN_NOT_PRESENT\n"
      "Number of tested HSMs: 2 (number of partitions: 2)\nNumber of failures: 1\n";
  TestResult r = parse_test(t);
  ASSERT_EQ(r.lines.size(), 2u);
  EXPECT_EQ(r.lines[0].hsm, "hsm0");
  EXPECT_TRUE(r.lines[0].ok);
  EXPECT_EQ(r.lines[1].hsm, "hsm1");
  EXPECT_EQ(r.lines[1].detail, "CKR_TOKEN_NOT_PRESENT");
  EXPECT_EQ(r.failures, 1);
}

TEST(PrimusPpinParse, NumbersTooLargeForAnIntDoNotThrow) {
  // Reported by an earlier fuzzing attempt (issue 9; inputs in tests/fuzz/regressions/
  // ppin_output): std::stoi threw std::out_of_range out of the parsers.
  const char* listing =
      "[99999999999] slot-id 0: user 'A' permanent secret: Configured\n"
      "[00] slot-id 99999999999: user 'B' permanent secret: Configured\n"
      "[99999999999] service/proxy user 'P' permanent secret: Configured\n"
      "[01] slot-id 1: user 'C' permanent secret: MISSING\n";
  Listing l = parse_listing(listing);
  ASSERT_EQ(l.slots.size(), 1u);
  EXPECT_EQ(l.slots[0].user, "C");
  EXPECT_TRUE(l.proxies.empty());
  TestResult t = parse_test(
      "hsm0: Connect to 'x' on port 1\n    slot0 (id=99999999999), user=U: OK\n"
      "Number of failures: 99999999999\n");
  EXPECT_TRUE(t.lines.empty());
  EXPECT_GT(t.failures, 0);
}

}  // namespace
}  // namespace hsmctl::families::primus
