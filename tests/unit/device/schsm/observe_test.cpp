// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/device/schsm/observe.hpp"

#include "../scripted_transport.hpp"
#include "pico_vectors.hpp"

#include <gtest/gtest.h>

namespace hsmctl::device::schsm {
namespace {

using namespace hsmctl::device::testing;  // NOLINT(google-build-using-namespace)
using model::CredentialCheck;
using State = model::PinStatus::State;

constexpr std::string_view kVerifyUser = "00 20 00 81 06 36 34 38 32 31 39";      // "648219"
constexpr std::string_view kVerifyUser2 = "00 20 00 81 06 31 31 32 32 33 33";     // "112233"
constexpr std::string_view kVerifySo = "00 20 00 88 08 35 37 36 32 31 38 38 30";  // "57621880"
constexpr std::string_view kDomainNoKcv = "01 00 00 00 00 00 00 00 00 00 90 00";
constexpr std::string_view kDomainKcv = "01 00 DE AD BE EF 01 02 03 04 90 00";

ObserveRequest with_pins(bool user, bool so) {
  ObserveRequest r;
  if (user) {
    r.user_pin_candidates.emplace_back("648219");
    r.user_pin_candidates.emplace_back("112233");
  }
  if (so)
    r.so_pin_candidates.emplace_back("57621880");
  return r;
}

Bytes self_signed_cert() {
  return cv_certificate("ESPICOHSMTR00001", "ESPICOHSMTR00001");
}

class ObserveTest : public ::testing::Test {
 protected:
  void TearDown() override { EXPECT_TRUE(card.done()) << card.remaining() << " APDUs not sent"; }

  // SELECT + TokenInfo + both status queries of an initialized device (options 0001).
  void expect_initialized_start(std::string_view user_sw, std::string_view so_sw,
                                std::string_view fcp = kFcpInit) {
    card.expect(kSelect, fcp)
        .expect(H(kReadTokenInfo), token_info_response())
        .expect(kUserStatus, user_sw)
        .expect(kSoStatus, so_sw)
        .expect(kPkaStatus, "6A 86");
  }
  void expect_single_domain(std::string_view answer = kDomainNoKcv) {
    card.expect(domain_status(0), answer).expect(domain_status(1), "6A 86");
  }
  void expect_objects() {
    card.expect(kEnumerate, "C4 00 CC 00 90 00")
        .expect(H(kReadDevCert), with_sw(self_signed_cert()));
  }

