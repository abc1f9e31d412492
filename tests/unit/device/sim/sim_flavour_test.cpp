// SPDX-License-Identifier: Apache-2.0
// The SmartCard-HSM flavour of the simulator (docs/simulator.md, "SmartCard-HSM flavour"): each
// behaviour that differs from the Pico, next to the Pico answer, and the state file's `flavour`
// field (absent = Pico).
#include "sim_test_util.hpp"

#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/device/sim/sim_state.hpp"
#include "hsmctl/util/atomic_file.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hsmctl::device::sim {
namespace {

using namespace hsmctl::device::sim::testing;  // NOLINT(google-build-using-namespace)

const std::string kSerial = "0102030405060708";
const std::string kWrongSoHex = "3131313131313131";  // ASCII "11111111"

std::unique_ptr<SimCard> card_of(SimFlavour flavour) {
  return SimCard::create_in_memory(kSerial, flavour);
}

/// A card initialized like sc-hsm-tool does, re-selected (no session).
std::unique_ptr<SimCard> initialized(SimFlavour flavour, const std::string& init = kInitScHsmTool) {
  auto card = card_of(flavour);
  EXPECT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(sw(*card, init), "9000");
  EXPECT_EQ(sw(*card, kSelect), "9000");
  return card;
}

/// INITIALIZE data of sc-hsm-tool with another SO-PIN (tag 82).
std::string init_with_so(const std::string& so_hex) {
  std::string data =
      "80020001"
      "8106" +
      kPinHex + "82" + lc(so_hex) + so_hex + "910103";
  return "80500000" + lc(data) + data;
}

/// The value of tag 85 in the SELECT answer: options (2), type, major, minor.
std::string tag85(Transport& card) {
  std::string r = tx(card, kSelect);
  auto at = r.find("8505");
  return at == std::string::npos ? "" : r.substr(at + 4, 10);
}

TEST(SimFlavour, CreateInMemoryDefaultsToPico) {
  auto card = SimCard::create_in_memory(kSerial);
  EXPECT_EQ(card->state().persistent.flavour, SimFlavour::kPicoHsm);
  EXPECT_FALSE(card->state().smartcard_hsm());
  EXPECT_EQ(card_of(SimFlavour::kSmartCardHsm)->state().persistent.flavour,
            SimFlavour::kSmartCardHsm);
}

TEST(SimFlavour, SelectTag85ReportsType00NotFF) {
  EXPECT_EQ(tag85(*card_of(SimFlavour::kPicoHsm)), "0000FF0606");
  EXPECT_EQ(tag85(*card_of(SimFlavour::kSmartCardHsm)), "0000000606");
  EXPECT_EQ(tag85(*initialized(SimFlavour::kSmartCardHsm)), "0001000606");
}

TEST(SimFlavour, TokenInfoKeepsTheSerialWithCardContactNames) {
  auto card = card_of(SimFlavour::kSmartCardHsm);
  ASSERT_EQ(sw(*card, kSelect), "9000");
  std::string r = tx(*card,
                     "00B12F0304540200"
                     "0000");
  EXPECT_EQ(r.find("0408" + kSerial), 10u) << r;
  EXPECT_NE(r.find(to_hex(bytes_of("SmartCard-HSM"))), std::string::npos) << r;
}

TEST(SimFlavour, VerifySoWithDataIsRefusedAndCounted) {
  auto sc = initialized(SimFlavour::kSmartCardHsm);
  EXPECT_EQ(verify_so(*sc), "6982");               // the right SO-PIN: still no login
  EXPECT_EQ(verify_so(*sc, kWrongSoHex), "6982");  // a wrong one: no try spent
  EXPECT_EQ(sc->state().persistent.so_verify_attempts, 2);
  EXPECT_EQ(sw(*sc, "00200088"), "63CF");  // the free status query still works
  EXPECT_EQ(sc->state().persistent.so.retries, 15);
  // A session survives the refused VERIFY.
  ASSERT_EQ(verify_pin(*sc), "9000");
  EXPECT_EQ(verify_so(*sc), "6982");
  EXPECT_EQ(sw(*sc, "00200081"), "9000");

  auto pico = initialized(SimFlavour::kPicoHsm);
  EXPECT_EQ(verify_so(*pico), "9000");  // a full login on the Pico
  EXPECT_EQ(pico->state().persistent.so_verify_attempts, 0);
}

TEST(SimFlavour, ReinitializeWithWrongSoPinSpendsATryAndWipesNothing) {
  auto sc = initialized(SimFlavour::kSmartCardHsm);
  ASSERT_TRUE(sc->install_key(1, 0));
  EXPECT_EQ(sw(*sc, init_with_so(kWrongSoHex)), "6982");
  EXPECT_EQ(sc->state().persistent.so.retries, 14);
  EXPECT_EQ(sc->state().persistent.keys.count(1), 1u);
  EXPECT_EQ(sw(*sc, kSelect), "9000");
  EXPECT_EQ(sw(*sc, "00200088"), "63CE");
  EXPECT_EQ(verify_pin(*sc), "9000");  // the user PIN was not wiped either

  // The right SO-PIN re-initializes (wipes the key) and restores the SO counter.
  EXPECT_EQ(sw(*sc, kInitScHsmTool), "9000");
  EXPECT_EQ(sc->state().persistent.keys.count(1), 0u);
  EXPECT_EQ(sc->state().persistent.so.retries, 15);

  // The Pico checks no credential: any SO-PIN re-initializes.
  auto pico = initialized(SimFlavour::kPicoHsm);
  ASSERT_TRUE(pico->install_key(1, 0));
  EXPECT_EQ(sw(*pico, init_with_so(kWrongSoHex)), "9000");
  EXPECT_EQ(pico->state().persistent.keys.count(1), 0u);
}

TEST(SimFlavour, ReinitializeWithoutTag82IsRefusedWithoutATry) {
  auto sc = initialized(SimFlavour::kSmartCardHsm);
  const std::string data =
      "80020001"
      "8106" +
      kPinHex + "910103";
  EXPECT_EQ(sw(*sc, "80500000" + lc(data) + data), "6982");
  EXPECT_EQ(sc->state().persistent.so.retries, 15);
  EXPECT_EQ(sc->state().persistent.user.length, 6);
}

TEST(SimFlavour, ReinitializeOfABlockedSoPinAnswers6983) {
  auto sc = initialized(SimFlavour::kSmartCardHsm);
  ASSERT_TRUE(sc->install_key(1, 0));
  for (int i = 0; i < 15; ++i) {
    ASSERT_EQ(sw(*sc, init_with_so(kWrongSoHex)), "6982") << i;
  }
  EXPECT_EQ(sc->state().persistent.so.retries, 0);
  EXPECT_EQ(sw(*sc, kInitScHsmTool), "6983");  // even with the right SO-PIN: no way back
  EXPECT_EQ(sw(*sc, "00200088"), "6983");
  EXPECT_EQ(sc->state().persistent.keys.count(1), 1u);
}

TEST(SimFlavour, FirstInitializeNeedsNoSoPin) {
  auto sc = card_of(SimFlavour::kSmartCardHsm);
  ASSERT_EQ(sw(*sc, kSelect), "9000");
  EXPECT_EQ(sw(*sc, init_with_so(kWrongSoHex)), "9000");  // any value: it becomes the SO-PIN
  EXPECT_EQ(sw(*sc, init_with_so(kWrongSoHex)), "9000");  // and re-initializes with it
}

TEST(SimFlavour, ExtrasInsIsNotSupported) {
  auto sc = initialized(SimFlavour::kSmartCardHsm);
  ASSERT_EQ(verify_pin(*sc), "9000");
  EXPECT_EQ(sw(*sc, "8064060000"), "6D00");
  EXPECT_EQ(sw(*sc, "806406000101"), "6D00");
  EXPECT_EQ(sc->state().options(), 0x0001);

  auto pico = initialized(SimFlavour::kPicoHsm);
  ASSERT_EQ(verify_pin(*pico), "9000");
  EXPECT_EQ(tx(*pico, "8064060000"), "00019000");
}

TEST(SimFlavour, RescueAidIsNotFoundAndKeepsTheSession) {
  auto sc = initialized(SimFlavour::kSmartCardHsm);
  ASSERT_EQ(verify_pin(*sc), "9000");
  EXPECT_EQ(sw(*sc, "00A4040408A0583FC19B7E4F2100"), "6A82");
  EXPECT_EQ(sw(*sc, "00200081"), "9000");  // the HSM applet stayed selected and logged in

  auto pico = card_of(SimFlavour::kPicoHsm);
  EXPECT_EQ(tx(*pico, "00A4040408A0583FC19B7E4F2100"), "03010606" + kSerial + "9000");
}

TEST(SimFlavour, Tag80HighOptionsByteIsIgnored) {
  const std::string data =
      "80020121"
      "8106" +
      kPinHex + "8208" + kSoHex + "910103";
  const std::string init = "80500000" + lc(data) + data;
  auto sc = initialized(SimFlavour::kSmartCardHsm, init);
  EXPECT_EQ(sc->state().options(), 0x0021);
  EXPECT_EQ(tag85(*sc), "0021000606");
  auto pico = initialized(SimFlavour::kPicoHsm, init);
  EXPECT_EQ(pico->state().options(), 0x0121);
}

TEST(SimFlavour, NoDkekDomainStatusIs6A88) {
  // sc-hsm-tool's INITIALIZE has no tag 92: one domain without a DKEK.
  auto sc = initialized(SimFlavour::kSmartCardHsm);
  EXPECT_EQ(tx(*sc, "8052000000"), "6A88");
  auto pico = initialized(SimFlavour::kPicoHsm);
  EXPECT_EQ(tx(*pico, "8052000000"), "0000" + std::string(16, '0') + "9000");

  // With DKEK shares the status is the Pico's.
  const std::string data =
      "80020001"
      "8106" +
      kPinHex + "8208" + kSoHex + "910103" + "920102";
  auto with_dkek = initialized(SimFlavour::kSmartCardHsm, "80500000" + lc(data) + data);
  EXPECT_EQ(tx(*with_dkek, "8052000000"), "0202" + std::string(16, '0') + "9000");

  // A key domain set up with 0 shares has no DKEK either.
  const std::string kd =
      "80020001"
      "8106" +
      kPinHex + "8208" + kSoHex + "910103" + "970102";
  auto domains = initialized(SimFlavour::kSmartCardHsm, "80500000" + lc(kd) + kd);
  ASSERT_EQ(verify_pin(*domains), "9000");
  EXPECT_EQ(sw(*domains, "80520100010000"), "9000");  // with Le: no 61xx
  EXPECT_EQ(tx(*domains, "8052000000"), "6A88");
  EXPECT_EQ(tx(*domains, "8052000100"), "6A88");  // domain 1: not set up (as on the Pico)
}

TEST(SimFlavour, ChangePinLeavesTheTransportState) {
  const std::string data =
      "80020003"
      "8106" +
      kPinHex + "8208" + kSoHex + "910103";
  const std::string init = "80500000" + lc(data) + data;
  const std::string new_pin = "313233343536";
  const std::string change = "00240081" + lc(kPinHex + new_pin) + kPinHex + new_pin;

  auto sc = initialized(SimFlavour::kSmartCardHsm, init);
  EXPECT_EQ(sw(*sc, "00200081"), "6984");
  EXPECT_EQ(verify_pin(*sc), "6984");
  EXPECT_EQ(sw(*sc, change), "9000");
  EXPECT_TRUE(sc->state().persistent.transport_pin_left);
  EXPECT_EQ(sw(*sc, kSelect), "9000");
  EXPECT_EQ(sw(*sc, "00200081"), "63C3");
  EXPECT_EQ(verify_pin(*sc, new_pin), "9000");
  EXPECT_EQ(sc->state().options(), 0x0003);  // EF 0x100E keeps what INITIALIZE wrote
  // INITIALIZE puts the transport PIN back.
  EXPECT_EQ(sw(*sc, init), "9000");
  EXPECT_FALSE(sc->state().persistent.transport_pin_left);
  EXPECT_EQ(sw(*sc, kSelect), "9000");
  EXPECT_EQ(sw(*sc, "00200081"), "6984");

  auto pico = initialized(SimFlavour::kPicoHsm, init);
  EXPECT_EQ(sw(*pico, change), "9000");
  EXPECT_EQ(sw(*pico, kSelect), "9000");
  EXPECT_EQ(sw(*pico, "00200081"), "6984");  // never left on the Pico
}

TEST(SimFlavour, DeviceKeyAndCertificateSurviveReinitialization) {
  auto sc = card_of(SimFlavour::kSmartCardHsm);
  const SimPersistent& p = sc->state().persistent;
  // Production-issued before any INITIALIZE.
  EXPECT_EQ(p.device_key_generation, 1);
  EXPECT_TRUE(p.device_cert_pki);
  EXPECT_EQ(p.device_chr, "DESIM01020300001");
  const Bytes chain = p.files.at(0x2F02);
  ASSERT_EQ(sw(*sc, kSelect), "9000");
  ASSERT_EQ(sw(*sc, kInitScHsmTool), "9000");
  ASSERT_EQ(sw(*sc, kSelect), "9000");  // no session: a Pico would lose its device key now
  ASSERT_EQ(sw(*sc, init_with_so(kSoHex)), "9000");
  EXPECT_EQ(p.device_key_generation, 1);
  EXPECT_TRUE(p.device_cert_pki);
  EXPECT_EQ(p.files.at(0x2F02), chain);

  auto pico = initialized(SimFlavour::kPicoHsm);
  ASSERT_EQ(pico->state().persistent.device_key_generation, 1);
  const std::string data =
      "80020001"
      "8106313131313131"
      "8208" +
      kSoHex + "910103";
  ASSERT_EQ(sw(*pico, "80500000" + lc(data) + data), "9000");  // new PIN, no session
  EXPECT_EQ(pico->state().persistent.device_key_generation, 2);
}

TEST(SimFlavour, ResetRetryCounterHasNoPicoExtensionsAndResetOnlyBlocksANewPin) {
  const std::string data =
      "80020021"
      "8106" +
      kPinHex + "8208" + kSoHex + "910103";
  const std::string init = "80500000" + lc(data) + data;
  const std::string rrc_set = "002C0081" + lc(kSoHex + kPinHex) + kSoHex + kPinHex;
  const std::string rrc_counter = "002C0181" + lc(kSoHex) + kSoHex;

  auto sc = initialized(SimFlavour::kSmartCardHsm, init);
  EXPECT_EQ(sw(*sc, rrc_set), "6986");
  EXPECT_EQ(sc->state().persistent.so.retries, 15);  // refused before the SO-PIN was checked
  EXPECT_EQ(sw(*sc, rrc_counter), "9000");
  EXPECT_EQ(sw(*sc, "002C0281" + lc(kPinHex) + kPinHex), "6A86");
  EXPECT_EQ(sw(*sc, "002C038100"), "6A86");

  auto pico = initialized(SimFlavour::kPicoHsm, init);
  EXPECT_EQ(sw(*pico, rrc_set), "9000");  // 0x0020 does not stop a new PIN on the Pico

  // Without 0x0020, P1 00 sets a new PIN on the SmartCard-HSM too.
  auto plain = initialized(SimFlavour::kSmartCardHsm);
  EXPECT_EQ(sw(*plain, rrc_set), "9000");
}

TEST(SimFlavour, ChangeSoPinWorksWithoutAuthenticatingTheUser) {
  auto sc = initialized(SimFlavour::kSmartCardHsm);
  const std::string change = "00240088" + lc(kSoHex + kWrongSoHex) + kSoHex + kWrongSoHex;
  EXPECT_EQ(sw(*sc, change), "9000");
  EXPECT_FALSE(sc->state().session.user_authenticated);
  EXPECT_EQ(sw(*sc, init_with_so(kWrongSoHex)), "9000");  // the new SO-PIN re-initializes
}

// ---- The state file
// ------------------------------------------------------------------------------

std::string read_text(const std::string& path) {
  auto content = read_file(path);
  EXPECT_TRUE(content.has_value());
  return content ? std::string(content->begin(), content->end()) : std::string();
}

TEST(SimFlavourFile, AFileWithoutFlavourLoadsAsPico) {
  auto card = SimCard::open_file("old.json", kSerial);
  ASSERT_TRUE(card) << card.error().message;
  ASSERT_EQ(sw(**card, kSelect), "9000");
  ASSERT_EQ(sw(**card, kInitScHsmTool), "9000");
  const std::string text = read_text("old.json");
  EXPECT_EQ(text.find("flavour"), std::string::npos) << text;  // Pico files are unchanged
  EXPECT_EQ(text.find("so_verify_attempts"), std::string::npos);
  card->reset();
  // Opening it asking for a SmartCard-HSM keeps what the file is.
  auto again = SimCard::open_file("old.json", "", SimFlavour::kSmartCardHsm);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ((*again)->state().persistent.flavour, SimFlavour::kPicoHsm);
  EXPECT_EQ(tag85(**again), "0001FF0606");
  EXPECT_EQ(verify_so(**again), "9000");
}

TEST(SimFlavourFile, ASmartCardHsmFileKeepsItsFlavourAndCounters) {
  {
    auto card = SimCard::open_file("sc.json", kSerial, SimFlavour::kSmartCardHsm);
    ASSERT_TRUE(card) << card.error().message;
    ASSERT_EQ(sw(**card, kSelect), "9000");
    ASSERT_EQ(sw(**card, kInitScHsmTool), "9000");
    ASSERT_EQ(verify_so(**card), "6982");
  }
  const std::string text = read_text("sc.json");
  EXPECT_NE(text.find("\"flavour\": \"smartcard-hsm\""), std::string::npos) << text;
  auto card = SimCard::open_file("sc.json");
  ASSERT_TRUE(card) << card.error().message;
  const SimPersistent& p = (*card)->state().persistent;
  EXPECT_EQ(p.flavour, SimFlavour::kSmartCardHsm);
  EXPECT_EQ(p.so_verify_attempts, 1);
  EXPECT_TRUE(p.device_cert_pki);
  EXPECT_EQ(tag85(**card), "0001000606");

  auto back = SimState::persistent_from_json(text, "sc.json");
  ASSERT_TRUE(back) << back.error().message;
  SimState copy;
  copy.persistent = *back;
  EXPECT_EQ(copy.to_json(), text);
}

TEST(SimFlavourFile, AnUnknownFlavourIsAClearError) {
  std::string text = SimState::fresh(*from_hex(kSerial), SimFlavour::kSmartCardHsm).to_json();
  const std::string field = "\"smartcard-hsm\"";
  text.replace(text.find(field), field.size(), "\"nitrokey-hsm-3\"");
  auto r = SimState::persistent_from_json(text, "bad.json");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUnavailable);
  EXPECT_NE(r.error().message.find("flavour"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace hsmctl::device::sim
