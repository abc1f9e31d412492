// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/device/schsm/smartcard_hsm.hpp"

#include "../scripted_transport.hpp"
#include "pico_vectors.hpp"

#include <gtest/gtest.h>

namespace hsmctl::device::schsm {
namespace {

using namespace hsmctl::device::testing;  // NOLINT(google-build-using-namespace)
using State = model::PinStatus::State;

// PIN values used in these tests; no error message may contain them, in ASCII or hex.
constexpr std::string_view kPin = "648219";
constexpr std::string_view kNewPin = "112233";
constexpr std::string_view kSoPin = "57621880";

void expect_no_secret(const std::string& message) {
  for (std::string_view s : {kPin, kNewPin, kSoPin}) {
    EXPECT_EQ(message.find(s), std::string::npos) << message;
    EXPECT_EQ(message.find(to_hex(bytes_of(s))), std::string::npos) << message;
    EXPECT_EQ(message.find(to_hex_spaced(bytes_of(s))), std::string::npos) << message;
  }
}

class SmartCardHsmTest : public ::testing::Test {
 protected:
  void TearDown() override { EXPECT_TRUE(card.done()) << card.remaining() << " APDUs not sent"; }
  ScriptedTransport card{"pcsc:Virtual PCD 00 00"};
  SmartCardHsm hsm{card};
};

TEST_F(SmartCardHsmTest, SelectFreshDeviceParsesTag85) {
  card.expect(kSelect, kFcpFresh);
  auto info = hsm.select();
  ASSERT_TRUE(info.has_value()) << info.error().message;
  EXPECT_EQ(info->options, 0x0000);
  EXPECT_EQ(info->device_type, 0xFF);
  EXPECT_EQ(info->firmware_major, 6);
  EXPECT_EQ(info->firmware_minor, 6);
  EXPECT_EQ(hsm.apdu_count(), 1);
}

TEST_F(SmartCardHsmTest, SelectInitializedDeviceReadsOptions) {
  card.expect(kSelect, kFcpInit);
  auto info = hsm.select();
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->options, 0x0001);
}

TEST_F(SmartCardHsmTest, SelectNeverUsesP2Of0C) {
  card.expect(kSelect, kFcpFresh);
  ASSERT_TRUE(hsm.select().has_value());
  ASSERT_EQ(card.sent().size(), 1u);
  EXPECT_EQ(card.sent()[0][3], 0x00);
  EXPECT_EQ(card.sent()[0].back(), 0x00);  // Le = 00 present
}

TEST_F(SmartCardHsmTest, SelectFailureNamesTransportCommandAndSw) {
  card.expect(kSelect, "6A 82");
  auto info = hsm.select();
  ASSERT_FALSE(info.has_value());
  EXPECT_EQ(info.error().code, Errc::kDevice);
  EXPECT_EQ(info.error().message,
            "pcsc:Virtual PCD 00 00: SELECT of the SmartCard-HSM applet failed: SW 6A82 (file or "
            "application not found)");
}

TEST_F(SmartCardHsmTest, SelectWithoutTag85IsMalformed) {
  card.expect(kSelect, "62 03 82 01 01 90 00");
  auto info = hsm.select();
  ASSERT_FALSE(info.has_value());
  EXPECT_EQ(info.error().code, Errc::kDevice);
}

TEST_F(SmartCardHsmTest, PinStatusMapsEveryStatusWord) {
  card.expect(kUserStatus, "63 C3")
      .expect(kUserStatus, "90 00")
      .expect(kUserStatus, "69 83")
      .expect(kUserStatus, "69 84")
      .expect(kSoStatus, "6A 88")
      .expect(kSoStatus, "63 CF")
      .expect(kSoStatus, "69 85");
  auto a = hsm.pin_status(PinRef::kUser);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->state, State::kTriesLeft);
  EXPECT_EQ(a->tries_left, 3);
  EXPECT_EQ(hsm.pin_status(PinRef::kUser)->state, State::kVerified);
  EXPECT_EQ(hsm.pin_status(PinRef::kUser)->state, State::kBlocked);
  EXPECT_EQ(hsm.pin_status(PinRef::kUser)->state, State::kTransport);
  EXPECT_EQ(hsm.pin_status(PinRef::kSo)->state, State::kNotInitialized);
  auto so = hsm.pin_status(PinRef::kSo);
  EXPECT_EQ(so->tries_left, 15);
  auto bad = hsm.pin_status(PinRef::kSo);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("SW 6985 (conditions of use not satisfied)"),
            std::string::npos);
  EXPECT_EQ(bad.error().status_word(), 0x6985);  // callers decide by this, not by the text
}

