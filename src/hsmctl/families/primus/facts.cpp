// SPDX-License-Identifier: Apache-2.0
// The observation facts a saved plan binds (docs/review.md "Saved plans"): what `apply PLAN`
// compares, by name, to tell the operator what changed on the host since the plan.
#include "hsmctl/families/primus/engine.hpp"

#include <cstdio>

namespace hsmctl::families::primus {
namespace {

std::string file_fact(const FileFacts& f) {
  if (!f.exists)
    return f.dangling_symlink ? "a dangling symbolic link" : "absent";
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", f.mode);
  return f.owner + ":" + f.group + " " + mode;
}

std::string credential_fact(bool available, const std::string& problem, bool rejected,
                            bool unknown) {
  if (rejected)
    return "rejected before";
  if (unknown)
    return "sent before without a proven outcome";
  if (!available)
    return "not available (" + problem + ")";
  return "available";
}

}  // namespace

std::vector<std::pair<std::string, std::string>> observation_facts(
    const PreparedCluster& prepared) {
  const ObservedCluster& o = prepared.observed;
  std::vector<std::pair<std::string, std::string>> f;
  f.emplace_back("primus.cfg", file_fact(o.config_file));
  f.emplace_back(".secrets.cfg", file_fact(o.secrets_file));
  std::string config = "unparsable";
  if (o.live_config) {
    config = o.live_config->settings == o.desired_config.settings &&
                     o.live_config->users == o.desired_config.users
                 ? "as the manifests render it"
                 : "differs from the manifests";
  } else if (!o.config_file.exists) {
    config = "absent";
  }
  f.emplace_back("primus.cfg content", config);
  f.emplace_back("provider version", o.provider_version.empty() ? "(unknown)" : o.provider_version);
  if (o.listing) {
    for (const auto& slot : o.listing->slots) {
      f.emplace_back(
          "permanent secret of user " + slot.user + " (slot " + std::to_string(slot.slot_id) + ")",
          slot.configured ? "configured" : "missing");
    }
    for (const auto& proxy : o.listing->proxies) {
      f.emplace_back("proxy password of user " + proxy.user,
                     proxy.configured ? "configured" : "missing");
    }
  } else {
    f.emplace_back("ppin -l", "failed");
  }
  for (const auto& [user, probe] : o.probes)
    f.emplace_back("ppin -t failures of user " + user, std::to_string(probe.failures));
  for (const auto& [user, facts] : prepared.facts) {
    std::string setup =
        credential_fact(facts.setup_available, facts.setup_problem,
                        facts.setup_rejected_code.has_value(), facts.setup_outcome_unknown);
    if (facts.setup_same_as_last_fetch)
      setup += ", used by the last fetch";
    f.emplace_back("setup password of user " + user, setup);
    f.emplace_back("PKCS#11 password of user " + user,
                   credential_fact(facts.pkcs11_available, facts.pkcs11_problem,
                                   facts.pkcs11_rejected, facts.pkcs11_outcome_unknown));
  }
  const ProxyFacts& p = prepared.proxy_facts;
  f.emplace_back("service-proxy password",
                 credential_fact(p.available, p.problem, p.rejected, p.outcome_unknown) +
                     (p.rotated ? ", rotated" : ""));
  return f;
}

}  // namespace hsmctl::families::primus