  ScriptedTransport card{"sim:/tmp/pico.json"};
  SmartCardHsm hsm{card};
};

TEST_F(ObserveTest, FreshDeviceNeedsFourApdusAndNeverVerifies) {
  card.expect(kSelect, kFcpFresh)
      .expect(H(kReadTokenInfo), token_info_response())
      .expect(kUserStatus, "6A 88")
      .expect(kSoStatus, "6A 88");
  auto o = observe(hsm, with_pins(true, true));
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_FALSE(o->initialized);
  EXPECT_TRUE(o->is_pico);
  EXPECT_EQ(o->firmware_major, 6);
  EXPECT_EQ(o->firmware_minor, 6);
  EXPECT_EQ(o->options, 0x0000);
  EXPECT_EQ(o->serial, "E6614104035DC431");
  EXPECT_EQ(o->transport, "sim:/tmp/pico.json");
  EXPECT_EQ(o->user_pin.state, State::kNotInitialized);
  EXPECT_EQ(o->so_pin.state, State::kNotInitialized);
  EXPECT_EQ(o->user_pin_check.check, CredentialCheck::kNotApplicable);
  EXPECT_EQ(o->so_pin_check.check, CredentialCheck::kNotApplicable);
  EXPECT_TRUE(o->key_domains.empty());
  EXPECT_FALSE(o->pka.has_value());
  EXPECT_FALSE(o->device_certificate_pki.has_value());
  EXPECT_EQ(o->apdu_count, 4);
  EXPECT_EQ(card.verifies_with_data(0x81) + card.verifies_with_data(0x88), 0);
}

TEST_F(ObserveTest, InitializedWithoutCredentialsReadsOnlyFreeStatus) {
  expect_initialized_start("63 C3", "63 CF");
  expect_single_domain();
  expect_objects();
  auto o = observe(hsm, ObserveRequest{});
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_TRUE(o->initialized);
  EXPECT_EQ(o->options, 0x0001);
  EXPECT_EQ(o->user_pin.tries_left, 3);
  EXPECT_EQ(o->so_pin.tries_left, 15);
  EXPECT_FALSE(o->pin_retries_max.has_value());  // unknowable without a successful VERIFY
  EXPECT_EQ(o->user_pin_check.check, CredentialCheck::kNotChecked);
  EXPECT_EQ(o->so_pin_check.check, CredentialCheck::kNotChecked);
  ASSERT_EQ(o->key_domains.size(), 1u);
  EXPECT_TRUE(o->key_domains[0].set_up);
  EXPECT_EQ(o->key_domains[0].total_shares, 1);
  EXPECT_EQ(to_hex(o->key_domains[0].kcv), "0000000000000000");
  EXPECT_EQ(o->key_count, 0);
  EXPECT_EQ(o->device_certificate_pki, std::optional<bool>(false));
  EXPECT_EQ(o->apdu_count, 9);
}

TEST_F(ObserveTest, MatchingCredentialsReadKcvInSessionAndRetryMaximum) {
  expect_initialized_start("63 C5", "63 CF");
  card.expect(kVerifySo, "90 00").expect(kVerifyUser, "90 00");
  card.expect(domain_status(0), "02 00 DE AD BE EF 01 02 03 04 90 00")
      .expect(domain_status(1), "6A 88")
      .expect(domain_status(2), "6A 86");
  card.expect(kEnumerate, "C4 00 CC 00 CC 01 C4 01 CC 02 C4 02 90 00");
  // PKI chain: device cert issued by a DV, followed by the DV certificate (> 256 bytes: 2 reads).
  Bytes chain = concat({cv_certificate("ESPICOHSMDV00001", "ESPICOHSMTREQOWL"),
                        cv_certificate("ESPICOHSMCA00001", "ESPICOHSMDV00001")});
  ASSERT_GT(chain.size(), 256u);
  card.expect(H(kReadDevCert), with_sw(Bytes(chain.begin(), chain.begin() + 256)))
      .expect(H("00 B1 2F 02 04 54 02 01 00 00"), with_sw(Bytes(chain.begin() + 256, chain.end())));
  // Logout and the retry maximum: the counter is full right after a successful VERIFY.
  card.expect(kSelect, kFcpInit).expect(kUserStatus, "63 C5");

  ObserveRequest req = with_pins(true, true);
  req.expected_pin_retries = 5;
  auto o = observe(hsm, req);
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->user_pin_check.check, CredentialCheck::kMatches);
  EXPECT_EQ(o->user_pin_check.matched_candidate, std::optional<int>(0));
  EXPECT_EQ(o->so_pin_check.check, CredentialCheck::kMatches);
  EXPECT_EQ(o->pin_retries_max, std::optional<int>(5));
  EXPECT_EQ(o->user_pin.state, State::kTriesLeft);
  ASSERT_EQ(o->key_domains.size(), 2u);
  EXPECT_EQ(to_hex(o->key_domains[0].kcv), "DEADBEEF01020304");
  EXPECT_FALSE(o->key_domains[1].set_up);
  EXPECT_EQ(o->key_count, 2);
  EXPECT_EQ(o->device_certificate_pki, std::optional<bool>(true));
  EXPECT_EQ(card.verifies_with_data(0x81), 1);
  EXPECT_EQ(card.verifies_with_data(0x88), 1);
  // The last two APDUs are SELECT (logout) and the status query.
  ASSERT_GE(card.sent().size(), 2u);
  EXPECT_EQ(to_hex_spaced(card.sent()[card.sent().size() - 2]), kSelect);
  EXPECT_EQ(o->apdu_count, static_cast<int>(card.sent().size()));
}

TEST_F(ObserveTest, EachUserCandidateIsTriedOnceAndNeverBelowTheFloor) {
  expect_initialized_start("63 C3", "63 CF");
  card.expect(kVerifyUser, "63 C2");
  // The counter is short by exactly the own miss: the next distinct value is tried once.
  card.expect(kVerifyUser2, "63 C1");
  expect_single_domain();
  expect_objects();
  auto o = observe(hsm, with_pins(true, false));
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->user_pin_check.check, CredentialCheck::kMismatch);
  EXPECT_FALSE(o->user_pin_check.matched_candidate.has_value());
  EXPECT_EQ(o->user_pin.state, State::kTriesLeft);
  EXPECT_EQ(o->user_pin.tries_left, 1);  // never tried with fewer than 2 left
  EXPECT_FALSE(o->pin_retries_max.has_value());
  EXPECT_EQ(card.verifies_with_data(0x81), 2);
  EXPECT_EQ(o->user_pin_check.rejected_candidates, (std::vector<int>{0, 1}));
}

