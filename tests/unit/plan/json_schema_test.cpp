// SPDX-License-Identifier: Apache-2.0
// `hsmctl plan -o json` output conforms to schemas/plan.v1alpha1.schema.json.

#include "support/plan_schema.hpp"

#include "hsmctl/families/schsm_engine/diff.hpp"
#include "hsmctl/model/options.hpp"
#include "hsmctl/plan/plan.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace hsmctl::plan {
namespace {

using families::schsm_engine::CredentialKnowledge;
using families::schsm_engine::make_plan;

std::string validate(const std::string& json_text) {
  return hsmctl::testing::plan_schema_errors(json_text);
}

TEST(PlanJson, ConformsToSchemaForEveryActionClass) {
  model::PicoHsmManifest m;
  m.metadata.name = "a";
  m.spec.key_domains = {model::KeyDomain{2}};
  m.spec.options.key_usage_counter = true;
  model::ObservedPico fresh;
  fresh.serial = "0102030405060708";
  auto create = make_plan(m, fresh, {});

  model::ObservedPico init = fresh;
  init.initialized = true;
  init.is_pico = true;
  init.options = model::kOptResetRetryCounter;
  init.user_pin = {model::PinStatus::State::kTriesLeft, 3};
  init.pin_retries_max = 3;
  init.key_domains.resize(2);
  init.key_count = 1;
  auto reinit = make_plan(
      m, init, {CredentialKnowledge::kMatchesDesired, CredentialKnowledge::kMismatchUnknown});
  init.key_domains.resize(1);
  auto blocked =
      make_plan(m, init, {CredentialKnowledge::kUnchecked, CredentialKnowledge::kUnchecked});
  for (const auto& plans : {std::vector<DevicePlan>{create}, {reinit, blocked}, {}}) {
    std::string json = render_json(plans);
    EXPECT_EQ(validate(json), "") << json;
  }
  // The check itself can fail: a secret-looking extra field is rejected.
  EXPECT_NE(validate(R"({"format_version":"hsmctl.dev/plan/v1alpha1","devices":[],)"
                     R"("summary":{"devices":0,"devices_with_changes":0},"pin":"1234"})"),
            "");
}

}  // namespace
}  // namespace hsmctl::plan
