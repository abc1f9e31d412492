// SPDX-License-Identifier: Apache-2.0
// valijson stays in this file: tests include only the declaration.
#include "support/plan_schema.hpp"

#include <nlohmann/json.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include <fstream>

namespace hsmctl::testing {

std::string plan_schema_errors(const std::string& json_text) {
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
  if (validator.validate(schema, doc_adapter, &results))
    return "";
  std::string out;
  valijson::ValidationResults::Error e;
  while (results.popError(e))
    out += e.description + "\n";
  return out;
}

}  // namespace hsmctl::testing
