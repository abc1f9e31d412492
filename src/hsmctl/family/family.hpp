// SPDX-License-Identifier: Apache-2.0
#pragma once
// A device family: everything hsmctl knows about one kind of device (Pico HSM, Securosys Primus,
// ...) behind one interface, so that the reconcile loop (reconcile/session.hpp) and the CLI loop
// over *units* and never name a family. Families are registered in one table,
// families/registry.cpp (as OpenSC registers its card drivers); its order is the output order.
//
//   Family      kinds (-> schema), options (--allow-reinit, --ppin, ...), a Loader per load
//   Loader      model conversion: each schema-valid document of the family's kinds, then the
//               checks across documents and the units
//   Unit        one thing that is observed and planned as a whole: a PicoHSM document (one
//               device), a PrimusCluster with its partitions
//   PreparedUnit  a unit observed and planned (pure plan), still holding what execute() needs
//               (card session, resolved secrets); guards are checked on it without I/O
//
// Contracts every family keeps (docs/exit-codes.md, ARCHITECTURE.md "Safety invariants"):
// - prepare() never changes the device; it may record observation facts in the store.
// - check_guards() is pure; the session checks the guards of ALL units before any execute().
// - execute() runs only the prepared plan, checks stop_requested() (util/interrupt.hpp) before
//   each step and reports the steps it did not start.
// - No secret value ever reaches a plan, a progress line or an error message.

#include "hsmctl/manifest/doc_view.hpp"
#include "hsmctl/plan/plan.hpp"
#include "hsmctl/store/credential_keeper.hpp"
#include "hsmctl/util/error.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hsmctl::family {

/// One manifest kind a family reads.
struct KindSpec {
  std::string kind;              ///< "PicoHSM"
  std::string_view schema_json;  ///< the embedded JSON Schema (draft-07) of the kind
  /// JSON pointers under which every value may be a secret, never echoed in an error message
  /// ("/spec/userPin": the field, its reference and its generate parameters).
  std::vector<std::string> sensitive_pointers;
  /// Each document of this kind is one unit on one device, chosen by `--device [NAME=]URI`.
  bool device_uri = false;
};

/// A command-line option a family contributes to `plan` and `apply` (help text as shown).
struct OptionSpec {
  enum class Scope { kPlanAndApply, kApply };
  std::string name;  ///< long name without "--"
  std::string help;
  bool is_switch = true;  ///< false: takes a value
  Scope scope = Scope::kPlanAndApply;
};

/// Option values as given on the command line, by OptionSpec::name. A switch that was given has
/// the value "true"; an option not given is absent.
struct Options {
  std::map<std::string, std::string, std::less<>> values;

  bool flag(std::string_view name) const {
    auto it = values.find(name);
    return it != values.end() && it->second == "true";
  }
  std::optional<std::string> value(std::string_view name) const {
    auto it = values.find(name);
    if (it == values.end())
      return std::nullopt;
    return it->second;
  }
};

/// What a unit's prepare() and execute() get from the session.
struct RunContext {
  store::CredentialKeeper& keeper;
  const Options& options;
  /// `--device` for this unit (Unit::takes_device_uri()), else empty.
  std::string device_uri;
};

/// What execute() did; the same for every family.
struct ExecReport {
  int steps_done = 0;
  int steps_blocked = 0;
  int steps_total = 0;  ///< the plan's steps that were to run (blocked ones not counted)
  /// The signal on which execute() stopped between two steps, or 0; `not_started` lists (by
  /// summary) the steps that were never sent.
  int interrupted_by = 0;
  std::vector<std::string> not_started;
};

/// Progress lines for the operator ("change user PIN", "  done"); never contain secrets.
using Progress = std::function<void(const std::string&)>;

/// A unit observed and planned. Owns whatever execute() needs (e.g. the exclusive card session).
class PreparedUnit {
 public:
  virtual ~PreparedUnit() = default;
  /// The plan shown to the operator; execute() runs exactly its actions.
  virtual const plan::DevicePlan& plan() const = 0;
  /// The `-v` line about the observation ("observation sent 12 APDUs via sim:x"), or empty.
  virtual std::string observation_line() const { return {}; }
  /// The non-secret observed facts the plan depends on, human-named and in a stable order
  /// ({"user PIN retry counter", "3"}): a saved plan (`plan -out`) records them and `apply
  /// PLAN` names each one that changed since. Never a secret value (a credential at most as a
  /// keyed fingerprint).
  virtual std::vector<std::pair<std::string, std::string>> observation_facts() const { return {}; }
  /// Without I/O: Errc::kRefused naming the option that is missing (--allow-reinit, ...).
  virtual Result<void> check_guards(const Options& options) const = 0;
  /// Runs the plan; stops at the first failure and between steps on a stop request.
  virtual Result<ExecReport> execute(RunContext& context, const Progress& progress) = 0;
};

/// One PicoHSM document, one PrimusCluster with its partitions, ...
class Unit {
 public:
  virtual ~Unit() = default;
  virtual const std::string& name() const = 0;
  /// "device" or "cluster": the word in messages ("device \"hsm-a\": ...").
  virtual const char* noun() const = 0;
  /// True when the unit is reached through `--device [NAME=]URI` (duplicate-URI check).
  virtual bool takes_device_uri() const = 0;
  /// metadata.labels of the unit's document (a PrimusCluster's own, not its partitions'), for
  /// `--selector` (reconcile::select_units).
  virtual const std::map<std::string, std::string>& labels() const {
    static const std::map<std::string, std::string> kNone;
    return kNone;
  }
  /// Observes (never a state change) and plans (pure). An error means the unit cannot be
  /// planned; the session shows it as status `error` and apply refuses.
  virtual Result<std::unique_ptr<PreparedUnit>> prepare(RunContext& context) = 0;
};

/// Model conversion for one load (families::load): the loader reads every document of the
/// family's kinds that passed its schema, in manifest order (files in the order given, documents
/// in file order), then finish() runs the checks across documents and returns the units.
/// Errors go to the Diagnostics (file:line:column: spec.path: message); any error anywhere in
/// the load means no unit of any family is used.
class Loader {
 public:
  virtual ~Loader() = default;
  /// One document (doc.kind() is one of the family's kinds). Report problems about it with
  /// diagnostics.error(doc.error_at(pointer, message)) / warning(...).
  virtual void accept(const manifest::DocView& doc, manifest::Diagnostics& diagnostics) = 0;
  /// After the last document: cross-document checks (unique names, references between
  /// documents), then the units in manifest order. Called once, also when errors were reported.
  virtual std::vector<std::unique_ptr<Unit>> finish(manifest::Diagnostics& diagnostics) = 0;
};

class Family {
 public:
  virtual ~Family() = default;
  virtual std::string_view id() const = 0;  ///< "pico", "primus"
  virtual std::vector<KindSpec> kinds() const = 0;
  virtual std::vector<OptionSpec> options() const { return {}; }
  /// A fresh loader for one load of manifests.
  virtual std::unique_ptr<Loader> loader() const = 0;
};

}  // namespace hsmctl::family
