// SPDX-License-Identifier: Apache-2.0
// The parts of device/pcsc that need no pcscd: ATR capability parsing, extended-to-short APDU
// rewriting, and the PC/SC error table. The transport itself runs in tests/e2e.

#include "hsmctl/device/pcsc/pcsc_transport.hpp"

#include "hsmctl/util/bytes.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

namespace hsmctl::device::pcsc {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Bytes hex(const char* text) {
  return *from_hex(text);
}

/// Records every raw APDU and answers from a script.
struct FakeCard {
  std::vector<Bytes> sent;
  std::vector<Bytes> answers;
  std::size_t next = 0;
  Result<Bytes> operator()(ByteView apdu) {
    sent.emplace_back(apdu.begin(), apdu.end());
    if (next >= answers.size()) {
      return make_error(Errc::kUnavailable, "script exhausted");
    }
    return answers[next++];
  }
  std::function<Result<Bytes>(ByteView)> fn() {
    return [this](ByteView a) { return (*this)(a); };
  }
};

TEST(PcscAtr, PicoAtrAnnouncesExtendedLength) {
  EXPECT_TRUE(atr_supports_extended_apdus(
      hex("3B FE 18 00 00 81 31 FE 45 80 31 81 54 48 53 4D 31 73 80 21 40 81 07 FA")));
}

TEST(PcscAtr, AtrWithoutCapabilitiesOrWithoutTheBitDoesNot) {
  EXPECT_FALSE(atr_supports_extended_apdus(hex("3B 80 80 01 01")));  // no historical bytes
  // Same Pico ATR with card capabilities byte 3 = 00 instead of 40.
  EXPECT_FALSE(atr_supports_extended_apdus(
      hex("3B FE 18 00 00 81 31 FE 45 80 31 81 54 48 53 4D 31 73 80 21 00 81 07 BA")));
  // Historical bytes not in compact-TLV format (category 00 is not interpreted).
  EXPECT_FALSE(atr_supports_extended_apdus(hex("3B 84 80 01 00 73 80 21 40")));
  EXPECT_FALSE(atr_supports_extended_apdus(hex("3B FE 18 00")));  // truncated
  EXPECT_FALSE(atr_supports_extended_apdus(Bytes{}));
}

TEST(PcscShaping, ExtendedApdusPassUnchangedWhenTheCardTakesThem) {
  FakeCard card;
  card.answers = {hex("01 02 90 00")};
  Bytes big = hex("80 58 00 00 00 01 2C");
  big.resize(big.size() + 300, 0x11);
  auto r = transmit_shaped(big, true, card.fn());
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, hex("01 02 90 00"));
  ASSERT_EQ(card.sent.size(), 1U);
  EXPECT_EQ(card.sent[0], big);
}

TEST(PcscShaping, LongDataIsChainedInShortPiecesWhenExtendedIsNotAvailable) {
  FakeCard card;
  card.answers = {hex("90 00"), hex("90 00"), hex("AA BB 90 00")};
  Bytes data(600);
  for (std::size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<std::uint8_t>(i);
  }
  Bytes apdu = hex("80 54 01 02 00 02 58");  // case 4E: Lc 600, Le 0000
  apdu.insert(apdu.end(), data.begin(), data.end());
  apdu.push_back(0x00);
  apdu.push_back(0x00);
  auto r = transmit_shaped(apdu, false, card.fn());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, hex("AA BB 90 00"));
  ASSERT_EQ(card.sent.size(), 3U);
  // Pieces 1 and 2: CLA | 0x10, Lc 255, no Le.
  EXPECT_EQ(card.sent[0].size(), 5U + 255U);
  EXPECT_THAT(Bytes(card.sent[0].begin(), card.sent[0].begin() + 5),
              ElementsAre(0x90, 0x54, 0x01, 0x02, 0xFF));
  EXPECT_EQ(card.sent[1].size(), 5U + 255U);
  EXPECT_EQ(card.sent[1][0], 0x90);
  // Last piece: original CLA, the remaining 90 bytes, Le 00.
  ASSERT_EQ(card.sent[2].size(), 5U + 90U + 1U);
  EXPECT_THAT(Bytes(card.sent[2].begin(), card.sent[2].begin() + 5),
              ElementsAre(0x80, 0x54, 0x01, 0x02, 90));
  EXPECT_EQ(card.sent[2].back(), 0x00);
  // The data arrives in order.
  Bytes joined;
  joined.insert(joined.end(), card.sent[0].begin() + 5, card.sent[0].end());
  joined.insert(joined.end(), card.sent[1].begin() + 5, card.sent[1].end());
  joined.insert(joined.end(), card.sent[2].begin() + 5, card.sent[2].end() - 1);
  EXPECT_EQ(joined, data);
}

