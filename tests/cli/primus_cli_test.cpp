// SPDX-License-Identifier: Apache-2.0
// `hsmctl plan/apply` on the shipped Primus examples (on-prem and CloudHSM) against the ppin
// double: the second plan shows no changes, and no secret reaches argv or output.

#include <grp.h>
#include <gmock/gmock.h>
#include <pwd.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/cli_fixture.hpp"

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kSetup = "bHocQ-bdLVz-d53Cq-xP2qq-7ZdnG";
constexpr const char* kPin = "pkcs11-Pin-4711";
constexpr const char* kProxy = "Proxy-Pw-0815-secret";

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

class PrimusCli : public CliTest {
 protected:
  void SetUp() override {
    etc_ = dir_.file("etc/primus");
    std::filesystem::create_directories(etc_);
    state_ = dir_.file("hsm-state.json");
    env_["PPIN_DOUBLE_STATE"] = state_;
    env_["PPIN_DOUBLE_NOW"] = "1800000000";
    env_["HSMCTL_PPIN_PASS_ENV"] = "PPIN_DOUBLE_STATE,PPIN_DOUBLE_NOW";
    env_["T_SETUP"] = kSetup;
    env_["PRIMUS_SETUP_PW_PAYMENTS01"] = kSetup;
    env_["T_PIN"] = kPin;
    env_["PRIMUS_PKCS11_SIGNING"] = kPin;
    env_["T_PROXY"] = kProxy;
    auto user = [](const char* name) {
      return nlohmann::json{{"setupPassword", kSetup},
                            {"issuedAt", 1800000000 - 3600},
                            {"lifespanHours", 72},
                            {"clockFrom", "FirstUse"},
                            {"secret", std::string(64, 'a')},
                            {"pkcs11Pin", kPin}};
      (void)name;
    };
    nlohmann::json state = {{"version", "2.2.4"},
                            {"users", {{"PAYMENTS01", user("")}, {"SIGNING7F3A", user("")}}},
                            {"proxies", {{"eqabxrfnqqos", {{"password", kProxy}}}}}};
    write_text(state_, state.dump(2));
  }

  /// The example with its paths, owners and secret references pointed into this test.
  std::string example(const std::string& name) {
    std::string text = read_text(std::string(HSMCTL_SOURCE_DIR) + "/examples/primus/" + name);
    replace_all(text, "/etc/primus", etc_);
    if (text.find("configPath:") == std::string::npos) {
      replace_all(text, "  client:\n", "  client:\n    configPath: " + etc_ +
                                           "/primus.cfg\n    secretsPath: " + etc_ +
                                           "/.secrets.cfg\n");
    }
    replace_all(text, "owner: root", "owner: " + std::string(getpwuid(getuid())->pw_name));
    replace_all(text, "group: primus", "group: " + std::string(getgrgid(getgid())->gr_name));
    replace_all(text, "store:cloudhsm.prod-ch.proxy", "env:T_PROXY");
    replace_all(text, "file:/run/secrets/primus-setup-signing", "env:T_SETUP");
    replace_all(text, "store:primus.payments.pin", "env:T_PIN");
    return manifest_file(text);
  }

  void converge(const std::string& name) {
    const std::string m = example(name);
    const std::string ppin = HSMCTL_PPIN_DOUBLE;
    auto plan = hsmctl({"plan", "-f", m, "--ppin", ppin, "--detailed-exitcode"});
    ASSERT_EQ(plan.exit_code, 2) << plan.all();
    auto apply = hsmctl({"apply", "-f", m, "--ppin", ppin, "--auto-approve"});
    ASSERT_EQ(apply.exit_code, 0) << apply.all();
    plan = hsmctl({"plan", "-f", m, "--ppin", ppin, "--detailed-exitcode"});
    EXPECT_EQ(plan.exit_code, 0) << plan.all();
    EXPECT_THAT(plan.out, HasSubstr("No changes."));
    const std::string argv_log = read_text(state_);  // the double records every argv
    for (const char* secret : {kSetup, kPin, kProxy}) {
      EXPECT_THAT(transcript_, Not(HasSubstr(secret))) << secret;
      // The state file holds the HSM's own copies; argv must not.
      auto state = nlohmann::json::parse(argv_log);
      for (const auto& inv : state.value("invocations", nlohmann::json::array())) {
        EXPECT_THAT(inv["argv"].dump(), Not(HasSubstr(secret))) << secret;
      }
    }
  }

  std::string etc_;
  std::string state_;
};

TEST_F(PrimusCli, OnPremExampleConvergesInOneApply) { converge("onprem.yaml"); }
TEST_F(PrimusCli, CloudHsmExampleConvergesInOneApply) { converge("cloudhsm.yaml"); }

}  // namespace
}  // namespace hsmctl::testing
