// SPDX-License-Identifier: Apache-2.0
// DKEK share files in a manifest (issue 11): prepare decrypts them before anything reaches the
// device and plans "import N DKEK share(s)" after the steps that set the domain up; apply imports
// them in one user-PIN session and checks the device's KCV against the files'; a later plan of
// the same files compares KCVs without decrypting again. Share files here use a small
// key-derivation count (HSMCTL_TEST_DKEK_ITERATIONS); the real count is tested in
// tests/unit/secrets/ against a file made by sc-hsm-tool.

#include "support/plan_schema.hpp"
#include "support/temp_dir.hpp"

#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/device/sim/sim_state.hpp"
#include "hsmctl/families/schsm_engine/engine.hpp"
#include "hsmctl/secrets/dkek_share.hpp"
#include "hsmctl/secrets/password_shares.hpp"
#include "hsmctl/store/ephemeral_keeper.hpp"
#include "hsmctl/util/bytes.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace hsmctl::families::schsm_engine {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kSerial = "0102030405060708";
constexpr int kIterations = 1000;

/// Two custodians' share files in a temp dir, and the KCV of the DKEK they make.
class DkekImport : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("HSMCTL_TEST_DKEK_ITERATIONS", std::to_string(kIterations).c_str(), 1);
    setenv("DKEK_TEST_PIN", "24681357", 1);
    setenv("DKEK_TEST_SO", "1357913579135791", 1);
    setenv("DKEK_TEST_PW_A", "custodian-a-password", 1);
    setenv("DKEK_TEST_PW_B", "custodian-b-password", 1);
    share_a_ = Secret(Bytes(32, 0x11));
    share_b_ = Secret(Bytes(32, 0x5A));
    write_share(file_a(), share_a_, "custodian-a-password");
    write_share(file_b(), share_b_, "custodian-b-password");
    const Secret both[] = {share_a_, share_b_};
    kcv_ = secrets::kcv_hex(*secrets::dkek_kcv(both));
  }
  void TearDown() override { unsetenv("HSMCTL_TEST_DKEK_ITERATIONS"); }

  std::string file_a() const { return dir_.path() + "/custodian-a.pbe"; }
  std::string file_b() const { return dir_.path() + "/custodian-b.pbe"; }

  static void write_share(const std::string& path, const Secret& share, const char* password) {
    auto bytes = secrets::encrypt_dkek_share(share, Secret(std::string(password)), kIterations);
    ASSERT_TRUE(bytes) << bytes.error().to_string();
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes->data()),
               static_cast<std::streamsize>(bytes->size()));
  }

  /// Domain 0 without key domains, two shares from the two files.
  model::PicoHsmManifest manifest(const std::string& expected_kcv = "") const {
    model::PicoHsmManifest m;
    m.metadata.name = "dkek";
    m.spec.device.serial = kSerial;
    m.spec.user_pin = model::SecretRef{model::SecretRef::Kind::kEnv, "DKEK_TEST_PIN", {}};
    m.spec.so_pin = model::SecretRef{model::SecretRef::Kind::kEnv, "DKEK_TEST_SO", {}};
    m.spec.dkek_shares = 2;
    model::DkekImport files;
    files.shares.push_back({file_a(),
                            {model::SecretRef::Kind::kEnv, "DKEK_TEST_PW_A", {}},
                            "spec.dkek.shares[0]",
                            {},
                            0});
    files.shares.push_back({file_b(),
                            {model::SecretRef::Kind::kEnv, "DKEK_TEST_PW_B", {}},
                            "spec.dkek.shares[1]",
                            {},
                            0});
    files.expected_kcv = expected_kcv;
    m.spec.dkek = files;
    return m;
  }

  Result<ApplyReport> apply(const model::PicoHsmManifest& m) {
    HSMCTL_TRY_ASSIGN(PreparedDevice p, prepare(m, card(), keeper_));
    return execute(p, {}, keeper_, [](const std::string&) {});
  }
  Result<PreparedDevice> plan(const model::PicoHsmManifest& m) {
    return prepare(m, card(), keeper_);
  }
  /// A transport onto the one simulated card (prepare takes ownership of a transport).
  std::unique_ptr<device::Transport> card() {
    class Borrowed final : public device::Transport {
     public:
      explicit Borrowed(device::Transport& t) : t_(t) {}
      Result<Bytes> transmit(ByteView c) override { return t_.transmit(c); }
      std::string describe() const override { return t_.describe(); }

     private:
      device::Transport& t_;
    };
    return std::make_unique<Borrowed>(*sim_);
  }
  const model::KeyDomainStatus domain0() const {
    const auto& st = sim_->state();
    model::KeyDomainStatus d;
    d.total_shares = st.persistent.key_domains.at(0).first;
    d.outstanding_shares = d.total_shares - st.persistent.key_domains.at(0).second;
    return d;
  }

  hsmctl::testing::TempDir dir_{"hsmctl-dkek"};
  std::unique_ptr<device::sim::SimCard> sim_ = device::sim::SimCard::create_in_memory(kSerial);
  store::EphemeralKeeper keeper_;
  Secret share_a_, share_b_;
  std::string kcv_;
};