TEST(PcscShaping, ARefusedPieceEndsTheChainWithTheCardsStatus) {
  FakeCard card;
  card.answers = {hex("69 85")};
  Bytes apdu = hex("80 54 01 02 00 01 2C");  // case 3E, 300 bytes
  apdu.resize(apdu.size() + 300, 0x22);
  auto r = transmit_shaped(apdu, false, card.fn());
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, hex("69 85"));
  EXPECT_EQ(card.sent.size(), 1U);
}

TEST(PcscShaping, ExtendedLeBecomesShortLeAndGetResponseCollectsTheRest) {
  FakeCard card;
  card.answers = {hex("01 02 61 03"), hex("03 04 05 61 00"), hex("06 90 00")};
  auto r = transmit_shaped(hex("80 58 00 00 00 00 00"), false, card.fn());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, hex("01 02 03 04 05 06 90 00"));
  ASSERT_EQ(card.sent.size(), 3U);
  EXPECT_EQ(card.sent[0], hex("80 58 00 00 00"));
  // GET RESPONSE is interindustry (CLA 00) even after a proprietary command.
  EXPECT_EQ(card.sent[1], hex("00 C0 00 00 03"));
  EXPECT_EQ(card.sent[2], hex("00 C0 00 00 00"));
}

TEST(PcscShaping, WrongLeIsResentOnceWithTheLengthTheCardAsksFor) {
  FakeCard card;
  card.answers = {hex("6C 04"), hex("01 02 03 04 90 00")};
  auto r = transmit_shaped(hex("00 B0 00 00 10"), true, card.fn());
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, hex("01 02 03 04 90 00"));
  ASSERT_EQ(card.sent.size(), 2U);
  EXPECT_EQ(card.sent[1], hex("00 B0 00 00 04"));
}

TEST(PcscShaping, TransportErrorsAndMalformedCommandsPassThrough) {
  FakeCard broken;  // no answers: every exchange fails
  auto r = transmit_shaped(hex("00 A4 04 00 00"), true, broken.fn());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "script exhausted");

  FakeCard card;
  card.answers = {hex("67 00")};
  auto m = transmit_shaped(hex("00 A4 04 00 05 01"), false, card.fn());  // Lc says 5, has 1
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, hex("67 00"));
  EXPECT_EQ(card.sent[0], hex("00 A4 04 00 05 01"));
}

TEST(PcscErrors, EveryClassNamesTheReader) {
  const std::string reader = "ACS ACR39U ICC Reader 00 00";
  struct Case {
    long rv;
    const char* text;
  };
  const Case cases[] = {
      {0x80100069L, "card removed from reader 'ACS ACR39U ICC Reader 00 00'"},
      {0x8010000CL, "card removed from reader"},
      {0x80100068L, "was reset by another program or the reader; PIN sessions on it are lost"},
      {0x8010000BL, "is in exclusive use by another program (sharing violation)"},
      {0x80100017L, "is no longer available"},
      {0x80100066L, "does not respond"},
      {0x80100016L, "the card may have been removed"},
      {0x8010001DL, "pcscd is not running (or PCSCLITE_CSOCK_NAME points elsewhere)"},
      {0x8010000AL, "timeout"},
      {0x80100006L, "PC/SC error"},
  };
  for (const Case& c : cases) {
    const Error e = error_for_pcsc_code(c.rv, reader, "sending an APDU to");
    EXPECT_EQ(e.code, Errc::kUnavailable) << c.text;
    EXPECT_THAT(e.message, HasSubstr(c.text));
    EXPECT_THAT(e.message, HasSubstr(reader)) << e.message;
  }
}

}  // namespace
}  // namespace hsmctl::device::pcsc
