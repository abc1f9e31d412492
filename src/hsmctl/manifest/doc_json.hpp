// SPDX-License-Identifier: Apache-2.0
#pragma once
// A schema-valid document (or one of its values) as JSON text, for consumers that evaluate it as
// data (policy/: the `spec` of the policy input). Manifests hold secret references, never
// values (the kinds' schemas refuse literal PINs and passwords), so neither does the text.

#include "hsmctl/manifest/doc_view.hpp"

#include <string>

namespace hsmctl::manifest {

/// Compact JSON of `node` (mapping keys in byte order). Numbers are integers, as every number
/// in hsmctl's schemas.
std::string to_json(const DocNode& node);

}  // namespace hsmctl::manifest
