// SPDX-License-Identifier: Apache-2.0
#pragma once
// Typed model of the two Securosys Primus manifest kinds (see docs/primus.md):
//   PrimusCluster   - one redundant HSM set, the PKCS#11 provider files of this host, and on
//                     CloudHSM the service-proxy user;
//   PrimusPartition - one HSM user (= partition = token label) reached through a cluster, with
//                     the references of the credentials needed to fetch its permanent secret.
// Only secret *references* live here; values are resolved by the engine.

#include "hsmctl/model/secret_ref.hpp"
#include "hsmctl/util/error.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hsmctl::model::primus {

/// One HSM (or CloudHSM API endpoint / service proxy) of the cluster; order = hsm0..hsmN.
struct Member {
  std::string name;  ///< block name in primus.cfg ("hsm0"); defaults to "hsm<index>"
  std::string host;
  int port = 2310;
  int priority = 0;  ///< 0..127, 0 is the highest-priority pool
};

/// Owner, group and permission bits a provider file must have.
struct FileMode {
  std::string owner = "root";
  std::string group = "primus";
  unsigned mode = 0640;
};

/// CloudHSM service-proxy ("Service-User") credentials; absent on-prem.
struct ServiceProxy {
  std::string user;
  model::SecretRef password;
  bool present = true;  ///< false: the proxy password must be removed (ppin -x, destructive)
};

enum class Deployment {
  kOnPrem,    ///< setup password valid 72 h from first use by default
  kCloudHsm,  ///< 168 h from first use; uses a service proxy
};

struct LogSettings {
  bool write_log_file = false;
  bool write_syslog = true;
  int trace_level = 4;  ///< 0..7, 4 in production
  std::string file;     ///< empty: not written
};

struct PrimusCluster {
  std::string name;                           ///< metadata.name
  std::map<std::string, std::string> labels;  ///< metadata.labels (for --selector)
  Deployment deployment = Deployment::kOnPrem;
  std::vector<Member> members;
  std::optional<ServiceProxy> service_proxy;
  std::string config_path = "/etc/primus/primus.cfg";
  std::string secrets_path = "/etc/primus/.secrets.cfg";
  FileMode config_mode;
  FileMode secrets_mode;
  /// spec.client.createSecretsFile: when .secrets.cfg does not exist, apply creates it empty
  /// (O_CREAT|O_EXCL, mode 0600, never through a symlink) before any ppin step. Default false:
  /// hsmctl creates no file the operator did not ask for; the plan warns instead.
  bool create_secrets_file = false;
  int wait_delay_ms = 250;
  int wait_max_tries = 5;
  bool connect_on_init = true;
  LogSettings log;
  /// Source position of the document, for errors.
  std::optional<SourcePos> where;
  /// Dotted manifest path ("spec.members[1].port") -> position, filled by the manifest loader.
  std::map<std::string, SourcePos> positions;
};

enum class SecretState { kPresent, kAbsent };

/// When an existing permanent secret is fetched again with `ppin -u`.
enum class RefreshPolicy {
  kNever,               ///< never (the default)
  kOnNewSetupPassword,  ///< when the setup password differs from the one last used successfully
};

struct PrimusPartition {
  std::string name;       ///< metadata.name
  std::string cluster;    ///< PrimusCluster metadata.name
  std::string user_name;  ///< HSM user = partition = PKCS#11 token label
  int slot_id = 0;        ///< PKCS#11 slot id, the same on every member
  std::string client_id;  ///< shows up in the HSM log; defaults to "hsmctl"
  std::optional<model::SecretRef> setup_password;
  std::optional<model::SecretRef> pkcs11_password;
  SecretState permanent_secret = SecretState::kPresent;
  RefreshPolicy refresh = RefreshPolicy::kNever;
  /// Setup-password validity in hours from first use; unset = 72 on-prem, 168 CloudHSM; 0 = OTP.
  std::optional<int> setup_password_validity_hours;
  /// Observe-only expectations.
  std::optional<std::string> expect_token_label;
  std::optional<std::string> expect_serial;
  std::optional<SourcePos> where;
  /// Dotted manifest path -> position, filled by the manifest loader.
  std::map<std::string, SourcePos> positions;
};

/// Default setup-password validity for a deployment (72 h on-prem, 168 h CloudHSM).
int default_validity_hours(Deployment deployment);

/// Effective validity for a partition of `cluster`.
int validity_hours(const PrimusPartition& partition, const PrimusCluster& cluster);

/// True when `value` has the documented setup-password shape XXXXX-XXXXX-XXXXX-XXXXX-XXXXX
/// (5 groups of 5 ASCII letters or digits).
bool is_setup_password_format(std::string_view value);

/// Cross-object checks that a schema cannot express: the partition's cluster exists, slot ids
/// are unique per cluster, a user name appears once per cluster, user names and ids fit in
/// primus.cfg, members are non-empty. Returns every problem (empty = consistent).
std::vector<Error> validate(const std::vector<PrimusCluster>& clusters,
                            const std::vector<PrimusPartition>& partitions);

/// The partitions of `partitions` that belong to `cluster`, sorted by slot id then user name.
std::vector<const PrimusPartition*> partitions_of(const PrimusCluster& cluster,
                                                  const std::vector<PrimusPartition>& partitions);

}  // namespace hsmctl::model::primus
