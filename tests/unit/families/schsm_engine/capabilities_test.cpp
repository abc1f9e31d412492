// SPDX-License-Identifier: Apache-2.0
// The shared engine with SmartCard-HSM capabilities (families/schsm_engine/capabilities.hpp) on
// the simulator's SmartCard-HSM flavour (docs/simulator.md, all UNCONFIRMED): never a VERIFY of
// the SO PIN with data, never INS 64; re-initialization only with the store's current SO PIN
// (then CHANGE REFERENCE DATA 88 for a new one), blocked without it; store entries
// "smartcard-hsm:<serial>/...", never "pico:". Every APDU is recorded on the way to the card.

#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/device/sim/sim_state.hpp"
#include "hsmctl/families/schsm_engine/engine.hpp"
#include "hsmctl/store/ephemeral_keeper.hpp"
#include "hsmctl/util/bytes.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdlib.h>

#include <string>
#include <vector>

namespace hsmctl::families::schsm_engine {
namespace {

using ::testing::HasSubstr;

constexpr const char* kSerial = "0102030405060708";
constexpr const char* kPin = "24681357";
constexpr const char* kSo = "1357913579135791";
constexpr const char* kNewSo = "2468024680246802";
constexpr const char* kWrongSo = "3131313131313131";

Capabilities smartcard_caps() {
  Capabilities c;
  c.kind = "SmartCardHSM";
  c.store_prefix = "smartcard-hsm";
  c.pico_device = false;
  c.so_verify = false;
  c.dyn_options = false;
  c.reinit_needs_current_so = true;
  c.reinit_keeps_device_key = true;
  c.retry_6400 = false;
  c.no_dkek_is_6a88 = true;
  c.rrc_reset_only_blocks_set = true;
  return c;
}

model::PicoHsmManifest manifest(const char* so = kSo) {
  setenv("SCHSM_CAPS_PIN", kPin, 1);
  setenv("SCHSM_CAPS_SO", so, 1);
  model::PicoHsmManifest m;
  m.metadata.name = "sc";
  m.spec.device.serial = kSerial;
  m.spec.user_pin = model::SecretRef{model::SecretRef::Kind::kEnv, "SCHSM_CAPS_PIN", {}};
  m.spec.so_pin = model::SecretRef{model::SecretRef::Kind::kEnv, "SCHSM_CAPS_SO", {}};
  return m;
}

/// Borrows the card and records every APDU sent to it.
class Recording final : public device::Transport {
 public:
  Recording(device::Transport& t, std::vector<Bytes>& sent) : t_(t), sent_(sent) {}
  Result<Bytes> transmit(ByteView c) override {
    sent_.emplace_back(c.begin(), c.end());
    return t_.transmit(c);
  }
  std::string describe() const override { return t_.describe(); }

 private:
  device::Transport& t_;
  std::vector<Bytes>& sent_;
};

bool is_so_verify_with_data(const Bytes& c) {
  return c.size() > 4 && c[0] == 0x00 && c[1] == 0x20 && c[2] == 0x00 && c[3] == 0x88;
}
bool is(const Bytes& c, std::uint8_t cla, std::uint8_t ins) {
  return c.size() > 4 && c[0] == cla && c[1] == ins;
}

struct Card {
  explicit Card(device::sim::SimFlavour flavour = device::sim::SimFlavour::kSmartCardHsm)
      : sim(device::sim::SimCard::create_in_memory(kSerial, flavour)) {}
  std::unique_ptr<device::sim::SimCard> sim;
  std::vector<Bytes> sent;

