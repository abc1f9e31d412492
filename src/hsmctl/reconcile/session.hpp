// SPDX-License-Identifier: Apache-2.0
#pragma once
// The reconcile loop of `plan` and `apply`, over units (family/family.hpp) and never over
// families: prepare every unit (observe + plan), then for apply: refuse when anything failed or
// is blocked, check the guards of ALL units, confirm, execute unit by unit, and account for a
// stop request (SIGINT/SIGTERM) between units and steps. Messages and exit codes are the
// contract of docs/exit-codes.md; the CLI (cli/commands/reconcile.cpp) only parses options,
// loads manifests, opens the store and renders the plans.

#include "hsmctl/family/family.hpp"
#include "hsmctl/plan/plan.hpp"
#include "hsmctl/plan/saved.hpp"
#include "hsmctl/store/credential_keeper.hpp"
#include "hsmctl/util/error.hpp"

#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace hsmctl::reconcile {

/// `--device` values: "URI" for every unit that takes one, or "NAME=URI" for one.
struct DeviceMap {
  std::string fallback;  ///< $HSMCTL_DEVICE or "pcsc:" unless a plain URI was given
  std::map<std::string, std::string> by_name;

  std::string for_unit(const std::string& name) const;
};

/// Parses `--device` values (the last plain URI wins); the default is $HSMCTL_DEVICE or pcsc:.
DeviceMap device_map(const std::vector<std::string>& values);

/// Usage errors (Errc::kUsage) of `--device` for these units: every NAME=URI naming no unit that
/// takes a device URI; otherwise the first two units that would share one simulator file or
/// reader. `table` names the kinds in the message ("no PicoHSM manifest is named ...").
std::vector<Error> device_errors(const std::vector<std::unique_ptr<family::Unit>>& units,
                                 const DeviceMap& devices,
                                 std::span<const family::Family* const> table);

/// `--selector` / `--target`: which units a run plans and applies (docs/review.md). Empty: all.
struct Selection {
  struct Requirement {
    std::string key;
    std::string value;
    bool equal = true;  ///< false: `key!=value` (the label is absent or has another value)
  };
  std::vector<Requirement> requirements;  ///< all must hold (AND)
  std::vector<std::string> targets;       ///< metadata.name; a unit matches any of them
  std::string selector_text;              ///< as given, for messages

  bool empty() const { return requirements.empty() && targets.empty(); }
  bool matches(const family::Unit& unit) const;
};

/// Parses `-l/--selector` values (each `key=value,key!=value,...`; repeated values AND) and
/// `--target` names. Errc::kUsage on invalid syntax: an empty requirement, no `=`/`!=`, a key
/// that is not a label key.
Result<Selection> parse_selection(const std::vector<std::string>& selectors,
                                  const std::vector<std::string>& targets);

/// The units a run keeps, and the names of the others.
struct Selected {
  std::vector<std::unique_ptr<family::Unit>> units;
  std::vector<std::string> skipped;
};

/// THE place where units are filtered, for every family. Errc::kUsage for a `--target` that names
/// no unit (the message names it and lists the units); Errc::kManifest when nothing is selected
/// ("no manifests match selector ..."): never a "No changes" for nothing.
Result<Selected> select_units(std::vector<std::unique_ptr<family::Unit>> units,
                              const Selection& selection);

/// Where the session writes: results to `out`, diagnostics to `err`, error lines through
/// `print_error` ("hsmctl: error: ..."; when unset, written to `err`).
struct Io {
  std::ostream& out;
  std::ostream& err;
  std::function<void(const Error&)> print_error;
};

/// Asked before apply changes anything (unless --auto-approve): kExitOk to go on, else the exit
/// code to stop with (the callback has said why).
using Confirm = std::function<int()>;

class Session {
 public:
  Session(std::vector<std::unique_ptr<family::Unit>> units, store::CredentialKeeper& keeper,
          family::Options options, Io io);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// Prepares every unit in order. A stop request is honoured between units: the unit in
  /// progress completes (each VERIFY with its store record), the rest are "not observed"
  /// (status error, code "interrupted"). A unit that fails is reported on stderr and as a plan
  /// with status error; the others are still prepared. `verbosity` > 0 prints each unit's
  /// observation line.
  void prepare(const DeviceMap& devices, int verbosity);

  /// Up to `n` units are prepared at once (default 1) when every device is named (`sim:PATH`,
  /// `pcsc:<reader>`); with plain `pcsc:` (the by-serial probe asks every reader) units are
  /// prepared one after the other. Output and plans stay in unit order either way.
  void set_parallelism(int n) { max_parallel_ = n; }
  /// One plan per unit, in unit order (after prepare()).
  const std::vector<plan::DevicePlan>& plans() const { return plans_; }
  /// The policy check (policy::check, ARCHITECTURE.md "Data flow"), after prepare() and before
  /// the plans are printed: it may add policy results, notes and blocked actions to the plans,
  /// which finish_plan() and apply() then count (a blocked action: exit 3, apply refuses).
  std::vector<plan::DevicePlan>& plans_for_policy_check() { return plans_; }
  /// Every unit as prepared (after prepare()), in unit order, for a saved plan
  /// (reconcile/saved_plan.hpp): name, noun, `--device`, observation facts (none for a unit that
  /// could not be prepared) and plan.
  std::vector<plan::SavedUnit> saved_units() const;
  /// Keeps only the units named, in order (after prepare(); `apply PLAN --apply-valid-devices`).
  void keep_only(const std::vector<std::string>& names);

  /// After the plans were printed: `plan`'s exit code (interruption, errors, then with
  /// `detailed` 3 blocked / 2 changes / 0).
  int finish_plan(bool detailed) const;

  /// After the plans were printed: all-or-nothing apply. Refuses (nothing executed) when a unit
  /// failed to prepare (worst exit code) or anything is blocked (3); checks the guards of every
  /// unit before any execute (1); asks `confirm` when there are changes and it is set; then
  /// executes unit by unit, stopping between units and steps on a stop request.
  int apply(const Confirm& confirm);

 private:
  struct Entry;
  std::size_t workers_for() const;
  /// Calls `one(i, keeper)` for every entry: in order on the store's keeper with one worker,
  /// else on a pool of workers_for() threads sharing it through one store::SerializedKeeper.
  /// `one` must not throw.
  void for_each_entry(const std::function<void(std::size_t, store::CredentialKeeper&)>& one);
  void add_not_observed(const Entry& entry);
  void add_failure(const Entry& entry, const Error& error);
  void print_error(const Error& error) const;
  std::string interrupted_observation() const;
  bool any_blocked() const;
  bool any_changes() const;

  std::vector<Entry> entries_;
  store::CredentialKeeper& keeper_;
  family::Options options_;
  Io io_;
  std::vector<plan::DevicePlan> plans_;
  int max_parallel_ = 1;
  int failures_ = 0;
  int worst_exit_ = 0;
  std::vector<std::string> not_observed_;
};

}  // namespace hsmctl::reconcile
