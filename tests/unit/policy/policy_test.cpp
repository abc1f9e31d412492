// SPDX-License-Identifier: Apache-2.0
// The policy evaluator (policy/policy.hpp): selection by kind and labels, deny and require,
// waivers on both sides of their expiry date (today is a parameter), the amended plan
// (blocked action, notes, `policies` in the JSON, valid by the plan schema) and schema errors
// with positions.

#include "hsmctl/policy/policy.hpp"

#include "support/plan_schema.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hsmctl::policy {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr const char* kPolicies = R"(apiVersion: hsmctl.dev/v1alpha1
kind: Policy
metadata: {name: pin-retries}
spec:
  severity: enforce
  message: pinRetries must be at most 5
  selector: {kinds: [PicoHSM]}
  deny:
    properties: {spec: {properties: {pinRetries: {type: integer, minimum: 6}}, required: [pinRetries]}}
  waivers:
    - names: [hsm-lab]
      approvedBy: alice
      reason: lab device
      expires: "2027-01-31"
---
apiVersion: hsmctl.dev/v1alpha1
kind: Policy
metadata: {name: prod-pka}
spec:
  severity: warn
  message: prod devices should use publicKeyAuth
  selector: {matchLabels: {env: prod}}
  require:
    properties: {spec: {required: [publicKeyAuth]}}
---
apiVersion: hsmctl.dev/v1alpha1
kind: Policy
metadata: {name: no-prod-reinit}
spec:
  severity: enforce
  message: never re-initialize a production device
  selector: {matchLabels: {env: prod}}
  deny:
    properties:
      plan:
        type: object
        properties: {actions: {contains: {properties: {class: {const: reinitialize}}}}}
        required: [actions]
    required: [plan]
)";

PolicySet load_ok(const std::string& text) {
  manifest::Diagnostics d;
  Loaded l = load_text(text, "policies.yaml", false, d);
  EXPECT_FALSE(d.has_errors()) << (d.errors().empty() ? "" : d.errors().front().to_string());
  return std::move(l.policies);
}

std::string doc(const std::string& name, const std::string& labels, int retries) {
  return R"({"apiVersion":"hsmctl.dev/v1alpha1","kind":"PicoHSM","metadata":{"name":")" + name +
         R"(","labels":)" + labels + R"(},"spec":{"device":{"serial":"0102030405060708"},)" +
         R"("userPin":{"secret":"env:U"},"soPin":{"generate":{}},"pinRetries":)" +
         std::to_string(retries) + "}}";
}

std::map<std::string, Verdict> verdicts(const PolicySet& set, const std::string& input,
                                        std::string_view today) {
  auto r = set.evaluate(input, today);
  EXPECT_TRUE(r.has_value());
  std::map<std::string, Verdict> m;
  if (r) {
    for (const auto& o : *r)
      m[o.policy] = o.verdict;
  }
  return m;
}

TEST(Policy, SelectsByKindAndLabelsAndEvaluatesDenyAndRequire) {
  const PolicySet set = load_ok(kPolicies);
  ASSERT_EQ(set.size(), 3U);
  auto v = verdicts(set, make_input(doc("hsm-a", R"({"env":"prod"})", 8), nullptr), "2026-12-05");
  EXPECT_EQ(v["pin-retries"], Verdict::kFail);
  EXPECT_EQ(v["prod-pka"], Verdict::kFail);
  EXPECT_EQ(v["no-prod-reinit"], Verdict::kPass);  // no plan: nothing to re-initialize

  v = verdicts(set, make_input(doc("hsm-a", R"({"env":"lab"})", 3), nullptr), "2026-12-05");
  EXPECT_EQ(v["pin-retries"], Verdict::kPass);
  EXPECT_EQ(v["prod-pka"], Verdict::kSkip);
  EXPECT_EQ(v["no-prod-reinit"], Verdict::kSkip);

  std::string primus = R"({"kind":"PrimusCluster","metadata":{"name":"c"},"spec":{}})";
  v = verdicts(set, make_input(primus, nullptr), "2026-12-05");
  EXPECT_EQ(v["pin-retries"], Verdict::kSkip);
}

