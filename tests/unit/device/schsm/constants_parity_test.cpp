// SPDX-License-Identifier: Apache-2.0
// The simulator keeps its own copies of the protocol constants on purpose (it is the other side
// of the wire and must not follow a wrong constant of the client): this test checks that both
// sides agree, by value where the simulator has a named constant (sim_state.hpp and its private
// sim_impl.hpp, read here on purpose) and by behaviour where it uses a literal (INS bytes, the
// key-domain slot count, the device type in tag 85).

#include "hsmctl/device/schsm/protocol.hpp"
#include "hsmctl/device/schsm/smartcard_hsm.hpp"
#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/device/sim/sim_impl.hpp"
#include "hsmctl/device/sim/sim_state.hpp"
#include "hsmctl/model/limits.hpp"
#include "hsmctl/model/options.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string_view>

namespace hsmctl::device {
namespace {

TEST(ConstantsParity, OptionBitsOfSimulatorAndModelAgree) {
  EXPECT_EQ(sim::kOptRrc, model::kOptResetRetryCounter);
  EXPECT_EQ(sim::kOptTransportPin, model::kOptTransportPin);
  EXPECT_EQ(sim::kOptReplacePka, model::kOptReplacePka);
  EXPECT_EQ(sim::kOptCombinedAuth, model::kOptCombinedAuth);
  EXPECT_EQ(sim::kOptRrcResetOnly, model::kOptRrcResetOnly);
  EXPECT_EQ(sim::kOptButton, model::kOptPressToConfirm);
  EXPECT_EQ(sim::kOptKeyCounter, model::kOptKeyUsageCounter);
  EXPECT_EQ(sim::kOptSecureLock, model::kOptSecureLock);
}

TEST(ConstantsParity, AidStatusWordsAndFilesOfSimulatorAndClientAgree) {
  namespace d = sim::detail;
  EXPECT_TRUE(std::equal(std::begin(d::kHsmAid), std::end(d::kHsmAid), schsm::kHsmAid.begin(),
                         schsm::kHsmAid.end()));
  // The two sides name some status words differently (the simulator after pico-keys-sdk's
  // apdu.h, the client after what the answer means to it); the values must be the same.
  EXPECT_EQ(d::kSwOk, schsm::kSwOk);
  EXPECT_EQ(d::kSwEof, schsm::kSwEndOfFile);
  EXPECT_EQ(d::kSwExecError, schsm::kSwInitializeDefect);
  EXPECT_EQ(d::kSwBlocked, schsm::kSwBlocked);
  EXPECT_EQ(d::kSwDataInvalid, schsm::kSwTransport);  // SW_DATA_INVALID: transport PIN state
  EXPECT_EQ(d::kSwFileNotFound, schsm::kSwFileNotFound);
  EXPECT_EQ(d::kSwIncorrectP1P2, schsm::kSwWrongP1P2);
  EXPECT_EQ(d::kSwRefNotFound, schsm::kSwRefNotFound);
  EXPECT_EQ(d::kSwFileExists, schsm::kSwExists);
  EXPECT_EQ(d::kSwWrongP1P2, schsm::kSwWrongParams);  // SW_WRONG_P1P2 is 6B00 in apdu.h
  EXPECT_EQ(d::kFidTermCa, schsm::kEfDeviceCertificate);
  EXPECT_EQ(d::kFidKeyDev, schsm::kDeviceKeyFid);
  EXPECT_EQ(d::kFidKeyDev >> 8, schsm::kPrivateKeyFidPrefix);
}

TEST(ConstantsParity, DeviceTypeOfTheSimulatorFlavoursIsReadAsTheClientExpects) {
  auto pico = sim::SimCard::create_in_memory("1122334455667788");
  schsm::SmartCardHsm pico_hsm(*pico);
  auto pico_select = pico_hsm.select();
  ASSERT_TRUE(pico_select) << pico_select.error().to_string();
  EXPECT_EQ(pico_select->device_type, schsm::kDeviceTypePico);

  auto schsm_card =
      sim::SimCard::create_in_memory("1122334455667788", sim::SimFlavour::kSmartCardHsm);
  schsm::SmartCardHsm schsm_hsm(*schsm_card);
  auto schsm_select = schsm_hsm.select();
  ASSERT_TRUE(schsm_select) << schsm_select.error().to_string();
  EXPECT_NE(schsm_select->device_type, schsm::kDeviceTypePico);
}

TEST(ConstantsParity, DefaultPinRetriesOfSimulatorAndModelAgree) {
  // Without tag 91 the firmware sets 3 retries; the manifest's default is the same.
  EXPECT_EQ(sim::SimPin{}.max_retries, model::kDefaultPinRetries);
  EXPECT_EQ(sim::SimPin{}.retries, model::kDefaultPinRetries);
}

Bytes apdu(std::uint8_t cla, std::uint8_t ins, std::uint8_t p1, std::uint8_t p2) {
  return Bytes{cla, ins, p1, p2};
}

std::uint16_t sw_of(const Bytes& answer) {
  if (answer.size() < 2)
    return 0;
  return static_cast<std::uint16_t>((answer[answer.size() - 2] << 8) | answer.back());
}

std::uint16_t send(sim::SimCard& card, const Bytes& command) {
  auto r = card.transmit(command);
  EXPECT_TRUE(r.has_value());
  return r ? sw_of(*r) : 0;
}

std::uint16_t select_applet(sim::SimCard& card) {
  Bytes select = apdu(schsm::kClaIso, schsm::ins::kSelect, schsm::kSelectByName, 0x00);
  select.push_back(static_cast<std::uint8_t>(schsm::kHsmAid.size()));
  select.insert(select.end(), schsm::kHsmAid.begin(), schsm::kHsmAid.end());
  select.push_back(0x00);
  return send(card, select);
}

TEST(ConstantsParity, TheSimulatorAnswersTheClientsAidAndEveryInstruction) {
  auto card = sim::SimCard::create_in_memory("1122334455667788");
  ASSERT_EQ(select_applet(*card), schsm::kSwOk);
  struct Command {
    std::uint8_t cla, ins, p1, p2;
  };
  const Command commands[] = {
      {schsm::kClaIso, schsm::ins::kVerify, 0x00, static_cast<std::uint8_t>(schsm::PinRef::kUser)},
      {schsm::kClaIso, schsm::ins::kVerify, 0x00, static_cast<std::uint8_t>(schsm::PinRef::kSo)},
      {schsm::kClaIso, schsm::ins::kChangeReferenceData, 0x00,
       static_cast<std::uint8_t>(schsm::PinRef::kUser)},
      {schsm::kClaIso, schsm::ins::kResetRetryCounter, schsm::rrc::kSoPinAndNewPin,
       static_cast<std::uint8_t>(schsm::PinRef::kUser)},
      {schsm::kClaProprietary, schsm::ins::kInitialize, 0x00, 0x00},
      {schsm::kClaProprietary, schsm::ins::kManageKeyDomain, schsm::key_domain_op::kStatusOrImport,
       0x00},
      {schsm::kClaProprietary, schsm::ins::kPublicKeyAuth, 0x00, 0x00},
      {schsm::kClaProprietary, schsm::ins::kEnumerateObjects, 0x00, 0x00},
      {schsm::kClaProprietary, schsm::ins::kExtras, schsm::kExtrasDynamicOptions, 0x00},
      {schsm::kClaIso, schsm::ins::kReadBinary, schsm::kEfTokenInfo >> 8,
       schsm::kEfTokenInfo & 0xFF},
  };
  for (const Command& c : commands) {
    const std::uint16_t sw = send(*card, apdu(c.cla, c.ins, c.p1, c.p2));
    EXPECT_NE(sw, 0x6D00) << "INS " << std::hex << int{c.ins} << " is unknown to the simulator";
    EXPECT_NE(sw, 0x6E00) << std::hex << "CLA " << int{c.cla} << " of INS " << int{c.ins}
                          << " is unknown";
  }
}

TEST(ConstantsParity, StatusWordsOfAFreshSimulatorAreTheClientsConstants) {
  auto card = sim::SimCard::create_in_memory("1122334455667788");
  ASSERT_EQ(select_applet(*card), schsm::kSwOk);
  // Not initialized: the PIN reference is not found.
  EXPECT_EQ(send(*card, apdu(schsm::kClaIso, schsm::ins::kVerify, 0x00,
                             static_cast<std::uint8_t>(schsm::PinRef::kUser))),
            schsm::kSwRefNotFound);
  // An EF that does not exist.
  EXPECT_EQ(send(*card, apdu(schsm::kClaIso, schsm::ins::kReadBinary, 0x12, 0x34)),
            schsm::kSwFileNotFound);
}

TEST(ConstantsParity, KeyDomainSlotLimitOfSimulatorAndClientAgree) {
  auto card = sim::SimCard::create_in_memory("1122334455667788");
  schsm::SmartCardHsm hsm(*card);
  ASSERT_TRUE(hsm.select());
  schsm::InitializeParams params;
  params.user_pin = Secret(std::string_view("648219"));
  params.so_pin = Secret(std::string_view("57621880"));
  params.key_domains = 1;
  auto init = hsm.initialize(params);
  ASSERT_TRUE(init) << init.error().to_string();
  Bytes status = apdu(schsm::kClaProprietary, schsm::ins::kManageKeyDomain,
                      schsm::key_domain_op::kStatusOrImport, 0x00);
  status.push_back(0x00);
  status[3] = 1;  // beyond the configured count, within the slots
  EXPECT_EQ(send(*card, status), schsm::kSwWrongP1P2);
  status[3] = static_cast<std::uint8_t>(schsm::kMaxKeyDomainSlots - 1);
  EXPECT_EQ(send(*card, status), schsm::kSwWrongP1P2);
  status[3] = static_cast<std::uint8_t>(schsm::kMaxKeyDomainSlots);  // no such slot
  EXPECT_EQ(send(*card, status), schsm::kSwWrongParams);
}

}  // namespace
}  // namespace hsmctl::device
