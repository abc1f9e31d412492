// SPDX-License-Identifier: Apache-2.0
// "Never lose a credential": a fault is injected at every APDU of every credential-changing apply
// (the card removed before the APDU reaches it, or after it executed it so only the answer is
// lost, or the process killed there). After a "replug", the next apply must converge, the store
// must hold the values the device accepts, and no pending value may be left behind.

#include "support/temp_dir.hpp"

#include "hsmctl/device/sim/fault_injection.hpp"
#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/device/sim/sim_state.hpp"
#include "hsmctl/families/schsm_engine/engine.hpp"
#include "hsmctl/store/encrypted_store.hpp"
#include "hsmctl/store/key_source.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

namespace hsmctl::families::schsm_engine {
namespace {

namespace fs = std::filesystem;
using device::sim::FaultInjectingTransport;
using device::sim::SimCard;

constexpr const char* kSerial = "0A0B0C0D0E0F1011";

/// Owns the simulated card and the fault injector in front of it.
class FaultyCard final : public device::Transport {
 public:
  explicit FaultyCard(std::unique_ptr<SimCard> card) : card_(std::move(card)), faults_(*card_) {}
  Result<Bytes> transmit(ByteView command) override {
    if (kill_at_ > 0 && ++seen_ == kill_at_) {
      if (kill_after_)
        (void)card_->transmit(command);
      raise(SIGKILL);  // the process dies mid-apply, as on a power loss of the host
    }
    auto r = faults_.transmit(command);
    // The fewest tries the device showed at any point: what this run cost.
    const auto& p = card_->state().persistent;
    if (p.user.length > 0)
      min_user_tries = std::min(min_user_tries, p.user.retries);
    if (p.so.length > 0)
      min_so_tries = std::min(min_so_tries, p.so.retries);
    return r;
  }
  std::string describe() const override { return faults_.describe(); }
  Result<void> begin_exclusive() override { return faults_.begin_exclusive(); }
  void end_exclusive() override { faults_.end_exclusive(); }
  FaultInjectingTransport& faults() { return faults_; }
  int min_user_tries = 99;
  int min_so_tries = 99;
  int kill_at_ = 0;  ///< raise SIGKILL at this APDU (counted from arm time)
  bool kill_after_ = false;
  int seen_ = 0;

 private:
  std::unique_ptr<SimCard> card_;
  FaultInjectingTransport faults_;
};

model::PicoHsmManifest manifest(const std::string& user_env, const std::string& so_env) {
  model::PicoHsmManifest m;
  m.metadata.name = "crash";
  m.spec.device.serial = kSerial;
  m.spec.user_pin = model::SecretRef{model::SecretRef::Kind::kEnv, user_env, {}};
  m.spec.so_pin = model::SecretRef{model::SecretRef::Kind::kEnv, so_env, {}};
  return m;
}

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("CRASH_PIN_A", "11112222", 1);
    setenv("CRASH_PIN_B", "33334444", 1);
    setenv("CRASH_SO_A", "0102030405060708", 1);
    setenv("CRASH_SO_B", "8877665544332211", 1);
  }

  std::string sim_path(const std::string& tag) const { return (dir_ / (tag + ".json")).string(); }
  std::string store_path(const std::string& tag) const {
    return (dir_ / (tag + ".hsmctl")).string();
  }

  store::EncryptedStore open_store(const std::string& tag) {
    auto keys =
        std::make_shared<store::FixedKeySource>(store::KeyMode::kKeyFile, Secret(Bytes(32, 0x5A)));
    auto s = store::EncryptedStore::open_or_create(store_path(tag), keys, store::KeyMode::kKeyFile);
    EXPECT_TRUE(s) << s.error().to_string();
    return std::move(*s);
  }

  /// One hsmctl run: prepare + execute. `arm` may set faults once observation is done.
  /// `tries`, when given, receives the fewest user / SO PIN tries the device showed meanwhile.
  Result<ApplyReport> run(const std::string& tag, const model::PicoHsmManifest& m,
                          const std::function<void(FaultyCard&)>& arm, bool allow_reinit,
                          std::pair<int, int>* tries = nullptr,
                          std::vector<std::string>* notes = nullptr) {
    auto card = SimCard::open_file(sim_path(tag), kSerial);
    if (!card)
      return tl::unexpected(card.error());
    auto faulty = std::make_unique<FaultyCard>(std::move(*card));
    FaultyCard* raw = faulty.get();
    auto keeper = open_store(tag);
    HSMCTL_TRY_ASSIGN(PreparedDevice p, prepare(m, std::move(faulty), keeper));
    if (notes != nullptr)
      *notes = p.plan.notes;
    if (arm)
      arm(*raw);
    ApplyOptions options;
    options.allow_reinit = allow_reinit;
    options.allow_key_loss = allow_reinit;
    auto r = execute(p, options, keeper, [](const std::string&) {});
    if (tries != nullptr)
      *tries = {raw->min_user_tries, raw->min_so_tries};
    return r;
  }

