// SPDX-License-Identifier: Apache-2.0
// End to end: the real protocol layer (SmartCardHsm + observe) against the in-process simulator.
#include "hsmctl/device/schsm/observe.hpp"
#include "hsmctl/device/schsm/smartcard_hsm.hpp"
#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/device/sim/sim_crypto.hpp"
#include "hsmctl/device/sim/sim_state.hpp"
#include "hsmctl/model/options.hpp"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace hsmctl::device::schsm {
namespace {

using model::CredentialCheck;
using State = model::PinStatus::State;

constexpr const char* kSerial = "0102030405060708";
constexpr std::string_view kPin = "648219";
constexpr std::string_view kNewPin = "771133";
constexpr std::string_view kSoPin = "57621880";

ObserveRequest creds(std::string_view user, std::string_view so, int retries = 3) {
  ObserveRequest r;
  if (!user.empty())
    r.user_pin_candidates.emplace_back(user);
  if (!so.empty())
    r.so_pin_candidates.emplace_back(so);
  r.expected_pin_retries = retries;
  return r;
}

InitializeParams params(int retries = 3) {
  InitializeParams p;
  p.options = 0x0001;
  p.user_pin = Secret(kPin);
  p.so_pin = Secret(kSoPin);
  p.pin_retries = retries;
  return p;
}

class ObserveSimTest : public ::testing::Test {
 protected:
  Result<model::ObservedPico> look(const ObserveRequest& r) {
    auto o = observe(hsm, r);
    if (!o)
      ADD_FAILURE() << o.error().message;
    return o;
  }
  void initialize(const InitializeParams& p) {
    ASSERT_TRUE(hsm.select().has_value());
    auto r = hsm.initialize(p);
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }

  std::unique_ptr<sim::SimCard> card = sim::SimCard::create_in_memory(kSerial);
  SmartCardHsm hsm{*card};
};

TEST_F(ObserveSimTest, FreshDevice) {
  auto o = look(creds(kPin, kSoPin));
  ASSERT_TRUE(o.has_value());
  EXPECT_FALSE(o->initialized);
  EXPECT_TRUE(o->is_pico);
  EXPECT_EQ(o->firmware_major, 6);
  EXPECT_EQ(o->firmware_minor, 6);
  EXPECT_EQ(o->options, 0x0000);
  EXPECT_EQ(o->serial, kSerial);
  EXPECT_EQ(o->user_pin.state, State::kNotInitialized);
  EXPECT_EQ(o->so_pin.state, State::kNotInitialized);
  EXPECT_EQ(o->user_pin_check.check, CredentialCheck::kNotApplicable);
  EXPECT_EQ(o->so_pin_check.check, CredentialCheck::kNotApplicable);
  EXPECT_EQ(o->apdu_count, 4);
  EXPECT_EQ(o->transport, card->describe());
}

TEST_F(ObserveSimTest, AfterInitializeWithoutCredentials) {
  initialize(params());
  auto o = look(ObserveRequest{});
  ASSERT_TRUE(o.has_value());
  EXPECT_TRUE(o->initialized);
  EXPECT_EQ(o->options, 0x0001);
  EXPECT_EQ(o->serial, kSerial);
  EXPECT_EQ(o->user_pin.state, State::kTriesLeft);
  EXPECT_EQ(o->user_pin.tries_left, 3);
  EXPECT_EQ(o->so_pin.tries_left, 15);
  EXPECT_EQ(o->user_pin_check.check, CredentialCheck::kNotChecked);
  EXPECT_FALSE(o->pin_retries_max.has_value());
  EXPECT_FALSE(o->pka.has_value());
  ASSERT_EQ(o->key_domains.size(), 1u);  // no tag 92/97: one entry 00 00
  EXPECT_TRUE(o->key_domains[0].set_up);
  EXPECT_EQ(o->key_domains[0].total_shares, 0);
  EXPECT_EQ(o->key_count, 0);
  EXPECT_EQ(o->device_certificate_pki, std::optional<bool>(false));
}

TEST_F(ObserveSimTest, AfterInitializeCredentialsMatchAndMaximumIsRead) {
  initialize(params(5));
  auto o = look(creds(kPin, kSoPin, 5));
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->user_pin_check.check, CredentialCheck::kMatches);
  EXPECT_EQ(o->so_pin_check.check, CredentialCheck::kMatches);
  EXPECT_EQ(o->pin_retries_max, std::optional<int>(5));
  // Logged out at the end: the status query answers 63C5, not 9000.
  auto st = hsm.pin_status(PinRef::kUser);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->state, State::kTriesLeft);
  auto so = hsm.pin_status(PinRef::kSo);
  ASSERT_TRUE(so.has_value());
  EXPECT_EQ(so->state, State::kTriesLeft);
  EXPECT_EQ(so->tries_left, 15);
}