TEST_F(SmartCardHsmTest, VerifySendsPinAndMapsOutcomes) {
  card.expect("00 20 00 81 06 36 34 38 32 31 39", "90 00")
      .expect("00 20 00 81 06 36 34 38 32 31 39", "63 C2")
      .expect("00 20 00 81 06 36 34 38 32 31 39", "69 83")
      .expect("00 20 00 88 08 35 37 36 32 31 38 38 30", "63 CE");
  EXPECT_EQ(hsm.verify(PinRef::kUser, Secret(kPin)).value(), VerifyResult::kOk);
  auto wrong = hsm.verify_detailed(PinRef::kUser, Secret(kPin));
  ASSERT_TRUE(wrong.has_value());
  EXPECT_EQ(wrong->result, VerifyResult::kWrong);
  EXPECT_EQ(wrong->tries_left, 2);
  EXPECT_EQ(hsm.verify(PinRef::kUser, Secret(kPin)).value(), VerifyResult::kBlocked);
  auto so = hsm.verify_detailed(PinRef::kSo, Secret(kSoPin));
  EXPECT_EQ(so->result, VerifyResult::kWrong);
  EXPECT_EQ(so->tries_left, 14);
}

TEST_F(SmartCardHsmTest, VerifyWithEmptyValueIsRefusedWithoutSending) {
  auto r = hsm.verify(PinRef::kUser, Secret());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kRefused);
  EXPECT_EQ(hsm.apdu_count(), 0);
}

TEST_F(SmartCardHsmTest, VerifyUnexpectedSwErrorCarriesNoPin) {
  card.expect("00 20 00 81 06 36 34 38 32 31 39", "6F 00");
  auto r = hsm.verify(PinRef::kUser, Secret(kPin));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kDevice);
  EXPECT_NE(r.error().message.find("SW 6F00"), std::string::npos);
  EXPECT_EQ(r.error().status_word(), 0x6F00);
  expect_no_secret(r.error().message);
}

TEST_F(SmartCardHsmTest, ChangePinWrongOldIsAuthErrorWithTriesLeft) {
  card.expect("00 24 00 81 0C 36 34 38 32 31 39 31 31 32 32 33 33", "63 C2");
  auto r = hsm.change_reference_data(PinRef::kUser, Secret(kPin), Secret(kNewPin));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kAuth);
  EXPECT_EQ(r.error().message,
            "pcsc:Virtual PCD 00 00: CHANGE REFERENCE DATA (user PIN) failed: SW 63C2 (wrong PIN, "
            "2 tries left)");
  expect_no_secret(r.error().message);
}

TEST_F(SmartCardHsmTest, ChangeSoPinSendsOldAndNew) {
  card.expect("00 24 00 88 10 35 37 36 32 31 38 38 30 31 31 32 32 33 33 34 34", "90 00");
  EXPECT_TRUE(
      hsm.change_reference_data(PinRef::kSo, Secret(kSoPin), Secret("11223344")).has_value());
}

TEST_F(SmartCardHsmTest, ResetRetryCounterVariants) {
  card.expect("00 2C 00 81 0E 35 37 36 32 31 38 38 30 31 31 32 32 33 33", "90 00")
      .expect("00 2C 00 81 0E 35 37 36 32 31 38 38 30 31 31 32 32 33 33", "69 86")
      .expect("00 2C 01 81 08 35 37 36 32 31 38 38 30", "63 CE");
  EXPECT_TRUE(hsm.reset_retry_counter(Secret(kSoPin), Secret(kNewPin)).has_value());
  auto disabled = hsm.reset_retry_counter(Secret(kSoPin), Secret(kNewPin));
  ASSERT_FALSE(disabled.has_value());
  EXPECT_EQ(disabled.error().code, Errc::kDevice);
  EXPECT_NE(disabled.error().message.find("SW 6986 (command not allowed)"), std::string::npos);
  expect_no_secret(disabled.error().message);
  auto wrong = hsm.reset_retry_counter_only(Secret(kSoPin));
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code, Errc::kAuth);
  EXPECT_NE(wrong.error().message.find("14 tries left"), std::string::npos);
}