  /// Arms the simulator's "power lost before the deferred flash write" fault for `ins`.
  void lose_next_write(const std::string& tag, std::uint8_t ins) {
    auto card = SimCard::open_file(sim_path(tag), kSerial);
    ASSERT_TRUE(card);
    (*card)->state().persistent.faults.lose_write_after_answer = {ins};
    ASSERT_TRUE((*card)->save());
  }
  /// The device's persistent state as the next power-up sees it.
  device::sim::SimPersistent device(const std::string& tag) {
    auto card = SimCard::open_file(sim_path(tag), kSerial);
    EXPECT_TRUE(card);
    return (*card)->state().persistent;
  }

  /// Plans again from a fresh process state ("replug") and expects no changes, with the store's
  /// current values being exactly the manifest's and nothing left pending.
  void expect_converged(const std::string& tag, const model::PicoHsmManifest& m,
                        const std::string& user, const std::string& so, const std::string& what) {
    auto again = run(tag, m, nullptr, true);
    ASSERT_TRUE(again) << what << ": recovery apply failed: " << again.error().to_string();
    auto card = SimCard::open_file(sim_path(tag), kSerial);
    ASSERT_TRUE(card);
    auto keeper = open_store(tag);
    auto p = prepare(m, std::move(*card), keeper);
    ASSERT_TRUE(p) << what << ": " << p.error().to_string();
    EXPECT_FALSE(p->plan.has_changes()) << what << ": " << plan::render_text({p->plan}, false);
    EXPECT_EQ(p->facts.user_pin, families::schsm_engine::CredentialKnowledge::kMatchesDesired)
        << what;
    EXPECT_EQ(p->facts.so_pin, families::schsm_engine::CredentialKnowledge::kMatchesDesired)
        << what;
    auto key = [](const char* name) { return credential_key(kSerial, name); };
    auto cur_user = keeper.current(key("user-pin"));
    auto cur_so = keeper.current(key("so-pin"));
    ASSERT_TRUE(cur_user && *cur_user && cur_so && *cur_so) << what;
    if (!user.empty()) {
      EXPECT_EQ((*cur_user)->view(), user) << what;
    }
    if (!so.empty()) {
      EXPECT_EQ((*cur_so)->view(), so) << what;  // kept as 16 hex digits
    }
    EXPECT_FALSE(*keeper.pending(key("user-pin"))) << what;
    EXPECT_FALSE(*keeper.pending(key("so-pin"))) << what;
  }

  /// Copies the starting device and store to a new tag.
  void fork_state(const std::string& from, const std::string& to) {
    fs::copy_file(sim_path(from), sim_path(to), fs::copy_options::overwrite_existing);
    fs::copy_file(store_path(from), store_path(to), fs::copy_options::overwrite_existing);
    fs::permissions(store_path(to), fs::perms::owner_read | fs::perms::owner_write,
                    fs::perm_options::replace);
    // A deliberate restore: the rollback record of the store replaced is dropped too.
    fs::remove(store_path(to) + ".seen");
  }

