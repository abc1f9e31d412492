// SPDX-License-Identifier: Apache-2.0
// Issue 12 "Policies" through the real binary: an enforce policy blocks `apply` on the
// simulator (exit 3, nothing changed), a waiver in force lets it through, an expired one blocks
// again; warn policies are notes; `plan -o json` carries `policies` (valid by the plan schema);
// invalid policies are manifest errors; `hsmctl policy test` passes and fails (docs/policies.md).

#include "cli/cli_fixture.hpp"
#include "support/plan_schema.hpp"

#include <gmock/gmock.h>

#include <filesystem>

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::string require_pka(const std::string& waiver = "") {
  return "apiVersion: hsmctl.dev/v1alpha1\n"
         "kind: Policy\n"
         "metadata: {name: prod-needs-pka}\n"
         "spec:\n"
         "  severity: enforce\n"
         "  message: production devices need publicKeyAuth\n"
         "  selector: {kinds: [PicoHSM], matchLabels: {env: prod}}\n"
         "  require: {properties: {spec: {required: [publicKeyAuth]}}}\n" +
         waiver +
         "---\n"
         "apiVersion: hsmctl.dev/v1alpha1\n"
         "kind: Policy\n"
         "metadata: {name: few-retries}\n"
         "spec:\n"
         "  severity: warn\n"
         "  message: pinRetries should be set explicitly\n"
         "  require: {properties: {spec: {required: [pinRetries]}}}\n";
}

std::string waiver(const std::string& expires) {
  return "  waivers:\n"
         "    - names: [hsm-a]\n"
         "      approvedBy: security team (CHG-42)\n"
         "      reason: PKA keys arrive in January\n"
         "      expires: \"" +
         expires + "\"\n";
}

class PolicyCli : public CliTest {
 protected:
  void SetUp() override {
    std::string m = pico_manifest();
    m.insert(m.find("spec:"), "  labels: {env: prod}\n");
    manifest_ = manifest_file(m);
  }
  std::string policy_file(const std::string& text) {
    const std::string path = dir_.file("policy-" + std::to_string(++policies_) + ".yaml");
    write_text(path, text);
    return path;
  }
  std::vector<std::string> args(const char* cmd, const std::string& policy,
                                std::vector<std::string> extra = {}) {
    std::vector<std::string> v = {cmd, "-f", manifest_, "--device", device(), "--policy", policy};
    if (std::string(cmd) == "apply")
      v.push_back("--auto-approve");
    v.insert(v.end(), extra.begin(), extra.end());
    return v;
  }
  std::string manifest_;
  int policies_ = 0;
};

TEST_F(PolicyCli, EnforceBlocksApplyAndAWaiverInForceLetsItThrough) {
  const std::string blocking = policy_file(require_pka());
  auto plan = hsmctl(args("plan", blocking, {"--detailed-exitcode"}));
  EXPECT_EQ(plan.exit_code, 3) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("! policy prod-needs-pka: production devices need "
                                  "publicKeyAuth"));
  EXPECT_THAT(plan.out, HasSubstr("note: policy few-retries (warn): pinRetries should be set "
                                  "explicitly"));

  auto apply = hsmctl(args("apply", blocking));
  EXPECT_EQ(apply.exit_code, 3) << apply.all();
  EXPECT_THAT(apply.err, HasSubstr("apply refused"));
  EXPECT_THAT(apply.out, Not(HasSubstr("Apply complete")));
  // Nothing was changed: without the policy the plan still wants to initialize the device.
  plan = hsmctl({"plan", "-f", manifest_, "--device", device(), "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 2) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("initialize"));

  // An expired waiver waives nothing, and the plan says so.
  const std::string expired = policy_file(require_pka(waiver("2020-01-31")));
  plan = hsmctl(args("plan", expired, {"--detailed-exitcode"}));
  EXPECT_EQ(plan.exit_code, 3) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("note: policy prod-needs-pka: the waiver approved by security "
                                  "team (CHG-42) expired on 2020-01-31"));

  const std::string waived = policy_file(require_pka(waiver("2099-12-31")));
  plan = hsmctl(args("plan", waived, {"-o", "json", "--detailed-exitcode"}));
  EXPECT_EQ(plan.exit_code, 2) << plan.all();
  EXPECT_THAT(plan_schema_errors(plan.out), IsEmpty());
  EXPECT_THAT(plan.out, HasSubstr(R"("result": "waived")"));
  EXPECT_THAT(plan.out, HasSubstr(R"("expires": "2099-12-31")"));
  apply = hsmctl(args("apply", waived));
  EXPECT_EQ(apply.exit_code, 0) << apply.all();
  EXPECT_THAT(apply.out, HasSubstr("waived by security team (CHG-42) until 2099-12-31: PKA keys "
                                   "arrive in January"));
  EXPECT_THAT(apply.out, HasSubstr("Apply complete"));

  for (const char* secret : {"64821907", "3537363231383830"})
    EXPECT_THAT(transcript_, Not(HasSubstr(secret))) << secret;
}

