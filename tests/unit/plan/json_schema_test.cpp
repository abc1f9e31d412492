// SPDX-License-Identifier: Apache-2.0
// `hsmctl plan -o json` output conforms to schemas/plan.v1alpha1.schema.json.

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include "hsmctl/model/options.hpp"
#include "hsmctl/plan/plan.hpp"

namespace hsmctl::plan {
namespace {

nlohmann::json load_schema() {
  std::ifstream in(std::string(HSMCTL_SOURCE_DIR) + "/schemas/plan.v1alpha1.schema.json");
  return nlohmann::json::parse(in);
}

std::string validate(const std::string& json_text) {
  nlohmann::json schema_doc = load_schema();
  valijson::Schema schema;
  valijson::SchemaParser parser;
  valijson::adapters::NlohmannJsonAdapter schema_adapter(schema_doc);
  parser.populateSchema(schema_adapter, schema);
  nlohmann::json doc = nlohmann::json::parse(json_text);
  valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter doc_adapter(doc);
  if (validator.validate(schema, doc_adapter, &results)) return "";
  std::string out;
  valijson::ValidationResults::Error e;
  while (results.popError(e)) out += e.description + "\n";
  return out;
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
  auto reinit = make_plan(m, init, {CredentialKnowledge::kMatchesDesired,
                                    CredentialKnowledge::kMismatchUnknown});
  init.key_domains.resize(1);
  auto blocked = make_plan(m, init, {CredentialKnowledge::kUnchecked,
                                     CredentialKnowledge::kUnchecked});
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
