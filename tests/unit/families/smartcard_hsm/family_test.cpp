// SPDX-License-Identifier: Apache-2.0
// The SmartCard-HSM / Nitrokey HSM 2 family (kind SmartCardHSM, families/smartcard_hsm/): its
// schema refuses the Pico's own fields with file:line, a device created on the simulator's
// SmartCard-HSM flavour converges (create, apply, plan "No changes"), and the safety rules of a
// device whose SO PIN can neither log in nor get its tries back hold end to end: no VERIFY of
// the SO PIN with data and no INS 64 ever, SO PIN rotation and re-initialization only with the
// store's value, a rejected value recorded and never resent, a Pico HSM refused.

#include "hsmctl/families/smartcard_hsm/family.hpp"

#include "support/plan_schema.hpp"

#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/device/sim/sim_state.hpp"
#include "hsmctl/families/load.hpp"
#include "hsmctl/families/registry.hpp"
#include "hsmctl/families/schsm_engine/engine.hpp"
#include "hsmctl/store/ephemeral_keeper.hpp"
#include "hsmctl/util/bytes.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

namespace hsmctl::families::smartcard_hsm {
namespace {

using ::testing::HasSubstr;

constexpr const char* kSerial = "0A0B0C0D0E0F1011";
constexpr const char* kPin = "24681357";
constexpr const char* kSo = "1357913579135791";
constexpr const char* kNewSo = "2468024680246802";
constexpr const char* kSimFile = "schsm.json";

/// A SmartCardHSM document; `extra` is appended to spec (two-space indented lines).
std::string document(const std::string& extra = "", const char* so_env = "SC_FAMILY_SO") {
  return "apiVersion: hsmctl.dev/v1alpha1\n"
         "kind: SmartCardHSM\n"
         "metadata:\n"
         "  name: nk-1\n"
         "spec:\n"
         "  device:\n"
         "    serial: \"" +
         std::string(kSerial) +
         "\"\n"
         "  userPin: {secret: env:SC_FAMILY_PIN}\n"
         "  soPin: {secret: env:" +
         so_env + "}\n" + extra;
}

void set_secrets(const char* so = kSo) {
  setenv("SC_FAMILY_PIN", kPin, 1);
  setenv("SC_FAMILY_SO", so, 1);
}

/// The SmartCard-HSM flavour simulator in a state file, as `--device sim:FILE` opens it.
/// A fresh file each time: the tests of one process share the working directory.
void create_sim(device::sim::SimFlavour flavour = device::sim::SimFlavour::kSmartCardHsm) {
  std::filesystem::remove(kSimFile);
  auto card = device::sim::SimCard::open_file(kSimFile, kSerial, flavour);
  ASSERT_TRUE(card) << card.error().to_string();
}

device::sim::SimState sim_state() {
  auto card = device::sim::SimCard::open_file(kSimFile);
  EXPECT_TRUE(card) << card.error().to_string();
  return card ? (*card)->state() : device::sim::SimState{};
}

std::unique_ptr<family::Unit> the_unit(const std::string& text) {
  auto loaded = families::load_text(text, "nk.yaml");
  EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0].to_string());
  EXPECT_EQ(loaded.units.size(), 1u);
  return loaded.units.empty() ? nullptr : std::move(loaded.units[0]);
}

struct Runner {
  store::CredentialKeeper& keeper;
  family::Options options;

  Result<std::unique_ptr<family::PreparedUnit>> plan(family::Unit& unit) {
    family::RunContext ctx{keeper, options, std::string("sim:") + kSimFile};
    return unit.prepare(ctx);
  }
  Result<family::ExecReport> apply(family::Unit& unit) {
    HSMCTL_TRY_ASSIGN(auto prepared, plan(unit));
    HSMCTL_TRY(prepared->check_guards(options));
    family::RunContext ctx{keeper, options, std::string("sim:") + kSimFile};
    return prepared->execute(ctx, [](const std::string&) {});
  }
};

std::string text(const plan::DevicePlan& p) {
  return plan::render_text({p}, false);
}

/// "" when the JSON plan of `p` conforms to schemas/plan.v1alpha1.schema.json.
std::string json_plan_errors(const plan::DevicePlan& p) {
  const std::vector<plan::DevicePlan> plans{p};
  return hsmctl::testing::plan_schema_errors(plan::render_json(plans));
}

TEST(SmartCardHsmFamily, IsRegisteredAfterPicoAndPrimusWithItsOwnKind) {
  std::vector<std::string> ids;
  for (const family::Family* f : families())
    ids.emplace_back(f->id());
  EXPECT_EQ(ids, (std::vector<std::string>{"pico", "primus", "smartcard-hsm"}));
  const auto kinds = family().kinds();
  ASSERT_EQ(kinds.size(), 1u);
  EXPECT_EQ(kinds[0].kind, "SmartCardHSM");
  EXPECT_THAT(std::string(kinds[0].schema_json), HasSubstr("\"const\": \"SmartCardHSM\""));
  EXPECT_TRUE(kinds[0].device_uri);
}

