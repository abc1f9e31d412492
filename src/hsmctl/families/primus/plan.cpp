// SPDX-License-Identifier: Apache-2.0
// Pure planning for Primus clusters (see plan.hpp). No I/O here.
#include "hsmctl/families/primus/plan.hpp"

#include <algorithm>

namespace hsmctl::families::primus {

namespace {

using plan::Action;
using plan::ActionClass;

std::string new_setup_password_hint(const PrimusCluster& c, const std::string& user) {
  if (c.deployment == Deployment::kCloudHsm) {
    return "request a new setup password for '" + user +
           "' from Securosys support (CloudHSM ticket), then point the reference at it";
  }
  return "ask the security officer to issue a new setup password for '" + user +
         "' (console: hsm_user_new_setup_pass), then point the reference at it";
}

class Builder {
 public:
  explicit Builder(ClusterPlan& out) : out_(out) {}
  Action& add(const char* kind_name, ActionClass cls, std::string summary, std::string reason,
              std::string target, bool proxy = false) {
    Action a;
    a.kind = kind_name;
    a.action_class = cls;
    a.summary = std::move(summary);
    a.reason = std::move(reason);
    a.payload = Step{std::move(target), proxy};
    out_.plan.actions.push_back(std::move(a));
    return out_.plan.actions.back();
  }
  Action& blocked(std::string summary, std::string reason, std::string target) {
    return add(plan::kind::kBlocked, ActionClass::kBlocked, std::move(summary), std::move(reason),
               std::move(target));
  }
  void note(std::string text) { out_.plan.notes.push_back(std::move(text)); }

