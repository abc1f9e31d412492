// SPDX-License-Identifier: Apache-2.0
// `hsmctl plan/apply` on the shipped Primus examples (on-prem and CloudHSM) against the ppin
// double: the second plan shows no changes, and no secret reaches argv or output.

#include "cli/cli_fixture.hpp"

#include <gmock/gmock.h>
#include <nlohmann/json.hpp>

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

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
      return nlohmann::json{
          {"setupPassword", kSetup}, {"issuedAt", 1800000000 - 3600},  {"lifespanHours", 72},
          {"clockFrom", "FirstUse"}, {"secret", std::string(64, 'a')}, {"pkcs11Pin", kPin}};
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
      replace_all(text, "  client:\n",
                  "  client:\n    configPath: " + etc_ + "/primus.cfg\n    secretsPath: " + etc_ +
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

TEST_F(PrimusCli, OnPremExampleConvergesInOneApply) {
  converge("onprem.yaml");
}
TEST_F(PrimusCli, CloudHsmExampleConvergesInOneApply) {
  converge("cloudhsm.yaml");
}

// Issue 10: a ppin that refuses a missing .secrets.cfg (the install guide copies a template).
class PrimusCliSecretsFile : public PrimusCli {
 protected:
  void SetUp() override {
    PrimusCli::SetUp();
    auto state = nlohmann::json::parse(read_text(state_));
    state["requireSecretsFile"] = true;
    write_text(state_, state.dump(2));
  }
  std::string secrets() const { return etc_ + "/.secrets.cfg"; }
};

TEST_F(PrimusCliSecretsFile, WithoutTheFieldPlanWarnsAndApplyNamesTheFileAndTheField) {
  const std::string m = example("onprem.yaml");
  const std::string ppin = HSMCTL_PPIN_DOUBLE;
  auto plan = hsmctl({"plan", "-f", m, "--ppin", ppin, "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 2) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("warning: " + secrets() + " does not exist")) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("spec.client.createSecretsFile: true"));
  EXPECT_THAT(plan.out, HasSubstr("fetch permanent secret for 'PAYMENTS01'"));
  auto json = hsmctl({"plan", "-f", m, "--ppin", ppin, "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.all();
  const auto doc = nlohmann::json::parse(json.out);
  EXPECT_THAT(doc["devices"][0]["notes"].dump(), HasSubstr("spec.client.createSecretsFile: true"))
      << json.out;

  auto apply = hsmctl({"apply", "-f", m, "--ppin", ppin, "--auto-approve"});
  EXPECT_EQ(apply.exit_code, 1) << apply.all();
  EXPECT_THAT(apply.err, HasSubstr("0x80005004")) << apply.all();
  EXPECT_THAT(apply.err, HasSubstr("ppin needs " + secrets() + " to exist"));
  EXPECT_THAT(apply.err, HasSubstr("spec.client.createSecretsFile: true"));
  EXPECT_FALSE(std::filesystem::exists(secrets()));
}

TEST_F(PrimusCliSecretsFile, WithTheFieldApplyCreatesItAndConverges) {
  std::string text = read_text(example("onprem.yaml"));
  // The example's commented-out field switched on, secretsFileMode (the line before it) 0600.
  replace_all(text, "    # createSecretsFile: true", "    createSecretsFile: true");
  replace_all(text, "mode: \"0640\"}\n    createSecretsFile",
              "mode: \"0600\"}\n    createSecretsFile");
  ASSERT_THAT(text, HasSubstr("mode: \"0600\"}\n    createSecretsFile: true ")) << text;
  const std::string m = manifest_file(text);
  const std::string ppin = HSMCTL_PPIN_DOUBLE;
  auto plan = hsmctl({"plan", "-f", m, "--ppin", ppin, "--detailed-exitcode"});
  ASSERT_EQ(plan.exit_code, 2) << plan.all() << text;
  EXPECT_THAT(plan.out, HasSubstr("create empty template " + secrets() + " (0600)"));
  EXPECT_THAT(plan.out, Not(HasSubstr("warning:")));
  auto apply = hsmctl({"apply", "-f", m, "--ppin", ppin, "--auto-approve"});
  ASSERT_EQ(apply.exit_code, 0) << apply.all();
  struct stat st {};
  ASSERT_EQ(::stat(secrets().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_THAT(read_text(secrets()), HasSubstr("PAYMENTS01"));
  plan = hsmctl({"plan", "-f", m, "--ppin", ppin, "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 0) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("No changes."));
  for (const char* secret : {kSetup, kPin}) {
    EXPECT_THAT(transcript_, Not(HasSubstr(secret))) << secret;
  }
}

}  // namespace
}  // namespace hsmctl::testing
