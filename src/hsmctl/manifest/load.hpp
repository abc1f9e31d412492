// SPDX-License-Identifier: Apache-2.0
#pragma once
// Manifest loading: YAML files -> JSON (YAML 1.2 core typing, duplicate keys, aliases and YAML 1.1
// surprises rejected) -> validation by the JSON Schema in schemas/ -> semantic checks -> typed
// model. Every error carries file:line:column and the dotted path; all errors are reported.

#include "hsmctl/model/observed.hpp"
#include "hsmctl/model/pico_hsm.hpp"
#include "hsmctl/model/primus.hpp"
#include "hsmctl/util/error.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hsmctl::manifest {

struct LoadResult {
  std::vector<model::PicoHsmManifest> pico_hsms;
  /// Securosys Primus kinds (docs/primus.md), checked together by model::primus::validate().
  std::vector<model::primus::PrimusCluster> primus_clusters;
  std::vector<model::primus::PrimusPartition> primus_partitions;
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

/// What `hsmctl get` knows beside the device: the credential store's entries and records.
struct EmitContext {
  /// Secret references for the PINs: `store:pico:<serial>/user-pin` when the store holds the
  /// value, otherwise a placeholder the operator must replace.
  std::string user_pin_ref = "env:CHANGE_ME_USER_PIN";
  std::string so_pin_ref = "env:CHANGE_ME_SO_PIN";
  /// The user-PIN retry maximum the store recorded when hsmctl last verified or set the PIN.
  std::optional<int> recorded_pin_retries;
  /// metadata.labels to emit.
  std::map<std::string, std::string> labels;
};

/// Renders observed state as a PicoHSM manifest (for `hsmctl get`) with yaml-cpp's emitter.
/// Loaded back and planned against the same device it gives no changes: a value the device
/// cannot reveal is emitted so that it never makes a plan re-initialize (and a comment says so).
std::string emit_pico_manifest(const model::ObservedPico& o, const std::string& name,
                               const EmitContext& ctx = {});

/// One manifest kind and its embedded JSON Schema.
struct KindSchema {
  std::string_view kind;
  std::string_view schema_json;
  /// JSON pointers under which every value may be a secret and is never echoed in an error
  /// ("/spec/userPin": the field, its reference and its generate parameters).
  std::vector<std::string_view> sensitive_pointers;
};

/// The kinds manifest/ validates, in the order messages list them ("unknown kind ... (supported:
/// PicoHSM, ...)"): the one table schema dispatch reads. It equals the kinds of the family
/// registry (families/registry.hpp), family by family, which tests/unit/family/registry_test.cpp
/// checks; it stays here until the families convert their documents themselves (issue 14,
/// WP-E3b), because manifest/ must not depend on the families.
const std::vector<KindSchema>& supported_kinds();

/// The JSON Schema (draft-07) of kind PicoHSM as compiled into the binary, for editors and
/// `hsmctl schema`-style output.
std::string_view picohsm_schema_json();

}  // namespace hsmctl::manifest
