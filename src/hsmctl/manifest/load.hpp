// SPDX-License-Identifier: Apache-2.0
#pragma once
// Manifest loading: YAML files -> JSON (YAML 1.2 core typing, duplicate keys, aliases and YAML 1.1
// surprises rejected) -> validation by the JSON Schema in schemas/ -> semantic checks -> typed
// model. Every error carries file:line:column and the dotted path; all errors are reported.

#include <string>
#include <string_view>
#include <vector>

#include "hsmctl/model/observed.hpp"
#include "hsmctl/model/pico_hsm.hpp"
#include "hsmctl/primus/model.hpp"
#include "hsmctl/util/error.hpp"

namespace hsmctl::manifest {

struct LoadResult {
  std::vector<model::PicoHsmManifest> pico_hsms;
  /// Securosys Primus kinds (docs/primus.md), checked together by primus::validate().
  std::vector<primus::PrimusCluster> primus_clusters;
  std::vector<primus::PrimusPartition> primus_partitions;
  /// Every problem found, in file order. Non-empty means the manifests must not be used.
  std::vector<Error> errors;
  /// Non-fatal findings (dangerous but acknowledged options, ...), same format as errors.
  std::vector<Error> warnings;
  bool ok() const { return errors.empty(); }
};

/// Loads each path: a file, or a directory (all *.yaml / *.yml inside, sorted, not recursive),
/// or "-" for standard input (named "<stdin>" in errors). Only regular files are read (a FIFO or
/// a device is an error, never a hang), and the size limit is checked before reading.
LoadResult load_manifests(const std::vector<std::string>& paths);

/// Loads one in-memory document stream; `file_name` is used in error positions.
LoadResult load_manifest_text(const std::string& text, const std::string& file_name);

/// Renders observed state as a PicoHSM manifest (for `hsmctl get`). Values that cannot be read
/// are emitted as comments saying so; secrets are emitted as placeholder references.
std::string emit_pico_manifest(const model::ObservedPico& observed, const std::string& name);

/// The JSON Schema (draft-07) of kind PicoHSM as compiled into the binary, for editors and
/// `hsmctl schema`-style output.
std::string_view picohsm_schema_json();

}  // namespace hsmctl::manifest
