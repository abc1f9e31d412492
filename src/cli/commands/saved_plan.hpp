// SPDX-License-Identifier: Apache-2.0
#pragma once
// Saved plans in the CLI (docs/review.md "Saved plans"): `plan -out FILE`, `show FILE` and the
// checks `apply FILE` makes before it re-plans (the loop itself is in commands/reconcile.cpp).

#include "hsmctl/plan/saved.hpp"
#include "hsmctl/util/error.hpp"

#include <string>
#include <vector>

namespace hsmctl::cli {

/// Terraform spells it `-out FILE` / `-out=FILE`; Boost would read `-out` as `-o ut`. Returns
/// `args` with those spelled `--out`.
std::vector<std::string> normalize_out_option(const std::vector<std::string>& args);

/// The manifest files the `-f` values name (a directory: its *.yaml / *.yml, sorted, as
/// manifest::read_manifests reads them) with their SHA-256. Errc::kUsage for standard input
/// ("-": nothing to bind), the read error of a file otherwise.
Result<std::vector<plan::SavedManifest>> manifest_digests(const std::vector<std::string>& files);

/// One line per manifest added, removed or changed since the plan ("manifest x.yaml changed
/// since the plan"); empty when all are the same.
std::vector<std::string> manifest_changes(const std::vector<plan::SavedManifest>& saved,
                                          const std::vector<plan::SavedManifest>& now);

}  // namespace hsmctl::cli
