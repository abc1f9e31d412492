// SPDX-License-Identifier: Apache-2.0
// Primus plans render as `hsmctl plan -o json` that conforms to schemas/plan.v1alpha1.schema.json
// and carries references, never values.

#include "primus_fixture.hpp"
#include "support/plan_schema.hpp"

namespace hsmctl::families::primus::testing {
namespace {

std::string schema_errors(const std::string& json_text) {
  return hsmctl::testing::plan_schema_errors(json_text);
}

class PrimusPlanJson : public PrimusFixture {};

TEST_F(PrimusPlanJson, EveryActionKindConformsToThePlanSchema) {
  auto c = cluster(true);
  auto p = partition(c.name);
  ASSERT_TRUE(apply_once({c}, {p})) << output_;
  // Now: drift, a mode fix, a removal (destroy) and a blocked partition in one plan.
  ASSERT_EQ(::chmod(c.secrets_path.c_str(), 0644), 0);
  c.members[1].priority = 5;
  p.permanent_secret = SecretState::kAbsent;
  auto q = partition(c.name);
  q.name = "other";
  q.user_name = "OTHER02";
  q.slot_id = 2;
  q.setup_password.reset();
  auto prepared = prepare_all({c}, {p, q});
  ASSERT_TRUE(prepared) << prepared.error().to_string();
  const auto& plan = (*prepared)[0].plan.plan;
  EXPECT_TRUE(has_kind(plan, kind::kWriteConfig));
  EXPECT_TRUE(has_kind(plan, kind::kFixFileMode));
  EXPECT_TRUE(has_kind(plan, kind::kRemoveSecret));
  EXPECT_TRUE(has_kind(plan, plan::kind::kBlocked));
  const std::string json = plan::render_json({plan});
  EXPECT_EQ(schema_errors(json), "") << json;
  const std::string text = plan::render_text({plan}, false);
  for (const char* v : {kSetup, kPin, kProxyPw}) {
    EXPECT_EQ(json.find(v), std::string::npos);
    EXPECT_EQ(text.find(v), std::string::npos);
  }
  EXPECT_NE(text.find("no usable setup password"), std::string::npos) << text;
}

TEST_F(PrimusPlanJson, FetchlogShowsTheSetupPasswordUse) {
  auto c = cluster();
  auto p = partition(c.name);
  ASSERT_TRUE(apply_once({c}, {p})) << output_;
  Ppin ppin(HSMCTL_PPIN_DOUBLE, 30);
  auto r =
      ppin.run({"-c", c.config_path, "--fetchlog", "--user", "PAYMENTS01", "--hsm", "hsm0"}, {});
  ASSERT_TRUE(r);
  EXPECT_NE(r->output.find("Fetching log from HSM."), std::string::npos);
  EXPECT_NE(r->output.find("Login request: user PAYMENTS01 with setup password"),
            std::string::npos);
  EXPECT_NE(r->output.find("Retrieved permanent login credentials"), std::string::npos);
}

}  // namespace
}  // namespace hsmctl::families::primus::testing
