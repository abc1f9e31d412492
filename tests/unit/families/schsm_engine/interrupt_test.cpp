// SPDX-License-Identifier: Apache-2.0
// SIGINT/SIGTERM during execute() (util/interrupt.hpp): the step in progress completes with its
// store commit, no further step starts, the report says which steps were not started, and the
// next run converges. The signal is raised by the simulator at an exact APDU (SimCard's test
// hook), the way it would arrive from a terminal while that command is on the wire.

#include "hsmctl/util/interrupt.hpp"

#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/families/schsm_engine/engine.hpp"
#include "hsmctl/store/encrypted_store.hpp"
#include "hsmctl/store/key_source.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <optional>

namespace hsmctl::families::schsm_engine {
namespace {

namespace fs = std::filesystem;
using device::sim::SimCard;

constexpr const char* kSerial = "0A0B0C0D0E0F1012";
constexpr std::uint8_t kInsChangeReferenceData = 0x24;

model::PicoHsmManifest manifest(const std::string& user_env, const std::string& so_env) {
  model::PicoHsmManifest m;
  m.metadata.name = "interrupt";
  m.spec.device.serial = kSerial;
  m.spec.user_pin = model::SecretRef{model::SecretRef::Kind::kEnv, user_env, {}};
  m.spec.so_pin = model::SecretRef{model::SecretRef::Kind::kEnv, so_env, {}};
  return m;
}

class InterruptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::current_path() / "interrupt";  // the test's private temporary directory
    fs::create_directories(dir_);
    setenv("INT_PIN_A", "11112222", 1);
    setenv("INT_PIN_B", "33334444", 1);
    setenv("INT_SO_A", "0102030405060708", 1);
    setenv("INT_SO_B", "8877665544332211", 1);
    signal(SIGINT, SIG_DFL);  // a test runner may start the binary with SIGINT ignored
    signal(SIGTERM, SIG_DFL);
  }

  store::EncryptedStore open_store() {
    auto keys =
        std::make_shared<store::FixedKeySource>(store::KeyMode::kKeyFile, Secret(Bytes(32, 0x5A)));
    auto s = store::EncryptedStore::open_or_create((dir_ / "store.hsmctl").string(), keys,
                                                   store::KeyMode::kKeyFile);
    EXPECT_TRUE(s) << s.error().to_string();
    return std::move(*s);
  }

  /// prepare + execute; `hook` (if any) makes the simulator raise a signal during execute().
  Result<ApplyReport> run(const model::PicoHsmManifest& m,
                          std::optional<SimCard::TestSignal> hook = std::nullopt,
                          std::vector<std::string>* progress = nullptr) {
    auto card = SimCard::open_file((dir_ / "pico.json").string(), kSerial);
    if (!card)
      return tl::unexpected(card.error());
    SimCard* raw = card->get();
    auto keeper = open_store();
    HSMCTL_TRY_ASSIGN(PreparedDevice p, prepare(m, std::move(*card), keeper));
    if (hook)
      raw->set_test_signal(*hook);  // armed after observation: only apply APDUs count
    return execute(p, ApplyOptions{}, keeper, [&](const std::string& line) {
      if (progress != nullptr)
        progress->push_back(line);
    });
  }

  /// A fresh process state ("next run"): the plan for `m`, and the store's view.
  plan::DevicePlan plan_now(const model::PicoHsmManifest& m) {
    auto card = SimCard::open_file((dir_ / "pico.json").string(), kSerial);
    EXPECT_TRUE(card);
    auto keeper = open_store();
    auto p = prepare(m, std::move(*card), keeper);
    EXPECT_TRUE(p) << p.error().to_string();
    EXPECT_NE(p->facts.user_pin, families::schsm_engine::CredentialKnowledge::kMismatchUnknown);
    return p->plan;
  }

  std::string stored(const char* name, bool pending) {
    auto keeper = open_store();
    auto v = pending ? keeper.pending(credential_key(kSerial, name))
                     : keeper.current(credential_key(kSerial, name));
    EXPECT_TRUE(v);
    return *v ? std::string((**v).view()) : std::string("<none>");
  }

  fs::path dir_;
};

