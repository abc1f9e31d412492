// SPDX-License-Identifier: Apache-2.0
#pragma once
// YAML text -> JSON documents with source positions. Internal to manifest/ (the only place that
// sees yaml-cpp is yaml_loader.cpp). Typing follows the YAML 1.2 core schema; YAML 1.1 forms
// that 1.1 parsers read differently (yes/on/off, 017, 0x1F, 1_000, 1:30) are errors, as are
// duplicate keys, anchors and aliases, explicit tags other than !!str, and tab indentation.

#include "hsmctl/util/error.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace hsmctl::manifest {

/// 1-based line and column inside one file.
struct Pos {
  int line = 0;
  int column = 0;
};

/// One document of a stream, converted to JSON.
// NOLINTNEXTLINE(bugprone-exception-escape): its implicit move can only throw on allocation
struct YamlDocument {
  nlohmann::json value;
  /// JSON pointer ("/spec/pinRetries", "" for the root) -> position of the value.
  std::map<std::string, Pos> values;
  /// JSON pointer of a map entry -> position of its key.
  std::map<std::string, Pos> keys;
  /// Pointers whose value was replaced after a YAML-level error (schema errors there are noise).
  std::set<std::string> poisoned;
  /// Position of the document's first node.
  Pos start;
  /// Number of YAML-level errors reported for this document.
  int error_count = 0;

  /// Position of the value at `pointer`, else of its key, else of the nearest ancestor.
  Pos position_of(const std::string& pointer) const;
  /// Position of the key at `pointer`, else position_of(pointer).
  Pos key_position_of(const std::string& pointer) const;
};

struct YamlFile {
  /// Documents in stream order; null documents (e.g. from a trailing `---`) are dropped.
  std::vector<YamlDocument> documents;
  /// Every YAML-level problem, with file:line:column set.
  std::vector<Error> errors;
};

/// Limits that keep hostile input cheap to reject.
inline constexpr std::size_t kMaxManifestBytes = 1 << 20;
inline constexpr int kMaxNodes = 20000;
inline constexpr int kMaxDepth = 32;

/// Parses a YAML stream. Never throws; all problems end up in YamlFile::errors.
YamlFile parse_yaml(std::string_view text, const std::string& file_name);

/// RFC 6901 escaping of one reference token.
std::string escape_pointer_token(std::string_view token);

/// "/spec/keyDomains/1/dkekShares" -> "spec.keyDomains[1].dkekShares" (numeric tokens under
/// arrays are detected against `root`).
std::string dotted_path(const std::string& pointer, const nlohmann::json& root);

/// The unescaped reference tokens of an RFC 6901 JSON pointer ("/a~1b/0" -> {"a/b", "0"}).
std::vector<std::string> split_json_pointer(const std::string& pointer);

}  // namespace hsmctl::manifest