InitializeParams full_params() {
  InitializeParams p;
  p.options = 0x0001;
  p.user_pin = Secret(kPin);
  p.so_pin = Secret(kSoPin);
  p.pin_retries = 3;
  p.dkek_shares = 1;
  p.pka = std::make_pair(2, 1);
  p.key_domains = 2;
  return p;
}

TEST_F(SmartCardHsmTest, InitializeSendsTlvsInOrder) {
  card.expect(
      "80 50 00 00 23 80 02 00 01 81 06 36 34 38 32 31 39 82 08 35 37 36 32 31 38 38 30 "
      "91 01 03 92 01 01 93 02 02 01 97 01 02",
      "90 00");
  EXPECT_TRUE(hsm.initialize(full_params()).has_value());
}

TEST_F(SmartCardHsmTest, InitializeMinimalLeavesOptionalTagsOut) {
  InitializeParams p;
  p.options = 0x0121;
  p.user_pin = Secret(kPin);
  p.so_pin = Secret(H("01 02 03 04 05 06 07 08"));
  p.pin_retries = 5;
  card.expect(
      "80 50 00 00 19 80 02 01 21 81 06 36 34 38 32 31 39 82 08 01 02 03 04 05 06 07 08 91 01 05",
      "90 00");
  EXPECT_TRUE(hsm.initialize(p).has_value());
}

TEST_F(SmartCardHsmTest, InitializeRejectsBadParametersBeforeSending) {
  auto p = full_params();
  p.so_pin = Secret("1234567");
  EXPECT_EQ(hsm.initialize(p).error().code, Errc::kRefused);
  p = full_params();
  p.pin_retries = 0;
  EXPECT_EQ(hsm.initialize(p).error().code, Errc::kRefused);
  p = full_params();
  p.pka = std::make_pair(2, 3);
  EXPECT_EQ(hsm.initialize(p).error().code, Errc::kRefused);
  EXPECT_EQ(hsm.apdu_count(), 0);
}

TEST_F(SmartCardHsmTest, InitializeFailureReportsSwWithoutSecrets) {
  card.expect(
      "80 50 00 00 23 80 02 00 01 81 06 36 34 38 32 31 39 82 08 35 37 36 32 31 38 38 30 "
      "91 01 03 92 01 01 93 02 02 01 97 01 02",
      "64 00");
  auto r = hsm.initialize(full_params());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kDevice);
  EXPECT_EQ(r.error().message,
            "pcsc:Virtual PCD 00 00: INITIALIZE DEVICE failed: SW 6400 (execution error)");
  expect_no_secret(r.error().message);
}

TEST_F(SmartCardHsmTest, MemoryAndVersion) {
  card.expect("80 50 00 00 00", "00 10 00 00 00 06 06 90 00");
  auto r = hsm.memory_and_version();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->first, 0x00100000u);
  EXPECT_EQ(r->second.first, 6);
  EXPECT_EQ(r->second.second, 6);
}

TEST_F(SmartCardHsmTest, KeyDomainStatus) {
  card.expect(domain_status(0), "01 00 11 22 33 44 55 66 77 88 90 00")
      .expect(domain_status(1), "6A 88")
      .expect(domain_status(2), "6A 86")
      .expect(domain_status(0), "6B 00")
      .expect(domain_status(3), "01 00 00 00 00 00 00 00 00 00 AA BB 90 00")
      .expect(domain_status(4), "01 00 90 00");
  auto d0 = hsm.key_domain_status(0);
  ASSERT_TRUE(d0.has_value() && d0->has_value());
  EXPECT_TRUE((*d0)->set_up);
  EXPECT_EQ((*d0)->total_shares, 1);
  EXPECT_EQ((*d0)->outstanding_shares, 0);
  EXPECT_EQ(to_hex((*d0)->kcv), "1122334455667788");
  EXPECT_FALSE((*d0)->has_xkek);
  auto d1 = hsm.key_domain_status(1);
  ASSERT_TRUE(d1.has_value() && d1->has_value());
  EXPECT_FALSE((*d1)->set_up);
  EXPECT_FALSE(hsm.key_domain_status(2).value().has_value());
  EXPECT_FALSE(hsm.key_domain_status(0).value().has_value());
  EXPECT_TRUE(hsm.key_domain_status(3).value()->has_xkek);
  EXPECT_EQ(hsm.key_domain_status(4).error().code, Errc::kDevice);
}

