// SPDX-License-Identifier: Apache-2.0
// The ppin client's process guarantees (issue 10): minimal environment, umask 077, answers
// typed only once echo is off, unexpected prompts fail at once.
#include "primus_fixture.hpp"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <set>

namespace hsmctl::families::primus::testing {
namespace {

class PpinClient : public PrimusFixture {
 protected:
  void SetUp() override {
    PrimusFixture::SetUp();
    PrimusPartition p = partition("onprem");
    std::vector<const PrimusPartition*> parts{&p};
    std::ofstream(etc_ + "/primus.cfg") << render_config(cluster(), parts);
    paths_ = {etc_ + "/primus.cfg", etc_ + "/.secrets.cfg"};
  }
  Result<RunOutput> add() {
    return ppin_.add(paths_, "PAYMENTS01", Secret(std::string_view(kSetup)),
                     Secret(std::string_view(kPin)));
  }
  Ppin ppin_{HSMCTL_PPIN_DOUBLE, 20};
  PpinPaths paths_;
};

TEST_F(PpinClient, ChildEnvironmentIsMinimalAndHoldsNoSecret) {
  set_state([](nlohmann::json& s) { s["recordEnvironment"] = true; });
  setenv("PRIMUS_SETUP_PW_PAYMENTS01", kSetup, 1);
  setenv("HSMCTL_STORE_KEY_FILE", "/secret/store.key", 1);
  setenv("HSMCTL_STORE_PASSPHRASE", "correct horse battery staple", 1);
  setenv("LC_ALL", "C", 1);
  ASSERT_TRUE(ppin_.version());
  ASSERT_TRUE(add());
  unsetenv("PRIMUS_SETUP_PW_PAYMENTS01");
  unsetenv("HSMCTL_STORE_KEY_FILE");
  unsetenv("HSMCTL_STORE_PASSPHRASE");
  unsetenv("LC_ALL");
  const auto envs = load_state()["environments"];
  ASSERT_EQ(envs.size(), 2u);  // -v and -a, each read from /proc/self/environ of the child
  const std::set<std::string> allowed = {
      "PATH",           "HOME",    "LANG",   "LANGUAGE",        "TERM",        "TZ",
      "USER",           "LOGNAME", "TMPDIR", "LD_LIBRARY_PATH", "PRIMUS_HOME", "PPIN_DOUBLE_STATE",
      "PPIN_DOUBLE_NOW"};
  for (const auto& env : envs) {
    bool saw_lc = false;
    for (const auto& e : env) {
      const std::string entry = e.get<std::string>();
      const std::string name = entry.substr(0, entry.find('='));
      saw_lc = saw_lc || name == "LC_ALL";
      EXPECT_TRUE(allowed.count(name) || name.rfind("LC_", 0) == 0) << name;
      for (const char* secret : {kSetup, kPin, kProxyPw, "/secret/store.key", "battery"}) {
        EXPECT_EQ(entry.find(secret), std::string::npos) << entry;
      }
    }
    EXPECT_TRUE(saw_lc);
  }
}

TEST_F(PpinClient, PassEnvNeverPassesHsmctlNames) {
  setenv("HSMCTL_PPIN_PASS_ENV", "PPIN_DOUBLE_STATE,HSMCTL_STORE_KEY_FILE", 1);
  const char* env[] = {"PATH=/bin",
                       "HSMCTL_STORE_KEY_FILE=/k",
                       "PPIN_DOUBLE_STATE=/s",
                       "T_SECRET=x",
                       "HSMCTL_PPIN_PASS_ENV=PPIN_DOUBLE_STATE,HSMCTL_STORE_KEY_FILE",
                       nullptr};
  const auto out = ppin_environment(env);
  EXPECT_EQ(out, (std::vector<std::string>{"PATH=/bin", "PPIN_DOUBLE_STATE=/s"}));
}

TEST_F(PpinClient, SecretsFileCreatedByPpinIsPrivateFromItsFirstByte) {
  const mode_t old = ::umask(022);
  auto r = add();
  ::umask(old);
  ASSERT_TRUE(r) << r.error().to_string();
  const auto writes = load_state()["secretsWrites"];
  ASSERT_FALSE(writes.empty());
  for (const auto& w : writes)
    EXPECT_EQ(w["mode"].get<unsigned>() & 077, 0u) << w.dump();
}

TEST_F(PpinClient, WaitsForEchoOffBeforeTyping) {
  set_state([](nlohmann::json& s) { s["promptOrder"] = "promptThenEchoOff"; });
  auto r = add();
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->output.find(kSetup), std::string::npos);
  auto l = ppin_.list(paths_);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->user_configured("PAYMENTS01"), true);
}

TEST_F(PpinClient, UnexpectedPromptFailsAtOnce) {
  set_state([](nlohmann::json& s) { s["extraPrompt"] = "Enter the partition serial: "; });
  const auto t0 = std::chrono::steady_clock::now();
  auto r = add();
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("Enter the partition serial"), std::string::npos)
      << r.error().message;
  EXPECT_LT(took, std::chrono::seconds(5));
  // Nothing was answered: the HSM saw no login.
  EXPECT_FALSE(load_state()["users"]["PAYMENTS01"].contains("firstUsedAt"));
}

TEST_F(PpinClient, RepeatedPromptIsNotAnsweredTwice) {
  set_state(
      [](nlohmann::json& s) { s["extraPrompt"] = "Provide setup password for 'PAYMENTS01': "; });
  const auto t0 = std::chrono::steady_clock::now();
  auto r = add();
  ASSERT_FALSE(r);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

}  // namespace
}  // namespace hsmctl::families::primus::testing