  /// For every APDU of the apply from `base` to `m`: card removed before / after it, and the
  /// process killed before / after it. Each must recover to `m` on the next run.
  void crash_everywhere(const std::string& base, const model::PicoHsmManifest& m,
                        const std::string& user, const std::string& so, bool reinit) {
    // How many APDUs does the apply send after observation?
    fork_state(base, "count");
    int observe_count = 0;
    int apply_count = 0;
    auto card = SimCard::open_file(sim_path("count"), kSerial);
    ASSERT_TRUE(card);
    auto counting = std::make_unique<FaultyCard>(std::move(*card));
    FaultyCard* raw = counting.get();
    {
      auto keeper = open_store("count");
      auto p = prepare(m, std::move(counting), keeper);
      ASSERT_TRUE(p) << p.error().to_string();
      ASSERT_TRUE(p->plan.has_changes());
      observe_count = raw->faults().apdu_count();
      ApplyOptions o;
      o.allow_reinit = o.allow_key_loss = reinit;
      auto r = execute(*p, o, keeper, [](const std::string&) {});
      ASSERT_TRUE(r) << r.error().to_string();
      apply_count = raw->faults().apdu_count() - observe_count;  // raw dies with p
    }
    ASSERT_GT(apply_count, 0);

    for (int n = 1; n <= apply_count; ++n) {
      for (auto when : {FaultInjectingTransport::When::kBeforeForwarding,
                        FaultInjectingTransport::When::kAfterForwarding}) {
        const bool after = when == FaultInjectingTransport::When::kAfterForwarding;
        const std::string what = "card removed " + std::string(after ? "after" : "before") +
                                 " apply APDU " + std::to_string(n);
        const std::string tag = "t" + std::to_string(n) + (after ? "a" : "b");
        fork_state(base, tag);
        auto r = run(
            tag, m, [&](FaultyCard& c) { c.faults().fail_at(n, when); }, reinit);
        EXPECT_FALSE(r) << what << ": apply did not notice the removal";
        expect_converged(tag, m, user, so, what);

        const std::string ktag = tag + "k";
        fork_state(base, ktag);
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
          (void)run(
              ktag, m,
              [&](FaultyCard& c) {
                c.kill_at_ = n;
                c.kill_after_ = after;
                c.seen_ = 0;
              },
              reinit);
          _exit(0);  // only reached if the kill point was never hit
        }
        int status = 0;
        waitpid(pid, &status, 0);
        EXPECT_TRUE(WIFSIGNALED(status)) << "process kill " << what;
        expect_converged(ktag, m, user, so, "process killed at " + what);
      }
    }
  }

  hsmctl::testing::TempDir tmp_{"hsmctl-crash"};  // 0700, removed after the test
  fs::path dir_ = tmp_.fs_path();
};

// Pico HSM answers 9000 and writes flash afterwards (pico-hsm.md 13.1). The simulator's fault
// "lose_write_after_answer" answers, then loses power before the write: the device keeps the old
// value while hsmctl saw success. Before the fix the store committed the new value; the next run
// tried it (a wrong VERIFY: one user-PIN try) and the old value was gone from the store.
TEST_F(CrashTest, UserPinChangeLostAfterTheAnswerCostsNoTry) {
  ASSERT_TRUE(run("base", manifest("CRASH_PIN_A", "CRASH_SO_A"), nullptr, false));
  lose_next_write("base", 0x24);
  const auto m = manifest("CRASH_PIN_B", "CRASH_SO_A");
  std::pair<int, int> tries;
  auto r = run("base", m, nullptr, false, &tries);
  ASSERT_FALSE(r) << "apply did not notice the power loss";
  EXPECT_EQ(r.error().code, Errc::kUnavailable);
  EXPECT_NE(r.error().message.find("may not have reached its flash"), std::string::npos)
      << r.error().message;
  // The device still holds PIN A; the store keeps A as current and B as pending.
  EXPECT_EQ(device("base").user.retries, 3);
  {
    auto keeper = open_store("base");
    auto cur = keeper.current(credential_key(kSerial, "user-pin"));
    auto pending = keeper.pending(credential_key(kSerial, "user-pin"));
    ASSERT_TRUE(cur && *cur && pending && *pending);
    EXPECT_EQ((*cur)->view(), "11112222");
    EXPECT_EQ((*pending)->view(), "33334444");
  }
  // The next run resets the user PIN with the SO PIN instead of trying either value.
  std::vector<std::string> notes;
  auto again = run("base", m, nullptr, false, &tries, &notes);
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_EQ(tries.first, 3) << "a user PIN try was spent";
  EXPECT_EQ(tries.second, 15) << "an SO PIN try was spent";
  std::string all;
  for (const auto& n : notes)
    all += n + "\n";
  EXPECT_NE(all.find("sets the manifest's value with the SO PIN"), std::string::npos) << all;
  expect_converged("base", m, "33334444", "0102030405060708", "lost user PIN change");
  EXPECT_EQ(device("base").user.retries, 3);
}

