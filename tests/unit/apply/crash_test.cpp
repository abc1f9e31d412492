// SPDX-License-Identifier: Apache-2.0
// "Never lose a credential": a fault is injected at every APDU of every credential-changing apply
// (the card removed before the APDU reaches it, or after it executed it so only the answer is
// lost, or the process killed there). After a "replug", the next apply must converge, the store
// must hold the values the device accepts, and no pending value may be left behind.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "hsmctl/apply/engine.hpp"
#include "hsmctl/device/sim/fault_injection.hpp"
#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/store/encrypted_store.hpp"
#include "hsmctl/store/key_source.hpp"

namespace hsmctl::apply {
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
      if (kill_after_) (void)card_->transmit(command);
      raise(SIGKILL);  // the process dies mid-apply, as on a power loss of the host
    }
    return faults_.transmit(command);
  }
  std::string describe() const override { return faults_.describe(); }
  Result<void> begin_exclusive() override { return faults_.begin_exclusive(); }
  void end_exclusive() override { faults_.end_exclusive(); }
  FaultInjectingTransport& faults() { return faults_; }
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
    dir_ = fs::temp_directory_path() / ("hsmctl-crash-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::replace);
    setenv("CRASH_PIN_A", "11112222", 1);
    setenv("CRASH_PIN_B", "33334444", 1);
    setenv("CRASH_SO_A", "0102030405060708", 1);
    setenv("CRASH_SO_B", "8877665544332211", 1);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string sim_path(const std::string& tag) const { return (dir_ / (tag + ".json")).string(); }
  std::string store_path(const std::string& tag) const {
    return (dir_ / (tag + ".hsmctl")).string();
  }

  store::EncryptedStore open_store(const std::string& tag) {
    auto keys = std::make_shared<store::FixedKeySource>(store::KeyMode::kKeyFile,
                                                        Secret(Bytes(32, 0x5A)));
    auto s = store::EncryptedStore::open_or_create(store_path(tag), keys, store::KeyMode::kKeyFile);
    EXPECT_TRUE(s) << s.error().to_string();
    return std::move(*s);
  }

  /// One hsmctl run: prepare + execute. `arm` may set faults once observation is done.
  Result<ApplyReport> run(const std::string& tag, const model::PicoHsmManifest& m,
                          const std::function<void(FaultyCard&)>& arm, bool allow_reinit) {
    auto card = SimCard::open_file(sim_path(tag), kSerial);
    if (!card) return tl::unexpected(card.error());
    auto faulty = std::make_unique<FaultyCard>(std::move(*card));
    FaultyCard* raw = faulty.get();
    auto keeper = open_store(tag);
    HSMCTL_TRY_ASSIGN(PreparedDevice p, prepare(m, std::move(faulty), keeper));
    if (arm) arm(*raw);
    ApplyOptions options;
    options.allow_reinit = allow_reinit;
    options.allow_key_loss = allow_reinit;
    return execute(p, options, keeper, [](const std::string&) {});
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
    EXPECT_EQ(p->facts.user_pin, plan::CredentialKnowledge::kMatchesDesired) << what;
    EXPECT_EQ(p->facts.so_pin, plan::CredentialKnowledge::kMatchesDesired) << what;
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
        auto r = run(tag, m, [&](FaultyCard& c) { c.faults().fail_at(n, when); }, reinit);
        EXPECT_FALSE(r) << what << ": apply did not notice the removal";
        expect_converged(tag, m, user, so, what);

        const std::string ktag = tag + "k";
        fork_state(base, ktag);
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
          (void)run(ktag, m,
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

  fs::path dir_;
};

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
  m.spec.so_pin = model::SecretRef{model::SecretRef::Kind::kGenerate, "",
                                   {model::GenerateSpec::Charset::kHex, 16}};
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
}  // namespace hsmctl::apply
