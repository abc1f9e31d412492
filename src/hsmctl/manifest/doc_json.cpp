// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/manifest/doc_json.hpp"

#include <nlohmann/json.hpp>

#include <exception>

namespace hsmctl::manifest {
namespace {

// Through DocNode's public reading functions only (DocView keeps the JSON library to itself): a
// scalar is read as the one type it has; reading another throws.
nlohmann::json value_of(const DocNode& node) {
  if (node.is_null())
    return nullptr;
  if (node.is_mapping()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, value] : node.members())
      out[key] = value_of(value);
    return out;
  }
  if (node.is_list()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& value : node.elements())
      out.push_back(value_of(value));
    return out;
  }
  try {
    return node.string();
  } catch (const std::exception&) {
    // not a string
  }
  try {
    return node.boolean();
  } catch (const std::exception&) {
    // not a boolean
  }
  return node.integer();
}

}  // namespace

std::string to_json(const DocNode& node) {
  try {
    return value_of(node).dump();
  } catch (const std::exception&) {
    return "null";
  }
}

}  // namespace hsmctl::manifest
