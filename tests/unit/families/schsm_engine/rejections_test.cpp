// SPDX-License-Identifier: Apache-2.0
// A value a device rejected is never sent to it again (issue 8 item 1), and a stale store value
// neither blames the manifest nor blocks forever (issue 8 item 2). Tries are counted on the wire.

#include "../../store/store_test_support.hpp"

#include "hsmctl/device/schsm/smartcard_hsm.hpp"
#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/families/schsm_engine/engine.hpp"
#include "hsmctl/store/encrypted_store.hpp"
#include "hsmctl/store/ephemeral_keeper.hpp"
#include "hsmctl/store/fingerprint.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace hsmctl::families::schsm_engine {
namespace {

using device::schsm::PinRef;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kSerial = "0102030405060708";
constexpr const char* kPin = "24681357";
constexpr const char* kSo = "1357913579135791";
constexpr const char* kNewPin = "11223344";
constexpr const char* kNewSo = "2468024680246802";

model::PicoHsmManifest manifest(const char* pin = kPin, const char* so = kSo) {
  setenv("REJECT_TEST_PIN", pin, 1);
  setenv("REJECT_TEST_SO", so, 1);
  model::PicoHsmManifest m;
  m.metadata.name = "rejections";
  m.spec.device.serial = kSerial;
  m.spec.user_pin = model::SecretRef{model::SecretRef::Kind::kEnv, "REJECT_TEST_PIN", {}};
  m.spec.so_pin = model::SecretRef{model::SecretRef::Kind::kEnv, "REJECT_TEST_SO", {}};
  return m;
}

/// Borrows the card and counts VERIFYs that carry data (each one may cost a try).
class Counting final : public device::Transport {
 public:
  Counting(device::Transport& t, int& verifies) : t_(t), verifies_(verifies) {}
  Result<Bytes> transmit(ByteView c) override {
    if (c.size() > 5 && c[1] == 0x20)
      ++verifies_;
    return t_.transmit(c);
  }
  std::string describe() const override { return t_.describe(); }

 private:
  device::Transport& t_;
  int& verifies_;
};

struct Card {
  std::unique_ptr<device::sim::SimCard> sim = device::sim::SimCard::create_in_memory(kSerial);
  int verifies = 0;  ///< VERIFYs with data hsmctl sent