 private:
  ClusterPlan& out_;
};

const char kNoStoreReason[] =
    "--store none keeps no record of a rejected or unanswered value, so a retry could burn "
    "another login attempt; hsmctl sends credentials only with a credential store";

std::string unknown_outcome_reason(const std::string& what) {
  return "the last attempt with " + what +
         " ended without a proven outcome (ppin printed no error code, died or timed out); it may "
         "have counted as a failed login, so it is not sent again. Check the HSM user log "
         "(ppin --fetchlog) and run with --retry-rejected to send it once more";
}

std::string format_hours(long long seconds) {
  return std::to_string(seconds / 3600) + " h";
}

/// 1. primus.cfg; true when the plan writes it.
bool plan_config_file(Builder& b, const PrimusCluster& c, const ObservedCluster& o) {
  bool writing_config = false;
  if (!o.config_file.exists) {
    Action& a = b.add(kind::kWriteConfig, ActionClass::kCreate, "create " + c.config_path,
                      "the provider configuration does not exist", c.config_path);
    a.changes = diff_config(ParsedConfig{}, o.desired_config);
    a.changes.push_back({"file mode", "(absent)", describe(c.config_mode), false});
    writing_config = true;
  } else if (!o.live_config) {
    b.add(kind::kWriteConfig, ActionClass::kUpdate, "rewrite " + c.config_path,
          "the live file cannot be parsed (" + o.config_error + "); a backup is kept as .bak",
          c.config_path);
    writing_config = true;
  } else {
    auto changes = diff_config(*o.live_config, o.desired_config);
    if (!changes.empty()) {
      Action& a =
          b.add(kind::kWriteConfig, ActionClass::kUpdate, "update " + c.config_path,
                "the live file differs from the manifest (" + std::to_string(changes.size()) +
                    " settings); written atomically, the old file kept as .bak",
                c.config_path);
      a.changes = std::move(changes);
      writing_config = true;
    }
    if (o.live_config->has_inline_credentials) {
      b.note(c.config_path + " holds a credential (pin / proxy_password); hsmctl's file has none");
    }
  }
  return writing_config;
}

/// 2. file modes (primus.cfg only when it is not rewritten anyway).
void plan_file_modes(Builder& b, const PrimusCluster& c, const ObservedCluster& o,
                     bool writing_config) {
  if (o.config_file.exists && !writing_config && !mode_matches(o.config_file, c.config_mode)) {
    Action& a = b.add(kind::kFixFileMode, ActionClass::kUpdate,
                      "fix owner/mode of " + c.config_path, "", c.config_path);
    a.changes.push_back({"file mode", describe(o.config_file), describe(c.config_mode), false});
  }
  if (o.secrets_file.exists && !mode_matches(o.secrets_file, c.secrets_mode)) {
    Action& a = b.add(
        kind::kFixFileMode, ActionClass::kUpdate, "fix owner/mode of " + c.secrets_path,
        o.secrets_file.mode & 07 ? "the secrets file is readable by others" : "", c.secrets_path);
    a.changes.push_back({"file mode", describe(o.secrets_file), describe(c.secrets_mode), false});
  }
}

/// 2b. .secrets.cfg itself. The provider fails C_Initialize without it (documented); whether
/// ppin -a / -p create a missing file is not documented (the install guide has users copy a
/// template first), so a missing file is created on request, or warned about.
/// Returns what to append to the reason of each ppin -a / -p step ("" when nothing).
std::string plan_secrets_file(Builder& b, const PlanInput& in) {
  const PrimusCluster& c = *in.cluster;
  const ObservedCluster& o = *in.observed;
  const bool needs_secrets =
      (c.service_proxy && c.service_proxy->present) ||
      std::any_of(in.partitions.begin(), in.partitions.end(), [](const PrimusPartition* p) {
        return p->permanent_secret == SecretState::kPresent;
      });
  std::string missing_secrets;  // appended to the reason of each ppin -a / -p step
  if (!o.secrets_file.exists && c.create_secrets_file) {
    const std::string summary = "create empty template " + c.secrets_path + " (0600)";
    if (o.secrets_file.dangling_symlink) {
      b.blocked(summary,
                c.secrets_path +
                    " is a symbolic link to a missing file; hsmctl never creates a "
                    "secrets file through a link: remove the link, or set "
                    "spec.client.secretsPath to the real path",
                c.secrets_path);
    } else {
      Action& a = b.add(kind::kCreateSecretsFile, ActionClass::kCreate, summary,
                        "spec.client.createSecretsFile: the file does not exist; created empty "
                        "with O_EXCL and mode 0600 (never through a symlink), then owner/group/"
                        "mode set to secretsFileMode, before any ppin step",
                        c.secrets_path);
      a.changes.push_back({"file mode", "(absent)", describe(c.secrets_mode), false});
    }
  } else if (!o.secrets_file.exists && needs_secrets) {
    b.note("warning: " + c.secrets_path +
           " does not exist. The PKCS#11 provider cannot initialize without it, and ppin may "
           "refuse -a/-p with 0x80005004 (secrets file not found) when it is missing (not "
           "documented; the vendor's install guide copies a template first). Set "
           "spec.client.createSecretsFile: true to have apply create it empty (0600), or create "
           "it yourself" +
           (o.secrets_file.dangling_symlink
                ? std::string(" (it is now a symbolic link to a missing file)")
                : std::string()));
    missing_secrets = "; warning: " + c.secrets_path +
                      " does not exist yet: a ppin that needs it fails with 0x80005004 "
                      "(spec.client.createSecretsFile)";
  }
  return missing_secrets;
}

/// What the service-proxy step means for the fetches after it.
struct ProxyPlan {
  bool ready = true;
  bool set_in_plan = false;  ///< a ppin -p in this plan verifies the proxy before a fetch
};

/// 3. service proxy.
ProxyPlan plan_proxy(Builder& b, const PlanInput& in, const std::string& missing_secrets) {
  const PrimusCluster& c = *in.cluster;
  const ObservedCluster& o = *in.observed;
  ProxyPlan proxy;
  if (c.service_proxy) {
    const ServiceProxy& sp = *c.service_proxy;
    std::optional<bool> st;
    if (o.listing)
      st = o.listing->proxy_configured(sp.user).value_or(false);
    const std::string ref = sp.password.display();
    const std::string set_summary = "set proxy password for '" + sp.user + "'";
    if (sp.present && st != true) {
      proxy.ready = false;
      if (!st) {
        b.blocked("set proxy password for '" + sp.user + "'",
                  "its current state is unknown (ppin -l failed)", sp.user);
      } else if (!in.proxy.available) {
        b.blocked("set proxy password for '" + sp.user + "'",
                  "no usable proxy password: " + in.proxy.problem, sp.user);
      } else if (in.proxy.rejected) {
        b.blocked("set proxy password for '" + sp.user + "'",
                  "the value of " + ref +
                      " was rejected by the service proxy before and is not tried again; "
                      "correct it (CloudHSM: Cloud Console or support)",
                  sp.user);
      } else if (in.proxy.outcome_unknown) {
        b.blocked(set_summary, unknown_outcome_reason("the proxy password at " + ref), sp.user);
      } else if (!in.records_durable) {
        b.blocked(set_summary, kNoStoreReason, sp.user);
      } else {
        Action& a =
            b.add(kind::kSetProxyPassword, ActionClass::kCreate,
                  "set proxy password for '" + sp.user + "' (ppin -p)",
                  "service/proxy user MISSING; must precede any fetch" + missing_secrets, sp.user);
        a.changes.push_back({"proxy password", "MISSING", "<secret " + ref + ">", false});
        proxy.ready = true;
        proxy.set_in_plan = true;
      }
    } else if (sp.present && st == true && in.proxy.rotated) {
      // Still Configured with the old value: fetches may go ahead either way.
      if (in.proxy.rejected) {
        b.blocked(set_summary + " (rotated)",
                  "the new value of " + ref +
                      " was rejected by the service proxy before and is not tried again",
                  sp.user);
      } else if (in.proxy.outcome_unknown) {
        b.blocked(set_summary + " (rotated)",
                  unknown_outcome_reason("the proxy password at " + ref), sp.user);
      } else if (!in.records_durable) {
        b.blocked(set_summary + " (rotated)", kNoStoreReason, sp.user);
      } else {
        Action& a = b.add(kind::kSetProxyPassword, ActionClass::kUpdate, set_summary + " (ppin -p)",
                          "the value of " + ref +
                              " differs from the one hsmctl last set "
                              "(fingerprint); ppin -p validates it and runs on copies",
                          sp.user);
        a.changes.push_back({"proxy password", "<previous value>", "<secret " + ref + ">", false});
        proxy.set_in_plan = true;
      }
    } else if (!sp.present && st == true) {
      Action& a = b.add(kind::kRemoveSecret, ActionClass::kDestroy,
                        "remove proxy password for '" + sp.user + "' (ppin -x)",
                        "the manifest says Absent; every partition behind the proxy loses access "
                        "until it is set again",
                        sp.user, true);
      a.changes.push_back({"proxy password", "Configured", "(absent)", false});
    }
  }
  return proxy;
}

std::optional<bool> user_state(const ObservedCluster& o, const std::string& user) {
  if (!o.listing)
    return std::nullopt;
  return o.listing->user_configured(user).value_or(false);
}

/// Notes about a partition that plan nothing: an unverified expected serial, failed probes.
void partition_notes(Builder& b, const ObservedCluster& o, const PrimusPartition& p) {
  const std::string& user = p.user_name;
  if (p.expect_serial) {
    b.note("partition '" + user + "': expected serial " + *p.expect_serial +
           " is not verified (needs PKCS#11 access)");
  }
  if (auto pr = o.probes.find(user); pr != o.probes.end()) {
    for (const auto& line : pr->second.lines) {
      if (!line.ok) {
        b.note("probe: " + line.hsm + " slot-id " + std::to_string(line.slot_id) + " user '" +
               user + "': " + line.detail);
      }
    }
  }
  if (auto pe = o.probe_errors.find(user); pe != o.probe_errors.end()) {
    b.note("probe of '" + user + "' failed: " + pe->second);
  }
}

/// What the recorded first use of the setup password means now.
struct SetupAge {
  bool likely_expired = false;
  bool one_time_used = false;
  std::string text;  ///< "setup password ... was first used N h ago (validity ...)"
};

SetupAge setup_age(const PlanInput& in, const PartitionFacts& facts, int validity,
                   const std::string& ref) {
  SetupAge out;
  if (!facts.setup_first_use)
    return out;
  out.one_time_used = validity == 0;
  const long long age = in.now - *facts.setup_first_use;
  out.likely_expired = validity == 0 || age > static_cast<long long>(validity) * 3600;
  out.text = "setup password " + ref + " was first used " + format_hours(age) + " ago (validity " +
             (validity == 0 ? std::string("one-time") : std::to_string(validity) + " h") + ")";
  return out;
}

std::string pkcs11_ref(const PrimusPartition& p) {
  return p.pkcs11_password ? p.pkcs11_password->display() : std::string("(none)");
}

/// Why a fetch or refresh for `p` cannot be planned (the operator's next step), or nullopt.
std::optional<std::string> fetch_blocked_reason(const PlanInput& in, const PrimusPartition& p,
                                                const PartitionFacts& facts, const SetupAge& age,
                                                const ProxyPlan& proxy) {
  const PrimusCluster& c = *in.cluster;
  const std::string& user = p.user_name;
  const std::string ref = p.setup_password ? p.setup_password->display() : "(none)";
  if (!facts.setup_available) {
    return "no usable setup password: " + facts.setup_problem + "; " +
           new_setup_password_hint(c, user);
  }
  if (facts.setup_rejected_code) {
    const std::uint32_t code = *facts.setup_rejected_code;
    if (code == kUserNotFound) {
      return "the HSM reported that user '" + user + "' does not exist (" + code_hex(code) +
             "); the security officer must create it (CloudHSM: Securosys) and issue a setup "
             "password";
    }
    if (code == kSetupPasswordExpired || code == kPasswordExpired) {
      return "the HSM reported the setup password at " + ref + " as expired (" + code_hex(code) +
             "); " + new_setup_password_hint(c, user);
    }
    return "the HSM rejected the setup password at " + ref + " (" + code_hex(code) +
           "); hsmctl does not try a rejected value again (lockout safety); " +
           new_setup_password_hint(c, user);
  }
  if (facts.setup_ambiguous_with_proxy && !proxy.set_in_plan) {
    return "an earlier attempt with the setup password at " + ref +
           " was refused with 0x80005017 behind the service proxy, whose password was "
           "not verified in that run: either the setup password or the stored proxy "
           "password was refused. Check the proxy password (a changed value is set "
           "and verified by ppin -p before the next fetch), or run with "
           "--retry-rejected; only then ask for a new setup password";
  }
  if (facts.setup_outcome_unknown)
    return unknown_outcome_reason("the setup password at " + ref);
  if (age.one_time_used) {
    return "the one-time setup password at " + ref + " (validityHours: 0) was already sent " + "(" +
           age.text + "); it is not sent again; " + new_setup_password_hint(c, user);
  }
  if (!facts.pkcs11_available)
    return "no usable PKCS#11 password: " + facts.pkcs11_problem;
  if (facts.pkcs11_rejected) {
    return "the PKCS#11 password at " + pkcs11_ref(p) +
           " was rejected before (0x8000000B) and is not tried again; correct it "
           "(the PIN is set by the security officer)";
  }
  if (facts.pkcs11_outcome_unknown)
    return unknown_outcome_reason("the PKCS#11 password at " + pkcs11_ref(p));
  if (!in.records_durable)
    return std::string(kNoStoreReason);
  if (!proxy.ready)
    return std::string("the service-proxy password must be configured first");
  return std::nullopt;
}

/// 4. one partition: a fetch or a refresh (or why not), or a removal, which comes last.
void plan_partition(Builder& b, const PlanInput& in, const PrimusPartition& p,
                    const ProxyPlan& proxy, const std::string& missing_secrets,
                    std::vector<const PrimusPartition*>& removals) {
  const PrimusCluster& c = *in.cluster;
  const std::string& user = p.user_name;
  const auto fit = in.facts.find(user);
  const PartitionFacts facts = fit == in.facts.end() ? PartitionFacts{} : fit->second;
  const std::optional<bool> configured = user_state(*in.observed, user);
  const int validity = validity_hours(p, c);
  const std::string ref = p.setup_password ? p.setup_password->display() : "(none)";
  partition_notes(b, *in.observed, p);

  if (p.permanent_secret == SecretState::kAbsent) {
    if (configured == true)
      removals.push_back(&p);
    return;
  }
  if (!configured) {
    b.blocked("permanent secret for '" + user + "'", "its state is unknown (ppin -l failed)", user);
    return;
  }
  const SetupAge age = setup_age(in, facts, validity, ref);
  const bool wants_refresh = *configured && p.refresh == RefreshPolicy::kOnNewSetupPassword &&
                             facts.setup_available && facts.has_last_fetch &&
                             !facts.setup_same_as_last_fetch;
  if (*configured && !wants_refresh)
    return;

  const char* verb = *configured ? "refresh" : "fetch";
  const std::string summary = std::string(verb) + " permanent secret for '" + user + "'";
  if (auto why = fetch_blocked_reason(in, p, facts, age, proxy)) {
    b.blocked(summary, *why, user);
    return;
  }
  if (age.likely_expired)
    b.note("warning: " + age.text + "; it has likely expired");
  std::string reason;
  if (*configured) {
    reason = "a new setup password is at " + ref +
             "; ppin -u runs on copies and is swapped in only after ppin -l confirms it";
  } else {
    reason = "permanent secret MISSING; uses the setup password at " + ref +
             (facts.setup_first_use ? " (" + age.text + ")"
                                    : " (its " +
                                          (validity == 0 ? std::string("one-time use")
                                                         : std::to_string(validity) + " h window") +
                                          " starts with this fetch)");
  }
  if (age.likely_expired)
    reason += "; likely expired: the HSM may answer 0x80005018";
  if (!*configured)
    reason += missing_secrets;
  Action& a = b.add(*configured ? kind::kRefreshSecret : kind::kFetchSecret,
                    *configured ? ActionClass::kUpdate : ActionClass::kCreate,
                    summary + (*configured ? " (ppin -u)" : " (ppin -a)"), reason, user);
  a.changes.push_back({"permanent secret", *configured ? "Configured" : "MISSING",
                       *configured ? "Configured (refreshed)" : "Configured", false});
}

}  // namespace

ClusterPlan make_plan(const PlanInput& in) {
  const PrimusCluster& c = *in.cluster;
  const ObservedCluster& o = *in.observed;
  ClusterPlan out;
  out.plan.name = c.name;
  out.plan.transport = c.config_path;
  out.plan.initialized = o.config_file.exists;
  Builder b(out);

  if (!o.provider_version.empty())
    b.note("provider: Primus HSM PKCS#11 " + o.provider_version);
  if (!o.version_error.empty())
    b.note("ppin -v failed: " + o.version_error);
  for (const auto& n : o.notes)
    b.note(n);

  const bool writing_config = plan_config_file(b, c, o);
  plan_file_modes(b, c, o, writing_config);
  const std::string missing_secrets = plan_secrets_file(b, in);
  if (!o.listing) {
    b.note("credential state unknown: " + o.listing_error);
  }
  const ProxyPlan proxy = plan_proxy(b, in, missing_secrets);

  // 4. partitions: fetch and refresh first, removals last.
  std::vector<const PrimusPartition*> removals;
  for (const PrimusPartition* p : in.partitions)
    plan_partition(b, in, *p, proxy, missing_secrets, removals);
  for (const PrimusPartition* p : removals) {
    Action& a = b.add(kind::kRemoveSecret, ActionClass::kDestroy,
                      "remove permanent secret for '" + p->user_name + "' (ppin -r)",
                      "the manifest says Absent; getting it back needs a valid setup password "
                      "(security officer work, a paid ticket on CloudHSM)",
                      p->user_name);
    a.changes.push_back({"permanent secret", "Configured", "(absent)", false});
  }
  return out;
}

}  // namespace hsmctl::families::primus