  Result<PreparedDevice> plan(store::CredentialKeeper& keeper, const model::PicoHsmManifest& m,
                              const Capabilities& caps = smartcard_caps()) {
    return prepare(m, std::make_unique<Recording>(*sim, sent), keeper, caps);
  }
  Result<ApplyReport> apply(store::CredentialKeeper& keeper, const model::PicoHsmManifest& m,
                            bool allow_reinit = false) {
    HSMCTL_TRY_ASSIGN(PreparedDevice p, plan(keeper, m));
    ApplyOptions o;
    o.allow_reinit = allow_reinit;
    return execute(p, o, keeper, [](const std::string&) {});
  }
  int count(bool (*pred)(const Bytes&)) const {
    int n = 0;
    for (const auto& c : sent)
      n += pred(c) ? 1 : 0;
    return n;
  }
  int count_ins(std::uint8_t cla, std::uint8_t ins) const {
    int n = 0;
    for (const auto& c : sent)
      n += is(c, cla, ins) ? 1 : 0;
    return n;
  }
  /// Nothing hsmctl sent may log in with the SO PIN or reach the Pico-only EXTRAS.
  void expect_no_so_verify_nor_extras() const {
    EXPECT_EQ(count(is_so_verify_with_data), 0);
    EXPECT_EQ(count_ins(0x80, 0x64), 0);
    EXPECT_EQ(sim->state().persistent.so_verify_attempts, 0);
  }
  int so_tries() const { return sim->state().persistent.so.retries; }
};

std::string text(const plan::DevicePlan& p) {
  return plan::render_text({p}, false);
}

store::CredentialKey sc_key(const char* name) {
  return credential_key("smartcard-hsm", kSerial, name);
}

/// The store form of an SO PIN: 16 hex digits.
Secret so_entry(const char* hex) {
  return Secret(std::string(hex));
}

TEST(SchsmEngineCapabilities, CreateApplyThenNoChangesStoreUnderItsOwnPrefix) {
  Card card;
  store::EphemeralKeeper keeper;
  auto r = card.apply(keeper, manifest());
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->steps_done, 1);
  // Tag 80 carries no high (Pico dynamic) byte.
  int inits = 0;
  for (const auto& c : card.sent) {
    if (!is(c, 0x80, 0x50) || c.size() < 9)
      continue;
    ++inits;
    EXPECT_EQ(to_hex(ByteView(c).subspan(5, 4)), "80020001");
  }
  EXPECT_EQ(inits, 1);

  auto again = card.plan(keeper, manifest());
  ASSERT_TRUE(again) << again.error().to_string();
  // Domain 0 without DKEK answers 6A88 on this device: still no re-initialization.
  EXPECT_FALSE(again->plan.has_changes()) << text(again->plan);
  EXPECT_FALSE(again->plan.has_blocked()) << text(again->plan);
  EXPECT_EQ(again->plan.status(), plan::DeviceStatus::kOk) << text(again->plan);
  card.expect_no_so_verify_nor_extras();

