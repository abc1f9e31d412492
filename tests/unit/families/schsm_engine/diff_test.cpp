// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/families/schsm_engine/diff.hpp"

#include "hsmctl/model/options.hpp"
#include "hsmctl/plan/plan.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hsmctl::plan {
namespace {

namespace kind = families::schsm_engine::kind;
using families::schsm_engine::CredentialFacts;
using families::schsm_engine::CredentialKnowledge;
using families::schsm_engine::InitializePayload;
using families::schsm_engine::KeyDomainPayload;
using families::schsm_engine::make_plan;
using model::KeyDomainStatus;
using model::ObservedPico;
using model::PicoHsmManifest;
using model::PinStatus;
using ::testing::HasSubstr;
using K = CredentialKnowledge;

PicoHsmManifest manifest() {
  PicoHsmManifest m;
  m.metadata.name = "root-ca";
  m.spec.device.serial = "E6614C311B4A2B21";
  m.spec.user_pin = model::SecretRef{model::SecretRef::Kind::kEnv, "PIN", {}};
  m.spec.so_pin = model::SecretRef{model::SecretRef::Kind::kEnv, "SO", {}};
  return m;
}

ObservedPico fresh() {
  ObservedPico o;
  o.serial = "E6614C311B4A2B21";
  o.transport = "sim:test";
  o.is_pico = true;
  o.firmware_major = 6;
  o.firmware_minor = 6;
  o.initialized = false;
  o.user_pin.state = PinStatus::State::kNotInitialized;
  o.so_pin.state = PinStatus::State::kNotInitialized;
  return o;
}

/// A device initialized exactly as manifest() asks (options 0001, 3 retries, no DKEK).
ObservedPico matching() {
  ObservedPico o = fresh();
  o.initialized = true;
  o.options = model::kOptResetRetryCounter;
  o.user_pin = {PinStatus::State::kTriesLeft, 3};
  o.so_pin = {PinStatus::State::kTriesLeft, 15};
  o.pin_retries_max = 3;
  o.user_pin_check.check = model::CredentialCheck::kMatches;
  o.so_pin_check.check = model::CredentialCheck::kMatches;
  KeyDomainStatus d0;
  d0.set_up = true;
  o.key_domains.push_back(d0);
  return o;
}

CredentialFacts both_match() {
  return {K::kMatchesDesired, K::kMatchesDesired};
}

const Action* find(const DevicePlan& p, std::string_view kind_name) {
  for (const auto& a : p.actions) {
    if (a.kind == kind_name)
      return &a;
  }
  return nullptr;
}

TEST(PlanDiff, FreshDeviceIsInitializedNotReinitialized) {
  auto p = make_plan(manifest(), fresh(), {});
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].kind, kind::kInitialize);
  EXPECT_EQ(p.actions[0].action_class, ActionClass::kCreate);
  EXPECT_FALSE(p.needs_reinit());
  EXPECT_TRUE(p.has_changes());
}

TEST(PlanDiff, MatchingDeviceHasNoChanges) {
  auto p = make_plan(manifest(), matching(), both_match());
  EXPECT_TRUE(p.actions.empty()) << render_text({p}, false);
  EXPECT_FALSE(p.has_changes());
}

TEST(PlanDiff, PinRetriesChangeForcesReinitAndNamesTheField) {
  auto m = manifest();
  m.spec.pin_retries = 5;
  auto p = make_plan(m, matching(), both_match());
  ASSERT_TRUE(p.needs_reinit());
  const Action* init = find(p, kind::kInitialize);
  ASSERT_NE(init, nullptr);
  EXPECT_EQ(init->action_class, ActionClass::kReinitialize);
  EXPECT_THAT(init->reason, HasSubstr("spec.pinRetries"));
  bool found = false;
  for (const auto& c : init->changes) {
    if (c.path == "spec.pinRetries") {
      found = true;
      EXPECT_TRUE(c.forces_reinit);
      EXPECT_EQ(c.before, "3");
      EXPECT_EQ(c.after, "5");
    }
  }
  EXPECT_TRUE(found);
}

