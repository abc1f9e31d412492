// SPDX-License-Identifier: Apache-2.0
#pragma once
// Manifest reading: YAML files -> JSON (YAML 1.2 core typing, duplicate keys, aliases and YAML
// 1.1 surprises rejected) -> validation by the JSON Schema of the document's kind -> the
// document, as a DocView, to whoever converts that kind (the device families, through
// families::load). Every error carries file:line:column and the dotted path; all are reported.
// manifest/ knows no family: the kind table is passed in (families/load.hpp builds it from the
// registry).

#include "hsmctl/manifest/doc_view.hpp"
#include "hsmctl/model/device_certificate.hpp"
#include "hsmctl/model/observed.hpp"
#include "hsmctl/util/error.hpp"

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hsmctl::manifest {

/// One manifest kind and its JSON Schema.
struct KindSchema {
  std::string kind;              ///< "PicoHSM"
  std::string_view schema_json;  ///< draft-07; must outlive the load (embedded schemas do)
  /// JSON pointers under which every value may be a secret and is never echoed in an error
  /// ("/spec/userPin": the field, its reference and its generate parameters).
  std::vector<std::string> sensitive_pointers;
};

/// Receives each document that passed the schema of its kind; `kind` indexes the kind table.
/// An exception it throws (a converter that disagrees with the schema) becomes an internal
/// error at the document.
using DocumentHandler =
    std::function<void(std::size_t kind, const DocView& doc, Diagnostics& diagnostics)>;

/// Reads each path: a file, or a directory (all *.yaml / *.yml inside, sorted, not recursive),
/// or "-" for standard input (named "<stdin>" in errors). Only regular files are read (a FIFO or
/// a device is an error, never a hang), and the size limit is checked before reading. Each
/// document is validated against the schema of its kind in `kinds` (an unknown kind is an error
/// that lists the table's kinds in table order) and handed to `handler` when valid. Returns the
/// number of documents handed over. Call diagnostics.end_files() afterwards.
std::size_t read_manifests(const std::vector<std::string>& paths,
                           const std::vector<KindSchema>& kinds, Diagnostics& diagnostics,
                           const DocumentHandler& handler);

/// Reads one in-memory document stream; `file_name` is used in error positions.
std::size_t read_manifest_text(const std::string& text, const std::string& file_name,
                               const std::vector<KindSchema>& kinds, Diagnostics& diagnostics,
                               const DocumentHandler& handler);

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
  /// The device certificate (EF 2F02) `get` read: emitted as header comments with the device
  /// key's fingerprint and how to pin it, never as spec.device.attestation (pinning is the
  /// operator's decision after an out-of-band check; docs/manifest.md "Device attestation").
  std::optional<model::DeviceCertificateInfo> device_certificate;
  /// Said in the header instead when there is no certificate to show ("none: EF 2F02 is
  /// absent ..."); empty: nothing is said.
  std::string device_certificate_note;
};

/// Renders observed state as a PicoHSM manifest (for `hsmctl get`) with yaml-cpp's emitter.
/// Loaded back and planned against the same device it gives no changes: a value the device
/// cannot reveal is emitted so that it never makes a plan re-initialize (and a comment says so).
std::string emit_pico_manifest(const model::ObservedPico& o, const std::string& name,
                               const EmitContext& ctx = {});

/// The JSON Schema (draft-07) of kind PicoHSM as compiled into the binary, for editors and
/// `hsmctl schema`-style output.
std::string_view picohsm_schema_json();

}  // namespace hsmctl::manifest
