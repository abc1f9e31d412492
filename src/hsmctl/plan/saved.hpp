// SPDX-License-Identifier: Apache-2.0
#pragma once
// A saved plan (`hsmctl plan -out FILE`, docs/review.md "Saved plans"): the rendered-able device
// plans (everything but the family payloads) and what they were made from (manifest digests,
// selection, options, each unit's non-secret observation facts, the hsmctl version), as JSON
// (schemas/savedplan.v1alpha1.schema.json). The codec is pure: the caller gives the MAC function
// (reconcile/saved_plan.hpp keys it with a store entry) and does the file I/O.

#include "hsmctl/plan/plan.hpp"
#include "hsmctl/util/error.hpp"

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hsmctl::plan {

/// The `format_version` of a saved plan file this build reads and writes.
inline constexpr char kSavedPlanFormat[] = "hsmctl.dev/savedplan/v1alpha1";

/// A manifest file the plan was made from: as found from the `-f` values, and its SHA-256.
struct SavedManifest {
  std::string path;
  std::string sha256;
};

/// One unit (a device, a Primus cluster) of a saved plan.
struct SavedUnit {
  std::string name;
  std::string noun;        ///< "device" / "cluster"
  std::string device_uri;  ///< the `--device` it was planned with; empty when it takes none
  /// Human-named non-secret facts the plan depends on ("user PIN retry counter", "3"), in the
  /// family's order (family::PreparedUnit::observation_facts()).
  std::vector<std::pair<std::string, std::string>> observation;
  DevicePlan plan;  ///< without payloads
};

struct SavedPlan {
  std::string hsmctl_version;
  std::vector<std::string> files;  ///< the `-f` values as given
  std::vector<SavedManifest> manifests;
  std::vector<std::string> selectors;  ///< `-l` values as given
  std::vector<std::string> targets;    ///< `--target` values
  /// Family options of `plan` (name → value; a switch is "true").
  std::map<std::string, std::string> options;
  /// `--policy` values as given and every policy file they named, with its SHA-256: apply
  /// checks the same policies on its fresh plan (docs/policies.md, docs/review.md).
  std::vector<std::string> policy_paths;
  std::vector<SavedManifest> policies;
  std::vector<SavedUnit> units;
};

/// The MAC of the canonical body text (hex); the codec never sees its key.
using PlanMac = std::function<std::string(std::string_view canonical_body)>;

/// The file text: format_version, the MAC of the canonical body, the body (indented JSON).
std::string encode_saved_plan(const SavedPlan& saved, const PlanMac& mac);

/// Reads a file text. Errc::kRefused when it is not a saved plan (not JSON, no format_version),
/// is of another format version (both named), its MAC does not match (edited or made with
/// another store), or its body is malformed; the message says which. The MAC is checked before
/// anything of the body is used.
Result<SavedPlan> decode_saved_plan(std::string_view text, const PlanMac& mac);

/// A device plan as canonical text (no payloads): two plans are equal for apply when these are.
std::string canonical_plan(const DevicePlan& plan);

/// Where two device plans first differ, in words ("actions: change user PIN → (none)"); empty
/// when canonical_plan() is equal.
std::string plan_difference(const DevicePlan& saved, const DevicePlan& fresh);

}  // namespace hsmctl::plan
