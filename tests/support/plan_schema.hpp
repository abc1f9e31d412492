// SPDX-License-Identifier: Apache-2.0
#pragma once
// Test support: validate `hsmctl plan -o json` text against schemas/plan.v1alpha1.schema.json.

#include <string>
#include <vector>

namespace hsmctl::testing {

/// "" when `json_text` conforms to the plan schema and every action's kind is listed in
/// docs/review.md ("Action kinds"), else one error description per line.
/// Throws (nlohmann::json::parse_error) when `json_text` is not JSON.
std::string plan_schema_errors(const std::string& json_text);

/// "" when `json_text` conforms to schemas/savedplan.v1alpha1.schema.json (`plan -out`), else
/// one error description per line. Throws when `json_text` is not JSON.
std::string savedplan_schema_errors(const std::string& json_text);

/// The kinds docs/review.md lists in its "Action kinds" table, in order.
std::vector<std::string> documented_action_kinds();

}  // namespace hsmctl::testing
