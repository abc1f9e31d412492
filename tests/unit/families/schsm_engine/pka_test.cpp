// SPDX-License-Identifier: Apache-2.0
// Public-key authentication with key files (issue 11): the plan names the keys to register
// before anything reaches the device, apply registers them (INS 54) in a user-PIN session, the
// next plan is in sync; a registered key the manifest does not list forces a re-initialization;
// a manifest without files, or a device with nothing registered, costs no slot read.

#include "../../device/schsm/pka_files.hpp"
#include "support/plan_schema.hpp"

#include "hsmctl/device/schsm/pka_request.hpp"
#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/device/sim/sim_state.hpp"
#include "hsmctl/families/schsm_engine/engine.hpp"
#include "hsmctl/store/ephemeral_keeper.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdlib.h>

#include <string>
#include <vector>

namespace hsmctl::families::schsm_engine {
namespace {

using ::testing::HasSubstr;

constexpr const char* kSerial = "0102030405060709";

model::PkaKeyFile key_file(const std::string& chr, int index) {
  auto parsed = device::schsm::parse_pka_file(hsmctl::testing::pka_file(chr));
  EXPECT_TRUE(parsed);
  model::PkaKeyFile f;
  f.file = "/custodians/" + chr + ".pka";
  f.field = "spec.publicKeyAuth.keys[" + std::to_string(index) + "]";
  f.chr = parsed->chr;
  f.chr_text = parsed->chr_text;
  f.request = parsed->request;
  return f;
}

class Pka : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("PKA_TEST_PIN", "24681357", 1);
    setenv("PKA_TEST_SO", "1357913579135791", 1);
  }

  /// total slots, and the custodians whose files the manifest lists (none: the integer form).
  static model::PicoHsmManifest manifest(int total, const std::vector<std::string>& chrs) {
    model::PicoHsmManifest m;
    m.metadata.name = "pka";
    m.spec.device.serial = kSerial;
    m.spec.user_pin = model::SecretRef{model::SecretRef::Kind::kEnv, "PKA_TEST_PIN", {}};
    m.spec.so_pin = model::SecretRef{model::SecretRef::Kind::kEnv, "PKA_TEST_SO", {}};
    model::PublicKeyAuth pka;
    pka.keys = total;
    pka.required = 1;
    for (std::size_t i = 0; i < chrs.size(); ++i)
      pka.key_files.push_back(key_file(chrs[i], static_cast<int>(i)));
    m.spec.public_key_auth = pka;
    return m;
  }

  /// Counts INS 54 P1=02 (slot reads) on the way to the card.
  class Counting final : public device::Transport {
   public:
    Counting(device::Transport& t, int& slot_reads, int& registers)
        : t_(t), slot_reads_(slot_reads), registers_(registers) {}
    Result<Bytes> transmit(ByteView c) override {
      if (c.size() >= 4 && c[0] == 0x80 && c[1] == 0x54) {
        if (c[2] == 0x02)
          ++slot_reads_;
        if (c[2] == 0x00 && c.size() > 5)
          ++registers_;
      }
      return t_.transmit(c);
    }
    std::string describe() const override { return t_.describe(); }

   private:
    device::Transport& t_;
    int& slot_reads_;
    int& registers_;
  };
  std::unique_ptr<device::Transport> card() {
    return std::make_unique<Counting>(*sim_, slot_reads_, registers_);
  }
  Result<PreparedDevice> plan(const model::PicoHsmManifest& m) {
    return prepare(m, card(), keeper_);
  }
  Result<ApplyReport> apply(const model::PicoHsmManifest& m, bool allow_reinit = false) {
    HSMCTL_TRY_ASSIGN(PreparedDevice p, prepare(m, card(), keeper_));
    ApplyOptions options;
    options.allow_reinit = allow_reinit;
    options.allow_key_loss = allow_reinit;
    return execute(p, options, keeper_, [](const std::string&) {});
  }
  /// The CHRs the simulated card holds, slot by slot.
  std::vector<std::string> registered() const {
    std::vector<std::string> out;
    for (const auto& s : sim_->state().persistent.puk_slots) {
      if (s.empty())
        continue;
      auto r = device::schsm::parse_pka_file([&] {
        Bytes b;
        device::schsm::append_tlv(b, 0x67, s);
        return b;
      }());
      out.push_back(r ? r->chr_text : "?");
    }
    return out;
  }

  std::unique_ptr<device::sim::SimCard> sim_ = device::sim::SimCard::create_in_memory(kSerial);
  store::EphemeralKeeper keeper_;
  int slot_reads_ = 0;
  int registers_ = 0;
};

std::string text(const plan::DevicePlan& p) {
  return plan::render_text({p}, false);
}

