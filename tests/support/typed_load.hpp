// SPDX-License-Identifier: Apache-2.0
#pragma once
// For tests that check what a load converted: families::load() (families/load.hpp) with the
// units' typed objects, per family, as manifest::load_manifests returned them before the
// families converted their documents themselves (issue 14, WP-E3b).

#include "hsmctl/families/load.hpp"
#include "hsmctl/families/pico/family.hpp"
#include "hsmctl/families/primus/family.hpp"
#include "hsmctl/model/pico_hsm.hpp"
#include "hsmctl/model/primus.hpp"

#include <string>
#include <vector>

namespace hsmctl::testing {

struct TypedLoad {
  std::vector<model::PicoHsmManifest> pico_hsms;
  std::vector<model::primus::PrimusCluster> primus_clusters;
  /// The partitions of each cluster in cluster order (each in manifest order).
  std::vector<model::primus::PrimusPartition> primus_partitions;
  std::size_t documents = 0;
  std::vector<Error> errors;
  std::vector<Error> warnings;
  bool ok() const { return errors.empty(); }
};

inline TypedLoad typed(families::Loaded loaded) {
  TypedLoad out;
  for (const auto& u : loaded.units) {
    if (const auto* m = families::pico::manifest_of(*u))
      out.pico_hsms.push_back(*m);
    if (const auto* c = families::primus::cluster_of(*u))
      out.primus_clusters.push_back(*c);
    if (const auto* ps = families::primus::partitions_of(*u)) {
      out.primus_partitions.insert(out.primus_partitions.end(), ps->begin(), ps->end());
    }
  }
  out.documents = loaded.documents;
  out.errors = std::move(loaded.errors);
  out.warnings = std::move(loaded.warnings);
  return out;
}

inline TypedLoad load_typed(const std::vector<std::string>& paths) {
  return typed(families::load(paths));
}

inline TypedLoad load_typed_text(const std::string& text, const std::string& file_name) {
  return typed(families::load_text(text, file_name));
}

}  // namespace hsmctl::testing
