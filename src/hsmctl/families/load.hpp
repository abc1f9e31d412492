// SPDX-License-Identifier: Apache-2.0
#pragma once
// Loading manifests into units: manifest/ reads and validates every document against the kind
// table of the registered families, each valid document goes to the loader of the family that
// owns its kind, and each loader's finish() gives that family's units (table order, then
// manifest order). This is what `validate`, `plan` and `apply` call.

#include "hsmctl/family/family.hpp"
#include "hsmctl/manifest/load.hpp"
#include "hsmctl/util/error.hpp"

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace hsmctl::families {

/// One schema-valid document as data, for the policy check (policy/): its kind, metadata.name and
/// the whole document as JSON (secret references only, never values).
struct Document {
  std::string kind;
  std::string name;
  std::string json;
};

struct Loaded {
  /// Every unit of every family, family by family in table order; empty unless ok().
  std::vector<std::unique_ptr<family::Unit>> units;
  /// The documents that passed their schema (all of them when ok(): "N manifest(s) valid").
  std::size_t documents = 0;
  /// The documents that passed their schema, in manifest order (for the policy check).
  std::vector<Document> sources;
  /// Every problem found, in file order (then cross-document findings). Non-empty means the
  /// manifests must not be used.
  std::vector<Error> errors;
  /// Non-fatal findings (dangerous but acknowledged options, ...), same format as errors.
  std::vector<Error> warnings;
  bool ok() const { return errors.empty(); }
};

/// The kinds of `table` in table order, as manifest/ validates them.
std::vector<manifest::KindSchema> kind_table(std::span<const family::Family* const> table);

/// Loads each path (a file, a directory of *.yaml / *.yml, or "-" for standard input; see
/// manifest::read_manifests) with the registered families (families()).
Loaded load(const std::vector<std::string>& paths);
/// The same over another table (tests).
Loaded load(const std::vector<std::string>& paths, std::span<const family::Family* const> table);

/// Loads one in-memory document stream; `file_name` is used in error positions.
Loaded load_text(const std::string& text, const std::string& file_name);
Loaded load_text(const std::string& text, const std::string& file_name,
                 std::span<const family::Family* const> table);

}  // namespace hsmctl::families
