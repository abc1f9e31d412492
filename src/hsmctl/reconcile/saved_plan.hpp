// SPDX-License-Identifier: Apache-2.0
#pragma once
// Saved plans (docs/review.md "Saved plans"): `plan -out FILE` writes the plans of a session
// with what they were made from, authenticated with a key kept in the credential store;
// `apply FILE` re-plans the same units and applies only what is still exactly the saved plan.
// The file format is plan/saved.hpp; this adds the key, the file I/O and the staleness check.

#include "hsmctl/plan/saved.hpp"
#include "hsmctl/store/credential_keeper.hpp"
#include "hsmctl/util/error.hpp"
#include "hsmctl/util/secret.hpp"

#include <optional>
#include <string>
#include <vector>

namespace hsmctl::reconcile {

/// The store entry holding the key that authenticates saved plans ("hsmctl/plan-key").
extern const store::CredentialKey kPlanKeyEntry;

/// The plan key of this store; created (and recorded) on first use when `create`, else nullopt
/// when the store has none.
Result<std::optional<Secret>> plan_key(store::CredentialKeeper& keeper, bool create);

/// Writes `saved` to `path` atomically (mode 0644: a plan holds no secret).
Result<void> write_saved_plan(const std::string& path, const plan::SavedPlan& saved,
                              const Secret& key);

/// Reads and authenticates `path` (plan::decode_saved_plan; Errc::kRefused on a bad file,
/// Errc::kUnavailable when it does not exist, Errc::kIo on other read errors).
Result<plan::SavedPlan> read_saved_plan(const std::string& path, const Secret& key);
/// The same with this store's plan key (`show` and `apply FILE`); Errc::kRefused when the store
/// holds none (the plan was written with another store).
Result<plan::SavedPlan> read_saved_plan(const std::string& path, store::CredentialKeeper& keeper);

/// What changed between a unit's saved part and the same unit planned now, one line each
/// ("user PIN retry counter 3 → 2 since the plan", "the plan now differs: ..."); empty when the
/// saved part is still valid. Observation facts are compared first, by name; then the plan.
std::vector<std::string> unit_changes(const plan::SavedUnit& saved, const plan::SavedUnit& fresh);

}  // namespace hsmctl::reconcile