  auto so = keeper.current(sc_key("so-pin"));
  ASSERT_TRUE(so && *so);
  EXPECT_EQ((*so)->view(), kSo);
  auto pico = keeper.current(credential_key(kSerial, "so-pin"));
  ASSERT_TRUE(pico);
  EXPECT_FALSE(*pico) << "a SmartCard-HSM credential under pico:";
  EXPECT_EQ(credential_key(kSerial, "so-pin").device, "pico:" + std::string(kSerial));
}

TEST(SchsmEngineCapabilities, SoRotationUsesTheStoredValueAndNeverVerifiesIt) {
  Card card;
  store::EphemeralKeeper keeper;
  ASSERT_TRUE(card.apply(keeper, manifest()));
  auto p = card.plan(keeper, manifest(kNewSo));
  ASSERT_TRUE(p) << p.error().to_string();
  ASSERT_EQ(p->plan.actions.size(), 1u) << text(p->plan);
  EXPECT_EQ(p->plan.actions[0].kind, kind::kChangeSoPin);
  EXPECT_THAT(p->plan.actions[0].reason, HasSubstr("smartcard-hsm:" + std::string(kSerial)));
  auto r = card.apply(keeper, manifest(kNewSo));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(card.count_ins(0x00, 0x24), 1);
  EXPECT_EQ(card.so_tries(), 15);
  auto so = keeper.current(sc_key("so-pin"));
  ASSERT_TRUE(so && *so);
  EXPECT_EQ((*so)->view(), kNewSo);
  auto after = card.plan(keeper, manifest(kNewSo));
  ASSERT_TRUE(after);
  EXPECT_EQ(after->plan.status(), plan::DeviceStatus::kOk) << text(after->plan);
  card.expect_no_so_verify_nor_extras();
}

TEST(SchsmEngineCapabilities, WithoutAStoredSoPinTheSoPinIsBlockedNotTried) {
  Card card;
  store::EphemeralKeeper first;
  ASSERT_TRUE(card.apply(first, manifest()));
  store::EphemeralKeeper empty;  // the manifest's value is right, but nothing can prove it
  auto p = card.plan(empty, manifest());
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_TRUE(p->plan.has_blocked()) << text(p->plan);
  EXPECT_THAT(text(p->plan), HasSubstr("SO PIN not known"));
  EXPECT_THAT(text(p->plan),
              HasSubstr("hsmctl store set smartcard-hsm:" + std::string(kSerial) + "/so-pin"));
  card.expect_no_so_verify_nor_extras();
  EXPECT_EQ(card.so_tries(), 15);
}

TEST(SchsmEngineCapabilities, ARejectedStoredSoPinIsRecordedAndNeverSentAgain) {
  Card card;
  store::EphemeralKeeper keeper;
  ASSERT_TRUE(card.apply(keeper, manifest()));
  // The store's value goes stale (someone changed the SO PIN elsewhere; simulated by a wrong
  // value in the store).
  ASSERT_TRUE(keeper.record_current(sc_key("so-pin"), so_entry(kWrongSo)));
  auto r = card.apply(keeper, manifest(kNewSo));
  ASSERT_FALSE(r);
  EXPECT_EQ(card.count_ins(0x00, 0x24), 1);
  EXPECT_EQ(card.so_tries(), 14);  // one try, never restored on a real card

  for (int run = 0; run < 2; ++run) {
    auto p = card.plan(keeper, manifest(kNewSo));
    ASSERT_TRUE(p) << p.error().to_string();
    EXPECT_TRUE(p->plan.has_blocked()) << text(p->plan);
    EXPECT_THAT(text(p->plan), HasSubstr("rejected in an earlier run"));
    auto again = card.apply(keeper, manifest(kNewSo));
    ASSERT_TRUE(again);
    EXPECT_EQ(again->steps_done, 0);
  }
  EXPECT_EQ(card.count_ins(0x00, 0x24), 1);  // never resent
  EXPECT_EQ(card.so_tries(), 14);
  card.expect_no_so_verify_nor_extras();
}

TEST(SchsmEngineCapabilities, ReinitializeCarriesTheStoredSoPinThenChangesIt) {
  Card card;
  store::EphemeralKeeper keeper;
  ASSERT_TRUE(card.apply(keeper, manifest()));
  auto m = manifest(kNewSo);
  m.spec.pin_retries = 5;
  auto p = card.plan(keeper, m);
  ASSERT_TRUE(p) << p.error().to_string();
  ASSERT_EQ(p->plan.actions.size(), 2u) << text(p->plan);
  EXPECT_EQ(p->plan.actions[0].action_class, plan::ActionClass::kReinitialize);
  EXPECT_EQ(p->plan.actions[1].kind, kind::kChangeSoPin);
  // The device key survives: nothing says the certificate would be lost.
  EXPECT_THAT(text(p->plan), ::testing::Not(HasSubstr("device certificate")));

  card.sent.clear();
  auto r = card.apply(keeper, m, /*allow_reinit=*/true);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->steps_done, 2);
  // INITIALIZE carried the current SO PIN (tag 82), not the manifest's new one.
  const std::string current_tag = "8208" + std::string(kSo);
  const std::string new_tag = "8208" + std::string(kNewSo);
  bool seen = false;
  for (const auto& c : card.sent) {
    if (!is(c, 0x80, 0x50) || c.size() < 9)
      continue;
    seen = true;
    EXPECT_NE(to_hex(c).find(current_tag), std::string::npos);
    EXPECT_EQ(to_hex(c).find(new_tag), std::string::npos);
  }
  EXPECT_TRUE(seen);
  EXPECT_EQ(card.count_ins(0x00, 0x24), 1);  // then CHANGE REFERENCE DATA 88
  EXPECT_EQ(card.so_tries(), 15);
  auto after = card.plan(keeper, m);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->plan.status(), plan::DeviceStatus::kOk) << text(after->plan);
  card.expect_no_so_verify_nor_extras();
}

