// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/manifest/load.hpp"

#include "hsmctl/manifest/detail/schema_validator.hpp"
#include "hsmctl/manifest/detail/yaml_loader.hpp"
#include "hsmctl/manifest/embedded_schemas.hpp"
#include "hsmctl/manifest/semantic.hpp"
#include "hsmctl/util/atomic_file.hpp"
#include "hsmctl/util/text.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>

namespace hsmctl::manifest {
namespace {

namespace fs = std::filesystem;

constexpr const char* kStdinName = "<stdin>";

// Everything learned from one file, kept apart so errors can be ordered per file.
struct FileOutcome {
  std::vector<model::PicoHsmManifest> manifests;
  std::vector<model::primus::PrimusCluster> primus_clusters;
  std::vector<model::primus::PrimusPartition> primus_partitions;
  std::vector<Error> errors;
  std::vector<Error> warnings;
};

FileOutcome load_text(const std::string& text, const std::string& file_name) {
  FileOutcome out;
  YamlFile yaml = parse_yaml(text, file_name);
  out.errors = std::move(yaml.errors);
  for (const YamlDocument& doc : yaml.documents) {
    std::vector<Error> schema_errors = validate_document(doc, file_name);
    bool doc_ok = schema_errors.empty() && doc.error_count == 0;
    for (auto& e : schema_errors)
      out.errors.push_back(std::move(e));
    if (!doc_ok)
      continue;
    if (doc.value["kind"] != kKindPicoHsm) {
      PrimusOutcome primus = build_primus(doc, file_name);
      for (auto& e : primus.errors)
        out.errors.push_back(std::move(e));
      if (primus.cluster)
        out.primus_clusters.push_back(std::move(*primus.cluster));
      if (primus.partition)
        out.primus_partitions.push_back(std::move(*primus.partition));
      continue;
    }
    DocumentOutcome built = build_pico_manifest(doc, file_name);
    for (auto& e : built.errors)
      out.errors.push_back(std::move(e));
    for (auto& w : built.warnings)
      out.warnings.push_back(std::move(w));
    if (built.manifest)
      out.manifests.push_back(std::move(*built.manifest));
  }
  return out;
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

bool position_less(const Error& a, const Error& b) {
  int la = a.where ? a.where->line : 0;
  int lb = b.where ? b.where->line : 0;
  if (la != lb)
    return la < lb;
  int ca = a.where ? a.where->column : 0;
  int cb = b.where ? b.where->column : 0;
  return ca < cb;
}

// Rules across documents and files: unique names and unique device selectors.
void cross_checks(std::vector<FileOutcome>& files) {
  std::map<std::string, SourcePos> names;
  std::map<std::string, SourcePos> serials;
  std::map<std::string, SourcePos> readers;
  // "line 4, column 9" within the same file, "other.yaml:4:9" across files.
  auto where = [](const SourcePos& p, const SourcePos& here) {
    std::string lc = std::to_string(p.line) + ":" + std::to_string(p.column);
    if (p.file == here.file) {
      return "line " + std::to_string(p.line) + ", column " + std::to_string(p.column);
    }
    return p.file + ":" + lc;
  };
  for (FileOutcome& f : files) {
    std::vector<model::PicoHsmManifest> kept;
    for (model::PicoHsmManifest& m : f.manifests) {
      bool ok = true;
      SourcePos name_pos = m.position_of("metadata.name");
      auto [nit, name_new] = names.emplace(m.metadata.name, name_pos);
      if (!name_new) {
        f.errors.push_back(Error{Errc::kManifest,
                                 "duplicate name '" + m.metadata.name + "' (first defined at " +
                                     where(nit->second, name_pos) + ")",
                                 name_pos, "metadata.name"});
        ok = false;
      }
      const auto& dev = m.spec.device;
      auto& table = dev.serial.empty() ? readers : serials;
      const std::string& key = dev.serial.empty() ? dev.reader : dev.serial;
      const std::string path = dev.serial.empty() ? "spec.device.reader" : "spec.device.serial";
      SourcePos dev_pos = m.position_of(path);
      auto [dit, dev_new] = table.emplace(key, dev_pos);
      if (!dev_new) {
        f.errors.push_back(Error{Errc::kManifest,
                                 std::string(dev.serial.empty() ? "reader '" : "serial ") + key +
                                     (dev.serial.empty() ? "'" : "") +
                                     " is already selected by another manifest (at " +
                                     where(dit->second, dev_pos) + ")",
                                 dev_pos, path});
        ok = false;
      }
      if (ok)
        kept.push_back(std::move(m));
    }
    f.manifests = std::move(kept);
  }
}

// Errors echo keys, names and paths from the input: escaped so that a key holding "\n\r" cannot
// split the error line and an escape sequence never reaches the terminal.
void escape_echoed(Error& e) {
  e.message = escape_for_display(e.message);
  e.path = escape_for_display(e.path);
  if (e.where)
    e.where->file = escape_for_display(e.where->file);
}

LoadResult combine(std::vector<FileOutcome> files) {
  cross_checks(files);
  for (FileOutcome& f : files) {
    for (Error& e : f.errors)
      escape_echoed(e);
    for (Error& e : f.warnings)
      escape_echoed(e);
  }
  LoadResult result;
  for (FileOutcome& f : files) {
    std::stable_sort(f.errors.begin(), f.errors.end(), position_less);
    std::stable_sort(f.warnings.begin(), f.warnings.end(), position_less);
    for (auto& m : f.manifests)
      result.pico_hsms.push_back(std::move(m));
    for (auto& c : f.primus_clusters)
      result.primus_clusters.push_back(std::move(c));
    for (auto& p : f.primus_partitions)
      result.primus_partitions.push_back(std::move(p));
    for (auto& e : f.errors)
      result.errors.push_back(std::move(e));
    for (auto& w : f.warnings)
      result.warnings.push_back(std::move(w));
  }
  // Primus objects refer to each other (partition -> cluster): checked over all files.
  for (auto& e : model::primus::validate(result.primus_clusters, result.primus_partitions)) {
    result.errors.push_back(std::move(e));
  }
  // Manifests must not be used when anything is wrong; keep them only for a clean load.
  if (!result.errors.empty()) {
    result.pico_hsms.clear();
    result.primus_clusters.clear();
    result.primus_partitions.clear();
  }
  return result;
}

}  // namespace

std::string_view picohsm_schema_json() {
  return embedded::picohsm_v1alpha1_schema_json();
}

LoadResult load_manifest_text(const std::string& text, const std::string& file_name) {
  std::vector<FileOutcome> files;
  files.push_back(load_text(text, file_name));
  return combine(std::move(files));
}

LoadResult load_manifests(const std::vector<std::string>& paths) {
  std::vector<FileOutcome> files;
  auto load_one = [&](const std::string& path) {
    auto text = read_manifest(path);
    if (!text) {
      FileOutcome f;
      f.errors.push_back(text.error());
      files.push_back(std::move(f));
      return;
    }
    files.push_back(load_text(*text, path == "-" ? kStdinName : path));
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
        FileOutcome f;
        f.errors.push_back(io_error(path, "cannot list directory: " + ec.message()));
        files.push_back(std::move(f));
        continue;
      }
      if (entries.empty()) {
        FileOutcome f;
        f.errors.push_back(io_error(path, "directory contains no *.yaml or *.yml files"));
        files.push_back(std::move(f));
        continue;
      }
      std::sort(entries.begin(), entries.end());
      for (const std::string& e : entries)
        load_one(e);
    } else {
      load_one(path);
    }
  }
  return combine(std::move(files));
}

}  // namespace hsmctl::manifest
