// SPDX-License-Identifier: Apache-2.0
#include "support/typed_load.hpp"

#include "hsmctl/families/schsm_engine/diff.hpp"
#include "hsmctl/manifest/load.hpp"
#include "hsmctl/model/options.hpp"
#include "hsmctl/plan/plan.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace hsmctl::manifest {
namespace {

using model::KeyDomainStatus;
using model::ObservedPico;
using ::testing::HasSubstr;
using ::testing::Not;

std::string all_errors(const hsmctl::testing::TypedLoad& r) {
  std::string s;
  for (const auto& e : r.errors)
    s += e.to_string() + "\n";
  return s;
}

ObservedPico initialized_pico() {
  ObservedPico o;
  o.transport = "pcsc:Virtual PCD 00 00";
  o.serial = "E6614C311B4A2B21";
  o.firmware_major = 6;
  o.firmware_minor = 6;
  o.is_pico = true;
  o.initialized = true;
  o.options = model::kOptResetRetryCounter;
  o.user_pin.state = model::PinStatus::State::kTriesLeft;
  o.user_pin.tries_left = 3;
  o.pin_retries_max = 3;
  KeyDomainStatus d0;
  d0.set_up = true;
  o.key_domains.push_back(d0);
  return o;
}

// Emits, loads back, and returns the single manifest (failing the test on any error).
model::PicoHsmManifest round_trip(const ObservedPico& o, const std::string& name,
                                  std::string* text = nullptr) {
  std::string yaml = emit_pico_manifest(o, name);
  if (text != nullptr)
    *text = yaml;
  hsmctl::testing::TypedLoad r = hsmctl::testing::load_typed_text(yaml, "emitted.yaml");
  EXPECT_TRUE(r.ok()) << all_errors(r) << "\n" << yaml;
  EXPECT_EQ(r.pico_hsms.size(), 1u) << yaml;
  if (r.pico_hsms.empty())
    return {};
  return r.pico_hsms[0];
}

TEST(ManifestEmit, FreshlyInitializedDeviceRoundTrips) {
  std::string text;
  auto m = round_trip(initialized_pico(), "root-ca", &text);
  EXPECT_EQ(m.metadata.name, "root-ca");
  EXPECT_EQ(m.spec.device.serial, "E6614C311B4A2B21");
  EXPECT_EQ(m.spec.pin_retries, 3);
  EXPECT_TRUE(m.spec.reset_retry_counter.enabled);
  EXPECT_FALSE(m.spec.reset_retry_counter.only_resets_counter);
  EXPECT_FALSE(m.spec.transport_pin);
  EXPECT_FALSE(m.spec.dkek_shares);  // total 0: no DKEK, field omitted
  EXPECT_TRUE(m.spec.key_domains.empty());
  EXPECT_FALSE(m.spec.public_key_auth);
  ASSERT_TRUE(m.spec.user_pin);
  EXPECT_EQ(m.spec.user_pin->display(), "env:CHANGE_ME_USER_PIN");
  EXPECT_EQ(m.spec.so_pin->display(), "env:CHANGE_ME_SO_PIN");
  EXPECT_THAT(text, HasSubstr("# PINs cannot be read from a device"));
  EXPECT_THAT(text, HasSubstr("firmware 6.6"));
  EXPECT_THAT(text, Not(HasSubstr("dkekShares")));
}

TEST(ManifestEmit, EveryObservedSettingIsCarried) {
  ObservedPico o = initialized_pico();
  o.options = model::kOptResetRetryCounter | model::kOptRrcResetOnly | model::kOptReplacePka |
              model::kOptCombinedAuth | model::kOptKeyUsageCounter | model::kOptPressToConfirm;
  o.pin_retries_max = 7;
  o.key_domains[0].total_shares = 3;
  o.key_domains[0].outstanding_shares = 1;
  o.pka = model::PkaStatus{4, 1, 2, 0};
  auto m = round_trip(o, "issuing");
  EXPECT_EQ(m.spec.pin_retries, 7);
  EXPECT_TRUE(m.spec.reset_retry_counter.only_resets_counter);
  EXPECT_EQ(m.spec.dkek_shares, 3);
  ASSERT_TRUE(m.spec.public_key_auth);
  EXPECT_EQ(m.spec.public_key_auth->keys, 4);
  EXPECT_EQ(m.spec.public_key_auth->required, 2);
  EXPECT_TRUE(m.spec.public_key_auth->replaceable);
  EXPECT_TRUE(m.spec.public_key_auth->combined_with_pin);
  EXPECT_TRUE(m.spec.options.key_usage_counter);
  EXPECT_TRUE(m.spec.options.press_to_confirm);
  EXPECT_EQ(m.spec.init_options() | m.spec.dynamic_options(), o.options);
}

TEST(ManifestEmit, KeyDomainsAreListedPerDomain) {
  ObservedPico o = initialized_pico();
  o.key_domains.clear();
  KeyDomainStatus a;
  a.index = 0;
  a.set_up = true;
  a.total_shares = 2;
  KeyDomainStatus b;
  b.index = 1;
  KeyDomainStatus c;
  c.index = 2;
  c.set_up = true;
  c.total_shares = 0;
  o.key_domains = {a, b, c};
  std::string text;
  auto m = round_trip(o, "domains", &text);
  ASSERT_EQ(m.spec.key_domains.size(), 3u);
  EXPECT_EQ(m.spec.key_domains[0].dkek_shares, 2);
  EXPECT_FALSE(m.spec.key_domains[1].dkek_shares);
  EXPECT_EQ(m.spec.key_domains[2].dkek_shares, 0);
  EXPECT_FALSE(m.spec.dkek_shares);
  EXPECT_THAT(text, HasSubstr("- {}  # not set up"));

  // A single domain that is not set up is only possible with tag 97.
  o.key_domains = {b};
  auto single = round_trip(o, "one-domain");
  ASSERT_EQ(single.spec.key_domains.size(), 1u);
  EXPECT_FALSE(single.spec.key_domains[0].dkek_shares);
}

// Issue 8 item 5: an unknown maximum is never left to the default (which forced a wipe when
// the device had 5): get emits what it can prove, and the plan of that output does not compare.
TEST(ManifestEmit, UnknownRetryMaximumNeverForcesAReinitialization) {
  ObservedPico o = initialized_pico();
  o.pin_retries_max.reset();
  o.user_pin.tries_left = 5;
  std::string text;
  auto m = round_trip(o, "unknown", &text);
  EXPECT_EQ(m.spec.pin_retries, 5) << text;
  EXPECT_THAT(text, HasSubstr("pinRetries: 5  # at least this"));
  auto p = families::schsm_engine::make_plan(
      m, o,
      {families::schsm_engine::CredentialKnowledge::kMatchesDesired,
       families::schsm_engine::CredentialKnowledge::kMatchesDesired});
  EXPECT_FALSE(p.needs_reinit()) << plan::render_text({p}, false);

  // The maximum the store recorded wins over the counter.
  EmitContext ctx;
  ctx.recorded_pin_retries = 7;
  o.user_pin.tries_left = 6;
  text = emit_pico_manifest(o, "recorded", ctx);
  EXPECT_THAT(text, HasSubstr("pinRetries: 7  # recorded by hsmctl"));
}

TEST(ManifestEmit, StoreReferencesLabelsAndSchemaLine) {
  EmitContext ctx;
  ctx.user_pin_ref = "store:pico:E6614C311B4A2B21/user-pin";
  ctx.so_pin_ref = "store:pico:E6614C311B4A2B21/so-pin";
  ctx.labels["hsmctl.dev/firmware"] = "6.6";
  std::string yaml = emit_pico_manifest(initialized_pico(), "root-ca", ctx);
  EXPECT_EQ(yaml.rfind("# yaml-language-server: $schema=https://hsmctl.dev/schemas/", 0), 0u)
      << yaml;
  hsmctl::testing::TypedLoad r = hsmctl::testing::load_typed_text(yaml, "emitted.yaml");
  ASSERT_TRUE(r.ok()) << all_errors(r) << "\n" << yaml;
  const auto& m = r.pico_hsms.at(0);
  EXPECT_EQ(m.spec.user_pin->display(), "store:pico:E6614C311B4A2B21/user-pin");
  EXPECT_EQ(m.spec.so_pin->display(), "store:pico:E6614C311B4A2B21/so-pin");
  EXPECT_EQ(m.metadata.labels.at("hsmctl.dev/firmware"), "6.6");
  EXPECT_THAT(yaml, Not(HasSubstr("CHANGE_ME")));
}

// Issue 11: the device certificate is a comment: it loads back, and pins nothing.
TEST(ManifestEmit, DeviceCertificateIsACommentThatPinsNothing) {
  EmitContext ctx;
  ctx.device_certificate = model::DeviceCertificateInfo{"ESPICOHSMTR00001", "ESPICOHSMDV00001",
                                                        "2023-03-21", "", std::string(64, 'a')};
  ObservedPico o = initialized_pico();
  const std::string yaml = emit_pico_manifest(o, "pinned", ctx);
  EXPECT_THAT(yaml, HasSubstr("\n# Device certificate (EF 2F02): ESPICOHSMTR00001 issued by "
                              "ESPICOHSMDV00001, valid 2023-03-21..?\n"));
  EXPECT_THAT(yaml, HasSubstr("\n# Device key fingerprint: " + std::string(64, 'a') + "\n"));
  EXPECT_THAT(yaml, HasSubstr("attestation: {fingerprint: \"" + std::string(64, 'a') + "\"}"));
  hsmctl::testing::TypedLoad r = hsmctl::testing::load_typed_text(yaml, "emitted.yaml");
  ASSERT_TRUE(r.ok()) << all_errors(r) << "\n" << yaml;
  EXPECT_FALSE(r.pico_hsms.at(0).spec.device.attestation.has_value()) << yaml;

  EmitContext none;
  none.device_certificate_note = "none (EF 2F02 is absent)";
  EXPECT_THAT(emit_pico_manifest(o, "none", none),
              HasSubstr("\n# Device certificate (EF 2F02): none (EF 2F02 is absent)\n"));
  EXPECT_THAT(emit_pico_manifest(o, "unread"), Not(HasSubstr("Device certificate")));
}

TEST(ManifestEmit, FreshDeviceGetsTheManifestDefaults) {
  ObservedPico fresh;
  fresh.serial = "0011223344556677";
  std::string text;
  auto m = round_trip(fresh, "fresh", &text);
  const model::PicoHsmSpec defaults;
  EXPECT_EQ(m.spec.reset_retry_counter.enabled, defaults.reset_retry_counter.enabled) << text;
  EXPECT_TRUE(m.spec.reset_retry_counter.enabled);
  EXPECT_EQ(m.spec.pin_retries, defaults.pin_retries);
  EXPECT_EQ(m.spec.init_options(), defaults.init_options());
}

TEST(ManifestEmit, QuotingIsTheEmittersAndRoundTrips) {
  ObservedPico o = initialized_pico();
  o.serial.clear();
  o.transport = "pcsc:Reader: \"x\" # 'y' \\ 00 00";
  auto m = round_trip(o, "q");
  EXPECT_EQ(m.spec.device.reader, "Reader: \"x\" # 'y' \\ 00 00");
}

TEST(ManifestEmit, TransportPinIsAcknowledgedSoItLoads) {
  ObservedPico o = initialized_pico();
  o.options |= model::kOptTransportPin;
  auto m = round_trip(o, "transport");
  EXPECT_TRUE(m.spec.transport_pin);
  EXPECT_TRUE(m.spec.acknowledge.transport_pin_lockout);
}

TEST(ManifestEmit, NoSerialSelectsByReaderAndNamesAreSanitised) {
  ObservedPico o = initialized_pico();
  o.serial.clear();
  o.transport = "pcsc:Pico \"HSM\" 00 00";
  auto m = round_trip(o, "Root CA #1");
  EXPECT_EQ(m.metadata.name, "root-ca--1");
  EXPECT_EQ(m.spec.device.reader, "Pico \"HSM\" 00 00");

  ObservedPico fresh;
  fresh.serial = "0011223344556677";
  auto f = round_trip(fresh, "");
  EXPECT_EQ(f.metadata.name, "pico-hsm-0011223344556677");
}

}  // namespace
}  // namespace hsmctl::manifest