TEST_F(SmartCardHsmTest, KeyDomainMutations) {
  card.expect("80 52 01 01 01 02", "90 00")
      .expect("80 52 03 01", "6A 88")  // delete succeeds with 6A88 by design
      .expect("80 52 03 02", "6A 89")
      .expect("80 52 04 00", "90 00")
      .expect("80 52 01 00 01 01", "69 85");
  EXPECT_TRUE(hsm.key_domain_setup(1, 2).has_value());
  EXPECT_TRUE(hsm.key_domain_delete(1).has_value());
  auto busy = hsm.key_domain_delete(2);
  ASSERT_FALSE(busy.has_value());
  EXPECT_EQ(busy.error().code, Errc::kRefused);
  EXPECT_NE(busy.error().message.find("SW 6A89"), std::string::npos);
  EXPECT_NE(busy.error().message.find("keys still belong to the domain"), std::string::npos);
  EXPECT_TRUE(hsm.key_domain_clear(0).has_value());
  auto denied = hsm.key_domain_setup(0, 1);
  ASSERT_FALSE(denied.has_value());
  EXPECT_EQ(denied.error().message,
            "pcsc:Virtual PCD 00 00: MANAGE KEY DOMAIN (set up domain 0) failed: SW 6985 "
            "(conditions of use not satisfied)");
}

TEST_F(SmartCardHsmTest, ImportDkekShareReturnsStatusAndHidesShare) {
  Bytes share(32, 0xA5);
  card.expect(concat({H("80 52 00 00 20"), share, H("00")}),
              H("02 01 00 00 00 00 00 00 00 00 90 00"))
      .expect(concat({H("80 52 00 00 20"), share, H("00")}), H("69 86"));
  auto st = hsm.import_dkek_share(0, Secret(ByteView(share)));
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->total_shares, 2);
  EXPECT_EQ(st->outstanding_shares, 1);
  auto full = hsm.import_dkek_share(0, Secret(ByteView(share)));
  ASSERT_FALSE(full.has_value());
  EXPECT_EQ(full.error().message.find(to_hex(share)), std::string::npos);
  EXPECT_EQ(hsm.import_dkek_share(0, Secret("short")).error().code, Errc::kRefused);
}

TEST_F(SmartCardHsmTest, PkaStatus) {
  card.expect(kPkaStatus, "6A 86").expect(kPkaStatus, "03 01 02 00 90 00");
  EXPECT_FALSE(hsm.pka_status().value().has_value());
  auto st = hsm.pka_status().value();
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->total, 3);
  EXPECT_EQ(st->missing, 1);
  EXPECT_EQ(st->required, 2);
  EXPECT_EQ(st->authenticated, 0);
}

TEST_F(SmartCardHsmTest, DynamicOptionsReadModifyWrite) {
  card.expect("80 64 06 00 00", "04 01 90 00")   // secure lock on, RRC
      .expect("80 64 06 00 01 05", "90 00")      // keeps 0x04, adds 0x01
      .expect("80 64 06 00 00", "05 01 90 00");  // nothing to change: no write
  auto v = hsm.update_dynamic_options(0x0100, 0);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, 0x0501);
  auto same = hsm.update_dynamic_options(0x0100, 0);
  EXPECT_EQ(same.value(), 0x0501);
  EXPECT_EQ(hsm.update_dynamic_options(0x0400, 0).error().code, Errc::kRefused);
  EXPECT_EQ(hsm.update_dynamic_options(0, 0x0001).error().code, Errc::kRefused);
}

TEST_F(SmartCardHsmTest, ReadEfInChunksUntilShortRead) {
  Bytes first(256, 0x11);
  Bytes second(10, 0x22);
  card.expect("00 B1 2F 02 04 54 02 00 00 00", with_sw(first))
      .expect("00 B1 2F 02 04 54 02 01 00 00", with_sw(second));
  auto ef = hsm.read_ef(0x2F02);
  ASSERT_TRUE(ef.has_value() && ef->has_value());
  EXPECT_EQ((*ef)->size(), 266u);
  EXPECT_EQ((**ef)[255], 0x11);
  EXPECT_EQ((**ef)[256], 0x22);
}