TEST_F(ObserveSimTest, PinChangeThenStaleCandidateIsTriedOnceAndTheNextMatches) {
  initialize(params());
  ASSERT_TRUE(hsm.select().has_value());
  auto ch = hsm.change_reference_data(PinRef::kUser, Secret(kPin), Secret(kNewPin));
  ASSERT_TRUE(ch.has_value()) << ch.error().message;

  // The stale value from a store, then the manifest's: one try spent on the stale one; the
  // counter is short by exactly that own failure, so the next distinct value is tried.
  ObserveRequest stale = creds(kPin, "");
  stale.user_pin_candidates.emplace_back(kNewPin);
  auto o = look(stale);
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->user_pin_check.check, CredentialCheck::kMatches);
  EXPECT_EQ(o->user_pin_check.matched_candidate, std::optional<int>(1));
  EXPECT_EQ(o->user_pin_check.rejected_candidates, std::vector<int>{0});
  EXPECT_EQ(o->pin_retries_max, std::optional<int>(3));

  // A failure that is not hsmctl's own: even the right value is not tried.
  ASSERT_TRUE(hsm.select().has_value());
  EXPECT_EQ(hsm.verify(PinRef::kUser, Secret(kPin)).value(), VerifyResult::kWrong);
  auto o2 = look(creds(kNewPin, ""));
  ASSERT_TRUE(o2.has_value());
  EXPECT_EQ(o2->user_pin_check.check, CredentialCheck::kSkippedUnsafe);
  EXPECT_EQ(o2->user_pin.tries_left, 2);

  // A deliberate VERIFY (as apply would do) restores the counter; observation matches again.
  ASSERT_TRUE(hsm.select().has_value());
  EXPECT_EQ(hsm.verify(PinRef::kUser, Secret(kNewPin)).value(), VerifyResult::kOk);
  auto o3 = look(creds(kNewPin, ""));
  ASSERT_TRUE(o3.has_value());
  EXPECT_EQ(o3->user_pin_check.check, CredentialCheck::kMatches);
  EXPECT_EQ(o3->pin_retries_max, std::optional<int>(3));
}

TEST_F(ObserveSimTest, WrongChangeIsAuthErrorAndBlockedPinIsNotApplicable) {
  initialize(params());
  ASSERT_TRUE(hsm.select().has_value());
  for (int i = 0; i < 3; ++i) {
    auto r = hsm.change_reference_data(PinRef::kUser, Secret(kNewPin), Secret(kPin));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, Errc::kAuth);
    EXPECT_EQ(r.error().message.find(kNewPin), std::string::npos);
  }
  auto o = look(creds(kPin, ""));
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->user_pin.state, State::kBlocked);
  EXPECT_EQ(o->user_pin_check.check, CredentialCheck::kNotApplicable);

  // RESET RETRY COUNTER with the SO PIN (RRC enabled by options 0001) recovers it.
  ASSERT_TRUE(hsm.select().has_value());
  auto rrc = hsm.reset_retry_counter(Secret(kSoPin), Secret(kPin));
  ASSERT_TRUE(rrc.has_value()) << rrc.error().message;
  auto o2 = look(creds(kPin, ""));
  ASSERT_TRUE(o2.has_value());
  EXPECT_EQ(o2->user_pin_check.check, CredentialCheck::kMatches);
}

TEST_F(ObserveSimTest, ResetRetryCounterOnlyNeedsOption0020) {
  initialize(params());
  ASSERT_TRUE(hsm.select().has_value());
  auto r = hsm.reset_retry_counter_only(Secret(kSoPin));
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("SW 6986"), std::string::npos);
}