TEST(SmartCardHsmFamily, PicoOnlyFieldsAreRejectedWithFileAndLine) {
  struct Case {
    std::string extra;
    int line;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"  options:\n    pressToConfirm: true\n", 10, "options"},
      {"  acknowledge:\n    transportPinNeverClears: true\n", 10, "acknowledge"},
      {"  transportPin: true\n", 10, "transportPin"},
      {"  keyDomains:\n  - dkekShares: 0\n", 11, "dkekShares"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.extra);
    auto loaded = families::load_text(document(c.extra), "nk.yaml");
    ASSERT_FALSE(loaded.ok());
    std::string all;
    for (const auto& e : loaded.errors)
      all += e.to_string() + "\n";
    ASSERT_EQ(loaded.errors.size(), 1u) << all;
    const Error& e = loaded.errors[0];
    ASSERT_TRUE(e.where);
    EXPECT_EQ(e.where->file, "nk.yaml");
    EXPECT_EQ(e.where->line, c.line) << e.to_string();
    EXPECT_THAT(e.to_string(), HasSubstr(c.field));
    EXPECT_TRUE(loaded.units.empty());
  }
  // The same fields are fine for a PicoHSM.
  std::string pico = document("  options:\n    pressToConfirm: false\n");
  pico.replace(pico.find("SmartCardHSM"), 12, "PicoHSM");
  EXPECT_TRUE(families::load_text(pico, "pico.yaml").ok());
}

TEST(SmartCardHsmFamily, ExamplesLoad) {
  auto loaded = families::load({std::string(HSMCTL_SOURCE_DIR) + "/examples/smartcard-hsm"});
  ASSERT_TRUE(loaded.ok()) << loaded.errors[0].to_string();
  EXPECT_GE(loaded.units.size(), 1u);
}

TEST(SmartCardHsmFamily, CreateApplyThenNoChangesOnTheSimulator) {
  create_sim();
  set_secrets();
  store::EphemeralKeeper keeper;
  Runner run{keeper, {}};
  auto unit = the_unit(document());
  ASSERT_TRUE(unit);
  auto first = run.plan(*unit);
  ASSERT_TRUE(first) << first.error().to_string();
  EXPECT_EQ((*first)->plan().actions.size(), 1u) << text((*first)->plan());
  EXPECT_EQ(json_plan_errors((*first)->plan()), "");
  first->reset();  // releases the card

  auto applied = run.apply(*unit);
  ASSERT_TRUE(applied) << applied.error().to_string();
  EXPECT_EQ(applied->steps_done, 1);

  auto again = run.plan(*unit);
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_THAT(text((*again)->plan()), HasSubstr("No changes."));
  EXPECT_EQ(json_plan_errors((*again)->plan()), "");
  again->reset();

  const auto st = sim_state();
  EXPECT_EQ(st.persistent.so_verify_attempts, 0);
  EXPECT_EQ(st.persistent.so.retries, 15);
  // The store keeps it under its own prefix.
  auto so = keeper.current({"smartcard-hsm:" + std::string(kSerial), "so-pin"});
  ASSERT_TRUE(so && *so);
  auto pico = keeper.current({"pico:" + std::string(kSerial), "so-pin"});
  ASSERT_TRUE(pico);
  EXPECT_FALSE(*pico);
}

/// Borrows the card and records every APDU.
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

model::PicoHsmManifest model_of(const char* so_env) {
  model::PicoHsmManifest m;
  m.metadata.name = "nk-1";
  m.spec.device.serial = kSerial;
  m.spec.user_pin = model::SecretRef{model::SecretRef::Kind::kEnv, "SC_FAMILY_PIN", {}};
  m.spec.so_pin = model::SecretRef{model::SecretRef::Kind::kEnv, so_env, {}};
  return m;
}

TEST(SmartCardHsmFamily, NoSoVerifyWithDataNorExtrasInAnyPlanOrApply) {
  set_secrets();
  setenv("SC_FAMILY_NEW_SO", kNewSo, 1);
  auto card =
      device::sim::SimCard::create_in_memory(kSerial, device::sim::SimFlavour::kSmartCardHsm);
  std::vector<Bytes> sent;
  store::EphemeralKeeper keeper;
  namespace engine = schsm_engine;
  auto cycle = [&](const model::PicoHsmManifest& m, bool reinit) {
    auto p = engine::prepare(m, std::make_unique<Recording>(*card, sent), keeper, capabilities());
    ASSERT_TRUE(p) << p.error().to_string();
    engine::ApplyOptions o;
    o.allow_reinit = reinit;
    auto r = engine::execute(*p, o, keeper, [](const std::string&) {});
    ASSERT_TRUE(r) << r.error().to_string();
  };
  cycle(model_of("SC_FAMILY_SO"), false);      // create
  cycle(model_of("SC_FAMILY_SO"), false);      // no changes
  cycle(model_of("SC_FAMILY_NEW_SO"), false);  // SO PIN rotation: CHANGE 88 with the stored value
  auto m = model_of("SC_FAMILY_SO");
  m.spec.pin_retries = 5;
  cycle(m, true);  // re-initialization with the stored SO PIN, then CHANGE 88 back
  cycle(m, false);
  int changes = 0, inits = 0;
  for (const auto& c : sent) {
    EXPECT_FALSE(c.size() > 4 && c[0] == 0x00 && c[1] == 0x20 && c[3] == 0x88) << to_hex(c);
    EXPECT_FALSE(c.size() >= 2 && c[1] == 0x64) << to_hex(c);
    changes += c.size() > 4 && c[1] == 0x24 && c[3] == 0x88 ? 1 : 0;
    inits += c.size() > 5 && c[0] == 0x80 && c[1] == 0x50 ? 1 : 0;
  }
  EXPECT_EQ(changes, 2);
  EXPECT_EQ(inits, 2);
  EXPECT_EQ(card->state().persistent.so_verify_attempts, 0);
  EXPECT_EQ(card->state().persistent.so.retries, 15);
}