TEST(PlanDiff, UnknownRetryMaxIsInferredOnlyWhenCounterExceedsDesired) {
  auto o = matching();
  o.pin_retries_max.reset();
  o.user_pin = {PinStatus::State::kTriesLeft, 5};
  auto p = make_plan(manifest(), o, both_match());
  EXPECT_TRUE(p.needs_reinit()) << "5 tries left proves the maximum is not 3";

  o.user_pin = {PinStatus::State::kTriesLeft, 2};
  p = make_plan(manifest(), o, both_match());
  EXPECT_FALSE(p.needs_reinit());
  ASSERT_FALSE(p.notes.empty());
  EXPECT_THAT(p.notes[0], HasSubstr("cannot be read"));
}

TEST(PlanDiff, EveryInitOnlyOptionForcesReinit) {
  struct Case {
    void (*mutate)(PicoHsmManifest&);
    const char* path;
  };
  const Case cases[] = {
      {[](PicoHsmManifest& m) { m.spec.reset_retry_counter.enabled = false; },
       "spec.resetRetryCounter.enabled"},
      {[](PicoHsmManifest& m) { m.spec.reset_retry_counter.only_resets_counter = true; },
       "spec.resetRetryCounter.onlyResetsCounter"},
      {[](PicoHsmManifest& m) { m.spec.transport_pin = true; }, "spec.transportPin"},
      {[](PicoHsmManifest& m) { m.spec.dkek_shares = 2; }, "spec.dkekShares"},
      {[](PicoHsmManifest& m) { m.spec.key_domains.resize(2); }, "spec.keyDomains"},
      {[](PicoHsmManifest& m) {
         m.spec.public_key_auth = model::PublicKeyAuth{2, 1, false, false};
       },
       "spec.publicKeyAuth"},
  };
  for (const auto& c : cases) {
    auto m = manifest();
    c.mutate(m);
    auto p = make_plan(m, matching(), both_match());
    ASSERT_TRUE(p.needs_reinit()) << c.path;
    EXPECT_THAT(find(p, kind::kInitialize)->reason, HasSubstr(c.path));
  }
}

TEST(PlanDiff, ReinitListsKeysThatWouldBeLost) {
  auto m = manifest();
  m.spec.pin_retries = 5;
  auto o = matching();
  o.key_count = 2;
  o.device_certificate_pki = true;
  auto p = make_plan(m, o, {K::kUnchecked, K::kUnchecked});
  const Action* init = find(p, kind::kInitialize);
  ASSERT_NE(init, nullptr);
  std::string lost;
  for (const auto& l : init->would_lose)
    lost += l + ";";
  EXPECT_THAT(lost, HasSubstr("2 private key(s)"));
  EXPECT_THAT(lost, HasSubstr("PKI-issued device certificate"));

  // With a verified current PIN, apply logs in first and the certificate survives.
  p = make_plan(m, o, both_match());
  lost.clear();
  for (const auto& l : find(p, kind::kInitialize)->would_lose)
    lost += l + ";";
  EXPECT_THAT(lost, ::testing::Not(HasSubstr("device certificate")));
}

TEST(PlanDiff, KnownOldPinsAreChangedInPlace) {
  auto p = make_plan(manifest(), matching(), {K::kKnownOther, K::kKnownOther});
  ASSERT_EQ(p.actions.size(), 2u);
  EXPECT_EQ(p.actions[0].kind, kind::kChangeSoPin);
  EXPECT_EQ(p.actions[1].kind, kind::kChangeUserPin);
  for (const auto& a : p.actions) {
    EXPECT_EQ(a.action_class, ActionClass::kUpdate);
    for (const auto& c : a.changes)
      EXPECT_THAT(c.after, HasSubstr("sensitive"));
  }
}

TEST(PlanDiff, UnknownUserPinIsResetWithSoPinWhenRrcEnabled) {
  auto p = make_plan(manifest(), matching(), {K::kMismatchUnknown, K::kMatchesDesired});
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].kind, kind::kResetUserPin);

  auto o = matching();
  o.options = 0;  // RRC disabled
  auto m = manifest();
  m.spec.reset_retry_counter.enabled = false;
  p = make_plan(m, o, {K::kMismatchUnknown, K::kMatchesDesired});
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].action_class, ActionClass::kBlocked);
  EXPECT_THAT(p.actions[0].reason, HasSubstr("reset-retry-counter is disabled"));
  EXPECT_FALSE(p.has_changes());
}