TEST_F(ObserveSimTest, KeyDomainsSetUpImportDeleteAndKcv) {
  InitializeParams p = params();
  p.key_domains = 3;
  initialize(p);

  auto fresh = look(ObserveRequest{});
  ASSERT_TRUE(fresh.has_value());
  ASSERT_EQ(fresh->key_domains.size(), 3u);
  for (const auto& d : fresh->key_domains)
    EXPECT_FALSE(d.set_up);

  // Set up and fill domain 0 (one share) and set up domain 1 in one PIN session.
  ASSERT_TRUE(hsm.select().has_value());
  ASSERT_EQ(hsm.verify(PinRef::kUser, Secret(kPin)).value(), VerifyResult::kOk);
  auto s0 = hsm.key_domain_setup(0, 1);
  ASSERT_TRUE(s0.has_value()) << s0.error().message;
  ASSERT_TRUE(hsm.key_domain_setup(1, 2).has_value());
  Bytes share(32);
  for (std::size_t i = 0; i < share.size(); ++i)
    share[i] = static_cast<std::uint8_t>(i * 7 + 1);
  auto imported = hsm.import_dkek_share(0, Secret(ByteView(share)));
  ASSERT_TRUE(imported.has_value()) << imported.error().message;
  EXPECT_EQ(imported->total_shares, 1);
  EXPECT_EQ(imported->outstanding_shares, 0);
  const Bytes digest = sim::crypto::sha256(share);
  const Bytes expected_kcv(digest.begin(), digest.begin() + 8);

  // Without a PIN the KCV reads as zeros; with the PIN it is the first 8 bytes of SHA-256(DKEK).
  auto no_pin = look(ObserveRequest{});
  ASSERT_TRUE(no_pin.has_value());
  ASSERT_EQ(no_pin->key_domains.size(), 3u);
  EXPECT_EQ(no_pin->key_domains[0].kcv, Bytes(8, 0));
  auto with_pin = look(creds(kPin, ""));
  ASSERT_TRUE(with_pin.has_value());
  ASSERT_EQ(with_pin->key_domains.size(), 3u);
  EXPECT_TRUE(with_pin->key_domains[0].set_up);
  EXPECT_EQ(with_pin->key_domains[0].kcv, expected_kcv);
  EXPECT_TRUE(with_pin->key_domains[1].set_up);
  EXPECT_EQ(with_pin->key_domains[1].total_shares, 2);
  EXPECT_EQ(with_pin->key_domains[1].outstanding_shares, 2);
  EXPECT_FALSE(with_pin->key_domains[2].set_up);

  // A key in domain 1 blocks its deletion; domain 0 can be cleared and deleted.
  ASSERT_TRUE(card->install_key(1, 1).has_value());
  ASSERT_TRUE(hsm.select().has_value());
  ASSERT_EQ(hsm.verify(PinRef::kUser, Secret(kPin)).value(), VerifyResult::kOk);
  auto busy = hsm.key_domain_delete(1);
  ASSERT_FALSE(busy.has_value());
  EXPECT_EQ(busy.error().code, Errc::kRefused);
  EXPECT_NE(busy.error().message.find("6A89"), std::string::npos);
  ASSERT_TRUE(hsm.key_domain_clear(0).has_value());
  ASSERT_TRUE(hsm.key_domain_delete(0).has_value());

  auto after = look(creds(kPin, ""));
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->key_count, 1);
  ASSERT_EQ(after->key_domains.size(), 3u);
  EXPECT_FALSE(after->key_domains[0].set_up);
  EXPECT_TRUE(after->key_domains[1].set_up);
}

TEST_F(ObserveSimTest, PkaAndDkekSharesFromInitialize) {
  InitializeParams p = params();
  p.dkek_shares = 2;
  p.pka = std::make_pair(2, 1);
  initialize(p);
  auto o = look(ObserveRequest{});
  ASSERT_TRUE(o.has_value());
  ASSERT_TRUE(o->pka.has_value());
  EXPECT_EQ(o->pka->total, 2);
  EXPECT_EQ(o->pka->missing, 2);
  EXPECT_EQ(o->pka->required, 1);
  ASSERT_EQ(o->key_domains.size(), 1u);
  EXPECT_EQ(o->key_domains[0].total_shares, 2);
  EXPECT_EQ(o->key_domains[0].outstanding_shares, 2);
}

TEST_F(ObserveSimTest, PkiDeviceChainIsRecognised) {
  initialize(params());
  ASSERT_TRUE(card->install_pki_device_chain("ESPICOHSMTREQOWL").has_value());
  auto o = look(ObserveRequest{});
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->device_certificate_pki, std::optional<bool>(true));
}

TEST_F(ObserveSimTest, DynamicOptionsReadModifyWrite) {
  initialize(params());
  ASSERT_TRUE(hsm.select().has_value());
  ASSERT_EQ(hsm.verify(PinRef::kUser, Secret(kPin)).value(), VerifyResult::kOk);
  auto v = hsm.update_dynamic_options(model::kOptKeyUsageCounter, 0);
  ASSERT_TRUE(v.has_value()) << v.error().message;
  EXPECT_EQ(*v, 0x0201);
  auto o = look(ObserveRequest{});
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->options, 0x0201);
}