TEST(Policy, AWaiverHoldsThroughItsExpiryDayAndNotAfter) {
  const PolicySet set = load_ok(kPolicies);
  const std::string input = make_input(doc("hsm-lab", "{}", 8), nullptr);
  for (const char* today : {"2026-12-05", "2027-01-31"}) {
    auto r = set.evaluate(input, today);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ((*r)[0].verdict, Verdict::kWaived) << today;
    ASSERT_TRUE((*r)[0].waiver.has_value());
    EXPECT_FALSE((*r)[0].waiver->expired);
    EXPECT_EQ((*r)[0].waiver->approved_by, "alice");
  }
  auto r = set.evaluate(input, "2027-02-01");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)[0].verdict, Verdict::kFail);
  ASSERT_TRUE((*r)[0].waiver.has_value());
  EXPECT_TRUE((*r)[0].waiver->expired);
  // The waiver names one document only.
  EXPECT_EQ(verdicts(set, make_input(doc("hsm-b", "{}", 8), nullptr), "2026-12-05")["pin-retries"],
            Verdict::kFail);
}

plan::DevicePlan reinit_plan(const std::string& name) {
  plan::DevicePlan p;
  p.name = name;
  p.serial = "0102030405060708";
  p.transport = "sim:x";
  p.initialized = true;
  plan::Action a;
  a.kind = "initialize";
  a.action_class = plan::ActionClass::kReinitialize;
  a.summary = "re-initialize the device (wipes all keys)";
  p.actions.push_back(a);
  return p;
}

TEST(Policy, CheckBlocksOnEnforceNotesWarningsAndShowsResultsInJson) {
  const PolicySet set = load_ok(kPolicies);
  std::vector<plan::DevicePlan> plans = {reinit_plan("hsm-a"), reinit_plan("hsm-lab")};
  const std::vector<std::string> docs = {doc("hsm-a", R"({"env":"prod"})", 3),
                                         doc("hsm-lab", "{}", 8),
                                         doc("not-selected", R"({"env":"prod"})", 9)};
  const Results results = check(set, docs, plans, "2026-12-05");

  ASSERT_EQ(plans[0].actions.size(), 2U);
  EXPECT_EQ(plans[0].actions[1].action_class, plan::ActionClass::kBlocked);
  EXPECT_EQ(plans[0].actions[1].summary,
            "policy no-prod-reinit: never re-initialize a production device");
  EXPECT_EQ(plans[0].status(), plan::DeviceStatus::kBlocked);
  EXPECT_THAT(plans[0].notes,
              ::testing::Contains("policy prod-pka (warn): prod devices should use publicKeyAuth"));
  ASSERT_EQ(results.size(), 2U);
  ASSERT_EQ(results[0].size(), 3U);
  EXPECT_EQ(results[0][0].result, "pass");

  // hsm-lab: pin-retries fails but is waived: no blocked action, a note saying so.
  EXPECT_EQ(plans[1].actions.size(), 1U);
  EXPECT_THAT(plans[1].notes,
              ::testing::Contains(HasSubstr("waived by alice until 2027-01-31: lab device")));
  ASSERT_EQ(results[1].size(), 1U);
  EXPECT_EQ(results[1][0].result, "waived");

  const std::string json = render_json(plans, results);
  EXPECT_THAT(hsmctl::testing::plan_schema_errors(json), IsEmpty());
  EXPECT_THAT(json, HasSubstr(R"("result": "waived")"));
  EXPECT_THAT(json, HasSubstr(R"("approvedBy": "alice")"));
  EXPECT_THAT(plan::render_text(plans, false), HasSubstr("! policy no-prod-reinit"));
  EXPECT_THAT(plan::render_markdown(plans),
              HasSubstr("| `!` | **policy no-prod-reinit: never re-initialize"));
}

