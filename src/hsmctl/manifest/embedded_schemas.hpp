// SPDX-License-Identifier: Apache-2.0
#pragma once
// Schemas compiled into the binary by cmake/HsmctlEmbed.cmake: schemas/*.json and every
// src/hsmctl/families/<family>/*.schema.json, one function per file, named after the file with
// every non-alphanumeric character replaced by '_', and find() by file name.

#include <string_view>

namespace hsmctl::manifest::embedded {

/// schemas/picohsm.v1alpha1.schema.json
std::string_view picohsm_v1alpha1_schema_json();
/// schemas/primuscluster.v1alpha1.schema.json
std::string_view primuscluster_v1alpha1_schema_json();
/// schemas/primuspartition.v1alpha1.schema.json
std::string_view primuspartition_v1alpha1_schema_json();

/// The embedded file named `file_name` (no folder, e.g. "picohsm.v1alpha1.schema.json"); empty
/// when no file has that name. A family's own schema (families/<family>/*.schema.json) is found
/// here without a declaration of its own.
std::string_view find(std::string_view file_name);

}  // namespace hsmctl::manifest::embedded
