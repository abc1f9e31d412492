// SPDX-License-Identifier: Apache-2.0
#pragma once
// Test support: validate `hsmctl plan -o json` text against schemas/plan.v1alpha1.schema.json.

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

namespace hsmctl::testing {

/// "" when `json_text` conforms to the plan schema, else one error description per line.
inline std::string plan_schema_errors(const std::string& json_text) {
  std::ifstream in(std::string(HSMCTL_SOURCE_DIR) + "/schemas/plan.v1alpha1.schema.json");
  nlohmann::json schema_doc = nlohmann::json::parse(in);
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

}  // namespace hsmctl::testing