TEST(PlanDiff, UnknownSoPinIsBlockedWithAdvice) {
  auto p = make_plan(manifest(), matching(), {K::kMatchesDesired, K::kMismatchUnknown});
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].action_class, ActionClass::kBlocked);
  EXPECT_THAT(p.actions[0].reason, HasSubstr("hsmctl store set pico:E6614C311B4A2B21/so-pin"));
}

TEST(PlanDiff, KeyDomainsAreSetUpInPlaceAfterTheCountMatches) {
  auto m = manifest();
  m.spec.key_domains = {model::KeyDomain{2}, model::KeyDomain{0}, model::KeyDomain{}};
  auto o = matching();
  o.key_domains.assign(3, KeyDomainStatus{});  // three domains, none set up
  for (int i = 0; i < 3; ++i)
    o.key_domains[static_cast<std::size_t>(i)].index = i;
  auto p = make_plan(m, o, both_match());
  ASSERT_EQ(p.actions.size(), 2u) << render_text({p}, false);
  EXPECT_EQ(p.actions[0].kind, kind::kSetupKeyDomain);
  const auto* d0 = std::any_cast<KeyDomainPayload>(&p.actions[0].payload);
  const auto* d1 = std::any_cast<KeyDomainPayload>(&p.actions[1].payload);
  ASSERT_NE(d0, nullptr);
  ASSERT_NE(d1, nullptr);
  EXPECT_EQ(d0->index, 0);
  EXPECT_EQ(d0->shares, 2);
  EXPECT_EQ(d1->index, 1);
  EXPECT_EQ(d1->shares, 0);

  // Once set up (a domain set up with 0 shares reads as total 0, the firmware's no-DKEK form),
  // nothing is left to do.
  o.key_domains[0].set_up = true;
  o.key_domains[0].total_shares = 2;
  o.key_domains[1].set_up = true;
  o.key_domains[1].total_shares = 0;
  o.key_domains[1].outstanding_shares = 0;
  p = make_plan(m, o, both_match());
  EXPECT_TRUE(p.actions.empty()) << render_text({p}, false);
}

TEST(PlanDiff, KeyDomainStepsNeedTheUserPin) {
  auto m = manifest();
  m.spec.key_domains = {model::KeyDomain{2}};
  auto o = matching();
  o.key_domains[0].set_up = false;
  // With the SO PIN known, RESET RETRY COUNTER makes the user PIN known first.
  auto p = make_plan(m, o, {K::kUnchecked, K::kMatchesDesired});
  EXPECT_EQ(p.actions.at(0).kind, kind::kResetUserPin);
  EXPECT_EQ(p.actions.at(1).kind, kind::kSetupKeyDomain);
  p = make_plan(m, o, {K::kUnchecked, K::kUnchecked});
  bool blocked_domain = false;
  for (const auto& a : p.actions) {
    if (a.action_class == ActionClass::kBlocked &&
        a.summary.find("key domain") != std::string::npos) {
      blocked_domain = true;
    }
  }
  EXPECT_TRUE(blocked_domain) << render_text({p}, false);
}

TEST(PlanDiff, DynamicOptionsChangeInPlace) {
  auto m = manifest();
  m.spec.options.key_usage_counter = true;
  auto p = make_plan(m, matching(), both_match());
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].kind, kind::kSetDynamicOptions);
  EXPECT_EQ(p.actions[0].action_class, ActionClass::kUpdate);
  EXPECT_FALSE(p.needs_reinit());
}

TEST(PlanDiff, SecureLockBlocksReinit) {
  auto m = manifest();
  m.spec.pin_retries = 5;
  auto o = matching();
  o.options |= model::kOptSecureLock;
  auto p = make_plan(m, o, both_match());
  EXPECT_FALSE(p.needs_reinit());
  EXPECT_TRUE(p.has_blocked());
}

