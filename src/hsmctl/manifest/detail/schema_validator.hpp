// SPDX-License-Identifier: Apache-2.0
#pragma once
// JSON Schema validation of one manifest document (internal to manifest/; the only file that
// sees valijson is schema_validator.cpp). Dispatches on apiVersion/kind, validates against the
// embedded schema and turns valijson's messages into hsmctl errors with file:line:column, the
// dotted path, and the offending value/expected type where that helps (never for PIN fields).

#include "hsmctl/manifest/detail/yaml_loader.hpp"
#include "hsmctl/manifest/load.hpp"
#include "hsmctl/util/error.hpp"

#include <string>
#include <vector>

namespace hsmctl::manifest {

inline constexpr const char* kApiVersion = "hsmctl.dev/v1alpha1";

/// Errors of `doc` against the schema of its kind in `kinds`; empty when valid. An unknown kind
/// is reported before any schema check and lists the table's kinds in order. Values at pointers
/// the YAML loader already reported (YamlDocument::poisoned) do not produce further errors.
std::vector<Error> validate_document(const YamlDocument& doc, const std::string& file_name,
                                     const std::vector<KindSchema>& kinds);

/// True for JSON pointers whose values may be secrets and must never be echoed: under a
/// sensitive pointer of any kind in `kinds`, or a field whose name says it holds a credential.
bool is_sensitive_pointer(const std::string& pointer, const std::vector<KindSchema>& kinds);

}  // namespace hsmctl::manifest