TEST_F(PolicyCli, PoliciesAreValidatedWithPositionsAndMustExist) {
  const std::string bad = policy_file(
      "apiVersion: hsmctl.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n"
      "  severity: sometimes\n  message: m\n  deny: {}\n");
  auto r = hsmctl(args("plan", bad));
  EXPECT_EQ(r.exit_code, 65) << r.all();
  EXPECT_THAT(r.err, HasSubstr(bad + ":5:13"));
  EXPECT_THAT(r.err, HasSubstr("error(s) in the policies; nothing was sent to any device"));
  EXPECT_FALSE(std::filesystem::exists(dir_.file("pico.json")));

  const std::string empty = policy_file("# nothing\n");
  r = hsmctl(args("plan", empty));
  EXPECT_EQ(r.exit_code, 65) << r.all();
  EXPECT_THAT(r.err, HasSubstr("no policy found in " + empty));
}

TEST_F(PolicyCli, PolicyTestPassesAndFailsPerCase) {
  std::filesystem::create_directories(dir_.file("pack/tests"));
  write_text(dir_.file("pack/policies.yaml"), require_pka());
  write_text(
      dir_.file("pack/tests/cases.yaml"),
      "apiVersion: hsmctl.dev/v1alpha1\nkind: PolicyTest\nmetadata: {name: prod-without-pka}\n"
      "spec:\n  input: {kind: PicoHSM, metadata: {name: x, labels: {env: prod}}, spec: {}}\n"
      "  expect: {prod-needs-pka: fail, few-retries: fail}\n"
      "---\n"
      "apiVersion: hsmctl.dev/v1alpha1\nkind: PolicyTest\nmetadata: {name: lab-skipped}\n"
      "spec:\n  input: {kind: PicoHSM, metadata: {name: x}, spec: {pinRetries: 3}}\n"
      "  expect: {prod-needs-pka: skip, few-retries: pass}\n");
  auto r = hsmctl({"policy", "test", dir_.file("pack")});
  EXPECT_EQ(r.exit_code, 0) << r.all();
  EXPECT_THAT(r.out, HasSubstr("PASS prod-without-pka\nPASS lab-skipped\n"));
  EXPECT_THAT(r.out, HasSubstr("2 test(s), 2 policies: 2 passed, 0 failed."));

  write_text(dir_.file("pack/tests/wrong.yaml"),
             "apiVersion: hsmctl.dev/v1alpha1\nkind: PolicyTest\nmetadata: {name: wrong}\n"
             "spec:\n  input: {kind: PicoHSM, metadata: {name: x}, spec: {}}\n"
             "  expect: {few-retries: pass}\n");
  r = hsmctl({"policy", "test", dir_.file("pack")});
  EXPECT_EQ(r.exit_code, 1) << r.all();
  EXPECT_THAT(r.out, HasSubstr("FAIL wrong ("));
  EXPECT_THAT(r.out, HasSubstr("policy few-retries: expected pass, got fail"));

  EXPECT_EQ(hsmctl({"policy", "lint"}).exit_code, 64);
}

}  // namespace
}  // namespace hsmctl::testing