// Issue 11: spec.options.secureLock is compared, never changed: a difference is blocked with
// what to run instead; agreement (or no field) plans nothing.
TEST(PlanDiff, SecureLockIsCheckedNeverChanged) {
  auto m = manifest();
  m.spec.options.secure_lock = true;
  auto p = make_plan(m, matching(), both_match());
  ASSERT_TRUE(p.has_blocked());
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].summary,
            "secure lock: the manifest asks for it on, the device has it off; hsmctl does not "
            "change it");
  EXPECT_NE(p.actions[0].reason.find("pico-hsm-tool.py secure enable"), std::string::npos);
  ASSERT_EQ(p.actions[0].changes.size(), 1u);
  EXPECT_EQ(p.actions[0].changes[0].path, "spec.options.secureLock");

  auto locked = matching();
  locked.options |= model::kOptSecureLock;
  EXPECT_FALSE(make_plan(m, locked, both_match()).has_changes());
  EXPECT_FALSE(make_plan(m, locked, both_match()).has_blocked());
  m.spec.options.secure_lock = false;
  auto off = make_plan(m, locked, both_match());
  ASSERT_TRUE(off.has_blocked());
  EXPECT_NE(off.actions[0].reason.find("pico-hsm-tool.py secure disable"), std::string::npos);
  m.spec.options.secure_lock.reset();
  EXPECT_FALSE(make_plan(m, matching(), both_match()).has_blocked());
}

// Issue 8 item 3: the firmware reports a domain set up with zero shares as total 0 (no DKEK);
// {dkekShares: 0} must match it, not be deleted and set up again on every apply.
TEST(PlanDiff, KeyDomainWithoutDkekConverges) {
  auto m = manifest();
  m.spec.key_domains = {model::KeyDomain{2}, model::KeyDomain{0}, model::KeyDomain{}};
  ObservedPico o = matching();
  o.key_domains.clear();
  KeyDomainStatus d0, d1, d2;
  d0.index = 0, d0.set_up = true, d0.total_shares = 2, d0.outstanding_shares = 0;
  d1.index = 1, d1.set_up = true, d1.total_shares = 0, d1.outstanding_shares = 0;
  d2.index = 2, d2.set_up = false;
  o.key_domains = {d0, d1, d2};
  auto p = make_plan(m, o, both_match());
  EXPECT_TRUE(p.actions.empty()) << render_text({p}, false);
}

// Issue 8 item 3: INITIALIZE writes the whole options word; a re-initialization carries the
// manifest's Pico options (not the device's) and the plan shows them.
TEST(PlanDiff, ReinitCarriesTheManifestsOptionsAndShowsThem) {
  auto m = manifest();
  m.spec.pin_retries = 5;  // forces the re-initialization
  ObservedPico o = matching();
  o.options = model::kOptResetRetryCounter | model::kOptPressToConfirm | model::kOptKeyUsageCounter;
  auto p = make_plan(m, o, both_match());
  const Action* init = find(p, kind::kInitialize);
  ASSERT_NE(init, nullptr);
  ASSERT_NE(std::any_cast<InitializePayload>(&init->payload), nullptr);
  EXPECT_EQ(std::any_cast<InitializePayload>(init->payload).options, model::kOptResetRetryCounter);
  EXPECT_EQ(find(p, kind::kSetDynamicOptions), nullptr) << "INITIALIZE already sets them";
  const std::string text = render_text({p}, false);
  EXPECT_THAT(text, HasSubstr("spec.options.pressToConfirm: true -> false"));
  EXPECT_THAT(text, HasSubstr("spec.options.keyUsageCounter: true -> false"));
  EXPECT_THAT(render_json({p}), HasSubstr("\"options\": \"0001\""));

  // A first initialization sets them in the same command.
  m.spec.options.key_usage_counter = true;
  p = make_plan(m, fresh(), {});
  init = find(p, kind::kInitialize);
  ASSERT_NE(init, nullptr);
  ASSERT_NE(std::any_cast<InitializePayload>(&init->payload), nullptr);
  EXPECT_EQ(std::any_cast<InitializePayload>(init->payload).options,
            model::kOptResetRetryCounter | model::kOptKeyUsageCounter);
  EXPECT_EQ(find(p, kind::kSetDynamicOptions), nullptr);
  EXPECT_THAT(render_text({p}, false), HasSubstr("spec.options.keyUsageCounter: (absent) -> true"));
}

