// SPDX-License-Identifier: Apache-2.0
#pragma once
// The Primus planner: desired cluster + partitions x observed files and `ppin -l` x what the
// credential store remembers (as facts, never values) -> ordered actions with a risk class.
// Pure: no I/O. Apply executes the actions in this order.

#include "hsmctl/families/primus/config.hpp"
#include "hsmctl/families/primus/ppin.hpp"
#include "hsmctl/model/primus.hpp"
#include "hsmctl/plan/plan.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hsmctl::families::primus {

/// What prepare() saw on this host.
struct ObservedCluster {
  FileFacts config_file;
  FileFacts secrets_file;
  std::optional<ParsedConfig> live_config;  ///< unset when absent or unparsable
  std::string config_error;                 ///< why the live file could not be parsed
  ParsedConfig desired_config;
  std::string provider_version;  ///< from `ppin -v`; empty when unknown
  std::string version_error;
  /// `ppin -l` run against the desired primus.cfg and the live .secrets.cfg (an empty listing
  /// when .secrets.cfg does not exist); unset when ppin failed (listing_error says why).
  std::optional<Listing> listing;
  std::string listing_error;
  /// `ppin -t --user U` results, only with --probe.
  std::map<std::string, TestResult> probes;
  std::map<std::string, std::string> probe_errors;
  /// Extra notes for the plan (operator overrides in effect).
  std::vector<std::string> notes;
};

/// What hsmctl knows about the credentials of one partition (by user name). No values.
struct PartitionFacts {
  bool setup_available = false;  ///< resolved and well-formed
  std::string setup_problem;     ///< why not (no reference, unresolvable, malformed)
  /// Recorded earlier for this very value: the HSM answered this code (0x80005017 wrong,
  /// 0x80005018 / 0x80000037 expired, 0x8000000D user missing). It is never sent again.
  std::optional<std::uint32_t> setup_rejected_code;
  /// An earlier attempt with this value ended without a proven outcome (no code, crash,
  /// timeout): it may have counted as a failed login, so it is not sent again.
  bool setup_outcome_unknown = false;
  /// An earlier attempt got 0x80005017 behind a service proxy whose password was not verified
  /// in the same run: the setup password or the proxy password was refused.
  bool setup_ambiguous_with_proxy = false;
  std::optional<long long> setup_first_use;  ///< epoch seconds, recorded by hsmctl
  bool has_last_fetch = false;               ///< a fetch succeeded before (recorded)
  bool setup_same_as_last_fetch = false;     ///< ... with this same setup password
  bool pkcs11_available = false;
  std::string pkcs11_problem;
  bool pkcs11_rejected = false;         ///< this PKCS#11 password was rejected (0x8000000B) before
  bool pkcs11_outcome_unknown = false;  ///< ... or sent in an attempt with no proven outcome
};

struct ProxyFacts {
  bool available = false;
  std::string problem;
  bool rejected = false;         ///< this proxy password was rejected before
  bool outcome_unknown = false;  ///< ... or sent in an attempt with no proven outcome
  /// Configured, and the value in the store differs from the one hsmctl last set (by
  /// fingerprint): the proxy password was rotated.
  bool rotated = false;
};

/// The action kinds this planner emits (plan::Action::kind; the JSON `kind`), besides
/// plan::kind::kBlocked. Listed in docs/review.md "Action kinds".
namespace kind {
inline constexpr char kWriteConfig[] = "write-config";   ///< primus.cfg, atomically (backup kept)
inline constexpr char kFixFileMode[] = "fix-file-mode";  ///< owner/group/mode of a file
/// An empty .secrets.cfg (O_EXCL, 0600) before ppin needs it.
inline constexpr char kCreateSecretsFile[] = "create-secrets-file";
inline constexpr char kSetProxyPassword[] = "set-proxy-password";  ///< ppin -p
inline constexpr char kFetchSecret[] = "fetch-secret";      ///< ppin -a with the setup password
inline constexpr char kRefreshSecret[] = "refresh-secret";  ///< ppin -u on copies, then swapped in
inline constexpr char kRemoveSecret[] = "remove-secret";    ///< ppin -r / -x: destructive
inline constexpr const char* kAll[] = {kWriteConfig,      kFixFileMode, kCreateSecretsFile,
                                       kSetProxyPassword, kFetchSecret, kRefreshSecret,
                                       kRemoveSecret};
}  // namespace kind

/// The payload of every Primus action (plan::Action::payload): what it works on.
struct Step {
  std::string target;  ///< user name, proxy user name, or file path
  bool proxy = false;  ///< kind::kRemoveSecret: remove the proxy password (ppin -x), not a user's
};

struct ClusterPlan {
  plan::DevicePlan plan;  ///< each action carries its Step as payload
};

struct PlanInput {
  const PrimusCluster* cluster = nullptr;
  std::vector<const PrimusPartition*> partitions;
  const ObservedCluster* observed = nullptr;
  std::map<std::string, PartitionFacts> facts;  ///< by user name
  ProxyFacts proxy;
  long long now = 0;  ///< epoch seconds
  /// False with `--store none`: no record of a rejected value would survive, so steps that
  /// send a credential (ppin -a / -u / -p) are blocked instead of planned.
  bool records_durable = true;
};

/// Computes the plan for one cluster. Order: write primus.cfg, fix file modes, set the proxy
/// password, fetch, refresh, remove (destructive, ActionClass::kDestroy); SO-only steps and
/// credentials known to be bad are kBlocked with the operator's next step as the reason.
ClusterPlan make_plan(const PlanInput& input);

}  // namespace hsmctl::families::primus