  Result<PreparedDevice> plan(store::CredentialKeeper& keeper, const model::PicoHsmManifest& m) {
    return prepare(m, std::make_unique<Counting>(*sim, verifies), keeper);
  }
  Result<ApplyReport> apply(store::CredentialKeeper& keeper, const model::PicoHsmManifest& m) {
    HSMCTL_TRY_ASSIGN(PreparedDevice p, plan(keeper, m));
    return execute(p, {}, keeper, [](const std::string&) {});
  }
  /// What someone else does with pkcs11-tool / sc-hsm-tool (not counted).
  device::schsm::SmartCardHsm other() { return device::schsm::SmartCardHsm(*sim); }
  /// `pkcs11-tool --change-pin` by someone else (not counted).
  void change_behind_hsmctls_back(PinRef ref, const Secret& from, const Secret& to) {
    auto h = other();
    ASSERT_TRUE(h.select());
    ASSERT_TRUE(h.change_reference_data(ref, from, to));
  }
  int tries(PinRef ref) {
    auto h = other();
    EXPECT_TRUE(h.select());
    return h.pin_status(ref)->tries_left;
  }
};

std::unique_ptr<store::EncryptedStore> open_store(const std::string& path) {
  auto s = store::EncryptedStore::open_or_create(
      path, store::testing::passphrase(store::testing::kPassphrase), store::KeyMode::kPassphrase,
      store::testing::weak_options());
  EXPECT_TRUE(s) << s.error().to_string();
  return std::make_unique<store::EncryptedStore>(std::move(*s));
}

std::string text(const PreparedDevice& p) {
  return plan::render_text({p.plan}, false);
}

TEST(ApplyEngineRejections, ARejectedValueIsNeverSentAgainWhenTheCounterIsFullAgain) {
  store::testing::TempDir dir;
  auto keeper = open_store(dir.file("store.hsmctl"));
  Card card;
  ASSERT_TRUE(card.apply(*keeper, manifest()));

  // Both PINs are changed behind hsmctl's back (pkcs11-tool --change-pin, ...).
  {
    auto h = card.other();
    ASSERT_TRUE(h.select());
    ASSERT_TRUE(h.change_reference_data(PinRef::kUser, Secret(kPin), Secret(kNewPin)));
    ASSERT_TRUE(
        h.change_reference_data(PinRef::kSo, Secret(*from_hex(kSo)), Secret(*from_hex(kNewSo))));
  }
  // The first plan tries the held values once: acceptable once.
  card.verifies = 0;
  {
    auto first = card.plan(*keeper, manifest());
    ASSERT_TRUE(first) << first.error().to_string();
    EXPECT_EQ(card.verifies, 2);
    EXPECT_EQ(card.tries(PinRef::kUser), 2);
    EXPECT_EQ(card.tries(PinRef::kSo), 14);
    EXPECT_THAT(text(*first), HasSubstr("the device rejected the value in the store (pico:" +
                                        std::string(kSerial) +
                                        "/so-pin) and the manifest (spec.soPin); recorded"));
    EXPECT_THAT(text(*first), Not(HasSubstr("NOT recorded")));
  }

  // Someone logs in correctly: both counters are full again.
  {
    auto h = card.other();
    ASSERT_TRUE(h.select());
    ASSERT_EQ(*h.verify(PinRef::kUser, Secret(kNewPin)), device::schsm::VerifyResult::kOk);
    ASSERT_EQ(*h.verify(PinRef::kSo, Secret(*from_hex(kNewSo))), device::schsm::VerifyResult::kOk);
  }
  // Every later plan (from a freshly opened store) sends neither value again.
  for (int run = 0; run < 3; ++run) {
    keeper = open_store(dir.file("store.hsmctl"));
    card.verifies = 0;
    auto again = card.plan(*keeper, manifest());
    ASSERT_TRUE(again) << again.error().to_string();
    EXPECT_EQ(card.verifies, 0) << "a value the device rejected was sent again";
    EXPECT_EQ(card.tries(PinRef::kUser), 3);
    EXPECT_EQ(card.tries(PinRef::kSo), 15);
    EXPECT_TRUE(again->plan.has_blocked());
    EXPECT_THAT(text(*again), HasSubstr("(rejected in an earlier run); recorded"));
    EXPECT_THAT(text(*again),
                HasSubstr("hsmctl store set pico:" + std::string(kSerial) + "/so-pin"));
  }
  // The rejection is recorded by a keyed fingerprint, never the value: in the record log beside
  // the store (until it is folded into the store entry).
  keeper = open_store(dir.file("store.hsmctl"));
  auto record = keeper->current(credential_key(kSerial, "user-pin-rejected"));
  ASSERT_TRUE(record);
  if (record->has_value()) {
    EXPECT_THAT(std::string((*record)->view()), Not(HasSubstr(kPin)));
  }
  {
    std::ifstream in(dir.file("store.hsmctl") + ".records");
    const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_THAT(log, HasSubstr(" rejected "));
    for (const char* v : {kPin, kSo, kNewPin, kNewSo})
      EXPECT_THAT(log, Not(HasSubstr(v)));
  }

  // Once the value hsmctl holds changes, it is tried (once) and the device converges.
  card.verifies = 0;
  auto fixed = card.apply(*keeper, manifest(kNewPin, kNewSo));
  ASSERT_TRUE(fixed) << fixed.error().to_string();
  EXPECT_EQ(card.verifies, 2);
  auto done = card.plan(*keeper, manifest(kNewPin, kNewSo));
  ASSERT_TRUE(done);
  EXPECT_FALSE(done->plan.has_changes()) << text(*done);
  EXPECT_FALSE(done->plan.has_blocked()) << text(*done);
}

TEST(ApplyEngineRejections, WithoutAStoreNothingIsRecordedAndThePlanSaysSo) {
  Card card;
  {
    store::EphemeralKeeper setup;
    ASSERT_TRUE(card.apply(setup, manifest()));
  }
  card.change_behind_hsmctls_back(PinRef::kUser, Secret(kPin), Secret(kNewPin));
  store::EphemeralKeeper none;  // --store none
  auto p = card.plan(none, manifest());
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_THAT(text(*p), HasSubstr("the device rejected the manifest's value (spec.userPin); NOT "
                                  "recorded"));
  EXPECT_THAT(text(*p), Not(HasSubstr("; recorded")));
}

// Issue 8 item 2: an older copy of the store is restored after a rotation. The stale stored
// values are tried once each, rejected, recorded and named as the store's; the manifest's values
// are then tried (one try each at most, never below the floor) and the device converges.
TEST(ApplyEngineRejections, RestoredOlderStoreConvergesSpendingOneTryPerStaleValue) {
  store::testing::TempDir dir;
  const std::string path = dir.file("store.hsmctl");
  Card card;
  {
    auto keeper = open_store(path);
    ASSERT_TRUE(card.apply(*keeper, manifest()));
  }
  std::filesystem::copy_file(path, dir.file("backup.hsmctl"));
  {
    auto keeper = open_store(path);
    ASSERT_TRUE(card.apply(*keeper, manifest(kNewPin, kNewSo)));  // rotation
  }
  std::filesystem::copy_file(dir.file("backup.hsmctl"), path,
                             std::filesystem::copy_options::overwrite_existing);
  // The operator restores on purpose: the store's rollback record is dropped as its message says.
  std::filesystem::remove(path + ".seen");

  auto keeper = open_store(path);
  card.verifies = 0;
  {
    auto p = card.plan(*keeper, manifest(kNewPin, kNewSo));
    ASSERT_TRUE(p) << p.error().to_string();
    // Stale SO and user values rejected (one try each), then the manifest's matched.
    EXPECT_EQ(card.verifies, 4);
    EXPECT_FALSE(p->plan.has_changes()) << text(*p);
    EXPECT_FALSE(p->plan.has_blocked()) << text(*p);
    EXPECT_THAT(text(*p), HasSubstr("the device rejected the store's value (pico:" +
                                    std::string(kSerial) + "/so-pin)"));
    EXPECT_THAT(text(*p), Not(HasSubstr("rejected the manifest")));
    auto r = execute(*p, {}, *keeper, [](const std::string&) {});
    ASSERT_TRUE(r) << r.error().to_string();
  }
  // The success restored both counters; the store holds the device's values again.
  EXPECT_EQ(card.tries(PinRef::kUser), 3);
  EXPECT_EQ(card.tries(PinRef::kSo), 15);
  card.verifies = 0;
  auto again = card.plan(*keeper, manifest(kNewPin, kNewSo));
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_EQ(card.verifies, 2);  // one VERIFY per PIN, both match
  EXPECT_FALSE(again->plan.has_changes()) << text(*again);
  EXPECT_TRUE(again->plan.notes.empty()) << text(*again);
}

// Two hosts, two stores, one device: host B's store is stale after host A rotated the PINs.
TEST(ApplyEngineRejections, TwoStoresForOneDeviceConverge) {
  store::testing::TempDir dir;
  Card card;
  auto a = open_store(dir.file("a.hsmctl"));
  auto b = open_store(dir.file("b.hsmctl"));
  ASSERT_TRUE(card.apply(*a, manifest()));
  ASSERT_TRUE(card.apply(*b, manifest()));                 // host B learns the same values
  ASSERT_TRUE(card.apply(*a, manifest(kNewPin, kNewSo)));  // host A rotates

  // Host B, still on the old manifest: its store's value and the manifest's are the same stale
  // value. Tried once (one try per PIN), then blocked, naming both sources; never again.
  card.verifies = 0;
  {
    auto p = card.plan(*b, manifest());
    ASSERT_TRUE(p) << p.error().to_string();
    EXPECT_EQ(card.verifies, 2);
    EXPECT_TRUE(p->plan.has_blocked());
    EXPECT_THAT(text(*p),
                HasSubstr("the device rejected the value in the store (pico:" +
                          std::string(kSerial) + "/so-pin) and the manifest (spec.soPin)"));
  }
  card.verifies = 0;
  {
    auto p = card.plan(*b, manifest());
    ASSERT_TRUE(p);
    EXPECT_EQ(card.verifies, 0);
    EXPECT_EQ(card.tries(PinRef::kUser), 2);  // floor kept: hsmctl spent one try per PIN
    EXPECT_EQ(card.tries(PinRef::kSo), 14);
  }
  // Host B pulls the new manifest: its new values are tried (the counters are short by exactly
  // hsmctl's own recorded miss), match, and host B converges.
  card.verifies = 0;
  ASSERT_TRUE(card.apply(*b, manifest(kNewPin, kNewSo)));
  EXPECT_EQ(card.verifies, 2);
  EXPECT_EQ(card.tries(PinRef::kUser), 3);
  EXPECT_EQ(card.tries(PinRef::kSo), 15);
  auto done = card.plan(*b, manifest(kNewPin, kNewSo));
  ASSERT_TRUE(done);
  EXPECT_FALSE(done->plan.has_changes()) << text(*done);
  EXPECT_FALSE(done->plan.has_blocked()) << text(*done);
  // Host A is unaffected.
  auto host_a = card.plan(*a, manifest(kNewPin, kNewSo));
  ASSERT_TRUE(host_a);
  EXPECT_FALSE(host_a->plan.has_changes()) << text(*host_a);
}

// Issue 8 item 7 / issue 13: the record made before every VERIFY is an append to the record log
// beside the store, not a rewrite of the encrypted store: a no-change plan leaves the store file
// as it was (before, it was rewritten four times per plan: "sending" and the outcome per PIN).
TEST(ApplyEngineRejectionRecords, ANoChangePlanDoesNotRewriteTheStore) {
  store::testing::TempDir dir;
  const std::string path = dir.file("store.hsmctl");
  Card card;
  {
    auto keeper = open_store(path);
    ASSERT_TRUE(card.apply(*keeper, manifest()));
  }
  auto keeper = open_store(path);
  // The first VERIFY ever made with this store creates its fingerprint key (one write, once).
  ASSERT_TRUE(card.plan(*keeper, manifest()));
  ASSERT_TRUE(keeper->current(store::kFingerprintKeyEntry)->has_value());
  const auto generation = *keeper->generation();
  for (int run = 0; run < 3; ++run) {
    card.verifies = 0;
    auto p = card.plan(*keeper, manifest());
    ASSERT_TRUE(p) << p.error().to_string();
    EXPECT_FALSE(p->plan.has_changes()) << text(*p);
    EXPECT_EQ(card.verifies, 2);  // both PINs verified, each recorded before it was sent
  }
  EXPECT_EQ(*keeper->generation(), generation) << "a no-change plan rewrote the store";
  EXPECT_TRUE(std::filesystem::exists(path + ".records"));
  EXPECT_EQ(std::filesystem::status(path + ".records").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

// The records are folded into the store entry now and then; a value recorded as rejected stays
// withheld across every fold, and the record log stays small however many plans run.
TEST(ApplyEngineRejectionRecords, ARejectedValueStaysWithheldAcrossFolds) {
  store::testing::TempDir dir;
  const std::string path = dir.file("store.hsmctl");
  Card card;
  {
    auto keeper = open_store(path);
    ASSERT_TRUE(card.apply(*keeper, manifest()));
  }
  card.change_behind_hsmctls_back(PinRef::kUser, Secret(kPin), Secret(kNewPin));
  // The store's value is rejected once; the manifest now names the device's value.
  card.verifies = 0;
  {
    auto keeper = open_store(path);
    auto p = card.plan(*keeper, manifest(kNewPin, kSo));
    ASSERT_TRUE(p) << p.error().to_string();
  }
  EXPECT_EQ(card.verifies, 3);  // stale user PIN (rejected), manifest's user PIN, SO PIN
  for (int run = 0; run < 60; ++run) {
    auto keeper = open_store(path);  // a new process each time
    card.verifies = 0;
    auto p = card.plan(*keeper, manifest(kNewPin, kSo));
    ASSERT_TRUE(p) << p.error().to_string();
    ASSERT_EQ(card.verifies, 2) << "run " << run << ": the rejected value was sent again";
    ASSERT_THAT(text(*p), HasSubstr("(rejected in an earlier run)")) << "run " << run;
  }
  EXPECT_EQ(card.tries(PinRef::kUser), 3);
  auto keeper = open_store(path);
  auto entry = keeper->current(credential_key(kSerial, "user-pin-rejected"));
  ASSERT_TRUE(entry && entry->has_value());
  EXPECT_THAT(std::string((*entry)->view()), HasSubstr("#folded "));  // folded at least once
  EXPECT_LT(std::filesystem::file_size(path + ".records"), 2U * 70U * 160U);
}

// The documented way to allow a recorded value again: `hsmctl store rm pico:<serial>/user-pin-
// rejected` forgets it, whether it was folded into the entry or is still in the record log.
TEST(ApplyEngineRejectionRecords, RemovingTheRecordAllowsTheValueAgain) {
  store::testing::TempDir dir;
  const std::string path = dir.file("store.hsmctl");
  Card card;
  auto keeper = open_store(path);
  ASSERT_TRUE(card.apply(*keeper, manifest()));
  card.change_behind_hsmctls_back(PinRef::kUser, Secret(kPin), Secret(kNewPin));
  ASSERT_TRUE(card.plan(*keeper, manifest()));  // the held value is rejected and recorded
  // Someone puts the old value back (checked with another tool).
  card.change_behind_hsmctls_back(PinRef::kUser, Secret(kNewPin), Secret(kPin));
  card.verifies = 0;
  ASSERT_TRUE(card.plan(*keeper, manifest()));
  EXPECT_EQ(card.verifies, 1);  // the SO PIN only: the recorded value is withheld
  ASSERT_TRUE(keeper->rm(credential_key(kSerial, "user-pin-rejected")));
  card.verifies = 0;
  auto p = card.plan(*keeper, manifest());
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_EQ(card.verifies, 2);
  EXPECT_FALSE(p->plan.has_blocked()) << text(*p);
  EXPECT_FALSE(p->plan.has_changes()) << text(*p);
}

// The record made before a VERIFY is synced only when the answer is not an acceptance, and then
// before anything else is sent: a no-change plan costs no fdatasync (issue 8 item 7), and a
// rejection is on stable storage before the next APDU (issue 8 item 1).
class EventLog {
 public:
  void add(std::string e) { events_.push_back(std::move(e)); }
  const std::vector<std::string>& events() const { return events_; }

 private:
  std::vector<std::string> events_;
};

/// Forwards to a real keeper and logs every record append with its durability.
class LoggingKeeper final : public store::CredentialKeeper {
 public:
  LoggingKeeper(store::CredentialKeeper& k, EventLog& log) : k_(k), log_(log) {}
  Result<std::optional<Secret>> current(const store::CredentialKey& key) override {
    return k_.current(key);
  }
  Result<std::optional<Secret>> pending(const store::CredentialKey& key) override {
    return k_.pending(key);
  }
  Result<void> stage(const store::CredentialKey& key, const Secret& value) override {
    log_.add("durable stage");
    return k_.stage(key, value);
  }
  Result<void> commit(const store::CredentialKey& key) override { return k_.commit(key); }
  Result<void> discard(const store::CredentialKey& key) override { return k_.discard(key); }
  Result<void> record_current(const store::CredentialKey& key, const Secret& value) override {
    return k_.record_current(key, value);
  }
  bool durable() const override { return k_.durable(); }
  Result<std::optional<std::string>> fact(const store::CredentialKey& key,
                                          const std::string& field) override {
    return k_.fact(key, field);
  }
  Result<void> record_fact(const store::CredentialKey& key, const std::string& field,
                           const std::string& value) override {
    return k_.record_fact(key, field, value);
  }
  Result<std::vector<store::LogRecord>> records(const std::string& stream) override {
    return k_.records(stream);
  }
  Result<std::string> append_record(const std::string& stream, const std::string& text,
                                    bool durable) override {
    log_.add(std::string(durable ? "durable " : "written ") + text.substr(0, text.find(' ')));
    return k_.append_record(stream, text, durable);
  }
  Result<void> drop_records(const std::string& stream, const std::string& through) override {
    return k_.drop_records(stream, through);
  }
  store::ApplyJournal* journal() override { return k_.journal(); }

 private:
  store::CredentialKeeper& k_;
  EventLog& log_;
};

/// Logs every APDU: "VERIFY <SW>" for a VERIFY with data, "APDU" for anything else.
class LoggingTransport final : public device::Transport {
 public:
  LoggingTransport(device::Transport& t, EventLog& log) : t_(t), log_(log) {}
  Result<Bytes> transmit(ByteView c) override {
    auto r = t_.transmit(c);
    if (c.size() > 5 && c[1] == 0x20 && r && r->size() >= 2) {
      log_.add("VERIFY " + to_hex(ByteView(r->data() + r->size() - 2, 2)));
    } else {
      log_.add("APDU");
    }
    return r;
  }
  std::string describe() const override { return t_.describe(); }

 private:
  device::Transport& t_;
  EventLog& log_;
};

TEST(ApplyEngineRejectionRecords, OnlyAFailedVerifyIsSyncedAndBeforeTheNextApdu) {
  store::testing::TempDir dir;
  auto keeper = open_store(dir.file("store.hsmctl"));
  Card card;
  ASSERT_TRUE(card.apply(*keeper, manifest()));

  EventLog quiet;
  {
    LoggingKeeper logging(*keeper, quiet);
    auto p = prepare(manifest(), std::make_unique<LoggingTransport>(*card.sim, quiet), logging);
    ASSERT_TRUE(p) << p.error().to_string();
    EXPECT_FALSE(p->plan.has_changes()) << text(*p);
  }
  int verifies = 0;
  for (const auto& e : quiet.events()) {
    EXPECT_THAT(e, Not(HasSubstr("durable"))) << "a no-change plan made a synced write";
    verifies += e.rfind("VERIFY 9000", 0) == 0 ? 1 : 0;
  }
  EXPECT_EQ(verifies, 2);

  card.change_behind_hsmctls_back(PinRef::kUser, Secret(kPin), Secret(kNewPin));
  EventLog rejected;
  {
    LoggingKeeper logging(*keeper, rejected);
    auto p = prepare(manifest(), std::make_unique<LoggingTransport>(*card.sim, rejected), logging);
    ASSERT_TRUE(p) << p.error().to_string();
  }
  const auto& ev = rejected.events();
  auto wrong = std::find_if(ev.begin(), ev.end(),
                            [](const std::string& e) { return e.rfind("VERIFY 63C", 0) == 0; });
  ASSERT_NE(wrong, ev.end());
  ASSERT_NE(std::next(wrong), ev.end());
  EXPECT_EQ(*std::next(wrong), "durable sending") << "the rejection was not synced before the "
                                                     "next APDU";
  EXPECT_EQ(card.tries(PinRef::kUser), 2);
}

}  // namespace
}  // namespace hsmctl::families::schsm_engine