TEST(SchsmEngineCapabilities, ReinitializeIsBlockedWithoutAStoredSoPin) {
  Card card;
  store::EphemeralKeeper first;
  ASSERT_TRUE(card.apply(first, manifest()));
  ASSERT_TRUE(card.sim->install_key(1, 0));
  store::EphemeralKeeper empty;
  auto m = manifest();
  m.spec.reset_retry_counter.enabled = false;  // option bit 0x0001: only INITIALIZE changes it
  auto p = card.plan(empty, m);
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_FALSE(p->plan.needs_reinit()) << text(p->plan);
  EXPECT_THAT(text(p->plan), HasSubstr("re-initialization needs the current SO PIN"));
  card.sent.clear();
  ApplyOptions all;
  all.allow_reinit = true;
  all.allow_key_loss = true;
  auto r = execute(*p, all, empty, [](const std::string&) {});
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->steps_done, 0);
  EXPECT_EQ(card.count_ins(0x80, 0x50), 0);
  EXPECT_EQ(card.sim->state().persistent.keys.count(1), 1u);
  EXPECT_EQ(card.so_tries(), 15);
  card.expect_no_so_verify_nor_extras();
}

TEST(SchsmEngineCapabilities, APicoCardIsRefusedBeforeAnyVerify) {
  Card pico(device::sim::SimFlavour::kPicoHsm);
  store::EphemeralKeeper keeper;
  auto p = pico.plan(keeper, manifest());
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::kRefused);
  EXPECT_THAT(p.error().message, HasSubstr("use kind: PicoHSM"));
  for (const auto& c : pico.sent)
    EXPECT_FALSE(c.size() > 5 && c[1] == 0x20) << to_hex(c);
  EXPECT_EQ(pico.count_ins(0x80, 0x50), 0);

  // The same card with the Pico's capabilities: planned as before.
  auto as_pico = pico.plan(keeper, manifest(), kPicoCapabilities);
  ASSERT_TRUE(as_pico) << as_pico.error().to_string();
  EXPECT_TRUE(as_pico->plan.has_changes());
}

TEST(SchsmEngineCapabilities, ResetOnlyOptionMeansNoResetUserPin) {
  Card card;
  store::EphemeralKeeper keeper;
  auto m = manifest();
  m.spec.reset_retry_counter.only_resets_counter = true;
  ASSERT_TRUE(card.apply(keeper, m));
  // The user PIN goes unknown (changed elsewhere): the Pico would set it with the SO PIN.
  ASSERT_TRUE(keeper.record_current(sc_key("user-pin"), Secret(std::string("99999999"))));
  auto other = m;
  other.spec.user_pin = model::SecretRef{model::SecretRef::Kind::kEnv, "SCHSM_CAPS_OTHER", {}};
  setenv("SCHSM_CAPS_OTHER", "55555555", 1);
  auto p = card.plan(keeper, other);
  ASSERT_TRUE(p) << p.error().to_string();
  for (const auto& a : p->plan.actions)
    EXPECT_NE(a.kind, kind::kResetUserPin);
  EXPECT_THAT(text(p->plan), HasSubstr("only resets the error counter"));
}

}  // namespace
}  // namespace hsmctl::families::schsm_engine
