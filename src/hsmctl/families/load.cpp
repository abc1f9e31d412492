// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/families/load.hpp"

#include "hsmctl/families/registry.hpp"
#include "hsmctl/manifest/doc_json.hpp"

#include <functional>
#include <utility>

namespace hsmctl::families {
namespace {

using Read = std::function<std::size_t(const std::vector<manifest::KindSchema>&,
                                       manifest::Diagnostics&, const manifest::DocumentHandler&)>;

Loaded load_with(std::span<const family::Family* const> table, const Read& read) {
  const std::vector<manifest::KindSchema> kinds = kind_table(table);
  std::vector<std::unique_ptr<family::Loader>> loaders;
  std::vector<std::size_t> loader_of_kind;  // kinds[i] is read by loaders[loader_of_kind[i]]
  for (const family::Family* f : table) {
    loader_of_kind.insert(loader_of_kind.end(), f->kinds().size(), loaders.size());
    loaders.push_back(f->loader());
  }
  manifest::Diagnostics diagnostics;
  Loaded out;
  out.documents = read(
      kinds, diagnostics,
      [&](std::size_t kind, const manifest::DocView& doc, manifest::Diagnostics& diag) {
        out.sources.push_back(Document{doc.kind(), doc.root()["metadata"].string_or("name", ""),
                                       manifest::to_json(doc.root())});
        loaders[loader_of_kind[kind]]->accept(doc, diag);
      });
  diagnostics.end_files();
  for (auto& loader : loaders) {
    for (auto& u : loader->finish(diagnostics))
      out.units.push_back(std::move(u));
  }
  out.errors = diagnostics.errors();
  out.warnings = diagnostics.warnings();
  // Manifests must not be used when anything is wrong; keep the units only for a clean load.
  if (!out.errors.empty())
    out.units.clear();
  return out;
}

}  // namespace

std::vector<manifest::KindSchema> kind_table(std::span<const family::Family* const> table) {
  std::vector<manifest::KindSchema> kinds;
  for (const family::Family* f : table) {
    for (auto& k : f->kinds()) {
      kinds.push_back({std::move(k.kind), k.schema_json, std::move(k.sensitive_pointers)});
    }
  }
  return kinds;
}

Loaded load(const std::vector<std::string>& paths) {
  return load(paths, families());
}

Loaded load(const std::vector<std::string>& paths, std::span<const family::Family* const> table) {
  return load_with(table, [&](const auto& kinds, auto& diagnostics, const auto& handler) {
    return manifest::read_manifests(paths, kinds, diagnostics, handler);
  });
}

Loaded load_text(const std::string& text, const std::string& file_name) {
  return load_text(text, file_name, families());
}

Loaded load_text(const std::string& text, const std::string& file_name,
                 std::span<const family::Family* const> table) {
  return load_with(table, [&](const auto& kinds, auto& diagnostics, const auto& handler) {
    return manifest::read_manifest_text(text, file_name, kinds, diagnostics, handler);
  });
}

}  // namespace hsmctl::families