TEST_F(ObserveTest, CounterNotFullMeansNoUserVerify) {
  expect_initialized_start("63 C2", "63 CF");
  expect_single_domain();
  expect_objects();
  auto o = observe(hsm, with_pins(true, false));  // expected retries 3, only 2 left
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->user_pin_check.check, CredentialCheck::kSkippedUnsafe);
  EXPECT_EQ(card.verifies_with_data(0x81), 0);
}

TEST_F(ObserveTest, OneTryLeftIsNeverSpentEvenIfTheMaximumIsOne) {
  expect_initialized_start("63 C1", "63 CF");
  expect_single_domain();
  expect_objects();
  ObserveRequest req = with_pins(true, false);
  req.expected_pin_retries = 1;
  auto o = observe(hsm, req);
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->user_pin_check.check, CredentialCheck::kSkippedUnsafe);
  EXPECT_EQ(card.verifies_with_data(0x81), 0);
}

TEST_F(ObserveTest, TwoTriesLeftWithMaximumTwoIsTried) {
  expect_initialized_start("63 C2", "63 CF");
  card.expect(kVerifyUser, "90 00");
  expect_single_domain(kDomainKcv);
  expect_objects();
  card.expect(kSelect, kFcpInit).expect(kUserStatus, "63 C2");
  ObserveRequest req = with_pins(true, false);
  req.expected_pin_retries = 2;
  auto o = observe(hsm, req);
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->user_pin_check.check, CredentialCheck::kMatches);
  EXPECT_EQ(o->pin_retries_max, std::optional<int>(2));
}

TEST_F(ObserveTest, BlockedAndTransportPinsAreNotApplicable) {
  expect_initialized_start("69 83", "63 CF");
  expect_single_domain();
  expect_objects();
  auto o = observe(hsm, with_pins(true, false));
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->user_pin.state, State::kBlocked);
  EXPECT_EQ(o->user_pin_check.check, CredentialCheck::kNotApplicable);
  EXPECT_EQ(card.verifies_with_data(0x81), 0);
}

TEST_F(ObserveTest, TransportPinIsNotApplicable) {
  expect_initialized_start(
      "69 84", "63 CF",
      std::string(kFcpInit).replace(std::string(kFcpInit).find("00 01 FF"), 8, "00 03 FF"));
  expect_single_domain();
  expect_objects();
  auto o = observe(hsm, with_pins(true, false));
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->options, 0x0003);
  EXPECT_EQ(o->user_pin.state, State::kTransport);
  EXPECT_EQ(o->user_pin_check.check, CredentialCheck::kNotApplicable);
  EXPECT_EQ(card.verifies_with_data(0x81), 0);
}

TEST_F(ObserveTest, SoPinNotVerifiedUnlessAllFifteenTriesLeft) {
  expect_initialized_start("63 C3", "63 CE");
  expect_single_domain();
  expect_objects();
  auto o = observe(hsm, with_pins(false, true));
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->so_pin.tries_left, 14);
  EXPECT_EQ(o->so_pin_check.check, CredentialCheck::kSkippedUnsafe);
  EXPECT_EQ(card.verifies_with_data(0x88), 0);
}

TEST_F(ObserveTest, SoPinNeverVerifiedOnSmartCardHsm) {
  expect_initialized_start("63 C3", "63 CF", kFcpScHsm);
  expect_single_domain();
  expect_objects();
  auto o = observe(hsm, with_pins(false, true));
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_FALSE(o->is_pico);
  EXPECT_EQ(o->so_pin_check.check, CredentialCheck::kNotApplicable);
  EXPECT_EQ(card.verifies_with_data(0x88), 0);
}

TEST_F(ObserveTest, SoMatchAloneReadsKcvAndLogsOut) {
  expect_initialized_start("63 C3", "63 CF");
  card.expect(kVerifySo, "90 00");
  expect_single_domain(kDomainKcv);
  expect_objects();
  card.expect(kSelect, kFcpInit);  // final logout
  auto o = observe(hsm, with_pins(false, true));
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->so_pin_check.check, CredentialCheck::kMatches);
  EXPECT_EQ(o->user_pin_check.check, CredentialCheck::kNotChecked);
  EXPECT_EQ(to_hex(o->key_domains[0].kcv), "DEADBEEF01020304");
  EXPECT_FALSE(o->pin_retries_max.has_value());
}

TEST_F(ObserveTest, KeepSessionReverifiesTheMatchedPinAfterReadingTheMaximum) {
  expect_initialized_start("63 C3", "63 CF");
  card.expect(kVerifyUser, "90 00");
  expect_single_domain(kDomainKcv);
  expect_objects();
  card.expect(kSelect, kFcpInit).expect(kUserStatus, "63 C3").expect(kVerifyUser, "90 00");
  ObserveRequest req = with_pins(true, false);
  req.keep_session = true;
  auto o = observe(hsm, req);
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->pin_retries_max, std::optional<int>(3));
  EXPECT_EQ(to_hex_spaced(card.sent().back()), kVerifyUser);
}