TEST_F(Pka, AFreshDeviceIsInitializedAndTheKeysRegisteredInOneApply) {
  const auto m = manifest(2, {"CUSTODIAN-A", "CUSTODIAN-B"});
  auto p = plan(m);
  ASSERT_TRUE(p) << p.error().to_string();
  const auto& actions = p->plan.actions;
  ASSERT_EQ(actions.size(), 2u) << text(p->plan);
  EXPECT_EQ(actions[0].kind, kind::kInitialize);
  EXPECT_EQ(actions[1].kind, kind::kRegisterPublicKeys);
  EXPECT_THAT(text(p->plan), HasSubstr("~ register 2 public key(s) (CUSTODIAN-A, CUSTODIAN-B)"));
  const auto* payload = std::any_cast<RegisterPublicKeysPayload>(&actions[1].payload);
  ASSERT_NE(payload, nullptr);
  ASSERT_EQ(payload->keys.size(), 2u);
  EXPECT_EQ(payload->keys[0].request, m.spec.public_key_auth->key_files[0].request);
  const std::string json = plan::render_json({p->plan});
  EXPECT_EQ(hsmctl::testing::plan_schema_errors(json), "") << json;
  EXPECT_EQ(registers_, 0);  // planning sends nothing that changes the device
  p = {};

  auto r = apply(m);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(registered(), (std::vector<std::string>{"CUSTODIAN-A", "CUSTODIAN-B"}));
  EXPECT_EQ(registers_, 2);

  auto again = plan(m);
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_EQ(again->plan.status(), plan::DeviceStatus::kOk) << text(again->plan);
  EXPECT_TRUE(again->plan.pending.empty()) << text(again->plan);
}

TEST_F(Pka, AKeyAddedToTheManifestIsRegisteredInPlace) {
  ASSERT_TRUE(apply(manifest(3, {"CUSTODIAN-A"})));
  auto p = plan(manifest(3, {"CUSTODIAN-A", "CUSTODIAN-B"}));
  ASSERT_TRUE(p) << p.error().to_string();
  ASSERT_EQ(p->plan.actions.size(), 1u) << text(p->plan);
  EXPECT_EQ(p->plan.actions[0].kind, kind::kRegisterPublicKeys);
  EXPECT_THAT(text(p->plan), HasSubstr("register 1 public key(s) (CUSTODIAN-B)"));
  EXPECT_THAT(text(p->plan), HasSubstr("1 of 3 registered"));
  // The third key is still the custodians' to register.
  ASSERT_EQ(p->plan.pending.size(), 1u) << text(p->plan);
  EXPECT_THAT(p->plan.pending[0], HasSubstr("1 of 3 key(s) still to register"));
  p = {};
  ASSERT_TRUE(apply(manifest(3, {"CUSTODIAN-A", "CUSTODIAN-B"})));
  EXPECT_EQ(registered(), (std::vector<std::string>{"CUSTODIAN-A", "CUSTODIAN-B"}));
  auto again = plan(manifest(3, {"CUSTODIAN-A", "CUSTODIAN-B"}));
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->plan.actions.empty()) << text(again->plan);
}

TEST_F(Pka, ARegisteredKeyTheManifestDoesNotListForcesAReinitialization) {
  ASSERT_TRUE(apply(manifest(2, {"CUSTODIAN-A", "INTRUDER"})));
  const auto m = manifest(2, {"CUSTODIAN-A", "CUSTODIAN-B"});
  auto p = plan(m);
  ASSERT_TRUE(p) << p.error().to_string();
  ASSERT_FALSE(p->plan.actions.empty());
  const auto& init = p->plan.actions[0];
  EXPECT_EQ(init.kind, kind::kInitialize);
  EXPECT_EQ(init.action_class, plan::ActionClass::kReinitialize) << text(p->plan);
  EXPECT_THAT(text(p->plan), HasSubstr("registered: INTRUDER"));
  EXPECT_THAT(init.reason, HasSubstr("spec.publicKeyAuth.keys"));
  // After the re-initialization the manifest's keys are registered in the same apply.
  EXPECT_EQ(p->plan.actions.back().kind, kind::kRegisterPublicKeys) << text(p->plan);
  p = {};
  ASSERT_FALSE(apply(m));  // guarded: --allow-reinit
  EXPECT_EQ(registered(), (std::vector<std::string>{"CUSTODIAN-A", "INTRUDER"}));
  auto r = apply(m, /*allow_reinit=*/true);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(registered(), (std::vector<std::string>{"CUSTODIAN-A", "CUSTODIAN-B"}));
}

TEST_F(Pka, SlotsAreReadOnlyWithKeyFilesAndRegisteredKeys) {
  // Integer form on a fresh PKA device: status only.
  ASSERT_TRUE(apply(manifest(2, {})));
  slot_reads_ = 0;
  ASSERT_TRUE(plan(manifest(2, {})));
  EXPECT_EQ(slot_reads_, 0);
  // Files listed, nothing registered: nothing to read either.
  auto p = plan(manifest(2, {"CUSTODIAN-A"}));
  ASSERT_TRUE(p);
  EXPECT_EQ(slot_reads_, 0);
  p = {};
  ASSERT_TRUE(apply(manifest(2, {"CUSTODIAN-A"})));
  // One registered, integer form: not compared, not read.
  slot_reads_ = 0;
  auto q = plan(manifest(2, {}));
  ASSERT_TRUE(q);
  EXPECT_EQ(slot_reads_, 0);
  EXPECT_TRUE(q->plan.actions.empty()) << text(q->plan);
  q = {};
  // Files listed, one registered: one slot read (the registered one), none past it.
  auto f = plan(manifest(2, {"CUSTODIAN-A"}));
  ASSERT_TRUE(f);
  EXPECT_EQ(slot_reads_, 1);
  EXPECT_EQ(f->plan.status(), plan::DeviceStatus::kOk) << text(f->plan);
}

}  // namespace
}  // namespace hsmctl::families::schsm_engine
