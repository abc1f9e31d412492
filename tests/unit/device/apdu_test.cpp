// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/device/apdu.hpp"

#include "scripted_transport.hpp"

#include <gtest/gtest.h>

namespace hsmctl::device {
namespace {

using testing::H;

std::string enc(const CommandApdu& c) {
  return to_hex_spaced(c.encode());
}

Bytes filled(std::size_t n, std::uint8_t start = 0) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<std::uint8_t>(start + i);
  return b;
}

TEST(ApduEncode, Case1HeaderOnly) {
  EXPECT_EQ(enc({0x80, 0x52, 0x03, 0x01, {}, std::nullopt}), "80 52 03 01");
}

TEST(ApduEncode, Case2ShortLeZeroAnd256BothEncodeAs00) {
  EXPECT_EQ(enc({0x80, 0x50, 0x00, 0x00, {}, 0}), "80 50 00 00 00");
  EXPECT_EQ(enc({0x80, 0x50, 0x00, 0x00, {}, 256}), "80 50 00 00 00");
  EXPECT_EQ(enc({0x00, 0xC0, 0x00, 0x00, {}, 0x10}), "00 C0 00 00 10");
  EXPECT_EQ(enc({0x00, 0xC0, 0x00, 0x00, {}, 255}), "00 C0 00 00 FF");
}

TEST(ApduEncode, SelectMatchesPicoReference) {
  CommandApdu select{0x00, 0xA4, 0x04, 0x00, H("E8 2B 06 01 04 01 81 C3 1F 02 01"), 0};
  EXPECT_EQ(enc(select), "00 A4 04 00 0B E8 2B 06 01 04 01 81 C3 1F 02 01 00");
}

TEST(ApduEncode, Case3ShortUpTo255Bytes) {
  EXPECT_EQ(enc({0x00, 0x20, 0x00, 0x81, H("31 32"), std::nullopt}), "00 20 00 81 02 31 32");
  const Bytes e = CommandApdu{0x80, 0x52, 0x00, 0x00, filled(255), std::nullopt}.encode();
  ASSERT_EQ(e.size(), 4u + 1u + 255u);
  EXPECT_EQ(e[4], 0xFF);
  EXPECT_EQ(e[5], 0x00);
  EXPECT_EQ(e.back(), 0xFE);
}

TEST(ApduEncode, Lc256GoesExtended) {
  const Bytes e = CommandApdu{0x80, 0x52, 0x00, 0x00, filled(256), std::nullopt}.encode();
  ASSERT_EQ(e.size(), 4u + 3u + 256u);
  EXPECT_EQ(e[4], 0x00);
  EXPECT_EQ(e[5], 0x01);
  EXPECT_EQ(e[6], 0x00);
  EXPECT_EQ(e[7], 0x00);  // first data byte
}

TEST(ApduEncode, Case4ShortAndExtended) {
  EXPECT_EQ(enc({0x00, 0xB1, 0x2F, 0x02, H("54 02 00 00"), 0}), "00 B1 2F 02 04 54 02 00 00 00");
  // Le above 256 forces the extended form even for short data: Lc 00 00 04, Le 01 01.
  EXPECT_EQ(enc({0x00, 0xB1, 0x2F, 0x02, H("54 02 00 00"), 257}),
            "00 B1 2F 02 00 00 04 54 02 00 00 01 01");
  // Extended case 4, Le 65536 -> 00 00.
  const Bytes e = CommandApdu{0x80, 0x58, 0x00, 0x00, filled(300), 65536}.encode();
  ASSERT_EQ(e.size(), 4u + 3u + 300u + 2u);
  EXPECT_EQ(to_hex_spaced(ByteView(e).subspan(4, 3)), "00 01 2C");
  EXPECT_EQ(e[e.size() - 2], 0x00);
  EXPECT_EQ(e[e.size() - 1], 0x00);
}

TEST(ApduEncode, Case2Extended) {
  EXPECT_EQ(enc({0x80, 0x58, 0x00, 0x00, {}, 65536}), "80 58 00 00 00 00 00");
  EXPECT_EQ(enc({0x80, 0x58, 0x00, 0x00, {}, 0x1234}), "80 58 00 00 00 12 34");
}

void expect_round_trip(const CommandApdu& c, std::optional<int> expected_le) {
  SCOPED_TRACE(enc(c));
  auto p = parse_command(c.encode());
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->cla, c.cla);
  EXPECT_EQ(p->ins, c.ins);
  EXPECT_EQ(p->p1, c.p1);
  EXPECT_EQ(p->p2, c.p2);
  EXPECT_EQ(p->data, c.data);
  EXPECT_EQ(p->le, expected_le);
}