TEST_F(ObserveSimTest, Initialize6400DefectIsReportedWithItsSwAndARetrySucceeds) {
  card->state().persistent.defects.initialize_6400_first_attempt = true;
  ASSERT_TRUE(hsm.select().has_value());
  auto first = hsm.initialize(params());
  ASSERT_FALSE(first.has_value());
  EXPECT_EQ(first.error().code, Errc::kDevice);
  EXPECT_NE(first.error().message.find("SW 6400 (execution error)"), std::string::npos);
  EXPECT_EQ(first.error().message.find(kPin), std::string::npos);
  EXPECT_EQ(first.error().message.find(kSoPin), std::string::npos);
  auto again = hsm.initialize(params());
  ASSERT_TRUE(again.has_value()) << again.error().message;
  auto o = look(creds(kPin, kSoPin));
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->user_pin_check.check, CredentialCheck::kMatches);
  EXPECT_EQ(o->so_pin_check.check, CredentialCheck::kMatches);
}

TEST_F(ObserveSimTest, KeepSessionLeavesTheUserLoggedIn) {
  initialize(params());
  ObserveRequest r = creds(kPin, "");
  r.keep_session = true;
  auto o = look(r);
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->pin_retries_max, std::optional<int>(3));
  auto st = hsm.pin_status(PinRef::kUser);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->state, State::kVerified);
}

TEST_F(ObserveSimTest, MemoryAndVersion) {
  ASSERT_TRUE(hsm.select().has_value());
  auto r = hsm.memory_and_version();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->second.first, 6);
  EXPECT_EQ(r->second.second, 6);
}

/// Counts the APDUs by INS on their way to the card.
class CountingTransport final : public Transport {
 public:
  explicit CountingTransport(Transport& inner) : inner_(inner) {}
  Result<Bytes> transmit(ByteView command) override {
    if (command.size() >= 2)
      ++by_ins[command[1]];
    auto r = inner_.transmit(command);
    if (r && r->size() >= 2)
      chunk_sizes.push_back(r->size() - 2);
    return r;
  }
  std::string describe() const override { return inner_.describe(); }
  std::map<std::uint8_t, int> by_ins;
  std::vector<std::size_t> chunk_sizes;

 private:
  Transport& inner_;
};

TEST_F(ObserveSimTest, V66DeviceCertificateIsReadWithThreeGetResponses) {
  initialize(params());
  CountingTransport counting(*card);
  SmartCardHsm through(counting);
  auto ef = through.read_ef(kEfDeviceCertificate);
  ASSERT_TRUE(ef.has_value()) << ef.error().message;
  ASSERT_TRUE(ef->has_value());
  EXPECT_EQ((*ef)->size(), 798u);
  EXPECT_EQ((**ef)[0], 0x67);  // the authenticated request comes first
  // READ BINARY (256 + 61 00), GET RESPONSE (256 + 61 00), (256 + 61 1E), (30 + 90 00); no
  // further READ BINARY at offset 798: the chained answer was the rest of the file.
  EXPECT_EQ(counting.by_ins[0xB1], 1);
  EXPECT_EQ(counting.by_ins[0xC0], 3);
  EXPECT_EQ(counting.chunk_sizes, (std::vector<std::size_t>{256, 256, 256, 30}));
  EXPECT_EQ(through.apdu_count(), 4);
  EXPECT_EQ(device_certificate_is_pki(**ef), std::optional<bool>(false));
}

TEST_F(ObserveSimTest, V66SelfSignedDeviceCertificateIsRecognised) {
  initialize(params());
  model::ObservedPico o;
  ASSERT_TRUE(observe_objects(hsm, o).has_value());
  EXPECT_TRUE(o.objects_read);
  // Before the leading request (67) was skipped this was "unknown".
  EXPECT_EQ(o.device_certificate_pki, std::optional<bool>(false));
}

TEST_F(ObserveSimTest, EmulationZeroSerialIsARealSerial) {
  card->state().persistent.defects.emulation_zero_serial = true;
  initialize(params());
  auto serial = hsm.chip_serial();
  ASSERT_TRUE(serial.has_value()) << serial.error().message;
  EXPECT_EQ(*serial, "0000000000000000");
  ObserveRequest r = creds(kPin, kSoPin);
  r.expected_serial = "0000000000000000";
  auto o = look(r);
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->serial, "0000000000000000");
  EXPECT_EQ(o->user_pin_check.check, CredentialCheck::kMatches);
}

}  // namespace
}  // namespace hsmctl::device::schsm
