// SPDX-License-Identifier: Apache-2.0
// valijson stays in this file: tests include only the declaration.
#include "support/plan_schema.hpp"

#include <nlohmann/json.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include <algorithm>
#include <fstream>

namespace hsmctl::testing {

std::vector<std::string> documented_action_kinds() {
  std::ifstream in(std::string(HSMCTL_SOURCE_DIR) + "/docs/review.md");
  std::vector<std::string> kinds;
  bool in_section = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("## ", 0) == 0)
      in_section = line == "## Action kinds";
    // Table rows: | `kind` | family | what |
    if (in_section && line.rfind("| `", 0) == 0) {
      const auto end = line.find('`', 3);
      if (end != std::string::npos)
        kinds.push_back(line.substr(3, end - 3));
    }
  }
  return kinds;
}

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
  std::string out;
  const auto documented = documented_action_kinds();
  if (doc.is_object() && doc.contains("devices") && doc["devices"].is_array()) {
    for (const auto& d : doc["devices"]) {
      if (!d.is_object() || !d.contains("actions") || !d["actions"].is_array())
        continue;
      for (const auto& a : d["actions"]) {
        if (!a.is_object() || !a.contains("kind") || !a["kind"].is_string())
          continue;
        const auto k = a["kind"].get<std::string>();
        if (std::find(documented.begin(), documented.end(), k) == documented.end())
          out += "action kind \"" + k + "\" is not listed in docs/review.md (Action kinds)\n";
      }
    }
  }
  if (validator.validate(schema, doc_adapter, &results))
    return out;
  valijson::ValidationResults::Error e;
  while (results.popError(e))
    out += e.description + "\n";
  return out;
}

std::string savedplan_schema_errors(const std::string& json_text) {
  std::ifstream in(std::string(HSMCTL_SOURCE_DIR) + "/schemas/savedplan.v1alpha1.schema.json");
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
    return {};
  std::string out;
  valijson::ValidationResults::Error e;
  while (results.popError(e))
    out += e.description + "\n";
  return out;
}

}  // namespace hsmctl::testing
