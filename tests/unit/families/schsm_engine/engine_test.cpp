// SPDX-License-Identifier: Apache-2.0
// The apply engine against the in-memory simulator: firmware defects and guards.

#include "hsmctl/families/schsm_engine/engine.hpp"

#include "hsmctl/device/schsm/smartcard_hsm.hpp"
#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/device/sim/sim_state.hpp"
#include "hsmctl/store/ephemeral_keeper.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdlib.h>

namespace hsmctl::families::schsm_engine {
namespace {

using ::testing::HasSubstr;

constexpr const char* kSerial = "1122334455667788";

model::PicoHsmManifest manifest() {
  setenv("ENGINE_TEST_PIN", "24681357", 1);
  setenv("ENGINE_TEST_SO", "1357913579135791", 1);
  model::PicoHsmManifest m;
  m.metadata.name = "engine";
  m.spec.device.serial = kSerial;
  m.spec.user_pin = model::SecretRef{model::SecretRef::Kind::kEnv, "ENGINE_TEST_PIN", {}};
  m.spec.so_pin = model::SecretRef{model::SecretRef::Kind::kEnv, "ENGINE_TEST_SO", {}};
  return m;
}

/// Non-owning view, so the test keeps the card between runs.
class Borrowed final : public device::Transport {
 public:
  explicit Borrowed(device::Transport& t) : t_(t) {}
  Result<Bytes> transmit(ByteView c) override { return t_.transmit(c); }
  std::string describe() const override { return t_.describe(); }

 private:
  device::Transport& t_;
};

Result<ApplyReport> apply_once(device::sim::SimCard& card, store::CredentialKeeper& keeper,
                               const model::PicoHsmManifest& m, ApplyOptions options = {},
                               std::vector<std::string>* lines = nullptr) {
  HSMCTL_TRY_ASSIGN(PreparedDevice p, prepare(m, std::make_unique<Borrowed>(card), keeper));
  return execute(p, options, keeper, [&](const std::string& l) {
    if (lines != nullptr)
      lines->push_back(l);
  });
}

TEST(ApplyEngine, V66InitializeDefect6400IsRetriedAndConverges) {
  auto card = device::sim::SimCard::create_in_memory(kSerial);
  card->state().persistent.defects.initialize_6400_first_attempt = true;
  store::EphemeralKeeper keeper;
  std::vector<std::string> lines;
  auto r = apply_once(*card, keeper, manifest(), {}, &lines);
  ASSERT_TRUE(r) << r.error().to_string();
  std::string all;
  for (const auto& l : lines)
    all += l + "\n";
  EXPECT_THAT(all, HasSubstr("6400"));
  auto again = prepare(manifest(), std::make_unique<Borrowed>(*card), keeper);
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_FALSE(again->plan.has_changes()) << plan::render_text({again->plan}, false);
}

/// Answers INITIALIZE with data (80 50 00 00 Lc ...) with 6A80 and counts it; a name with
/// "6400" in it, as a simulator path may have.
class RefusesInitialize final : public device::Transport {
 public:
  explicit RefusesInitialize(device::Transport& t) : t_(t) {}
  Result<Bytes> transmit(ByteView c) override {
    if (c.size() > 5 && c[0] == 0x80 && c[1] == 0x50) {
      ++initialize_count;
      return Bytes{0x6A, 0x80};
    }
    return t_.transmit(c);
  }
  std::string describe() const override { return "sim:/tmp/run-6400/card.json"; }
  int initialize_count = 0;

 private:
  device::Transport& t_;
};

// The 6400 retry is decided by the status word, never by text: "6400" in the device's name
// (the message names it) with a 6A80 answer is not the v6.6 defect.
TEST(ApplyEngine, No6400RetryWhenOnlyTheMessageContains6400) {
  auto card = device::sim::SimCard::create_in_memory(kSerial);
  store::EphemeralKeeper keeper;
  auto owned = std::make_unique<RefusesInitialize>(*card);
  RefusesInitialize* refusing = owned.get();
  auto p = prepare(manifest(), std::move(owned), keeper);
  ASSERT_TRUE(p) << p.error().to_string();
  std::vector<std::string> lines;
  auto r = execute(*p, {}, keeper, [&](const std::string& l) { lines.push_back(l); });
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("6A80"));
  EXPECT_THAT(r.error().message, HasSubstr("run-6400"));  // premise: the text has "6400"
  EXPECT_EQ(refusing->initialize_count, 1);
  for (const auto& l : lines)
    EXPECT_THAT(l, ::testing::Not(HasSubstr("initializing again")));
}

TEST(ApplyEngine, ReinitRefusedWithoutFlagsAndWithKeysWithoutKeyLossFlag) {
  auto card = device::sim::SimCard::create_in_memory(kSerial);
  store::EphemeralKeeper keeper;
  ASSERT_TRUE(apply_once(*card, keeper, manifest()));
  ASSERT_TRUE(card->install_key(1, 0));
  auto m = manifest();
  m.spec.pin_retries = 5;
  auto refused = apply_once(*card, keeper, m);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kRefused);
  EXPECT_THAT(refused.error().message, HasSubstr("--allow-reinit"));
  ApplyOptions reinit;
  reinit.allow_reinit = true;
  refused = apply_once(*card, keeper, m, reinit);
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, HasSubstr("--allow-key-loss"));
  EXPECT_THAT(refused.error().message, HasSubstr("1 private key"));
  reinit.allow_key_loss = true;
  auto done = apply_once(*card, keeper, m, reinit);
  ASSERT_TRUE(done) << done.error().to_string();
  auto after = prepare(m, std::make_unique<Borrowed>(*card), keeper);
  ASSERT_TRUE(after);
  EXPECT_FALSE(after->plan.has_changes()) << plan::render_text({after->plan}, false);
  EXPECT_EQ(after->observed.key_count, 0);
  EXPECT_EQ(after->observed.pin_retries_max, 5);
}

