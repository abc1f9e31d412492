// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/model/primus.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

namespace hsmctl::model::primus {

namespace {

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// primus.cfg values are written as libconfig strings; quotes, backslashes and control characters
// would need escaping the provider may not share, so they are refused.
bool is_config_safe(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
  });
}

// Errors point at the field when the loader recorded its position, else at the document.
struct Located {
  const std::optional<SourcePos>& where;
  const std::map<std::string, SourcePos>& positions;
};
Located at(const PrimusCluster& c) {
  return {c.where, c.positions};
}
Located at(const PrimusPartition& p) {
  return {p.where, p.positions};
}

Error object_error(const Located& obj, const std::string& path, std::string message) {
  std::optional<SourcePos> where = obj.where;
  for (std::string probe = path; !probe.empty();) {
    if (auto it = obj.positions.find(probe); it != obj.positions.end()) {
      where = it->second;
      break;
    }
    const auto cut = probe.find_last_of(".[");
    probe = cut == std::string::npos ? std::string() : probe.substr(0, cut);
  }
  Error e{Errc::kManifest, std::move(message), where, path};
  return e;
}

}  // namespace

int default_validity_hours(Deployment deployment) {
  return deployment == Deployment::kCloudHsm ? 168 : 72;
}

int validity_hours(const PrimusPartition& partition, const PrimusCluster& cluster) {
  return partition.setup_password_validity_hours.value_or(
      default_validity_hours(cluster.deployment));
}

bool is_setup_password_format(std::string_view value) {
  if (value.size() != 29)
    return false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (i % 6 == 5) {
      if (value[i] != '-')
        return false;
    } else if (!is_alnum(value[i])) {
      return false;
    }
  }
  return true;
}

std::vector<Error> validate(const std::vector<PrimusCluster>& clusters,
                            const std::vector<PrimusPartition>& partitions) {
  std::vector<Error> errors;
  std::map<std::string, const PrimusCluster*> by_name;
  for (const auto& c : clusters) {
    if (!by_name.emplace(c.name, &c).second) {
      errors.push_back(
          object_error(at(c), "metadata.name", "duplicate PrimusCluster '" + c.name + "'"));
    }
    if (c.members.empty()) {
      errors.push_back(object_error(at(c), "spec.members", "at least one member is required"));
    }
    std::set<std::string> member_names;
    for (std::size_t i = 0; i < c.members.size(); ++i) {
      const auto& m = c.members[i];
      const std::string path = "spec.members[" + std::to_string(i) + "]";
      if (m.host.empty() || !is_config_safe(m.host)) {
        errors.push_back(object_error(at(c), path + ".host", "host is empty or not printable"));
      }
      if (m.port < 1 || m.port > 65535) {
        errors.push_back(object_error(at(c), path + ".port", "port must be 1..65535"));
      }
      if (m.priority < 0 || m.priority > 127) {
        errors.push_back(object_error(at(c), path + ".priority", "priority must be 0..127"));
      }
      const bool ident = !m.name.empty() && std::isalpha(static_cast<unsigned char>(m.name[0])) &&
                         std::all_of(m.name.begin(), m.name.end(), [](char ch) {
                           return is_alnum(ch) || ch == '_' || ch == '-';
                         });
      if (!ident) {
        errors.push_back(object_error(at(c), path + ".name",
                                      "member name must start with a letter and contain only "
                                      "letters, digits, '_' and '-'"));
      }
      if (!member_names.insert(m.name).second) {
        errors.push_back(object_error(at(c), path + ".name", "duplicate member name"));
      }
    }
    if (c.service_proxy &&
        (c.service_proxy->user.empty() || !is_config_safe(c.service_proxy->user))) {
      errors.push_back(object_error(at(c), "spec.serviceProxy.user",
                                    "service proxy user is empty or not printable"));
    }
    if (c.config_path.empty() || c.config_path[0] != '/' || c.secrets_path.empty() ||
        c.secrets_path[0] != '/') {
      errors.push_back(object_error(at(c), "spec.client", "file paths must be absolute"));
    }
    if (!c.log.file.empty() &&
        (c.log.file[0] != '/' || !std::all_of(c.log.file.begin(), c.log.file.end(), [](char ch) {
           return is_alnum(ch) || ch == '.' || ch == '_' || ch == '/' || ch == '@' || ch == '+' ||
                  ch == '-';
         }))) {
      errors.push_back(object_error(at(c), "spec.client.log.file",
                                    "log file must be an absolute path of letters, digits and "
                                    "'._/@+-'"));
    }
    if (c.config_path.rfind("/usr/local/primus/", 0) == 0 ||
        c.secrets_path.rfind("/usr/local/primus/", 0) == 0) {
      errors.push_back(object_error(at(c), "spec.client",
                                    "/usr/local/primus/etc is overwritten by provider updates; "
                                    "use /etc/primus or another path"));
    }
  }
  std::set<std::string> partition_names;
  std::map<std::pair<std::string, int>, std::string> slots;
  std::set<std::pair<std::string, std::string>> users;
  for (const auto& p : partitions) {
    if (!partition_names.insert(p.name).second) {
      errors.push_back(
          object_error(at(p), "metadata.name", "duplicate PrimusPartition '" + p.name + "'"));
    }
    if (by_name.find(p.cluster) == by_name.end()) {
      errors.push_back(
          object_error(at(p), "spec.cluster", "PrimusCluster '" + p.cluster + "' is not defined"));
    }
    if (p.user_name.empty() || !is_config_safe(p.user_name)) {
      errors.push_back(object_error(at(p), "spec.userName", "user name is empty or not printable"));
    }
    if (!is_config_safe(p.client_id)) {
      errors.push_back(object_error(at(p), "spec.clientId", "client id is not printable"));
    }
    if (p.slot_id < 0) {
      errors.push_back(object_error(at(p), "spec.slotId", "slot id must not be negative"));
    }
    auto [it, fresh] = slots.emplace(std::make_pair(p.cluster, p.slot_id), p.name);
    if (!fresh) {
      errors.push_back(object_error(at(p), "spec.slotId",
                                    "slot id " + std::to_string(p.slot_id) +
                                        " is already used by partition '" + it->second + "'"));
    }
    if (!users.emplace(p.cluster, p.user_name).second) {
      errors.push_back(
          object_error(at(p), "spec.userName",
                       "user '" + p.user_name + "' appears twice in cluster '" + p.cluster +
                           "' (the provider treats one user name as one redundant partition)"));
    }
    if (p.expect_token_label && *p.expect_token_label != p.user_name) {
      errors.push_back(object_error(at(p), "spec.expect.tokenLabel",
                                    "the token label of a Primus partition is always its user "
                                    "name '" +
                                        p.user_name + "'"));
    }
    if (p.setup_password_validity_hours && *p.setup_password_validity_hours < 0) {
      errors.push_back(
          object_error(at(p), "spec.setupPassword.validityHours", "validity must not be negative"));
    }
  }
  return errors;
}

std::vector<const PrimusPartition*> partitions_of(const PrimusCluster& cluster,
                                                  const std::vector<PrimusPartition>& partitions) {
  std::vector<const PrimusPartition*> out;
  for (const auto& p : partitions) {
    if (p.cluster == cluster.name)
      out.push_back(&p);
  }
  std::sort(out.begin(), out.end(), [](const PrimusPartition* a, const PrimusPartition* b) {
    return a->slot_id != b->slot_id ? a->slot_id < b->slot_id : a->user_name < b->user_name;
  });
  return out;
}

}  // namespace hsmctl::model::primus
