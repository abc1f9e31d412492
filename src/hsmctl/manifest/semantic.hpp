// SPDX-License-Identifier: Apache-2.0
#pragma once
// Schema-valid JSON document -> typed model::PicoHsmManifest, plus the checks JSON Schema cannot
// express (cross-field rules, Pico-specific hazards). Internal to manifest/.

#include "hsmctl/manifest/detail/yaml_loader.hpp"
#include "hsmctl/model/pico_hsm.hpp"
#include "hsmctl/model/primus.hpp"
#include "hsmctl/util/error.hpp"

#include <optional>
#include <string>
#include <vector>

namespace hsmctl::manifest {

struct DocumentOutcome {
  /// Set when the document has no errors.
  std::optional<model::PicoHsmManifest> manifest;
  std::vector<Error> errors;
  std::vector<Error> warnings;
};

/// Builds the model from a document that passed validate_document().
DocumentOutcome build_pico_manifest(const YamlDocument& doc, const std::string& file_name);

struct PrimusOutcome {
  std::optional<model::primus::PrimusCluster> cluster;      ///< kind PrimusCluster without errors
  std::optional<model::primus::PrimusPartition> partition;  ///< kind PrimusPartition without errors
  std::vector<Error> errors;
};

/// Builds a Primus model object from a document of kind PrimusCluster or PrimusPartition that
/// passed validate_document(). Cross-object rules: model::primus::validate().
PrimusOutcome build_primus(const YamlDocument& doc, const std::string& file_name);

/// Parses "env:NAME", "file:/abs", "store:NAME" or "prompt"; nullopt for anything else.
std::optional<model::SecretRef> parse_secret_reference(const std::string& text);

}  // namespace hsmctl::manifest