TEST_F(ObserveTest, KeepSessionLeavesSoSessionOpen) {
  expect_initialized_start("63 C3", "63 CF");
  card.expect(kVerifySo, "90 00");
  expect_single_domain(kDomainKcv);
  expect_objects();
  ObserveRequest req = with_pins(false, true);
  req.keep_session = true;
  auto o = observe(hsm, req);  // no final SELECT scripted: the script fails if one is sent
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->so_pin_check.check, CredentialCheck::kMatches);
}

TEST_F(ObserveTest, WrongSoPinIsRecordedWithTheNewCounter) {
  expect_initialized_start("63 C3", "63 CF");
  card.expect(kVerifySo, "63 CE");
  expect_single_domain();
  expect_objects();
  auto o = observe(hsm, with_pins(false, true));
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->so_pin_check.check, CredentialCheck::kMismatch);
  EXPECT_EQ(o->so_pin.tries_left, 14);
}

TEST_F(ObserveTest, KeyDomainsAndPkaAreListed) {
  card.expect(kSelect, kFcpInit)
      .expect(H(kReadTokenInfo), token_info_response())
      .expect(kUserStatus, "63 C3")
      .expect(kSoStatus, "63 CF")
      .expect(kPkaStatus, "02 01 01 00 90 00");
  card.expect(domain_status(0), "6A 88")
      .expect(domain_status(1), "03 02 00 00 00 00 00 00 00 00 90 00")
      .expect(domain_status(2), "6A 86");
  ObserveRequest req;
  req.read_objects = false;
  auto o = observe(hsm, req);
  ASSERT_TRUE(o.has_value()) << o.error().message;
  ASSERT_TRUE(o->pka.has_value());
  EXPECT_EQ(o->pka->total, 2);
  EXPECT_EQ(o->pka->missing, 1);
  EXPECT_EQ(o->pka->required, 1);
  ASSERT_EQ(o->key_domains.size(), 2u);
  EXPECT_FALSE(o->key_domains[0].set_up);
  EXPECT_EQ(o->key_domains[1].index, 1);
  EXPECT_EQ(o->key_domains[1].total_shares, 3);
  EXPECT_EQ(o->key_domains[1].outstanding_shares, 2);
  EXPECT_FALSE(o->device_certificate_pki.has_value());
}

TEST_F(ObserveTest, DomainLoopStopsOnEmptyTable) {
  expect_initialized_start("63 C3", "63 CF");
  card.expect(domain_status(0), "6B 00");
  ObserveRequest req;
  req.read_objects = false;
  auto o = observe(hsm, req);
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_TRUE(o->key_domains.empty());
}

TEST_F(ObserveTest, UnexpectedStatusIsAnErrorWithTheSwAndNoPin) {
  expect_initialized_start("63 C3", "63 CF");
  card.expect(kVerifyUser, "6F 00");
  auto o = observe(hsm, with_pins(true, false));
  ASSERT_FALSE(o.has_value());
  EXPECT_EQ(o.error().code, Errc::kDevice);
  EXPECT_NE(o.error().message.find("SW 6F00"), std::string::npos);
  EXPECT_EQ(o.error().message.find("648219"), std::string::npos);
  EXPECT_EQ(o.error().message.find("363438323139"), std::string::npos);
  EXPECT_EQ(o.error().message.find("36 34 38 32 31 39"), std::string::npos);
}

TEST(ObserveCertificate, ClassifiesChains) {
  EXPECT_EQ(device_certificate_is_pki(self_signed_cert()), std::optional<bool>(false));
  EXPECT_EQ(device_certificate_is_pki(cv_certificate("ESPICOHSMDV00001", "ESPICOHSMTREQOWL")),
            std::optional<bool>(true));
  // Self-signed name but a DV certificate follows: issued.
  EXPECT_EQ(device_certificate_is_pki(concat(
                {self_signed_cert(), cv_certificate("ESPICOHSMCA00001", "ESPICOHSMDV00001")})),
            std::optional<bool>(true));
  // Padding after the certificate is ignored.
  EXPECT_EQ(device_certificate_is_pki(concat({self_signed_cert(), Bytes(16, 0x00)})),
            std::optional<bool>(false));
  EXPECT_FALSE(device_certificate_is_pki(H("30 03 02 01 00")).has_value());
  EXPECT_FALSE(device_certificate_is_pki(Bytes{}).has_value());
}

}  // namespace
}  // namespace hsmctl::device::schsm