TEST(Policy, AnExpiredWaiverBlocksAgainAndSaysSo) {
  const PolicySet set = load_ok(kPolicies);
  std::vector<plan::DevicePlan> plans = {reinit_plan("hsm-lab")};
  const Results results = check(set, {doc("hsm-lab", "{}", 8)}, plans, "2027-02-01");
  EXPECT_TRUE(plans[0].has_blocked());
  EXPECT_THAT(plans[0].notes,
              ::testing::Contains("policy pin-retries: the waiver approved by alice expired on "
                                  "2027-01-31 (lab device)"));
  EXPECT_EQ(results[0][0].result, "fail");
  EXPECT_THAT(render_json(plans, results), HasSubstr(R"("expired": true)"));
}

TEST(Policy, NoPlanIsLeftUntouchedWithoutPolicies) {
  std::vector<plan::DevicePlan> plans = {reinit_plan("hsm-a")};
  const Results results =
      check(PolicySet(), {doc("hsm-a", R"({"env":"prod"})", 8)}, plans, "2026-12-05");
  EXPECT_EQ(plans[0].actions.size(), 1U);
  EXPECT_THAT(results[0], IsEmpty());
  EXPECT_EQ(render_json(plans, results), plan::render_json(plans));
}

TEST(Policy, InvalidPoliciesAreErrorsWithPositions) {
  manifest::Diagnostics d;
  load_text(R"(apiVersion: hsmctl.dev/v1alpha1
kind: Policy
metadata: {name: p}
spec:
  severity: block
  message: m
  deny: {}
---
apiVersion: hsmctl.dev/v1alpha1
kind: Policy
metadata: {name: q}
spec:
  severity: warn
  message: m
---
apiVersion: hsmctl.dev/v1alpha1
kind: Policy
metadata: {name: r}
spec:
  severity: warn
  message: m
  deny: {type: 12}
---
apiVersion: hsmctl.dev/v1alpha1
kind: Policy
metadata: {name: r}
spec:
  severity: warn
  message: m
  deny: {}
)",
            "p.yaml", false, d);
  const auto errors = d.errors();
  ASSERT_EQ(errors.size(), 4U);
  EXPECT_THAT(errors[0].to_string(), HasSubstr("p.yaml:5:13"));  // severity enum
  EXPECT_THAT(errors[1].to_string(), HasSubstr("p.yaml:13:3: spec: a policy needs deny, require"));
  EXPECT_THAT(errors[2].to_string(), HasSubstr("spec.deny"));  // not a JSON Schema
  EXPECT_THAT(errors[3].to_string(), HasSubstr("already loaded"));
}

TEST(Policy, TestCasesCompareVerdicts) {
  manifest::Diagnostics d;
  Loaded l = load_text(std::string(kPolicies) + R"(---
apiVersion: hsmctl.dev/v1alpha1
kind: PolicyTest
metadata: {name: lab-waived}
spec:
  today: "2026-12-05"
  input: {kind: PicoHSM, metadata: {name: hsm-lab}, spec: {pinRetries: 9}}
  expect: {pin-retries: waived, prod-pka: skip}
---
apiVersion: hsmctl.dev/v1alpha1
kind: PolicyTest
metadata: {name: wrong}
spec:
  today: "2027-02-01"
  input: {kind: PicoHSM, metadata: {name: hsm-lab}, spec: {pinRetries: 9}}
  expect: {pin-retries: waived, nonexistent: pass}
)",
                       "t.yaml", true, d);
  ASSERT_FALSE(d.has_errors()) << d.errors().front().to_string();
  ASSERT_EQ(l.tests.size(), 2U);
  EXPECT_THAT(run_test(l.policies, l.tests[0]), IsEmpty());
  EXPECT_THAT(run_test(l.policies, l.tests[1]),
              ::testing::ElementsAre("policy nonexistent: no policy of that name was loaded",
                                     "policy pin-retries: expected waived, got fail"));
}

TEST(Policy, TodayIsAnIsoDate) {
  const std::string t = today_utc();
  ASSERT_EQ(t.size(), 10U);
  EXPECT_EQ(t[4], '-');
  EXPECT_EQ(t[7], '-');
}

}  // namespace
}  // namespace hsmctl::policy