TEST_F(InterruptTest, StopsAfterTheStepInProgressAndTheNextRunConverges) {
  ASSERT_TRUE(run(manifest("INT_PIN_A", "INT_SO_A")));
  const auto b = manifest("INT_PIN_B", "INT_SO_B");
  ASSERT_EQ(plan_now(b).actions.size(), 2u);  // change SO PIN, change user PIN

  std::optional<StopOnSignal> guard(std::in_place);
  std::vector<std::string> progress;
  // SIGINT arrives while CHANGE REFERENCE DATA for the SO PIN (step 1 of 2) is on the wire.
  auto r = run(b, SimCard::TestSignal{kInsChangeReferenceData, SIGINT, 1, false, {}}, &progress);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(stop_signal(), SIGINT);
  EXPECT_EQ(r->interrupted_by, SIGINT);
  EXPECT_EQ(r->steps_total, 2);
  EXPECT_EQ(r->steps_done, 1);
  ASSERT_EQ(r->not_started.size(), 1u);
  EXPECT_EQ(r->not_started[0], "change user PIN");
  for (const auto& line : progress) {
    EXPECT_EQ(line.find("change user PIN"), std::string::npos) << "step 2 started: " << line;
  }

  // Step 1 is committed, step 2 never happened: nothing pending, the store matches the device.
  EXPECT_EQ(stored("so-pin", false), "8877665544332211");
  EXPECT_EQ(stored("so-pin", true), "<none>");
  EXPECT_EQ(stored("user-pin", false), "11112222");
  EXPECT_EQ(stored("user-pin", true), "<none>");
  const auto rest = plan_now(b);
  ASSERT_EQ(rest.actions.size(), 1u) << plan::render_text({rest}, false);
  EXPECT_EQ(rest.actions[0].summary, "change user PIN");
  EXPECT_TRUE(rest.notes.empty() || rest.notes[0].find("interrupted") == std::string::npos)
      << "a closed journal is not an interrupted run to resolve: " << rest.notes[0];

  guard.reset();  // the next run is a new process: no stop requested
  auto again = run(b);
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_EQ(again->interrupted_by, 0);
  EXPECT_EQ(again->steps_done, 1);
  EXPECT_FALSE(plan_now(b).has_changes());
}

TEST_F(InterruptTest, SignalAfterTheCardAnsweredStillCommitsThatStep) {
  ASSERT_TRUE(run(manifest("INT_PIN_A", "INT_SO_A")));
  const auto b = manifest("INT_PIN_B", "INT_SO_B");
  StopOnSignal guard;
  auto r = run(b, SimCard::TestSignal{kInsChangeReferenceData, SIGTERM, 1, true, {}});
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->interrupted_by, SIGTERM);
  EXPECT_EQ(r->steps_done, 1);
  EXPECT_EQ(stored("so-pin", false), "8877665544332211");
  EXPECT_EQ(stored("so-pin", true), "<none>");
}

TEST_F(InterruptTest, WithoutAStopRequestEveryStepRuns) {
  // The check itself: the same apply, no signal, both steps (guards the test above from
  // passing because step 2 never runs anyway).
  ASSERT_TRUE(run(manifest("INT_PIN_A", "INT_SO_A")));
  StopOnSignal guard;
  auto r = run(manifest("INT_PIN_B", "INT_SO_B"));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->interrupted_by, 0);
  EXPECT_EQ(r->steps_done, 2);
  EXPECT_TRUE(r->not_started.empty());
}

TEST_F(InterruptTest, SecondSignalKillsAndTheJournalLetsTheNextRunConverge) {
  ASSERT_TRUE(run(manifest("INT_PIN_A", "INT_SO_A")));
  const auto b = manifest("INT_PIN_B", "INT_SO_B");
  for (bool after : {false, true}) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      StopOnSignal guard;
      // Two SIGINTs while the SO PIN change is on the wire: the second one ends the process
      // with the new value staged and the journal at "sending".
      (void)run(b, SimCard::TestSignal{kInsChangeReferenceData, SIGINT, 2, after, {}});
      _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << (after ? "after" : "before");
    EXPECT_EQ(WTERMSIG(status), SIGINT);
    auto again = run(b);
    ASSERT_TRUE(again) << again.error().to_string();
    EXPECT_FALSE(plan_now(b).has_changes());
    EXPECT_EQ(stored("so-pin", false), "8877665544332211");
    EXPECT_EQ(stored("user-pin", false), "33334444");
    EXPECT_EQ(stored("so-pin", true), "<none>");
    // Back to A for the second round.
    ASSERT_TRUE(run(manifest("INT_PIN_A", "INT_SO_A")));
  }
}

}  // namespace
}  // namespace hsmctl::families::schsm_engine