TEST(ApduParse, RoundTripsAllCases) {
  expect_round_trip({0x80, 0x52, 0x03, 0x01, {}, std::nullopt}, std::nullopt);
  expect_round_trip({0x80, 0x50, 0x00, 0x00, {}, 0}, 256);  // 00 means 256
  expect_round_trip({0x80, 0x50, 0x00, 0x00, {}, 256}, 256);
  expect_round_trip({0x00, 0xC0, 0x00, 0x00, {}, 17}, 17);
  expect_round_trip({0x00, 0x20, 0x00, 0x81, H("36 34 38 32 31 39"), std::nullopt}, std::nullopt);
  expect_round_trip({0x00, 0x20, 0x00, 0x81, filled(255), std::nullopt}, std::nullopt);
  expect_round_trip({0x00, 0x20, 0x00, 0x81, filled(255), 0}, 256);
  expect_round_trip({0x00, 0x20, 0x00, 0x81, filled(256), std::nullopt}, std::nullopt);
  expect_round_trip({0x00, 0x20, 0x00, 0x81, filled(256), 0x200}, 0x200);
  expect_round_trip({0x80, 0x58, 0x00, 0x00, {}, 65536}, 65536);  // 0000 means 65536
  expect_round_trip({0x80, 0x58, 0x00, 0x00, {}, 300}, 300);
  expect_round_trip({0x80, 0x58, 0x00, 0x00, filled(3), 300}, 300);
  expect_round_trip({0x80, 0x58, 0x00, 0x00, filled(1000), 65536}, 65536);
}

TEST(ApduParse, RejectsMalformed) {
  EXPECT_FALSE(parse_command(H("00 A4 04")).has_value());
  EXPECT_FALSE(parse_command(H("00 20 00 81 03 31 32")).has_value());        // Lc too long
  EXPECT_FALSE(parse_command(H("00 20 00 81 02 31 32 33 34")).has_value());  // trailing bytes
  EXPECT_FALSE(parse_command(H("00 20 00 81 00 31")).has_value());           // 6 bytes, b4=00
  EXPECT_FALSE(parse_command(H("00 20 00 81 00 00 00 31")).has_value());     // ext Lc = 0
  EXPECT_FALSE(parse_command(H("00 20 00 81 00 00 02 31")).has_value());     // ext Lc short
}

TEST(ApduParse, ParsesReferenceSelect) {
  auto p = parse_command(H("00 A4 04 00 0B E8 2B 06 01 04 01 81 C3 1F 02 01 00"));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->ins, 0xA4);
  EXPECT_EQ(p->p1, 0x04);
  EXPECT_EQ(p->data.size(), 11u);
  EXPECT_EQ(p->le, 256);
}

TEST(ApduResponse, SplitsDataAndStatus) {
  EXPECT_FALSE(parse_response(H("90")).has_value());
  auto ok = parse_response(H("90 00"));
  ASSERT_TRUE(ok.has_value());
  EXPECT_TRUE(ok->ok());
  EXPECT_TRUE(ok->data.empty());
  auto r = parse_response(H("01 02 63 C2"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->data, H("01 02"));
  EXPECT_EQ(r->sw, 0x63C2);
  EXPECT_EQ(r->sw1(), 0x63);
  EXPECT_EQ(r->sw2(), 0xC2);
  EXPECT_FALSE(r->ok());
}

TEST(ApduDescribeSw, NamesCodeAndMeaning) {
  EXPECT_EQ(describe_sw(0x6A88), "6A88 (reference data not found)");
  EXPECT_EQ(describe_sw(0x6985), "6985 (conditions of use not satisfied)");
  EXPECT_EQ(describe_sw(0x63C2), "63C2 (wrong PIN, 2 tries left)");
  EXPECT_EQ(describe_sw(0x63C1), "63C1 (wrong PIN, 1 try left)");
  EXPECT_EQ(describe_sw(0x9000), "9000 (success)");
  EXPECT_EQ(describe_sw(0x1234), "1234 (unknown status)");
}

TEST(ApduDescribeSw, KnowsEveryStatusOfTheReference) {
  // pico-hsm.md Appendix A plus the SWs its sections name.
  for (std::uint16_t sw :
       {0x6400, 0x6581, 0x6600, 0x6700, 0x6982, 0x6983, 0x6984, 0x6985, 0x6986, 0x6A82, 0x6A84,
        0x6A86, 0x6A88, 0x6A89, 0x6B00, 0x6D00, 0x6E00, 0x9000, 0x9001, 0x63CF, 0x6110, 0x6C08}) {
    const std::string d = describe_sw(sw);
    SCOPED_TRACE(d);
    char code[5];
    std::snprintf(code, sizeof code, "%04X", sw);
    EXPECT_EQ(d.rfind(code, 0), 0u);
    EXPECT_EQ(d.find("unknown"), std::string::npos);
  }
}

}  // namespace
}  // namespace hsmctl::device