TEST_F(CrashTest, UserPinChangeLostWithoutResetRetryCounterCostsOneTryThatIsRestored) {
  auto base = manifest("CRASH_PIN_A", "CRASH_SO_A");
  base.spec.reset_retry_counter.enabled = false;
  ASSERT_TRUE(run("base", base, nullptr, false));
  lose_next_write("base", 0x24);
  auto m = manifest("CRASH_PIN_B", "CRASH_SO_A");
  m.spec.reset_retry_counter.enabled = false;
  ASSERT_FALSE(run("base", m, nullptr, false));
  // No SO route: the pending value is tried once (3 -> 2), the old one is inferred from the
  // miss and the CHANGE that follows restores the counter.
  std::pair<int, int> tries;
  auto again = run("base", m, nullptr, false, &tries);
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_EQ(tries.first, 2);
  EXPECT_EQ(tries.second, 15);
  expect_converged("base", m, "33334444", "0102030405060708", "lost user PIN change, no RRC");
  EXPECT_EQ(device("base").user.retries, 3);
}

TEST_F(CrashTest, SoPinChangeLostAfterTheAnswerCostsOneSoTryThatIsRestored) {
  ASSERT_TRUE(run("base", manifest("CRASH_PIN_A", "CRASH_SO_A"), nullptr, false));
  lose_next_write("base", 0x24);
  const auto m = manifest("CRASH_PIN_A", "CRASH_SO_B");
  ASSERT_FALSE(run("base", m, nullptr, false));
  // No zero-try route exists for the SO PIN (only INITIALIZE replaces it): the pending value is
  // tried once (15 -> 14, never below the floor of 13), the old one is inferred, and the change
  // that follows restores the counter.
  std::pair<int, int> tries;
  auto again = run("base", m, nullptr, false, &tries);
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_EQ(tries.first, 3);
  EXPECT_EQ(tries.second, 14);
  expect_converged("base", m, "11112222", "8877665544332211", "lost SO PIN change");
  EXPECT_EQ(device("base").so.retries, 15);
}

TEST_F(CrashTest, FirstInitializeLostAfterTheAnswerIsRedone) {
  {
    auto card = SimCard::open_file(sim_path("base"), kSerial);
    ASSERT_TRUE(card);
    (void)open_store("base");
  }
  lose_next_write("base", 0x50);
  const auto m = manifest("CRASH_PIN_A", "CRASH_SO_A");
  ASSERT_FALSE(run("base", m, nullptr, false));
  EXPECT_EQ(device("base").user.length, 0) << "the device should be uninitialized again";
  std::pair<int, int> tries;
  auto again = run("base", m, nullptr, false, &tries);
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_EQ(tries.first, 3);
  EXPECT_EQ(tries.second, 15);
  expect_converged("base", m, "11112222", "0102030405060708", "lost INITIALIZE");
}

TEST_F(CrashTest, InitializeOfAFreshDevice) {
  const auto m = manifest("CRASH_PIN_A", "CRASH_SO_A");
  {
    auto card = SimCard::open_file(sim_path("base"), kSerial);
    ASSERT_TRUE(card);
    (void)open_store("base");
  }
  crash_everywhere("base", m, "11112222", "0102030405060708", false);
}

TEST_F(CrashTest, InitializeWithGeneratedCredentials) {
  // Generated values exist nowhere but in the store: losing one loses the device.
  auto m = manifest("", "");
  m.spec.user_pin = model::SecretRef{model::SecretRef::Kind::kGenerate, "", {}};
  m.spec.so_pin = model::SecretRef{
      model::SecretRef::Kind::kGenerate, "", {model::GenerateSpec::Charset::kHex, 16}};
  {
    auto card = SimCard::open_file(sim_path("base"), kSerial);
    ASSERT_TRUE(card);
    (void)open_store("base");
  }
  crash_everywhere("base", m, "", "", false);
}

TEST_F(CrashTest, ChangeOfUserPinAndSoPin) {
  ASSERT_TRUE(run("base", manifest("CRASH_PIN_A", "CRASH_SO_A"), nullptr, false));
  crash_everywhere("base", manifest("CRASH_PIN_B", "CRASH_SO_B"), "33334444", "8877665544332211",
                   false);
}

TEST_F(CrashTest, ReinitializationForKeyDomains) {
  ASSERT_TRUE(run("base", manifest("CRASH_PIN_A", "CRASH_SO_A"), nullptr, false));
  auto m = manifest("CRASH_PIN_B", "CRASH_SO_A");
  m.spec.key_domains = {model::KeyDomain{2}, model::KeyDomain{}};
  crash_everywhere("base", m, "33334444", "0102030405060708", true);
}

}  // namespace
}  // namespace hsmctl::families::schsm_engine
