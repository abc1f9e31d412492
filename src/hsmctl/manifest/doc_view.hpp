// SPDX-License-Identifier: Apache-2.0
#pragma once
// What a family's Loader (family/family.hpp) sees of the manifests: one schema-valid document at
// a time (DocView, read-only, with source positions; the JSON library stays inside manifest/) and
// one Diagnostics per load that collects errors and warnings in the order `validate`, `plan` and
// `apply` print them (file by file, by position within a file; cross-document findings last).

#include "hsmctl/util/error.hpp"

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hsmctl::manifest {

struct YamlDocument;

/// One value of a document (mapping, list, string, number, boolean or null) and its JSON
/// pointer. A member that is absent reads as a null node. Reading a value as a type it does not
/// have throws (std::exception): the schema rules that out, and the loader reports it as an
/// internal error at the document.
class DocNode {
 public:
  /// True when the value is absent or null.
  bool is_null() const;
  bool is_mapping() const;
  bool is_list() const;
  /// True when this is a mapping with `key`.
  bool contains(std::string_view key) const;
  /// The member `key` of a mapping (a null node when absent).
  DocNode operator[](std::string_view key) const;
  /// The elements of a list, in order (empty for anything else).
  std::vector<DocNode> elements() const;
  /// The members of a mapping, by key in byte order (empty for anything else).
  std::vector<std::pair<std::string, DocNode>> members() const;

  std::string string() const;
  int integer() const;
  bool boolean() const;
  /// The member `key` when present, else `fallback`.
  std::string string_or(std::string_view key, std::string fallback) const;
  int integer_or(std::string_view key, int fallback) const;
  bool boolean_or(std::string_view key, bool fallback) const;

  /// RFC 6901 pointer of this value in its document ("" for the root, "/spec/userPin").
  const std::string& pointer() const { return pointer_; }

 private:
  friend class DocView;
  DocNode(const void* value, std::string pointer) : value_(value), pointer_(std::move(pointer)) {}
  const void* value_;  ///< the library's value, nullptr when absent
  std::string pointer_;
};

/// One document that passed the JSON Schema of its kind.
class DocView {
 public:
  /// For manifest/ (the loader builds one per valid document).
  DocView(const YamlDocument& doc, const std::string& file, std::string kind);

  /// The file name as used in positions ("<stdin>" for standard input).
  const std::string& file() const { return file_; }
  /// The document's kind ("PicoHSM").
  const std::string& kind() const { return kind_; }
  DocNode root() const;

  /// Where the document starts.
  SourcePos start() const;
  /// Where the value at `pointer` is, else its key, else its nearest ancestor.
  SourcePos position_of(const std::string& pointer) const;
  /// "/spec/keyDomains/1/dkekShares" -> "spec.keyDomains[1].dkekShares".
  std::string dotted_path(const std::string& pointer) const;
  /// Every value of the document: dotted path -> position (model objects keep this map).
  std::map<std::string, SourcePos> positions() const;
  /// An Errc::kManifest error about the value at `pointer`: its position and dotted path.
  Error error_at(const std::string& pointer, std::string message) const;

 private:
  const YamlDocument& doc_;
  const std::string& file_;
  std::string kind_;
};

/// The errors and warnings of one load. Loader::accept() reports about the document it reads:
/// those entries belong to the document's file and are sorted by position within it. In
/// Loader::finish(), error(FileId, ...) files an entry under a document's file (keep
/// current_file() from accept()); error(Error) without a file comes after every file's entries,
/// in the order reported. Echoed input (messages, paths, file names) is escaped for display.
class Diagnostics {
 public:
  using FileId = std::size_t;

  void error(Error e);
  void error(FileId file, Error e);
  void warning(Error e);

  /// The file of the document being read (valid in accept()).
  FileId current_file() const { return files_.empty() ? 0 : files_.size() - 1; }
  bool has_errors() const;

  /// For manifest/: the entries reported from now on belong to a new file.
  void begin_file();
  /// For manifest/: what follows is reported after all files (Loader::finish()).
  void end_files() { files_done_ = true; }

  /// Every error in print order (file by file, by position; then the others).
  std::vector<Error> errors() const;
  /// Every warning in print order.
  std::vector<Error> warnings() const;

 private:
  struct File {
    std::vector<Error> errors;
    std::vector<Error> warnings;
  };
  File& current();

  std::vector<File> files_;
  std::vector<Error> trailing_errors_;
  std::vector<Error> trailing_warnings_;
  bool files_done_ = false;
};

}  // namespace hsmctl::manifest
