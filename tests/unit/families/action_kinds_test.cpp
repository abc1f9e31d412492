// SPDX-License-Identifier: Apache-2.0
// The plan schema no longer enumerates action kinds (each family defines its own): the kinds
// every family declares, and only those, are the ones docs/review.md lists ("Action kinds").
// plan_schema_errors() also rejects a plan whose actions have a kind the docs do not list, so
// every plan a test validates checks what its planner emitted.

#include "support/plan_schema.hpp"

#include "hsmctl/families/primus/plan.hpp"
#include "hsmctl/families/schsm_engine/diff.hpp"
#include "hsmctl/plan/plan.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

namespace hsmctl::families {
namespace {

std::vector<std::string> declared_kinds() {
  std::vector<std::string> out;
  for (const char* k : schsm_engine::kind::kAll)
    out.emplace_back(k);
  for (const char* k : primus::kind::kAll)
    out.emplace_back(k);
  out.emplace_back(plan::kind::kBlocked);
  return out;
}

TEST(ActionKinds, EveryDeclaredKindIsDocumentedAndNothingElse) {
  EXPECT_THAT(hsmctl::testing::documented_action_kinds(),
              ::testing::UnorderedElementsAreArray(declared_kinds()));
}

TEST(ActionKinds, EveryKindMatchesThePlanSchemaPattern) {
  const std::regex pattern("^[a-z][a-z0-9-]*$");
  for (const auto& k : declared_kinds())
    EXPECT_TRUE(std::regex_match(k, pattern)) << k;
}

TEST(ActionKinds, AnUndocumentedKindFailsThePlanCheck) {
  plan::DevicePlan p;
  p.name = "x";
  plan::Action a;
  a.kind = "format-everything";
  a.action_class = plan::ActionClass::kUpdate;
  p.actions.push_back(a);
  EXPECT_THAT(hsmctl::testing::plan_schema_errors(plan::render_json({p})),
              ::testing::HasSubstr("\"format-everything\" is not listed in docs/review.md"));
  p.actions[0].kind = schsm_engine::kind::kChangeUserPin;
  EXPECT_EQ(hsmctl::testing::plan_schema_errors(plan::render_json({p})), "");
}

}  // namespace
}  // namespace hsmctl::families