TEST(ApplyEngine, ReinitVerifiesCurrentPinFirstSoTheDeviceKeyIsKept) {
  auto card = device::sim::SimCard::create_in_memory(kSerial);
  store::EphemeralKeeper keeper;
  ASSERT_TRUE(apply_once(*card, keeper, manifest()));
  const auto generation = card->state().persistent.device_key_generation;
  auto m = manifest();
  m.spec.pin_retries = 5;
  setenv("ENGINE_TEST_PIN", "97531864", 1);     // a new PIN too: the firmware cannot recover the
  m.spec.user_pin->target = "ENGINE_TEST_PIN";  // old MKEK from the new credentials
  ApplyOptions reinit;
  reinit.allow_reinit = true;
  auto r = [&] {
    auto p = prepare(m, std::make_unique<Borrowed>(*card), keeper);
    EXPECT_TRUE(p) << p.error().to_string();
    return execute(*p, reinit, keeper, [](const std::string&) {});
  }();
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(card->state().persistent.device_key_generation, generation)
      << "INITIALIZE without a prior VERIFY regenerated the device key";
}

TEST(ApplyEngine, PreparedFromATemporaryManifestExecutesSafely) {
  // The manifest is a temporary that dies at the end of the prepare() statement; execute() must
  // not read it (ASan reports a use after free when PreparedDevice points into it).
  auto card = device::sim::SimCard::create_in_memory(kSerial);
  store::EphemeralKeeper keeper;
  auto p = prepare(manifest(), std::make_unique<Borrowed>(*card), keeper);
  ASSERT_TRUE(p) << p.error().to_string();
  auto r = execute(*p, {}, keeper, [](const std::string&) {});
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(p->manifest->metadata.name, "engine");
  // Without a sanitizer: the prepared unit holds its own copy, not the caller's object.
  const auto m = manifest();
  auto q = prepare(m, std::make_unique<Borrowed>(*card), keeper);
  ASSERT_TRUE(q) << q.error().to_string();
  EXPECT_NE(static_cast<const void*>(&*q->manifest), static_cast<const void*>(&m));
}

TEST(ApplyEngine, ObserveNeverVerifiesAgainstADifferentDevice) {
  auto card = device::sim::SimCard::create_in_memory("AAAAAAAAAAAAAAAA");
  store::EphemeralKeeper keeper;
  auto m = manifest();
  m.spec.device.serial = "AAAAAAAAAAAAAAAA";
  ASSERT_TRUE(apply_once(*card, keeper, m));
  m.spec.device.serial = kSerial;  // names another device
  auto r = prepare(m, std::make_unique<Borrowed>(*card), keeper);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kRefused);
  device::schsm::SmartCardHsm hsm(*card);
  ASSERT_TRUE(hsm.select());
  auto status = hsm.pin_status(device::schsm::PinRef::kUser);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->tries_left, 3) << "a VERIFY reached the wrong device";
}

}  // namespace
}  // namespace hsmctl::families::schsm_engine

namespace hsmctl::families::schsm_engine {
namespace {

TEST(ApplyEngineJournal, PendingValueJournaledAsNeverSentIsDroppedWithoutAVerify) {
  auto card = device::sim::SimCard::create_in_memory(kSerial);
  store::EphemeralKeeper keeper;
  ASSERT_TRUE(apply_once(*card, keeper, manifest()));
  // An interrupted run staged a new user PIN and died before sending it.
  const auto key = credential_key(kSerial, "user-pin");
  auto id = keeper.journal_begin(std::string("pico:") + kSerial, "change user PIN");
  ASSERT_TRUE(id);
  ASSERT_TRUE(keeper.journal_step(*id, "change user PIN (user-pin)", store::JournalState::kIntent,
                                  key.id()));
  ASSERT_TRUE(keeper.stage(key, Secret("55556666")));

  std::vector<std::string> lines;
  auto r = apply_once(*card, keeper, manifest(), {}, &lines);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_FALSE(*keeper.pending(key));
  EXPECT_TRUE(keeper.open_journals()->empty());
  // The stored value matched at the first VERIFY: the counter never dropped.
  device::schsm::SmartCardHsm hsm(*card);
  ASSERT_TRUE(hsm.select());
  EXPECT_EQ(hsm.pin_status(device::schsm::PinRef::kUser)->tries_left, 3);
  std::string all;
  for (const auto& l : lines)
    all += l + "\n";
  EXPECT_THAT(all, HasSubstr("the device kept the old value"));
}

TEST(ApplyEngineJournal, AppliedStepsAreJournaledAndTheJournalIsClosed) {
  auto card = device::sim::SimCard::create_in_memory(kSerial);
  store::EphemeralKeeper keeper;
  auto m = manifest();
  m.spec.options.key_usage_counter = true;
  ASSERT_TRUE(apply_once(*card, keeper, m));
  EXPECT_TRUE(keeper.open_journals()->empty());
}

}  // namespace
}  // namespace hsmctl::families::schsm_engine