TEST_F(SmartCardHsmTest, ReadEfExactMultipleEndsOnEndOfFileStatus) {
  card.expect("00 B1 C4 00 04 54 02 00 00 00", with_sw(Bytes(256, 0x33)))
      .expect("00 B1 C4 00 04 54 02 01 00 00", "6B 00");
  auto ef = hsm.read_ef(0xC400);
  ASSERT_TRUE(ef.has_value() && ef->has_value());
  EXPECT_EQ((*ef)->size(), 256u);
}

TEST_F(SmartCardHsmTest, ReadEfMissingIsNullopt) {
  card.expect("00 B1 2F 02 04 54 02 00 00 00", "6A 82")
      .expect("00 B1 2F 02 04 54 02 00 00 00", "69 82");
  EXPECT_FALSE(hsm.read_ef(0x2F02).value().has_value());
  auto denied = hsm.read_ef(0x2F02);
  ASSERT_FALSE(denied.has_value());
  EXPECT_NE(denied.error().message.find("READ BINARY of EF 2F02 failed: SW 6982"),
            std::string::npos);
}

TEST_F(SmartCardHsmTest, GetResponseChainIsFollowedAndCounted) {
  card.expect(kReadTokenInfo, "30 2A 02 01 61 10")
      .expect("00 C0 00 00 10", "06 04 08 E6 61 41 04 03 5D C4 31 0C 0D 50 6F 6C 61 00")
      .expect("00 C0 00 00 00",
              "20 48 65 6E 61 72 65 6A 6F 73 80 08 50 69 63 6F 2D 48 53 4D 03 02 04 30 90 00");
  auto serial = hsm.chip_serial();
  ASSERT_TRUE(serial.has_value()) << serial.error().message;
  EXPECT_EQ(*serial, kSerial);
  EXPECT_EQ(hsm.apdu_count(), 3);
}

TEST_F(SmartCardHsmTest, WrongLengthIsResentWithExactLe) {
  card.expect("80 50 00 00 00", "6C 07").expect("80 50 00 00 07", "00 10 00 00 00 06 06 90 00");
  auto r = hsm.memory_and_version();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->second.first, 6);
  EXPECT_EQ(hsm.apdu_count(), 2);
}

TEST_F(SmartCardHsmTest, ChipSerialFromTokenInfo) {
  card.expect(kReadTokenInfo, token_info_response());
  EXPECT_EQ(hsm.chip_serial().value(), "E6614104035DC431");
}

TEST_F(SmartCardHsmTest, MalformedResponseIsDeviceError) {
  card.expect(kPkaStatus, "90");
  auto r = hsm.pka_status();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kDevice);
}

TEST_F(SmartCardHsmTest, EnumerateObjectsUsesExtendedLeAndCountsKeys) {
  card.expect(kEnumerate, "C4 00 CC 00 CC 01 CC 02 C4 01 C4 02 C8 01 90 00");
  auto list = hsm.enumerate_objects();
  ASSERT_TRUE(list.has_value());
  EXPECT_EQ(list->fids.size(), 7u);
  EXPECT_EQ(list->private_keys(), 2);  // CC01, CC02; CC00 is the device key
}

TEST(SmartCardHsmParse, TokenInfoSerial) {
  Bytes ti = token_info_response();
  ti.resize(ti.size() - 2);
  EXPECT_EQ(parse_token_info_serial(ti), std::optional<std::string>("E6614104035DC431"));
  EXPECT_FALSE(parse_token_info_serial(H("30 03 02 01 06")).has_value());
  EXPECT_FALSE(parse_token_info_serial(H("30 FF 02")).has_value());
}

TEST(SmartCardHsmParse, SelectFcpToleratesTrailingGarbageAndNeedsTag85) {
  auto info = parse_select_fcp(H("62 08 82 01 01 85 03 00 06 06 FF"));
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->firmware_major, 6);
  EXPECT_FALSE(parse_select_fcp(H("62 05 82 01 01 85 01 00")).has_value());  // too short
  EXPECT_FALSE(parse_select_fcp(H("62 03 82 01 01")).has_value());
}

TEST(SmartCardHsmParse, SelectFcpOfScHsm) {
  Bytes fcp = H(kFcpScHsm);
  fcp.resize(fcp.size() - 2);
  auto info = parse_select_fcp(fcp);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->device_type, 0x00);
  EXPECT_EQ(info->options, 0x0001);
  EXPECT_EQ(info->firmware_major, 3);
  EXPECT_EQ(info->firmware_minor, 5);
}

}  // namespace
}  // namespace hsmctl::device::schsm
