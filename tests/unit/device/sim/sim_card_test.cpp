// SPDX-License-Identifier: Apache-2.0
// Raw-APDU tests of the Pico HSM v6.6 simulator against pico-hsm.md sections 1-9 and 13.
#include "hsmctl/device/sim/sim_card.hpp"

#include "sim_test_util.hpp"

#include "hsmctl/device/sim/sim_crypto.hpp"
#include "hsmctl/device/sim/sim_state.hpp"

#include <gtest/gtest.h>

#include <random>

namespace hsmctl::device::sim {
namespace {

using namespace hsmctl::device::sim::testing;  // NOLINT(google-build-using-namespace)

const std::string kFreshFcp =
    "6222"
    "81020000"
    "820101"
    "83020000"
    "840B2B0601040181C31F020130"
    "8A0105"
    "85050000FF0606";

// ---- SELECT ---------------------------------------------------------------------------------

TEST(SimSelect, FreshDeviceAnswersObservedFcpAndTag85) {
  auto card = SimCard::create_in_memory("0102030405060708");
  EXPECT_EQ(tx(*card, kSelect), kFreshFcp + "9000");
  EXPECT_EQ(tx(*card, "00A404040B" + kAid + "00"), kFreshFcp + "9000");
}

TEST(SimSelect, AfterScHsmToolInitializeOptionsAre0001) {
  auto card = initialized_card();
  EXPECT_EQ(tx(*card, kSelect),
            "6222"
            "81020000"
            "820101"
            "83020000"
            "840B2B0601040181C31F020130"
            "8A0105"
            "85050001FF0606"
            "9000");
}

TEST(SimSelect, P2_0CIsRejectedAndUnknownAidIsNotFound) {
  auto card = SimCard::create_in_memory("0102030405060708");
  // No applet selected yet: the file-select path has no current application.
  EXPECT_EQ(sw(*card, "00A4040C0B" + kAid), "6A82");
  EXPECT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(sw(*card, "00A4040C0B" + kAid), "6A86");
  EXPECT_EQ(sw(*card, "00A4040008A000000308000010"), "6A82");
}

TEST(SimSelect, WithoutLeTheFcpIsChainedWith61xx) {
  auto card = SimCard::create_in_memory("0102030405060708");
  EXPECT_EQ(tx(*card, "00A404000B" + kAid), "6124");
  EXPECT_EQ(tx(*card, "00C0000024"), kFreshFcp + "9000");
}

TEST(SimSelect, NothingAnswersBeforeAnApplicationIsSelected) {
  auto card = SimCard::create_in_memory("0102030405060708");
  EXPECT_EQ(sw(*card, "00200081"), "6A82");
}

TEST(SimSelect, ReselectLogsOut) {
  auto card = initialized_card();
  EXPECT_EQ(verify_pin(*card), "9000");
  EXPECT_EQ(sw(*card, "00200081"), "9000");
  EXPECT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(sw(*card, "00200081"), "63C3");
  EXPECT_EQ(sw(*card, "8064060000"), "6982");  // no longer authenticated
}

TEST(SimSelect, SelectingAnEfDoesNotLogOut) {
  auto card = initialized_card();
  EXPECT_EQ(verify_pin(*card), "9000");
  EXPECT_EQ(sw(*card, "00A40004022F0300"), "9000");
  EXPECT_EQ(sw(*card, "00A40204022F0200"), "9000");
  EXPECT_EQ(sw(*card, "00200081"), "9000");
}

TEST(SimSelect, RescueAppletAnswersPlatformVersionSerialAndLogsOut) {
  auto card = initialized_card();
  EXPECT_EQ(verify_pin(*card), "9000");
  EXPECT_EQ(tx(*card, "00A4040408A0583FC19B7E4F2100"),
            "030106060102030405060708"
            "9000");
  EXPECT_EQ(sw(*card, "001E020000"), "6E00");  // rescue wants CLA 80
  EXPECT_EQ(sw(*card, "8077000000"), "6D00");
  EXPECT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(sw(*card, "00200081"), "63C3");
}

// ---- VERIFY -----------------------------------------------------------------------------------

TEST(SimVerify, FreshDeviceHasNoPins) {
  auto card = SimCard::create_in_memory("0102030405060708");
  ASSERT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(sw(*card, "00200081"), "6A88");
  EXPECT_EQ(sw(*card, "00200088"), "6A88");
  EXPECT_EQ(verify_pin(*card), "6A88");
}

TEST(SimVerify, AfterScHsmToolInitialize63C3And63CF) {
  auto card = initialized_card();
  EXPECT_EQ(sw(*card, "00200081"), "63C3");
  EXPECT_EQ(sw(*card, "00200088"), "63CF");
}

TEST(SimVerify, WrongPinCountsDownToBlockedAndCorrectPinStaysBlocked) {
  auto card = initialized_card();
  EXPECT_EQ(verify_pin(*card, "313131313131"), "63C2");
  EXPECT_EQ(verify_pin(*card, "313131313131"), "63C1");
  EXPECT_EQ(verify_pin(*card, "313131313131"), "6983");
  EXPECT_EQ(verify_pin(*card), "6983");
  EXPECT_EQ(sw(*card, "00200081"), "6983");
}

TEST(SimVerify, CorrectPinResetsCounterAndStatusIs9000) {
  auto card = initialized_card();
  EXPECT_EQ(verify_pin(*card, "313131313131"), "63C2");
  EXPECT_EQ(verify_pin(*card), "9000");
  EXPECT_EQ(sw(*card, "00200081"), "9000");
  EXPECT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(sw(*card, "00200081"), "63C3");
}

TEST(SimVerify, WrongAttemptDropsAllSessions) {
  auto card = initialized_card();
  EXPECT_EQ(verify_pin(*card), "9000");
  EXPECT_EQ(verify_so(*card, "3030303030303030"), "63CE");
  EXPECT_EQ(sw(*card, "00200081"), "63C3");
  EXPECT_EQ(sw(*card, "8064060000"), "6982");
  EXPECT_EQ(sw(*card, "00200088"), "63CE");
}

TEST(SimVerify, SoPinVerifyIsAFullLogin) {
  auto card = initialized_card();
  EXPECT_EQ(verify_so(*card), "9000");
  EXPECT_EQ(sw(*card, "00200088"), "9000");
  EXPECT_EQ(tx(*card, "8064060000"), "00019000");  // user authenticated
  EXPECT_EQ(sw(*card, "00200081"), "63C3");        // but no user-PIN session
}

TEST(SimVerify, P1P2Checks) {
  auto card = initialized_card();
  EXPECT_EQ(sw(*card, "00200181"), "6B00");
  EXPECT_EQ(sw(*card, "002000A1"), "6B00");
  EXPECT_EQ(sw(*card, "00200085"), "6A88");
  EXPECT_EQ(sw(*card, "00200086"), "6A88");
}

TEST(SimVerify, RetryCounterFromTag91AndSoAlways15) {
  auto card = initialized_card(
      "8050000019"
      "80020001"
      "8106" +
      kPinHex + "8208" + kSoHex + "910105");
  EXPECT_EQ(sw(*card, "00200081"), "63C5");
  EXPECT_EQ(sw(*card, "00200088"), "63CF");
  auto defaults = initialized_card(
      "8050000016"
      "80020001"
      "8106" +
      kPinHex + "8208" + kSoHex);
  EXPECT_EQ(sw(*defaults, "00200081"), "63C3");
}

TEST(SimVerify, TransportPinAnswers6984ForeverEvenAfterChange) {
  auto card = initialized_card(
      "8050000019"
      "80020003"
      "8106" +
      kPinHex + "8208" + kSoHex + "910103");
  EXPECT_EQ(sw(*card, "00200081"), "6984");
  EXPECT_EQ(verify_pin(*card), "6984");
  EXPECT_EQ(sw(*card,
               "00240081"
               "0C" +
                   kPinHex + "313233343536"),
            "9000");
  EXPECT_EQ(tx(*card, "8064060000"), "00039000");  // CHANGE logged the user in
  EXPECT_EQ(sw(*card, "00200081"), "6984");
  EXPECT_EQ(verify_pin(*card, "313233343536"), "6984");
  EXPECT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(sw(*card, "00200081"), "6984");
}

// ---- CHANGE REFERENCE DATA ------------------------------------------------------------------

TEST(SimChange, LengthRulesWrongOldAndSuccess) {
  auto card = initialized_card();
  EXPECT_EQ(sw(*card,
               "00240181"
               "0C" +
                   kPinHex + "313233343536"),
            "6B00");
  EXPECT_EQ(sw(*card,
               "00240082"
               "0C" +
                   kPinHex + "313233343536"),
            "6B00");
  EXPECT_EQ(sw(*card,
               "00240081"
               "06" +
                   kPinHex),
            "6700");  // no new PIN
  EXPECT_EQ(sw(*card,
               "00240081"
               "17" +
                   kPinHex + std::string(34, '3')),
            "6700");  // new 17
  EXPECT_EQ(sw(*card,
               "00240081"
               "0C"
               "313131313131"
               "313233343536"),
            "63C2");
  EXPECT_EQ(sw(*card,
               "00240081"
               "0C" +
                   kPinHex + "313233343536"),
            "9000");
  EXPECT_EQ(sw(*card, "00200081"), "9000");  // CHANGE opens a session
  EXPECT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(sw(*card, "00200081"), "63C3");
  EXPECT_EQ(verify_pin(*card), "63C2");
  EXPECT_EQ(verify_pin(*card, "313233343536"), "9000");
}

TEST(SimChange, SoPinChange) {
  auto card = initialized_card();
  EXPECT_EQ(sw(*card,
               "00240088"
               "10" +
                   kSoHex + "3132333435363738"),
            "9000");
  EXPECT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(verify_so(*card), "63CE");
  EXPECT_EQ(verify_so(*card, "3132333435363738"), "9000");
}

// ---- RESET RETRY COUNTER --------------------------------------------------------------------

TEST(SimResetRetry, SoOnlyNeedsResetOnlyBitElse6986) {
  auto card = initialized_card();
  EXPECT_EQ(sw(*card,
               "002C0181"
               "08" +
                   kSoHex),
            "6986");
}

TEST(SimResetRetry, SoPlusNewPinUnblocksAndLogsIn) {
  auto card = initialized_card();
  for (int i = 0; i < 3; ++i)
    verify_pin(*card, "313131313131");
  EXPECT_EQ(sw(*card, "00200081"), "6983");
  EXPECT_EQ(sw(*card,
               "002C0081"
               "0E" +
                   kSoHex + "313233343536"),
            "9000");
  EXPECT_EQ(sw(*card, "00200081"), "9000");
  EXPECT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(sw(*card, "00200081"), "63C3");
  EXPECT_EQ(verify_pin(*card, "313233343536"), "9000");
}

TEST(SimResetRetry, Preconditions) {
  auto fresh = SimCard::create_in_memory("0102030405060708");
  ASSERT_EQ(sw(*fresh, kSelect), "9000");
  EXPECT_EQ(sw(*fresh,
               "002C0081"
               "0E" +
                   kSoHex + "313233343536"),
            "6A88");  // no SO-PIN

  auto no_rrc = initialized_card(
      "8050000019"
      "80020000"
      "8106" +
      kPinHex + "8208" + kSoHex + "910103");
  EXPECT_EQ(sw(*no_rrc,
               "002C0081"
               "0E" +
                   kSoHex + "313233343536"),
            "6986");

  auto card = initialized_card(
      "8050000019"
      "80020021"
      "8106" +
      kPinHex + "8208" + kSoHex + "910103");
  EXPECT_EQ(sw(*card,
               "002C0088"
               "08" +
                   kSoHex),
            "6A88");
  EXPECT_EQ(sw(*card,
               "002C0281"
               "06313233343536"),
            "6985");  // no SO session
  EXPECT_EQ(sw(*card, "002C0381"), "6985");
  EXPECT_EQ(sw(*card, "002C0581"), "6A86");
  EXPECT_EQ(sw(*card,
               "002C0081"
               "09" +
                   kSoHex + "31"),
            "6700");  // new PIN < 2 bytes
  EXPECT_EQ(sw(*card,
               "002C0181"
               "07" +
                   kSoHex.substr(0, 14)),
            "6700");
  verify_pin(*card, "313131313131");
  EXPECT_EQ(sw(*card,
               "002C0181"
               "08" +
                   kSoHex),
            "9000");  // counter only
  EXPECT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(sw(*card, "00200081"), "63C3");
  EXPECT_EQ(verify_pin(*card), "9000");  // PIN unchanged
  EXPECT_EQ(verify_so(*card), "9000");
  EXPECT_EQ(sw(*card, "002C0381"), "9000");
  EXPECT_EQ(sw(*card,
               "002C0281"
               "06313233343536"),
            "9000");
  EXPECT_EQ(verify_pin(*card, "313233343536"), "9000");
}

// ---- INITIALIZE -------------------------------------------------------------------------------

TEST(SimInitialize, NoDataAnswersFreeMemoryAndVersion) {
  auto card = SimCard::create_in_memory("0102030405060708");
  ASSERT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(tx(*card, "8050000000"),
            "00100000000606"
            "9000");
  EXPECT_EQ(sw(*card, "00200081"), "6A88");  // nothing changed
}

TEST(SimInitialize, WrongSoPinOnInitializedDeviceIsAcceptedAndWipes) {
  auto card = initialized_card();
  ASSERT_TRUE(card->install_key(1, 0));
  EXPECT_EQ(tx(*card, "8058000000"),
            "C400CC00CC01C401"
            "9000");
  const std::string other_so = "3030303030303030";
  EXPECT_EQ(sw(*card,
               "8050000019"
               "80020001"
               "8106313131313131"
               "8208" +
                   other_so + "910103"),
            "9000");
  EXPECT_EQ(tx(*card, "8058000000"),
            "C400CC00"
            "9000");
  EXPECT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(verify_so(*card), "63CE");
  EXPECT_EQ(verify_so(*card, other_so), "9000");
}

TEST(SimInitialize, LeavesSessionFullyAuthenticated) {
  auto card = SimCard::create_in_memory("0102030405060708");
  ASSERT_EQ(sw(*card, kSelect), "9000");
  ASSERT_EQ(sw(*card, kInitScHsmTool), "9000");
  EXPECT_EQ(sw(*card, "00200081"), "9000");
  EXPECT_EQ(sw(*card, "00200088"), "9000");
  EXPECT_EQ(tx(*card, "8064060000"), "00019000");
}

TEST(SimInitialize, OptionsPersistUnlessTag80WhichOverwritesBothBytes) {
  auto card = initialized_card();
  ASSERT_EQ(verify_pin(*card), "9000");
  ASSERT_EQ(sw(*card, "806406000101"), "9000");  // press-to-confirm on: 0101
  EXPECT_EQ(sw(*card,
               "8050000015"
               "8106" +
                   kPinHex + "8208" + kSoHex + "910103"),
            "9000");
  EXPECT_EQ(card->state().options(), 0x0101);
  EXPECT_EQ(sw(*card, kInitScHsmTool), "9000");
  EXPECT_EQ(card->state().options(), 0x0001);
}

TEST(SimInitialize, PkaClampedTo8AndKeyDomainsTo16) {
  auto card = initialized_card(
      "8050000020"
      "80020001"
      "8106" +
      kPinHex + "8208" + kSoHex +
      "910103"
      "9302"
      "0A01"
      "970114");
  EXPECT_EQ(tx(*card, "8054000000"),
            "08080100"
            "9000");
  EXPECT_EQ(sw(*card, "8052000F00"), "6A88");
  EXPECT_EQ(sw(*card, "8052001000"), "6B00");
}

TEST(SimInitialize, WithoutPinAndSoPinFailsAfterWiping) {
  auto card = initialized_card();
  EXPECT_EQ(sw(*card, "805000000480020001"), "6400");
  EXPECT_EQ(sw(*card, "00200081"), "6A88");
}

TEST(SimInitialize, DeviceKeyRegeneratedWithoutPriorSessionKeptWithOne) {
  auto card = initialized_card();
  const int gen = card->state().persistent.device_key_generation;
  EXPECT_EQ(gen, 1);
  const Bytes cert = card->state().persistent.files.at(0x2F02);
  // Session from VERIFY: MKEK recovered, device key and certificate kept.
  ASSERT_EQ(verify_so(*card), "9000");
  ASSERT_EQ(sw(*card,
               "8050000019"
               "80020001"
               "8106313131313131"
               "8208" +
                   kSoHex + "910103"),
            "9000");
  EXPECT_EQ(card->state().persistent.device_key_generation, gen);
  EXPECT_EQ(card->state().persistent.files.at(0x2F02), cert);
  // No session and a different PIN and SO-PIN: MKEK lost, new self-signed device key.
  ASSERT_EQ(sw(*card, kSelect), "9000");
  ASSERT_EQ(sw(*card,
               "8050000019"
               "80020001"
               "8106323232323232"
               "8208"
               "3030303030303030"
               "910103"),
            "9000");
  EXPECT_EQ(card->state().persistent.device_key_generation, gen + 1);
  EXPECT_NE(card->state().persistent.files.at(0x2F02), cert);
  EXPECT_EQ(card->state().persistent.device_chr, "ESPICOHSMTR00001");
}

TEST(SimInitialize, UnchangedPinRecoversMkekWithoutSession) {
  // cmd_initialize.c retries load_mkek with the new credentials "in case some is the same".
  auto card = initialized_card();
  ASSERT_EQ(sw(*card, kInitScHsmTool), "9000");
  EXPECT_EQ(card->state().persistent.device_key_generation, 1);
}

TEST(SimInitialize, PkiCertificateLostOnRegenerationKeptWithSession) {
  auto card = initialized_card();
  ASSERT_TRUE(card->install_pki_device_chain("ESPICOHSMTRABCDE"));
  EXPECT_TRUE(card->state().persistent.device_cert_pki);
  ASSERT_EQ(verify_pin(*card), "9000");
  ASSERT_EQ(sw(*card, kInitScHsmTool), "9000");
  EXPECT_TRUE(card->state().persistent.device_cert_pki);
  EXPECT_EQ(card->state().persistent.device_chr, "ESPICOHSMTRABCDE");
  ASSERT_EQ(sw(*card, kSelect), "9000");
  ASSERT_EQ(sw(*card,
               "8050000019"
               "80020001"
               "8106323232323232"
               "8208" +
                   kSoHex + "910103"),
            "9000");
  EXPECT_FALSE(card->state().persistent.device_cert_pki);
  EXPECT_EQ(card->state().persistent.device_chr, "ESPICOHSMTR00001");
}

TEST(SimInitialize, Defect6400FirstAttemptThenRetrySucceeds) {
  auto card = SimCard::create_in_memory("0102030405060708");
  card->state().persistent.defects.initialize_6400_first_attempt = true;
  ASSERT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(sw(*card, kInitScHsmTool), "6400");
  EXPECT_EQ(sw(*card, kInitScHsmTool), "9000");
  EXPECT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(sw(*card, "00200081"), "63C3");
  // With a differing PIN and no session the defect strikes again (after wiping).
  EXPECT_EQ(sw(*card,
               "8050000019"
               "80020001"
               "8106313131313131"
               "8208" +
                   kSoHex + "910103"),
            "6400");
  EXPECT_EQ(sw(*card,
               "8050000019"
               "80020001"
               "8106313131313131"
               "8208" +
                   kSoHex + "910103"),
            "9000");
}

TEST(SimInitialize, DefectOffByDefault) {
  auto card = SimCard::create_in_memory("0102030405060708");
  EXPECT_FALSE(card->state().persistent.defects.initialize_6400_first_attempt);
  ASSERT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(sw(*card, kInitScHsmTool), "9000");
}

TEST(SimInitialize, SecureLockRefusesInitialize) {
  auto card = initialized_card();
  ASSERT_EQ(verify_pin(*card), "9000");
  ASSERT_EQ(sw(*card, "806406000104"), "9000");
  ASSERT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(sw(*card, kInitScHsmTool), "6982");
  EXPECT_EQ(sw(*card, "00200081"), "63C3");  // not wiped
}

// ---- Key domains and DKEK -------------------------------------------------------------------

std::string status_of(Transport& c, int domain) {
  return tx(c, "805200" + to_hex(Bytes{static_cast<std::uint8_t>(domain)}) + "00");
}

const std::string kShare1(64, 'A');  // 32 bytes AA..
const std::string kShare2 = std::string(62, '0') + "01";

std::string expected_kcv(const std::string& a_hex, const std::string& b_hex) {
  Bytes a = *from_hex(a_hex), b = *from_hex(b_hex);
  for (std::size_t i = 0; i < a.size(); ++i)
    a[i] ^= b[i];
  Bytes h = crypto::sha256(a);
  h.resize(8);
  return to_hex(h);
}

TEST(SimKeyDomain, FreshDeviceHasNoTable) {
  auto card = SimCard::create_in_memory("0102030405060708");
  ASSERT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(sw(*card, "8052000000"), "6B00");
}

TEST(SimKeyDomain, NoDkekDomainAnswersZeros) {
  auto card = initialized_card();
  EXPECT_EQ(status_of(*card, 0),
            "0000"
            "0000000000000000"
            "9000");
  EXPECT_EQ(sw(*card, "8052000100"), "6A86");
  EXPECT_EQ(sw(*card, "8052000020" + kShare1), "6986");
}

TEST(SimKeyDomain, CountDiscoveryVia6A86) {
  auto card = initialized_card(
      "805000001C"
      "80020001"
      "8106" +
      kPinHex + "8208" + kSoHex +
      "910103"
      "970103");
  EXPECT_EQ(sw(*card, "8052000000"), "6A88");
  EXPECT_EQ(sw(*card, "8052000100"), "6A88");
  EXPECT_EQ(sw(*card, "8052000200"), "6A88");
  EXPECT_EQ(sw(*card, "8052000300"), "6A86");
  EXPECT_EQ(sw(*card, "8052001000"), "6B00");
  EXPECT_EQ(sw(*card, "8052050000"), "6A86");  // unknown P1
}

TEST(SimKeyDomain, SetUpImportKcvDeleteClear) {
  auto card = initialized_card(
      "805000001C"
      "80020001"
      "8106" +
      kPinHex + "8208" + kSoHex +
      "910103"
      "970103");
  EXPECT_EQ(sw(*card, "805201010102"), "6985");  // set up needs the user PIN
  ASSERT_EQ(verify_so(*card), "9000");
  EXPECT_EQ(sw(*card, "805201010102"), "6985");  // an SO session is not enough
  ASSERT_EQ(verify_pin(*card), "9000");
  EXPECT_EQ(sw(*card, "8052010100"), "6700");
  EXPECT_EQ(tx(*card, "80520101010200"),
            "0202"
            "0000000000000000"
            "9000");
  // Without Le, Ne = 0 and the firmware chains the status: 61 0A, then GET RESPONSE.
  EXPECT_EQ(tx(*card, "805201000102"), "610A");
  EXPECT_EQ(tx(*card, "00C000000A"),
            "0202"
            "0000000000000000"
            "9000");
  EXPECT_EQ(sw(*card, "805201010102"), "6A86");  // already set up
  EXPECT_EQ(sw(*card, "805200011F" + kShare1.substr(0, 62)), "6700");
  EXPECT_EQ(tx(*card, "8052000120" + kShare1 + "00").substr(0, 4), "0201");
  std::string kcv = expected_kcv(kShare1, kShare2);
  EXPECT_EQ(tx(*card, "8052000120" + kShare2 + "00"), "0200" + kcv + "9000");
  EXPECT_EQ(sw(*card, "8052000120" + kShare2 + "00"), "6986");  // all imported
  EXPECT_EQ(status_of(*card, 1), "0200" + kcv + "9000");
  // KCV zeros without a PIN/SO session, correct again with the SO-PIN.
  ASSERT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(status_of(*card, 1),
            "0200"
            "0000000000000000"
            "9000");
  ASSERT_EQ(verify_so(*card), "9000");
  EXPECT_EQ(status_of(*card, 1), "0200" + kcv + "9000");
  // A key in the domain blocks delete.
  ASSERT_TRUE(card->install_key(3, 1));
  EXPECT_EQ(sw(*card, "80520301"), "6A89");
  ASSERT_EQ(sw(*card,
               "00E40200"
               "02CC03"),
            "9000");
  EXPECT_EQ(sw(*card, "80520301"), "6A88");  // success answers 6A88
  EXPECT_EQ(sw(*card, "8052000100"), "6A88");
  EXPECT_EQ(sw(*card, "80520301"), "6A86");  // not set up
  // Clear keeps the share count.
  ASSERT_EQ(verify_pin(*card), "9000");
  ASSERT_EQ(sw(*card, "80520102010300"), "9000");
  ASSERT_EQ(sw(*card, "8052000220" + kShare1 + "00"), "9000");
  EXPECT_EQ(tx(*card, "80520402"),
            "0303"
            "0000000000000000"
            "9000");
}

TEST(SimKeyDomain, SetUpWithZeroSharesMakesANoDkekDomain) {
  auto card = initialized_card(
      "805000001C"
      "80020001"
      "8106" +
      kPinHex + "8208" + kSoHex +
      "910103"
      "970101");
  ASSERT_EQ(verify_pin(*card), "9000");
  EXPECT_EQ(tx(*card, "80520100010000"),
            "0000"
            "0000000000000000"
            "9000");
  EXPECT_EQ(status_of(*card, 0),
            "0000"
            "0000000000000000"
            "9000");
  EXPECT_EQ(sw(*card, "8052000020" + kShare1), "6986");
}

TEST(SimKeyDomain, PlainDkekImportWithoutPinIsWrappedAtNextVerify) {
  auto card = initialized_card(
      "805000001C"
      "80020001"
      "8106" +
      kPinHex + "8208" + kSoHex +
      "910103"
      "920102");
  EXPECT_EQ(status_of(*card, 0),
            "0202"
            "0000000000000000"
            "9000");
  // Domain 0 imports need no PIN; the last share is wrapped only at the next VERIFY.
  EXPECT_EQ(tx(*card, "8052000020" + kShare1 + "00"),
            "0201"
            "0000000000000000"
            "9000");
  EXPECT_EQ(tx(*card, "8052000020" + kShare2 + "00"),
            "0200"
            "0000000000000000"
            "9000");
  EXPECT_TRUE(card->state().session.pending_save_dkek.has_value());
  ASSERT_EQ(verify_pin(*card), "9000");
  EXPECT_EQ(status_of(*card, 0), "0200" + expected_kcv(kShare1, kShare2) + "9000");
}

TEST(SimKeyDomain, PendingDkekLostOnPowerCycleGivesWrongKcv) {
  auto card = initialized_card(
      "8050000019"
      "80020001"
      "8106" +
      kPinHex + "8208" + kSoHex + "910101");
  card->state().persistent.key_domains = {{1, 0}};
  ASSERT_EQ(sw(*card, "8052000020" + kShare1 + "00"), "9000");
  card->power_cycle();
  ASSERT_EQ(sw(*card, kSelect), "9000");
  ASSERT_EQ(verify_pin(*card), "9000");
  std::string status = status_of(*card, 0);
  EXPECT_EQ(status.substr(0, 4), "0100");
  EXPECT_NE(status.substr(4, 16), "0000000000000000");
  EXPECT_NE(status.substr(4, 16), expected_kcv(kShare1, std::string(64, '0')));
}

TEST(SimKeyDomain, Tag92ZeroGeneratesRandomDkek) {
  auto card = initialized_card(
      "805000001C"
      "80020001"
      "8106" +
      kPinHex + "8208" + kSoHex +
      "910103"
      "920100");
  EXPECT_EQ(status_of(*card, 0),
            "0100"
            "0000000000000000"
            "9000");
  ASSERT_EQ(verify_pin(*card), "9000");
  std::string status = status_of(*card, 0);
  EXPECT_EQ(status.substr(0, 4), "0100");
  EXPECT_NE(status.substr(4, 16), "0000000000000000");
}

TEST(SimKeyDomain, ImportIntoOtherDomainsNeedsPin) {
  auto card = initialized_card(
      "805000001C"
      "80020001"
      "8106" +
      kPinHex + "8208" + kSoHex +
      "910103"
      "970102");
  card->state().persistent.key_domains[1] = {1, 0};
  EXPECT_EQ(sw(*card, "8052000120" + kShare1), "6985");
}

// ---- PKA --------------------------------------------------------------------------------------

TEST(SimPka, NotConfigured) {
  auto card = initialized_card();
  EXPECT_EQ(sw(*card, "8054000000"), "6A86");
  EXPECT_EQ(sw(*card,
               "8054000002"
               "6700"),
            "6A82");
}

TEST(SimPka, StatusSlotsAndRegistration) {
  auto card = initialized_card(
      "805000001D"
      "80020001"
      "8106" +
      kPinHex + "8208" + kSoHex +
      "910103"
      "93020201");
  EXPECT_EQ(tx(*card, "8054000000"),
            "02020100"
            "9000");
  EXPECT_EQ(sw(*card, "8054020000"), "6A88");
  EXPECT_EQ(sw(*card, "8054020200"), "6A86");
  // A minimal CV request whose body carries CHR "TESTPUK00001".
  const std::string req = "67 18 7F21 15 7F4E 0F 5F20 0C 5445535450554B3030303031 5F37 00";
  auto req_bytes = from_hex(req);
  ASSERT_TRUE(req_bytes);
  std::string req_hex = to_hex(*req_bytes);
  EXPECT_EQ(sw(*card, "80540000" + lc(req_hex) + req_hex + "00"), "6982");
  ASSERT_EQ(verify_pin(*card), "9000");
  EXPECT_EQ(tx(*card, "80540000" + lc(req_hex) + req_hex + "00"),
            "02010100"
            "9000");
  EXPECT_EQ(tx(*card, "8054020000"),
            "5445535450554B3030303031"
            "9000");
  EXPECT_EQ(sw(*card, "80540100" + lc(req_hex) + req_hex), "6985");  // not replaceable
  EXPECT_EQ(sw(*card, "80540000" + lc(req_hex) + req_hex + "00"), "9000");
  EXPECT_EQ(sw(*card, "80540000" + lc(req_hex) + req_hex + "00"), "6A84");
  EXPECT_EQ(tx(*card, "8054000000"),
            "02000100"
            "9000");
  // A configured PKA keeps the user-PIN status query answering 63Cx.
  ASSERT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(sw(*card, "00200081"), "63C3");
}

// ---- DYNOPS -----------------------------------------------------------------------------------

TEST(SimDynops, GetSetNeedsAuthenticationAndReplacesHighByte) {
  auto card = initialized_card();
  EXPECT_EQ(sw(*card, "8064060000"), "6982");
  ASSERT_EQ(verify_pin(*card), "9000");
  EXPECT_EQ(tx(*card, "8064060000"),
            "0001"
            "9000");
  EXPECT_EQ(sw(*card, "806406000103"), "9000");
  EXPECT_EQ(tx(*card, "8064060000"),
            "0301"
            "9000");
  EXPECT_EQ(sw(*card, "80640600020100"), "6700");
  EXPECT_EQ(sw(*card, "8064060100"), "6A86");
  for (const char* p1 : {"0A", "1B", "4C", "FB", "05"}) {
    EXPECT_EQ(sw(*card, std::string("8064") + p1 + "0000"), "6A86") << p1;
  }
  ASSERT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(tx(*card, kSelect).substr(58, 14), "85050301FF0606");
}

TEST(SimDynops, ButtonPressesAreCountedWhenPressToConfirmIsOn) {
  auto card = initialized_card();
  ASSERT_EQ(verify_pin(*card), "9000");
  EXPECT_EQ(card->state().persistent.button_presses, 0);
  ASSERT_EQ(sw(*card, "806406000101"), "9000");
  EXPECT_EQ(card->state().persistent.button_presses, 0);  // the button was off before
  ASSERT_EQ(sw(*card, "8064060000"), "9000");
  ASSERT_EQ(sw(*card, "806406000100"), "9000");
  EXPECT_EQ(card->state().persistent.button_presses, 2);
}

// ---- Files, objects, keys -----------------------------------------------------------------

TEST(SimFiles, TokenInfoCarriesSerialManufacturerAndLabel) {
  auto card = initialized_card();
  const std::string expected =
      "302A"
      "020106"
      "04080102030405060708"
      "0C0D" +
      to_hex(bytes_of("Pol Henarejos")) + "8008" + to_hex(bytes_of("Pico-HSM")) + "03020430";
  EXPECT_EQ(tx(*card,
               "00B12F0304540200"
               "0000"),
            expected + "9000");
  EXPECT_EQ(sw(*card, "00A40004022F0300"), "9000");
  EXPECT_EQ(tx(*card, "00B0000000"), expected + "9000");
  EXPECT_EQ(tx(*card, "00B0000400"), expected.substr(8) + "9000");
}

// Splits one TLV off the front of `data` (tag of 1 or 2 bytes, BER length); the whole TLV.
Bytes take_tlv(ByteView& data) {
  std::size_t at = (data[0] & 0x1F) == 0x1F ? 2 : 1;
  std::size_t len = data[at];
  std::size_t hdr = at + 1;
  if (len == 0x81) {
    len = data[at + 1];
    hdr = at + 2;
  } else if (len == 0x82) {
    len = (static_cast<std::size_t>(data[at + 1]) << 8) | data[at + 2];
    hdr = at + 3;
  }
  Bytes whole(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(hdr + len));
  data = data.subspan(hdr + len);
  return whole;
}

// The content of a TLV (skips its tag and length).
ByteView value_of(const Bytes& tlv_bytes) {
  std::size_t at = (tlv_bytes[0] & 0x1F) == 0x1F ? 2 : 1;
  std::size_t hdr = tlv_bytes[at] == 0x81 ? at + 2 : tlv_bytes[at] == 0x82 ? at + 3 : at + 1;
  return ByteView(tlv_bytes).subspan(hdr);
}

TEST(SimFiles, DeviceCertificateHasTheV66ShapeAndSize) {
  auto card = initialized_card();
  // Le 00: the firmware answers 256 bytes and 61xx; GET RESPONSE fetches the rest.
  std::string r = tx(*card, "00B12F02045402000000");
  ASSERT_EQ(r.size(), (256u + 2u) * 2u);
  EXPECT_EQ(r.substr(r.size() - 4), "6100");
  std::string all = r.substr(0, r.size() - 4);
  r = tx(*card, "00C0000000");
  EXPECT_EQ(r.substr(r.size() - 4), "6100");
  all += r.substr(0, r.size() - 4);
  r = tx(*card, "00C0000000");
  EXPECT_EQ(r.substr(r.size() - 4), "611E");
  all += r.substr(0, r.size() - 4);
  r = tx(*card, "00C000001E");
  EXPECT_EQ(r.substr(r.size() - 4), "9000");
  all += r.substr(0, r.size() - 4);
  const Bytes ef = *from_hex(all);
  ASSERT_EQ(ef.size(), 798u);  // observed on v6.6

  // 67 { 7F21 { 7F4E body, 5F37 sig }, 42 outer CAR (empty), 5F37 outer sig } 7F21 {...}
  ByteView rest(ef);
  const Bytes request = take_tlv(rest);
  const Bytes cert = take_tlv(rest);
  EXPECT_TRUE(rest.empty());
  ASSERT_EQ(request[0], 0x67);
  ASSERT_EQ(cert[0], 0x7F);
  ASSERT_EQ(cert[1], 0x21);
  EXPECT_EQ(request.size(), 418u);
  EXPECT_EQ(cert.size(), 380u);
  // EF CE00 holds the same request.
  const std::string ce00 = tx(*card, "00B1CE00000004540200000000");  // extended Le
  EXPECT_EQ(ce00, to_hex(request) + "9000");

  const auto& k1 = crypto::curve_params(crypto::Curve::kSecp256k1);
  const SimKey& device_key = card->state().persistent.keys.at(0);
  EXPECT_TRUE(device_key.secp256k1);
  auto check_cert = [&](const Bytes& c, bool full) {
    ByteView inner = value_of(c);
    const Bytes body = take_tlv(inner);
    const Bytes sig = take_tlv(inner);
    ASSERT_EQ(body[0], 0x7F);
    ASSERT_EQ(body[1], 0x4E);
    ASSERT_EQ(sig.size(), 3u + 64u);
    EXPECT_TRUE(
        crypto::verify_ec(crypto::Curve::kSecp256k1, device_key.public_point, body, value_of(sig)));
    ByteView fields = value_of(body);
    EXPECT_EQ(to_hex(take_tlv(fields)), "5F290100");
    EXPECT_EQ(to_hex(take_tlv(fields)), "4210" + to_hex(bytes_of("ESPICOHSMTR00001")));
    const Bytes pub = take_tlv(fields);
    const std::string want_pub =
        "060A04007F00070202020203"
        "8120" +
        to_hex(k1.p) +
        "820100"
        "830107"
        "8441" +
        to_hex(k1.g) + "8520" + to_hex(k1.n) + "8641" + to_hex(device_key.public_point) + "870101";
    EXPECT_EQ(to_hex(value_of(pub)), want_pub);
    EXPECT_EQ(to_hex(take_tlv(fields)), "5F2010" + to_hex(bytes_of("ESPICOHSMTR00001")));
    if (full) {
      EXPECT_EQ(to_hex(take_tlv(fields)), "7F4C0E060904007F000703010202530100");
      EXPECT_EQ(to_hex(take_tlv(fields)), "5F2506020300030201");
      EXPECT_EQ(to_hex(take_tlv(fields)), "5F2406070001020301");
    }
    EXPECT_TRUE(fields.empty());
  };
  check_cert(cert, true);
  ByteView req = value_of(request);
  const Bytes inner_cert = take_tlv(req);
  const std::size_t signed_len = inner_cert.size() + 2;
  EXPECT_EQ(to_hex(take_tlv(req)), "4200");
  const Bytes outer_sig = take_tlv(req);
  check_cert(inner_cert, false);
  const Bytes signed_part(value_of(request).begin(),
                          value_of(request).begin() + static_cast<std::ptrdiff_t>(signed_len));
  EXPECT_TRUE(crypto::verify_ec(crypto::Curve::kSecp256k1, device_key.public_point, signed_part,
                                value_of(outer_sig)));
}

TEST(SimFiles, DeviceCertificateReadWithExtendedLeComesInOneAnswer) {
  auto card = initialized_card();
  // Extended Le 0000 (Ne 65536, T=1 readers): the whole file in one answer.
  std::string r = tx(*card, "00B12F02000004540200000000");
  ASSERT_EQ(r.size(), (798u + 2u) * 2u);
  EXPECT_EQ(r.substr(r.size() - 4), "9000");
}

TEST(SimFiles, MissingFilesAndBadReads) {
  auto card = initialized_card();
  EXPECT_EQ(sw(*card, "00B1C40104540200000000"), "6A82");
  EXPECT_EQ(sw(*card, "00A4000002C40100"), "6A82");
  EXPECT_EQ(sw(*card, "00B12F0304530200000000"), "6700");
  EXPECT_EQ(sw(*card, "00B12F0204540210000000"), "6282");
  EXPECT_EQ(sw(*card, "00B1108104540200000000"), "6982");  // PIN file
  EXPECT_EQ(sw(*card, "00B1CC0004540200000000"), "6982");  // device key
}

TEST(SimFiles, FreshDeviceHasEmptyDeviceCertificate) {
  auto card = SimCard::create_in_memory("0102030405060708");
  ASSERT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(tx(*card, "00B12F02045402000000"), "9000");
  EXPECT_EQ(tx(*card, "00A40004022F0200"),
            "620E8102000082010183022F028A0105"
            "9000");
}

TEST(SimFiles, EnumerateObjectsAnyClaAndChainedAnswer) {
  auto card = initialized_card();
  EXPECT_EQ(tx(*card, "8058000000"),
            "C400CC00"
            "9000");
  EXPECT_EQ(tx(*card, "0058000000"),
            "C400CC00"
            "9000");
  ASSERT_TRUE(card->install_key(2, 0));
  ASSERT_TRUE(card->install_key(1, 0));
  EXPECT_EQ(tx(*card, "80580000000000"),
            "C400CC00CC01CC02C401C402"
            "9000");  // extended Le
  EXPECT_EQ(tx(*card, "8058000004"),
            "C400CC00"
            "6108");
  EXPECT_EQ(tx(*card, "00C0000004"),
            "CC01CC02"
            "6104");
  EXPECT_EQ(tx(*card, "00C0000000"),
            "C401C402"
            "9000");
}

TEST(SimFiles, GenerateEcKeyPair) {
  auto card = initialized_card();
  const auto& d = crypto::p256_params();
  std::string pub =
      "060A04007F00070202020203"
      "8120" +
      to_hex(d.p);
  std::string data = "7F49" + lc(pub) + pub;
  std::string apdu = "00460100" + lc(data) + data;
  EXPECT_EQ(sw(*card, apdu + "00"), "6982");
  ASSERT_EQ(verify_pin(*card), "9000");
  std::string r =
      tx(*card,
         "00460100"
         "00" +
             to_hex(Bytes{0x00, static_cast<std::uint8_t>(data.size() / 2)}) + data + "0000");
  ASSERT_EQ(r.substr(r.size() - 4), "9000");
  EXPECT_EQ(r.substr(0, 2), "67");
  EXPECT_EQ(tx(*card, "8058000000"),
            "C400CC00CC01C401"
            "9000");
  EXPECT_EQ(card->state().persistent.keys.at(1).domain, 0);
  EXPECT_EQ(sw(*card,
               "00460200"
               "0F"
               "7F490C060A04007F00070202020102"),
            "6A81");  // RSA
}

TEST(SimMisc, GetChallengeUnknownInsAndChaining) {
  auto card = initialized_card();
  std::string a = tx(*card, "0084000008");
  std::string b = tx(*card, "0084000008");
  EXPECT_EQ(a.size(), 20u);
  EXPECT_EQ(a.substr(16), "9000");
  EXPECT_NE(a, b);
  EXPECT_EQ(sw(*card, "00840000"), "9000");      // Le absent: 256 bytes
  EXPECT_EQ(sw(*card, "0084000001AA"), "6700");  // data, no Le: Ne = 0
  EXPECT_EQ(sw(*card, "00FE000000"), "6D00");
  EXPECT_EQ(sw(*card, "802000"), "6700");  // malformed
  // Command chaining: CLA bit 0x10 accumulates data.
  EXPECT_EQ(sw(*card, "10200081033634 38"), "9000");
  EXPECT_EQ(sw(*card, "00200081033231 39"), "9000");
}

TEST(SimMisc, WarmResetKeepsLoginLikeAPcscReconnect) {
  auto card = initialized_card();
  ASSERT_EQ(verify_pin(*card), "9000");
  EXPECT_EQ(tx(*card, "8058000002"),
            "C400"
            "6102");
  card->warm_reset();
  EXPECT_EQ(sw(*card, "00C0000002"), "6985");  // the chained answer is gone
  EXPECT_EQ(sw(*card, "00200081"), "9000");    // the login is not
}

TEST(SimMisc, PowerCycleDropsSessionAndApplet) {
  auto card = initialized_card();
  ASSERT_EQ(verify_pin(*card), "9000");
  card->power_cycle();
  EXPECT_EQ(sw(*card, "00200081"), "6A82");
  ASSERT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(sw(*card, "00200081"), "63C3");
  EXPECT_EQ(SimCard::atr().size(), 24u);
}

TEST(SimRobustness, RandomApdusAlwaysGetAStatusWord) {
  // A fixed-seed storm of well- and ill-formed APDUs: every answer ends in a status word, the
  // simulator never throws or crashes (the ASan/UBSan build runs this too).
  auto card = initialized_card();
  std::mt19937 rng(20261123);
  auto byte = [&] { return static_cast<std::uint8_t>(rng() & 0xFF); };
  const std::uint8_t ins_set[] = {0xA4, 0x20, 0x24, 0x2C, 0x50, 0x52, 0x54, 0x58, 0x64,
                                  0x84, 0x46, 0xB0, 0xB1, 0xC0, 0xD7, 0xE4, 0x22, 0x1E};
  for (int i = 0; i < 4000; ++i) {
    if (i % 97 == 0) {
      ASSERT_EQ(sw(*card, kSelect), "9000");
    }
    Bytes apdu{static_cast<std::uint8_t>((rng() % 4 == 0) ? 0x00 : 0x80),
               ins_set[rng() % sizeof(ins_set)], static_cast<std::uint8_t>(rng() % 5),
               (rng() % 3 == 0) ? byte() : static_cast<std::uint8_t>(rng() % 4)};
    if (apdu[1] == 0x50 && rng() % 8 != 0) {
      apdu[1] = 0x20;  // keep most of the run on an initialized device
    }
    std::size_t n = rng() % 6 == 0 ? 0 : rng() % 48;
    if (n > 0) {
      apdu.push_back(static_cast<std::uint8_t>(n));
      for (std::size_t k = 0; k < n; ++k) {
        apdu.push_back(byte());
      }
    }
    if (rng() % 2 == 0) {
      apdu.push_back(byte());
    }
    if (rng() % 50 == 0) {
      apdu.resize(rng() % apdu.size());
    }
    auto r = card->transmit(apdu);
    ASSERT_TRUE(r.has_value());
    ASSERT_GE(r->size(), 2u) << to_hex(apdu);
  }
}

}  // namespace
}  // namespace hsmctl::device::sim
