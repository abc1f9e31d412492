// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/manifest/load.hpp"

#include "hsmctl/manifest/detail/schema_validator.hpp"
#include "hsmctl/manifest/detail/yaml_loader.hpp"
#include "hsmctl/manifest/embedded_schemas.hpp"
#include "hsmctl/util/atomic_file.hpp"

#include <unistd.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <system_error>

namespace hsmctl::manifest {
namespace {

namespace fs = std::filesystem;

constexpr const char* kStdinName = "<stdin>";

std::size_t kind_index(const YamlDocument& doc, const std::vector<KindSchema>& kinds) {
  const auto& kind = doc.value["kind"];
  for (std::size_t i = 0; kind.is_string() && i < kinds.size(); ++i) {
    if (kind.get<std::string>() == kinds[i].kind)
      return i;
  }
  return kinds.size();
}

// One file: its YAML errors, each document's schema errors, and each valid document handed to
// the handler. Everything reported goes to the file's entries (sorted by position later).
std::size_t read_text(const std::string& text, const std::string& file_name,
                      const std::vector<KindSchema>& kinds, Diagnostics& diagnostics,
                      const DocumentHandler& handler) {
  diagnostics.begin_file();
  std::size_t handed = 0;
  YamlFile yaml = parse_yaml(text, file_name);
  for (auto& e : yaml.errors)
    diagnostics.error(std::move(e));
  for (const YamlDocument& doc : yaml.documents) {
    std::vector<Error> schema_errors = validate_document(doc, file_name, kinds);
    const bool doc_ok = schema_errors.empty() && doc.error_count == 0;
    for (auto& e : schema_errors)
      diagnostics.error(std::move(e));
    if (!doc_ok)
      continue;
    const std::size_t kind = kind_index(doc, kinds);
    if (kind >= kinds.size())
      continue;  // validate_document reported it
    const DocView view(doc, file_name, kinds[kind].kind);
    ++handed;
    try {
      handler(kind, view, diagnostics);
    } catch (const std::exception& e) {
      // Only reachable if a kind's schema and its converter disagree.
      diagnostics.error(
          Error{Errc::kInternal, std::string("internal error: ") + e.what(), view.start(), {}});
    }
  }
  return handed;
}

Error io_error(const std::string& path, const std::string& message) {
  return Error{Errc::kIo, message, SourcePos{path, 0, 0}, {}};
}

// A read error of read_regular_file/read_fd_limited: its position already names the file.
Error io_error(Error e) {
  e.code = Errc::kIo;
  return e;
}

// Reads a whole manifest: a regular file (never a FIFO or device) within the size limit, checked
// before reading; "-" is standard input, read up to the same limit. Errors name the path.
Result<std::string> read_manifest(const std::string& path) {
  auto as_string = [](const Bytes& b) { return std::string(b.begin(), b.end()); };
  if (path == "-") {
    auto in = read_fd_limited(STDIN_FILENO, kMaxManifestBytes, kStdinName);
    if (!in)
      return tl::unexpected(io_error(in.error()));
    return as_string(*in);
  }
  auto file = read_regular_file(path, kMaxManifestBytes);
  if (!file)
    return tl::unexpected(io_error(file.error()));
  return as_string(file->content);
}

bool is_yaml_name(const fs::path& p) {
  std::string ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml";
}

// An error that stands for a whole file (it cannot be read, a directory cannot be listed).
void file_error(Diagnostics& diagnostics, Error e) {
  diagnostics.begin_file();
  diagnostics.error(std::move(e));
}

}  // namespace

std::string_view picohsm_schema_json() {
  return embedded::picohsm_v1alpha1_schema_json();
}

std::size_t read_manifest_text(const std::string& text, const std::string& file_name,
                               const std::vector<KindSchema>& kinds, Diagnostics& diagnostics,
                               const DocumentHandler& handler) {
  return read_text(text, file_name, kinds, diagnostics, handler);
}

std::size_t read_manifests(const std::vector<std::string>& paths,
                           const std::vector<KindSchema>& kinds, Diagnostics& diagnostics,
                           const DocumentHandler& handler) {
  std::size_t handed = 0;
  auto read_one = [&](const std::string& path) {
    auto text = read_manifest(path);
    if (!text) {
      file_error(diagnostics, text.error());
      return;
    }
    handed += read_text(*text, path == "-" ? kStdinName : path, kinds, diagnostics, handler);
  };
  for (const std::string& path : paths) {
    std::error_code ec;
    if (path != "-" && fs::is_directory(path, ec)) {
      std::vector<std::string> entries;
      for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code type_ec;
        if (is_yaml_name(it->path()) && it->is_regular_file(type_ec)) {
          entries.push_back(it->path().string());
        }
      }
      if (ec) {
        file_error(diagnostics, io_error(path, "cannot list directory: " + ec.message()));
        continue;
      }
      if (entries.empty()) {
        file_error(diagnostics, io_error(path, "directory contains no *.yaml or *.yml files"));
        continue;
      }
      std::sort(entries.begin(), entries.end());
      for (const std::string& e : entries)
        read_one(e);
    } else {
      read_one(path);
    }
  }
  return handed;
}

}  // namespace hsmctl::manifest
