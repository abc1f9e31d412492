// SPDX-License-Identifier: Apache-2.0
#pragma once
// Schemas compiled into the binary by cmake/HsmctlEmbed.cmake (one function per schemas/*.json,
// named after the file with every non-alphanumeric character replaced by '_').

#include <string_view>

namespace hsmctl::manifest::embedded {

/// schemas/picohsm.v1alpha1.schema.json
std::string_view picohsm_v1alpha1_schema_json();
/// schemas/primuscluster.v1alpha1.schema.json
std::string_view primuscluster_v1alpha1_schema_json();
/// schemas/primuspartition.v1alpha1.schema.json
std::string_view primuspartition_v1alpha1_schema_json();

}  // namespace hsmctl::manifest::embedded