std::string text(const plan::DevicePlan& p) {
  return plan::render_text({p}, false);
}

TEST_F(DkekImport, ASplitPasswordIsPutTogetherFromTheCustodiansParts) {
  // Share b's file under a password split 2-of-3 (sc-hsm-tool --pwd-shares-*); parts 1 and 3.
  auto split = secrets::split_new_password(2, 3);
  ASSERT_TRUE(split) << split.error().message;
  const std::string file_c = dir_.path() + "/custodian-c.pbe";
  auto bytes = secrets::encrypt_dkek_share(share_b_, split->password, kIterations);
  ASSERT_TRUE(bytes);
  std::ofstream(file_c, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes->data()),
             static_cast<std::streamsize>(bytes->size()));
  setenv("DKEK_TEST_PART_1", std::string(split->parts[0].text().view()).c_str(), 1);
  setenv("DKEK_TEST_PART_3", std::string(split->parts[2].text().view()).c_str(), 1);
  auto m = manifest();
  auto& share = m.spec.dkek->shares[1];
  share.file = file_c;
  share.password = {};
  share.password_threshold = 2;
  share.password_parts = {{model::SecretRef::Kind::kEnv, "DKEK_TEST_PART_1", {}},
                          {model::SecretRef::Kind::kEnv, "DKEK_TEST_PART_3", {}}};
  // A part of another password first: named by field and index, never echoed.
  auto other = secrets::split_new_password(2, 3);
  ASSERT_TRUE(other);
  setenv("DKEK_TEST_PART_3", std::string(other->parts[2].text().view()).c_str(), 1);
  auto p = plan(m);
  ASSERT_FALSE(p);
  EXPECT_THAT(p.error().message,
              HasSubstr("spec.dkek.shares[1].passwordShares: password share 2: its prime differs"));
  EXPECT_THAT(p.error().message, Not(HasSubstr(std::string(other->parts[2].value_hex.view()))));

  setenv("DKEK_TEST_PART_3", std::string(split->parts[2].text().view()).c_str(), 1);
  p = plan(m);
  ASSERT_TRUE(p) << p.error().to_string();
  const auto* payload = std::any_cast<DkekImportPayload>(&p->plan.actions.back().payload);
  ASSERT_NE(payload, nullptr);
  EXPECT_EQ(payload->kcv, kcv_);  // the same share as file b: the same DKEK
  p = {};
  auto report = apply(m);
  ASSERT_TRUE(report) << report.error().to_string();
  EXPECT_EQ(domain0().outstanding_shares, 0);
  unsetenv("DKEK_TEST_PART_1");
  unsetenv("DKEK_TEST_PART_3");
}