// Issue 8 item 3: after one typo (63C2 of 3) hsmctl does not try a value; the step it plans
// resets the counter, it does not claim the PIN "will change".
TEST(PlanDiff, UserTypoPlansACounterResetNotAPinChange) {
  ObservedPico o = matching();
  o.user_pin = {PinStatus::State::kTriesLeft, 2};
  o.pin_retries_max.reset();
  o.user_pin_check.check = model::CredentialCheck::kSkippedUnsafe;
  auto p = make_plan(manifest(), o, {K::kUnchecked, K::kMatchesDesired});
  const Action* a = find(p, kind::kResetUserPin);
  ASSERT_NE(a, nullptr) << render_text({p}, false);
  EXPECT_THAT(a->summary, HasSubstr("reset the user PIN retry counter"));
  const std::string text = render_text({p}, false);
  EXPECT_THAT(text, ::testing::Not(HasSubstr("will change")));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("set user PIN")));
}

// Issue 8 item 4: "the device accepted" only after a VERIFY in this run.
TEST(PlanDiff, AcceptedIsSaidOnlyAfterAVerifyInThisRun) {
  CredentialFacts f{K::kKnownOther, K::kMatchesDesired};
  f.user_pin_verified = false;  // inferred from an interrupted change
  auto p = make_plan(manifest(), matching(), f);
  const Action* a = find(p, kind::kChangeUserPin);
  ASSERT_NE(a, nullptr);
  EXPECT_THAT(a->reason, ::testing::Not(HasSubstr("accepted")));
  EXPECT_THAT(a->reason, HasSubstr("not verified in this run"));
  f.user_pin_verified = true;
  p = make_plan(manifest(), matching(), f);
  a = find(p, kind::kChangeUserPin);
  ASSERT_NE(a, nullptr);
  EXPECT_THAT(a->reason, HasSubstr("the device accepted the user PIN"));
}

// Issue 8 item 4: shares still to import and PKA keys still to register are shown, never
// "matches", and are neither changes nor blocked.
TEST(PlanDiff, PendingDkekImportAndPkaRegistrationAreShown) {
  auto m = manifest();
  m.spec.dkek_shares = 2;
  m.spec.public_key_auth = model::PublicKeyAuth{3, 2, false, false};
  ObservedPico o = matching();
  o.key_domains[0].total_shares = 2;
  o.key_domains[0].outstanding_shares = 2;
  o.pka = model::PkaStatus{3, 3, 2, 0};
  auto p = make_plan(m, o, both_match());
  EXPECT_TRUE(p.actions.empty()) << render_text({p}, false);
  EXPECT_FALSE(p.has_changes());
  EXPECT_FALSE(p.has_blocked());
  ASSERT_EQ(p.pending.size(), 2u);
  const std::string text = render_text({p}, false);
  EXPECT_THAT(text, HasSubstr("DKEK import pending"));
  EXPECT_THAT(text, HasSubstr("still misses 2 of 2 share(s)"));
  EXPECT_THAT(text, HasSubstr("3 of 3 key(s) still to register"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("matches the manifest.")));
  EXPECT_THAT(render_json({p}), HasSubstr("\"pending\""));
}

TEST(PlanRender, TextShowsSymbolsSummaryAndNoColorWhenAsked) {
  auto m = manifest();
  m.spec.pin_retries = 5;
  auto text = render_text({make_plan(m, matching(), both_match())}, false);
  EXPECT_THAT(text, HasSubstr("-/+ re-initialize the device"));
  EXPECT_THAT(text, HasSubstr("spec.pinRetries: 3 -> 5"));
  EXPECT_THAT(text, HasSubstr("forces re-initialization"));
  EXPECT_THAT(text, HasSubstr("Plan: 0 to create, 0 to change in place, 1 to re-initialize"));
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  auto colored = render_text({make_plan(m, matching(), both_match())}, true);
  EXPECT_NE(colored.find('\x1b'), std::string::npos);
}

TEST(PlanRender, NoChangesLine) {
  auto text = render_text({make_plan(manifest(), matching(), both_match())}, false);
  EXPECT_THAT(text, HasSubstr("No changes."));
}

TEST(PlanRender, JsonCarriesClassesAndNeverValues) {
  auto json = render_json({make_plan(manifest(), fresh(), {})});
  EXPECT_THAT(json, HasSubstr("\"class\": \"create\""));
  EXPECT_THAT(json, HasSubstr("\"kind\": \"initialize\""));
  EXPECT_THAT(json, HasSubstr("(sensitive)"));
  EXPECT_THAT(json, HasSubstr("\"format_version\": \"hsmctl.dev/plan/v1alpha1\""));
}

}  // namespace
}  // namespace hsmctl::plan