TEST(SmartCardHsmFamily, SoRotationOnlyWithAStoredValue) {
  create_sim();
  set_secrets();
  store::EphemeralKeeper keeper;
  Runner run{keeper, {}};
  auto unit = the_unit(document());
  ASSERT_TRUE(run.apply(*unit));

  setenv("SC_FAMILY_NEW_SO", kNewSo, 1);
  auto rotate = the_unit(document("", "SC_FAMILY_NEW_SO"));
  store::EphemeralKeeper empty;
  Runner without{empty, {}};
  auto blocked = without.plan(*rotate);
  ASSERT_TRUE(blocked) << blocked.error().to_string();
  EXPECT_EQ((*blocked)->plan().status(), plan::DeviceStatus::kBlocked) << text((*blocked)->plan());
  EXPECT_THAT(text((*blocked)->plan()), HasSubstr("store set smartcard-hsm:"));
  blocked->reset();

  auto p = run.plan(*rotate);
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_THAT(text((*p)->plan()), HasSubstr("change SO PIN"));
  p->reset();
  ASSERT_TRUE(run.apply(*rotate));
  auto after = run.plan(*rotate);
  ASSERT_TRUE(after);
  EXPECT_THAT(text((*after)->plan()), HasSubstr("No changes."));
  after->reset();
  EXPECT_EQ(sim_state().persistent.so.retries, 15);
}

TEST(SmartCardHsmFamily, ARejectedSoPinIsRecordedAndNeverResent) {
  create_sim();
  set_secrets();
  store::EphemeralKeeper keeper;
  Runner run{keeper, {}};
  ASSERT_TRUE(run.apply(*the_unit(document())));
  // The stored value is stale: someone else changed the SO PIN.
  ASSERT_TRUE(keeper.record_current({"smartcard-hsm:" + std::string(kSerial), "so-pin"},
                                    Secret(std::string("3131313131313131"))));
  setenv("SC_FAMILY_NEW_SO", kNewSo, 1);
  auto rotate = the_unit(document("", "SC_FAMILY_NEW_SO"));
  EXPECT_FALSE(run.apply(*rotate));
  EXPECT_EQ(sim_state().persistent.so.retries, 14);
  for (int i = 0; i < 2; ++i) {
    auto p = run.plan(*rotate);
    ASSERT_TRUE(p) << p.error().to_string();
    EXPECT_EQ((*p)->plan().status(), plan::DeviceStatus::kBlocked) << text((*p)->plan());
    EXPECT_THAT(text((*p)->plan()), HasSubstr("rejected in an earlier run"));
    p->reset();
    auto again = run.apply(*rotate);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->steps_done, 0);
  }
  EXPECT_EQ(sim_state().persistent.so.retries, 14);
}

TEST(SmartCardHsmFamily, ReinitializationIsBlockedWithoutAStoredSoPin) {
  create_sim();
  set_secrets();
  store::EphemeralKeeper keeper;
  Runner run{keeper, {}};
  ASSERT_TRUE(run.apply(*the_unit(document())));
  store::EphemeralKeeper empty;
  Runner without{empty, {}};
  without.options.values["allow-reinit"] = "true";
  without.options.values["allow-key-loss"] = "true";
  auto unit = the_unit(document("  resetRetryCounter: {enabled: false}\n"));
  auto p = without.plan(*unit);
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_FALSE((*p)->plan().needs_reinit()) << text((*p)->plan());
  EXPECT_THAT(text((*p)->plan()), HasSubstr("re-initialization needs the current SO PIN"));
  p->reset();
  auto r = without.apply(*unit);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->steps_done, 0);
  const auto st = sim_state();
  EXPECT_EQ(st.persistent.so.retries, 15);
  EXPECT_EQ(st.options(), 0x0001);  // not re-initialized
}

TEST(SmartCardHsmFamily, APicoHsmIsRefusedUseKindPicoHsm) {
  create_sim(device::sim::SimFlavour::kPicoHsm);
  set_secrets();
  store::EphemeralKeeper keeper;
  Runner run{keeper, {}};
  auto p = run.plan(*the_unit(document()));
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::kRefused);
  EXPECT_THAT(p.error().message, HasSubstr("use kind: PicoHSM"));
  EXPECT_FALSE(sim_state().persistent.so.length > 0);  // never initialized
}

}  // namespace
}  // namespace hsmctl::families::smartcard_hsm