TEST_F(DkekImport, AFreshDeviceIsInitializedAndItsSharesImportedInOneApply) {
  auto p = plan(manifest());
  ASSERT_TRUE(p) << p.error().to_string();
  const auto& actions = p->plan.actions;
  ASSERT_FALSE(actions.empty());
  EXPECT_EQ(actions.front().kind, kind::kInitialize);
  EXPECT_EQ(actions.back().kind, kind::kImportDkekShares) << text(p->plan);
  const auto* payload = std::any_cast<DkekImportPayload>(&actions.back().payload);
  ASSERT_NE(payload, nullptr);
  EXPECT_EQ(payload->index, 0);
  EXPECT_EQ(payload->shares, 2);
  EXPECT_EQ(payload->kcv, kcv_);
  EXPECT_THAT(text(p->plan), HasSubstr("import 2 DKEK share(s) into the DKEK (KCV " + kcv_));
  const std::string json = plan::render_json({p->plan});
  EXPECT_EQ(hsmctl::testing::plan_schema_errors(json), "") << json;
  EXPECT_THAT(json, HasSubstr("\"kcv\": \"" + kcv_ + "\""));
  p = {};

  auto r = apply(manifest());
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(domain0().outstanding_shares, 0);
  auto again = plan(manifest());
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_EQ(again->plan.status(), plan::DeviceStatus::kOk) << text(again->plan);
  EXPECT_TRUE(again->plan.pending.empty()) << text(again->plan);
}

TEST_F(DkekImport, ALaterPlanOfTheSameFilesDoesNotDecryptThem) {
  ASSERT_TRUE(apply(manifest()));
  // A password that could not decrypt anything: only a plan that skips decryption succeeds.
  setenv("DKEK_TEST_PW_A", "not-the-password", 1);
  auto p = plan(manifest());
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_EQ(p->plan.status(), plan::DeviceStatus::kOk) << text(p->plan);
  // Another file in its place is decrypted again, and the wrong password then fails the plan.
  write_share(file_a(), Secret(Bytes(32, 0x22)), "custodian-a-password");
  auto changed = plan(manifest());
  ASSERT_FALSE(changed);
  EXPECT_THAT(changed.error().message, HasSubstr("spec.dkek.shares[0]"));
}

// Custodians take their files home after the ceremony: with expectedKcv, a complete domain is
// compared with it and the files are never opened.
TEST_F(DkekImport, WithExpectedKcvLaterPlansNeedNoFiles) {
  ASSERT_TRUE(apply(manifest(kcv_)));
  std::filesystem::remove(file_a());
  std::filesystem::remove(file_b());
  auto p = plan(manifest(kcv_));
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_EQ(p->plan.status(), plan::DeviceStatus::kOk) << text(p->plan);
  // Without it the files are what the device is compared with: missing, the plan fails.
  auto without = plan(manifest());
  ASSERT_FALSE(without);
  EXPECT_THAT(without.error().to_string(), HasSubstr("custodian-a.pbe"));
}

TEST_F(DkekImport, AWrongPasswordFailsThePlanBeforeAnyImport) {
  ASSERT_TRUE(apply([this] {
    auto m = manifest();
    m.spec.dkek.reset();  // initialize with 2 shares outstanding, import nothing
    return m;
  }()));
  ASSERT_EQ(domain0().outstanding_shares, 2);
  setenv("DKEK_TEST_PW_B", "Xq9-not-it", 1);
  auto p = plan(manifest());
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::kSecret);
  EXPECT_THAT(p.error().message, HasSubstr("spec.dkek.shares[1]"));
  EXPECT_THAT(p.error().message, Not(HasSubstr("Xq9-not-it")));
  EXPECT_EQ(domain0().outstanding_shares, 2);
}

