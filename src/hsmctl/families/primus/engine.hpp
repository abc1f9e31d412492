// SPDX-License-Identifier: Apache-2.0
#pragma once
// The reconcile loop for Securosys Primus partitions, shaped like apply/engine.hpp:
//
//   prepare()      resolves the references it needs, observes files and `ppin -v` / `ppin -l`
//                  (never a login, never a fetch; `ppin -t` only with EngineOptions::probe) and
//                  plans one ClusterPlan per PrimusCluster;
//   check_guards() refuses destructive actions without ApplyOptions::allow_destructive;
//   execute()      runs the plan under a lock of .secrets.cfg. Every ppin mutation runs on
//                  COPIES of primus.cfg and .secrets.cfg, is verified with `ppin -l`, and only
//                  then renamed over the live file (backup .secrets.cfg.bak), so a failed
//                  `ppin -u` (which deletes the entry) never touches the live entry.
//
// Lockout safety: no credential failure is retried. The first 0x80005017 / 0x80005018 /
// 0x8000000B / 0x80000037 / 0x8000000D stops execute() and is recorded in the credential store as
// an HMAC fingerprint of the value (never the value), so later prepare()s block instead of trying
// the same value again. First use of a setup password is recorded the same way, to warn when its
// validity window (72 h on-prem, 168 h CloudHSM, or spec) has likely passed.
//
// Store entries (device "primus:<cluster>/<user>" or "primus-proxy:<cluster>/<proxy user>"):
//   setup-password, pkcs11-password, proxy-password   two-phase stage/commit of what is sent
//   setup-password-rejected   lines "<fingerprint> <code>"
//   setup-password-first-use  lines "<fingerprint> <epoch seconds>"
//   pkcs11-password-rejected, proxy-password-rejected  lines "<fingerprint>"
//   fetched-with              fingerprint of the setup password of the last successful fetch
// and the store's fingerprint key (store/fingerprint.hpp, created on the first execute()).

#include "hsmctl/families/primus/plan.hpp"
#include "hsmctl/family/family.hpp"
#include "hsmctl/model/primus.hpp"
#include "hsmctl/store/credential_keeper.hpp"
#include "hsmctl/util/error.hpp"
#include "hsmctl/util/secret.hpp"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hsmctl::families::primus {

struct EngineOptions {
  std::string ppin_program = "ppin";  ///< path, or a name looked up in PATH
  bool probe = false;                 ///< --probe: run `ppin -t` (PERFORMS A LOGIN)
  std::optional<long long> now;       ///< epoch seconds; unset = the system clock
  int timeout_seconds = 120;          ///< per ppin run
  /// Operator override (e.g. `--retry-rejected` after a lockout by other clients made a correct
  /// value look wrong): values recorded as rejected are planned and sent once more. Off by
  /// default; the plan notes every value it affects.
  bool retry_rejected = false;
};

/// Values for one partition; never rendered.
struct PartitionSecrets {
  std::optional<Secret> setup;
  std::optional<Secret> pkcs11;
};

/// A cluster observed and planned. Holds copies of its manifest objects, so it does not depend
/// on the lifetime of prepare()'s arguments.
struct PreparedCluster {
  PrimusCluster cluster;
  std::vector<PrimusPartition> partitions;  ///< sorted by slot id, then user name
  std::string desired_config;               ///< rendered primus.cfg
  ObservedCluster observed;
  std::map<std::string, PartitionFacts> facts;
  ProxyFacts proxy_facts;
  ClusterPlan plan;
  std::map<std::string, PartitionSecrets> secrets;  ///< by user name
  std::optional<Secret> proxy_password;
  EngineOptions options;
  long long now = 0;
};

/// Validates the objects (model.hpp validate(), Errc::kManifest with every problem joined) and
/// prepares every cluster, in manifest order. Errc::kUnavailable when ppin cannot be started;
/// unresolvable secrets are not errors here but blocked actions (only what a planned action
/// needs is resolved; a `prompt` reference prompts during prepare()).
Result<std::vector<PreparedCluster>> prepare(const std::vector<PrimusCluster>& clusters,
                                             const std::vector<PrimusPartition>& partitions,
                                             store::CredentialKeeper& keeper,
                                             const EngineOptions& options);

/// The non-secret observed facts the plan of `prepared` depends on, human-named, in a fixed
/// order (family::PreparedUnit::observation_facts(); facts.cpp): the files' presence and modes,
/// whether the live primus.cfg is the desired one, the provider version, the `ppin -l` listing,
/// what hsmctl recorded about each partition's credentials (never a value).
std::vector<std::pair<std::string, std::string>> observation_facts(const PreparedCluster& prepared);

struct ApplyOptions {
  bool allow_destructive = false;  ///< --allow-destructive: ppin -r / -x may run
};

/// What execute() did (family/family.hpp: steps done/blocked/total, the signal it stopped on and
/// the steps it did not start): the family interface's report, returned as is.
using ApplyReport = family::ExecReport;

using Progress = std::function<void(const std::string&)>;

/// Errc::kRefused naming --allow-destructive when the plan removes a permanent secret or proxy
/// password without it.
Result<void> check_guards(const PreparedCluster& prepared, const ApplyOptions& options);

/// Runs the plan (check_guards() first). Stops at the first failure; credential failures are
/// recorded as described above and returned as Errc::kAuth. Checks stop_signal()
/// (util/interrupt.hpp) before each step: a step in progress (its ppin run, the verification,
/// the rename and the store records) completes; no further step starts.
Result<ApplyReport> execute(PreparedCluster& pc, const ApplyOptions& options,
                            store::CredentialKeeper& keeper, const Progress& progress);

/// The store key of a partition's entries ("primus:<cluster>/<user>", name).
store::CredentialKey partition_key(const std::string& cluster, const std::string& user,
                                   const char* name);
store::CredentialKey proxy_key(const std::string& cluster, const std::string& proxy_user,
                               const char* name);

}  // namespace hsmctl::families::primus