TEST_F(DkekImport, APendingImportIsPlannedInPlaceAndConverges) {
  auto bare = manifest();
  bare.spec.dkek.reset();
  ASSERT_TRUE(apply(bare));
  auto pending = plan(bare);
  ASSERT_TRUE(pending);
  EXPECT_EQ(pending->plan.pending.size(), 1u) << text(pending->plan);  // no files: operator step
  pending = {};

  auto p = plan(manifest(kcv_));
  ASSERT_TRUE(p) << p.error().to_string();
  ASSERT_EQ(p->plan.actions.size(), 1u) << text(p->plan);
  EXPECT_EQ(p->plan.actions[0].kind, kind::kImportDkekShares);
  EXPECT_TRUE(p->plan.pending.empty());
  p = {};
  ASSERT_TRUE(apply(manifest(kcv_)));
  auto done = plan(manifest(kcv_));
  ASSERT_TRUE(done);
  EXPECT_EQ(done->plan.status(), plan::DeviceStatus::kOk) << text(done->plan);
}

TEST_F(DkekImport, FilesThatDoNotMakeTheExpectedKcvAreBlocked) {
  auto p = plan(manifest("0000000000000001"));
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_EQ(p->plan.status(), plan::DeviceStatus::kBlocked);
  EXPECT_THAT(text(p->plan), HasSubstr("expectedKcv is 0000000000000001"));
}

TEST_F(DkekImport, ADeviceHoldingAnotherDkekIsBlocked) {
  ASSERT_TRUE(apply(manifest()));
  write_share(file_b(), Secret(Bytes(32, 0x33)), "custodian-b-password");
  auto p = plan(manifest());
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_EQ(p->plan.status(), plan::DeviceStatus::kBlocked) << text(p->plan);
  EXPECT_THAT(text(p->plan), HasSubstr("holds another DKEK"));
  // With the ceremony's KCV given, the device is checked against it, without the files.
  auto by_kcv = plan(manifest("00000000000000AA"));
  ASSERT_TRUE(by_kcv);
  EXPECT_EQ(by_kcv->plan.status(), plan::DeviceStatus::kBlocked) << text(by_kcv->plan);
  EXPECT_THAT(text(by_kcv->plan), HasSubstr("the device's KCV is " + kcv_));
}

TEST_F(DkekImport, APartialImportIsBlockedNamingTheWayOut) {
  auto bare = manifest();
  bare.spec.dkek.reset();
  ASSERT_TRUE(apply(bare));
  // One share imported outside hsmctl (sc-hsm-tool --import-dkek-share), in a user session.
  ASSERT_TRUE(sim_->transmit(from_hex("00A4040C0BE82B0601040181C31F0201").value()));
  Bytes verify = from_hex("0020008108").value();
  const std::string pin = "24681357";
  verify.insert(verify.end(), pin.begin(), pin.end());
  ASSERT_TRUE(sim_->transmit(verify));
  Bytes import = from_hex("8052000020").value();
  import.insert(import.end(), share_a_.bytes().begin(), share_a_.bytes().end());
  ASSERT_TRUE(sim_->transmit(import));
  ASSERT_EQ(domain0().outstanding_shares, 1);
  auto p = plan(manifest());
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_EQ(p->plan.status(), plan::DeviceStatus::kBlocked) << text(p->plan);
  EXPECT_THAT(text(p->plan), HasSubstr("1 of 2 share(s) were imported outside this plan"));
}

TEST_F(DkekImport, NoShareValueOrPasswordInThePlan) {
  auto p = plan(manifest());
  ASSERT_TRUE(p);
  const std::string out = text(p->plan) + plan::render_json({p->plan});
  for (const char* s : {"custodian-a-password", "custodian-b-password"})
    EXPECT_THAT(out, Not(HasSubstr(s)));
  EXPECT_THAT(out, Not(HasSubstr(to_hex(share_a_.bytes()))));
  EXPECT_THAT(out, Not(HasSubstr(to_hex(share_b_.bytes()))));
}

}  // namespace
}  // namespace hsmctl::families::schsm_engine
