// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/families/schsm_engine/diff.hpp"

#include "hsmctl/device/schsm/pka_request.hpp"
#include "hsmctl/model/options.hpp"
#include "hsmctl/util/bytes.hpp"

#include <any>
#include <string>

namespace hsmctl::families::schsm_engine {
namespace {

using model::KeyDomainStatus;
using model::ObservedPico;
using model::PicoHsmManifest;
using model::PicoHsmSpec;
using model::PinStatus;
using plan::Action;
using plan::ActionClass;
using plan::DevicePlan;
using plan::FieldChange;

/// Four upper-case hex digits (the JSON `options` attribute).
std::string hex4(std::uint16_t v) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out(4, '0');
  for (int i = 3; i >= 0; --i, v = static_cast<std::uint16_t>(v >> 4))
    out[static_cast<std::size_t>(i)] = kDigits[v & 0xF];
  return out;
}

/// A key-domain action: its payload and the `key_domain` attribute the JSON plan shows.
void set_key_domain(Action& a, int index, int shares) {
  a.payload = KeyDomainPayload{index, shares};
  a.attributes.push_back({"key_domain", static_cast<long long>(index)});
}

std::string yes_no(bool b) {
  return b ? "true" : "false";
}

/// The Pico options hsmctl manages in place (DYNOPS); secure lock is never touched.
constexpr std::uint16_t kManagedDynamicOptions =
    model::kOptPressToConfirm | model::kOptKeyUsageCounter;

/// What the key-domain table of a device initialized with `spec` looks like: one entry per
/// domain; nullopt = "not set up" (FF FF), otherwise the total number of DKEK shares.
std::vector<std::optional<int>> expected_domain_table(const PicoHsmSpec& spec) {
  std::vector<std::optional<int>> table;
  if (spec.key_domains.empty()) {
    // No tag 97: one domain 0. Tag 92 absent -> (0,0) no DKEK; 00 -> random DKEK (1 of 1);
    // n -> n shares.
    int total = 0;
    if (spec.dkek_shares)
      total = *spec.dkek_shares == 0 ? 1 : *spec.dkek_shares;
    table.emplace_back(total);
  } else {
    // Per-domain set up (INS 52 P1=01) takes the count as is: 0 is a domain without DKEK,
    // which the device reports as total 0 (not as a random 1-of-1 DKEK like tag 92 = 00).
    for (const auto& d : spec.key_domains) {
      if (d.dkek_shares) {
        table.emplace_back(*d.dkek_shares);
      } else {
        table.emplace_back(std::nullopt);
      }
    }
  }
  return table;
}

std::string describe_domain(const std::optional<int>& total) {
  if (!total)
    return "(not set up)";
  if (*total == 0)
    return "no DKEK";
  return std::to_string(*total) + " DKEK share(s)";
}

std::string describe_observed_domain(const KeyDomainStatus& d) {
  if (!d.set_up)
    return "(not set up)";
  return describe_domain(d.total_shares);
}

std::string domain_path(const PicoHsmSpec& spec, int index) {
  if (spec.key_domains.empty())
    return "spec.dkekShares";
  return "spec.keyDomains[" + std::to_string(index) + "].dkekShares";
}

std::string desired_domain_value(const PicoHsmSpec& spec, int index) {
  if (spec.key_domains.empty()) {
    return spec.dkek_shares ? std::to_string(*spec.dkek_shares) : "(absent)";
  }
  const auto& d = spec.key_domains[static_cast<std::size_t>(index)];
  return d.dkek_shares ? std::to_string(*d.dkek_shares) : "(not set up)";
}

std::string pka_text(int keys, int required) {
  return std::to_string(keys) + " keys, " + std::to_string(required) + " required";
}

/// The manifest's key file with this CHR, or nullptr.
const model::PkaKeyFile* pka_file_of(const model::PublicKeyAuth& pka, const Bytes& chr) {
  for (const auto& f : pka.key_files) {
    if (f.chr == chr)
      return &f;
  }
  return nullptr;
}

struct ReinitCheck {
  std::vector<FieldChange> changes;
  std::vector<std::string> unknowns;
};

void option_bit_change(ReinitCheck& out, const ObservedPico& observed, std::uint16_t desired,
                       std::uint16_t bit, const char* path) {
  bool have = (observed.options & bit) != 0;
  bool want = (desired & bit) != 0;
  if (have != want)
    out.changes.push_back({path, yes_no(have), yes_no(want), true});
}

/// Every difference that only INITIALIZE can fix (pico-hsm.md section 9).
ReinitCheck init_only_differences(const PicoHsmSpec& spec, const ObservedPico& observed) {
  ReinitCheck out;
  const std::uint16_t want = spec.init_options();
  option_bit_change(out, observed, want, model::kOptResetRetryCounter,
                    "spec.resetRetryCounter.enabled");
  option_bit_change(out, observed, want, model::kOptRrcResetOnly,
                    "spec.resetRetryCounter.onlyResetsCounter");
  option_bit_change(out, observed, want, model::kOptTransportPin, "spec.transportPin");
  option_bit_change(out, observed, want, model::kOptReplacePka, "spec.publicKeyAuth.replaceable");
  option_bit_change(out, observed, want, model::kOptCombinedAuth,
                    "spec.publicKeyAuth.combinedWithPin");

  // Retry maximum: exact after a verified PIN; otherwise it is at least the current counter.
  if (observed.pin_retries_max) {
    if (*observed.pin_retries_max != spec.pin_retries) {
      out.changes.push_back({"spec.pinRetries", std::to_string(*observed.pin_retries_max),
                             std::to_string(spec.pin_retries), true});
    }
  } else if (observed.user_pin.state == PinStatus::State::kTriesLeft &&
             observed.user_pin.tries_left > spec.pin_retries) {
    out.changes.push_back({"spec.pinRetries",
                           "at least " + std::to_string(observed.user_pin.tries_left),
                           std::to_string(spec.pin_retries), true});
  } else {
    out.unknowns.push_back(
        "spec.pinRetries: the retry maximum cannot be read without a verified user PIN; "
        "not compared");
  }

  // Public key authentication.
  if (spec.public_key_auth.has_value() != observed.pka.has_value()) {
    out.changes.push_back(
        {"spec.publicKeyAuth",
         observed.pka ? pka_text(observed.pka->total, observed.pka->required) : "(absent)",
         spec.public_key_auth ? pka_text(spec.public_key_auth->keys, spec.public_key_auth->required)
                              : "(absent)",
         true});
  } else if (spec.public_key_auth) {
    if (observed.pka->total != spec.public_key_auth->keys) {
      out.changes.push_back({"spec.publicKeyAuth.keys", std::to_string(observed.pka->total),
                             std::to_string(spec.public_key_auth->keys), true});
    }
    if (observed.pka->required != spec.public_key_auth->required) {
      out.changes.push_back({"spec.publicKeyAuth.required", std::to_string(observed.pka->required),
                             std::to_string(spec.public_key_auth->required), true});
    }
  }

  // A registered key the manifest's files do not name: INS 54 has no delete, so only a
  // re-initialization removes it (replacing needs the quorum itself on newer firmware).
  if (spec.public_key_auth && !spec.public_key_auth->key_files.empty() && observed.pka &&
      observed.pka->slots_read) {
    std::string strays;
    for (const auto& slot : observed.pka->slots) {
      if (!pka_file_of(*spec.public_key_auth, slot.chr)) {
        strays += (strays.empty() ? "" : ", ") + device::schsm::chr_text(slot.chr);
      }
    }
    if (!strays.empty()) {
      out.changes.push_back({"spec.publicKeyAuth.keys", "registered: " + strays,
                             "only the manifest's keys (a registered key is removed only by "
                             "re-initialization)",
                             true});
    }
  }

  // Key-domain count (tag 97) and, without key domains, the DKEK share count (tag 92).
  const auto table = expected_domain_table(spec);
  const auto& seen = observed.key_domains;
  if (!spec.key_domains.empty()) {
    if (seen.size() != table.size()) {
      out.changes.push_back({"spec.keyDomains", std::to_string(seen.size()) + " domain(s)",
                             std::to_string(table.size()) + " domain(s)", true});
    }
  } else if (seen.size() != 1) {
    out.changes.push_back(
        {"spec.keyDomains", std::to_string(seen.size()) + " domain(s)", "(absent)", true});
  } else if (seen[0].set_up && seen[0].total_shares != table[0].value_or(0)) {
    out.changes.push_back({"spec.dkekShares", describe_observed_domain(seen[0]),
                           desired_domain_value(spec, 0), true});
  } else if (!seen[0].set_up && !spec.dkek_shares) {
    // A table entry "not set up" only exists with tag 97; "no DKEK" needs re-initialization.
    out.changes.push_back({"spec.dkekShares", "(not set up)", "(absent)", true});
  }
  return out;
}

Action make_initialize(const PicoHsmSpec& spec, const ObservedPico& observed, bool reinit,
                       std::vector<FieldChange> changes, const CredentialFacts& creds,
                       const Capabilities& caps) {
  Action a;
  a.kind = kind::kInitialize;
  a.action_class = reinit ? ActionClass::kReinitialize : ActionClass::kCreate;
  a.summary = reinit ? "re-initialize the device (wipes all keys)" : "initialize the device";
  InitializePayload init;
  // Tag 80 overwrites both option bytes: it carries the manifest's options, never the current
  // ones, so no DYNOPS step has to follow (and none is left over for the next plan).
  // Without dynamic options (SC-HSM) the high byte is 00.
  init.options = caps.dyn_options
                     ? static_cast<std::uint16_t>(
                           spec.init_options() | (spec.dynamic_options() & kManagedDynamicOptions) |
                           (observed.options & model::kOptSecureLock))
                     : spec.init_options();
  init.pin_retries = spec.pin_retries;
  if (spec.key_domains.empty()) {
    init.dkek_shares = spec.dkek_shares;
  } else {
    init.key_domains = static_cast<int>(spec.key_domains.size());
  }
  if (spec.public_key_auth)
    init.pka = std::make_pair(spec.public_key_auth->keys, spec.public_key_auth->required);
  a.attributes.push_back({"options", hex4(init.options)});
  const std::uint16_t options = init.options;
  a.payload = init;
  auto dynamic_change = [&](std::uint16_t bit, const char* path) {
    if (!caps.dyn_options)
      return;
    const bool have = reinit && (observed.options & bit) != 0;
    const bool want = (options & bit) != 0;
    if (have != want) {
      a.changes.push_back({path, reinit ? yes_no(have) : "(absent)", yes_no(want), false});
    }
  };
  if (!reinit) {
    a.changes.push_back({"spec.userPin", "(absent)", "(sensitive)", false});
    a.changes.push_back({"spec.soPin", "(absent)", "(sensitive)", false});
    a.changes.push_back({"spec.pinRetries", "(absent)", std::to_string(spec.pin_retries), false});
    a.changes.push_back({"spec.resetRetryCounter.enabled", "(absent)",
                         yes_no(spec.reset_retry_counter.enabled), false});
    if (spec.reset_retry_counter.only_resets_counter) {
      a.changes.push_back({"spec.resetRetryCounter.onlyResetsCounter", "(absent)", "true", false});
    }
    if (spec.transport_pin)
      a.changes.push_back({"spec.transportPin", "(absent)", "true", false});
    if (spec.dkek_shares) {
      a.changes.push_back(
          {"spec.dkekShares", "(absent)", std::to_string(*spec.dkek_shares), false});
    }
    if (!spec.key_domains.empty()) {
      a.changes.push_back({"spec.keyDomains", "(absent)",
                           std::to_string(spec.key_domains.size()) + " domain(s)", false});
    }
    if (spec.public_key_auth) {
      a.changes.push_back({"spec.publicKeyAuth", "(absent)",
                           pka_text(spec.public_key_auth->keys, spec.public_key_auth->required),
                           false});
    }
    dynamic_change(model::kOptPressToConfirm, "spec.options.pressToConfirm");
    dynamic_change(model::kOptKeyUsageCounter, "spec.options.keyUsageCounter");
    a.reason = "the device has never been initialized";
  } else {
    a.changes = std::move(changes);
    dynamic_change(model::kOptPressToConfirm, "spec.options.pressToConfirm");
    dynamic_change(model::kOptKeyUsageCounter, "spec.options.keyUsageCounter");
    a.changes.push_back({"spec.userPin", "(sensitive)", "(sensitive)", false});
    a.changes.push_back({"spec.soPin", "(sensitive)", "(sensitive)", false});
    std::string forced;
    for (const auto& c : a.changes) {
      if (!c.forces_reinit)
        continue;
      if (!forced.empty())
        forced += ", ";
      forced += c.path;
    }
    a.reason = "forced by " + forced;
    if (observed.key_count > 0) {
      a.would_lose.push_back(std::to_string(observed.key_count) + " private key(s) on the device");
    }
    a.would_lose.push_back("all certificates, data objects, DKEK shares and registered PKA keys");
    bool keeps_device_key =
        caps.reinit_keeps_device_key || creds.user_pin_usable() || creds.so_pin_usable();
    if (observed.device_certificate_pki.value_or(false) && !keeps_device_key) {
      a.would_lose.push_back(
          "the PKI-issued device certificate (no current PIN or SO PIN is known to verify first)");
    }
  }
  return a;
}

Action blocked(std::string summary, std::string reason, std::vector<FieldChange> changes = {}) {
  Action a;
  a.kind = plan::kind::kBlocked;
  a.action_class = ActionClass::kBlocked;
  a.summary = std::move(summary);
  a.reason = std::move(reason);
  a.changes = std::move(changes);
  return a;
}

/// Steps that follow INITIALIZE in the same (authenticated) session, or run in place.
void append_domain_and_option_steps(const PicoHsmSpec& spec, const ObservedPico* observed,
                                    const Capabilities& caps, std::vector<Action>& actions) {
  if (!spec.key_domains.empty()) {
    for (std::size_t i = 0; i < spec.key_domains.size(); ++i) {
      const auto& want = spec.key_domains[i];
      const KeyDomainStatus* have =
          observed && i < observed->key_domains.size() ? &observed->key_domains[i] : nullptr;
      const int index = static_cast<int>(i);
      const std::string path = domain_path(spec, index);
      if (have && have->set_up && want.dkek_shares && have->total_shares == *want.dkek_shares) {
        continue;
      }
      if (!have && !want.dkek_shares)
        continue;  // fresh table: not set up already
      if (have && !have->set_up && !want.dkek_shares)
        continue;
      // A domain without DKEK answers its status with 6A88 like one not set up: 0 shares are
      // never set up (the next plan could not tell it was done).
      if (caps.no_dkek_is_6a88 && want.dkek_shares == 0 && (!have || !have->set_up))
        continue;
      if (have && have->set_up) {
        Action del;
        del.kind = kind::kDeleteKeyDomain;
        del.action_class = ActionClass::kUpdate;
        set_key_domain(del, index, 0);
        del.summary = "delete key domain " + std::to_string(index);
        del.reason = "the domain is set up with " + describe_observed_domain(*have) +
                     "; the device refuses (6A89) while a key still belongs to it, and backups "
                     "made under its DKEK become unusable";
        del.changes.push_back(
            {path, describe_observed_domain(*have), desired_domain_value(spec, index), false});
        actions.push_back(std::move(del));
      }
      if (want.dkek_shares && (!caps.no_dkek_is_6a88 || *want.dkek_shares != 0)) {
        Action set;
        set.kind = kind::kSetupKeyDomain;
        set.action_class = ActionClass::kUpdate;
        set_key_domain(set, index, *want.dkek_shares);
        set.summary = "set up key domain " + std::to_string(index) + " with " +
                      std::to_string(*want.dkek_shares) + " DKEK share(s)";
        set.reason = "key domains are set up after initialization, with the user PIN";
        set.changes.push_back({path, have ? describe_observed_domain(*have) : "(not set up)",
                               std::to_string(*want.dkek_shares), false});
        actions.push_back(std::move(set));
      }
    }
  }
  // After INITIALIZE (no observed state) the options are already the manifest's: tag 80.
  if (observed == nullptr || !caps.dyn_options)
    return;
  const std::uint16_t have_dyn =
      static_cast<std::uint16_t>(observed->options & model::kDynamicOptionsMask);
  const std::uint16_t want_dyn = spec.dynamic_options();
  const std::uint16_t managed = kManagedDynamicOptions;
  if ((have_dyn & managed) != (want_dyn & managed)) {
    Action a;
    a.kind = kind::kSetDynamicOptions;
    a.action_class = ActionClass::kUpdate;
    // The manifest's managed bits, set or cleared; apply reads the rest (secure lock) back.
    a.payload = DynOptionsPayload{static_cast<std::uint16_t>(want_dyn & managed),
                                  static_cast<std::uint16_t>(managed & ~want_dyn)};
    a.summary = "set Pico options";
    a.reason = "DYNOPS (80 64 06) changes these in place; the secure-lock bit is kept as it is";
    auto field = [&](std::uint16_t bit, const char* path) {
      bool h = (have_dyn & bit) != 0;
      bool w = (want_dyn & bit) != 0;
      if (h != w)
        a.changes.push_back({path, yes_no(h), yes_no(w), false});
    };
    field(model::kOptPressToConfirm, "spec.options.pressToConfirm");
    field(model::kOptKeyUsageCounter, "spec.options.keyUsageCounter");
    if (have_dyn & model::kOptPressToConfirm) {
      a.reason += "; press-to-confirm is on, so the device waits for its button";
    }
    actions.push_back(std::move(a));
  }
}

// "the device rejected <what>" plus what hsmctl did about it.
std::string rejected_text(const std::string& what, const char* fallback,
                          const CredentialFacts& creds) {
  std::string out = "the device rejected " + (what.empty() ? std::string(fallback) : what);
  out += creds.rejections_recorded
             ? "; recorded in the store (a keyed fingerprint, never the value): hsmctl will not "
               "send that value again until the value it holds changes"
             : "; NOT recorded (no credential store: --store none, or none exists yet), so a "
               "later run may try that value again once the retry counter is full";
  return out;
}

/// "hsmctl store set pico:<serial>/so-pin" for the family's store prefix.
std::string store_entry(const Capabilities& caps, const ObservedPico& observed, const char* name) {
  return std::string(caps.store_prefix) + ":" + observed.serial + "/" + name;
}

/// Why an SO PIN is not known on a device that cannot verify it (Capabilities::so_verify false).
std::string so_store_only_text(const Capabilities& caps, const ObservedPico& observed) {
  return "this device cannot verify an SO PIN (VERIFY of the SO PIN is no login, and a wrong SO "
         "PIN burns one of its 15 tries, which are never restored), so hsmctl uses only the SO "
         "PIN in its store; put the current one there (hsmctl store set " +
         store_entry(caps, observed, "so-pin") + ") once you are sure of it";
}

/// Why a device that re-initializes only with its current SO PIN cannot be re-initialized.
std::string reinit_without_so_text(const ObservedPico& observed, const CredentialFacts& creds,
                                   const Capabilities& caps) {
  if (observed.so_pin.state == PinStatus::State::kBlocked) {
    return "the SO PIN is blocked: this device can never be re-initialized again";
  }
  std::string out =
      "this device re-initializes only with its current SO PIN, and a wrong one burns one of its "
      "15 SO PIN tries, which are never restored; ";
  if (creds.so_pin == CredentialKnowledge::kMismatchUnknown) {
    return out + rejected_text(creds.so_pin_rejected, "the SO PIN value hsmctl holds", creds) +
           "; put the current SO PIN in the store (hsmctl store set " +
           store_entry(caps, observed, "so-pin") + ")";
  }
  return out +
         "hsmctl uses only the SO PIN in its store, which holds none: put it there (hsmctl "
         "store set " +
         store_entry(caps, observed, "so-pin") + ") once you are sure of it";
}

void plan_credentials(const ObservedPico& observed, const CredentialFacts& creds,
                      const Capabilities& caps, std::vector<Action>& actions,
                      std::vector<std::string>& notes, bool& user_pin_will_be_known) {
  using K = CredentialKnowledge;
  user_pin_will_be_known = creds.user_pin_usable();

  // SO PIN first: a user-PIN reset may need it.
  bool so_known_after = creds.so_pin_usable();
  switch (creds.so_pin) {
    case K::kMatchesDesired:
      break;
    case K::kKnownOther: {
      Action a;
      a.kind = kind::kChangeSoPin;
      a.action_class = ActionClass::kUpdate;
      a.payload = CredentialPayload{CredentialPayload::Target::kSoPin,
                                    CredentialPayload::Proof::kCurrentValue};
      a.summary = "change SO PIN";
      a.reason = creds.so_pin_verified
                     ? "the device accepted the SO PIN hsmctl holds (VERIFY in this run), which "
                       "differs from the manifest"
                 : !caps.so_verify
                     ? "the SO PIN in the store (" + store_entry(caps, observed, "so-pin") +
                           ") differs from the manifest; this device cannot verify it first, so "
                           "CHANGE REFERENCE DATA sends it as the old value (if the device "
                           "rejects it, that costs one SO PIN try, and hsmctl records the value "
                           "and never sends it again)"
                     : "hsmctl holds the SO PIN the device kept when an earlier change was "
                       "refused (inferred, not verified in this run); it differs from the "
                       "manifest";
      a.changes.push_back({"spec.soPin", "(sensitive)", "(sensitive, will change)", false});
      actions.push_back(std::move(a));
      break;
    }
    case K::kMismatchUnknown:
      so_known_after = false;
      actions.push_back(
          blocked("SO PIN differs from the manifest",
                  rejected_text(creds.so_pin_rejected, "the SO PIN value hsmctl holds", creds) +
                      "; put the current SO PIN in the store (hsmctl store set " +
                      store_entry(caps, observed, "so-pin") +
                      ") or point spec.soPin at it, so it can be changed in place"));
      break;
    case K::kDesiredGenerated:
      so_known_after = false;
      actions.push_back(blocked(
          "SO PIN cannot be generated for an initialized device",
          "generating a new SO PIN needs the current one; put it in the store (hsmctl store set " +
              store_entry(caps, observed, "so-pin") + ")"));
      break;
    case K::kUnchecked:
      so_known_after = false;
      if (observed.so_pin.state == PinStatus::State::kBlocked) {
        actions.push_back(blocked(
            "SO PIN is blocked",
            caps.reinit_needs_current_so
                ? "a blocked SO PIN can never be restored on this device, and re-initialization "
                  "needs it"
                : "a blocked SO PIN can only be replaced by re-initialization"));
      } else if (!caps.so_verify) {
        actions.push_back(blocked("SO PIN not known", so_store_only_text(caps, observed)));
      } else {
        actions.push_back(blocked(
            "SO PIN not verified",
            observed.so_pin.state == PinStatus::State::kTriesLeft &&
                    observed.so_pin.tries_left < model::kSoPinRetries
                ? "the SO PIN counter shows " +
                      std::to_string(model::kSoPinRetries - observed.so_pin.tries_left) +
                      " failed attempt(s); hsmctl does not try a value until a correct VERIFY "
                      "resets it"
                : "no SO PIN value was available to verify"));
      }
      break;
  }

  // User PIN.
  const bool transport = observed.user_pin.state == PinStatus::State::kTransport;
  const bool rrc = (observed.options & model::kOptResetRetryCounter) != 0;
  switch (creds.user_pin) {
    case K::kMatchesDesired:
      break;
    case K::kKnownOther: {
      Action a;
      a.kind = kind::kChangeUserPin;
      a.action_class = ActionClass::kUpdate;
      a.payload = CredentialPayload{CredentialPayload::Target::kUserPin,
                                    CredentialPayload::Proof::kCurrentValue};
      a.summary = "change user PIN";
      a.reason = creds.user_pin_verified
                     ? "the device accepted the user PIN hsmctl holds (VERIFY in this run), "
                       "which differs from the manifest"
                     : "hsmctl holds the user PIN the device kept when an earlier change was "
                       "refused (inferred, not verified in this run); it differs from the "
                       "manifest";
      a.changes.push_back({"spec.userPin", "(sensitive)", "(sensitive, will change)", false});
      actions.push_back(std::move(a));
      user_pin_will_be_known = true;
      break;
    }
    case K::kMismatchUnknown:
    case K::kUnchecked:
    case K::kDesiredGenerated: {
      const bool blocked_pin = observed.user_pin.state == PinStatus::State::kBlocked;
      if (transport && creds.user_pin == K::kUnchecked && creds.user_pin_held_is_desired) {
        // The manifest asked for transport state (acknowledged): VERIFY answers 6984 forever on
        // Pico, so nothing can be checked, and there is nothing to change.
        notes.push_back(
            "the user PIN is in transport state (VERIFY answers 6984 and never clears on Pico): "
            "hsmctl cannot check it; the store holds the manifest's value, which hsmctl set");
        break;
      }
      // Not tried because the counter shows failed attempts (a typo): the value may well be
      // right, so what the step certainly does is restore the counter.
      const bool counter_shows_failures =
          creds.user_pin == K::kUnchecked &&
          observed.user_pin_check.check == model::CredentialCheck::kSkippedUnsafe &&
          observed.user_pin.state == PinStatus::State::kTriesLeft;
      // SC-HSM: with option 0x0020 RESET RETRY COUNTER only resets the counter (4.5).
      const bool rrc_sets_pin =
          !caps.rrc_reset_only_blocks_set || (observed.options & model::kOptRrcResetOnly) == 0;
      if (rrc && rrc_sets_pin && so_known_after && !transport) {
        Action a;
        a.kind = kind::kResetUserPin;
        a.action_class = ActionClass::kUpdate;
        a.payload = CredentialPayload{CredentialPayload::Target::kUserPin,
                                      CredentialPayload::Proof::kSoPin};
        if (counter_shows_failures) {
          a.summary = "reset the user PIN retry counter with the SO PIN";
          a.reason = "the user PIN counter shows failed attempts (" +
                     std::to_string(observed.user_pin.tries_left) +
                     " tries left), so hsmctl does not try a value; RESET RETRY COUNTER with the "
                     "SO PIN restores the counter and sets the manifest's user PIN (unchanged if "
                     "the device already holds it; keys survive)";
          a.changes.push_back(
              {"spec.userPin", "(sensitive)", "(sensitive, the manifest's value)", false});
        } else {
          a.summary = blocked_pin ? "unblock and set user PIN with the SO PIN"
                                  : "set user PIN with the SO PIN";
          a.reason = creds.user_pin == K::kMismatchUnknown
                         ? rejected_text(creds.user_pin_rejected, "the user PIN value hsmctl holds",
                                         creds) +
                               "; RESET RETRY COUNTER with the SO PIN sets the manifest's value "
                               "without the old one (keys survive)"
                         : "the current user PIN is unknown; RESET RETRY COUNTER with the SO PIN "
                           "sets it without the old value (keys survive)";
          a.changes.push_back({"spec.userPin", "(sensitive)", "(sensitive, will change)", false});
        }
        actions.push_back(std::move(a));
        user_pin_will_be_known = true;
      } else {
        std::string why =
            transport     ? "the user PIN is in transport state (VERIFY answers 6984)"
            : blocked_pin ? "the user PIN is blocked"
            : creds.user_pin == K::kMismatchUnknown
                ? rejected_text(creds.user_pin_rejected, "the user PIN value hsmctl holds", creds)
                : "the user PIN could not be verified";
        if (!rrc) {
          why +=
              "; reset-retry-counter is disabled on this device, so only the old PIN or a "
              "re-initialization can change it";
        } else if (!rrc_sets_pin) {
          why +=
              "; RESET RETRY COUNTER only resets the error counter on this device (option "
              "0x0020), so the SO PIN cannot set a new user PIN";
        } else if (!so_known_after) {
          why += "; the SO PIN is not known to hsmctl, so RESET RETRY COUNTER cannot be used";
        }
        why += "; put the current user PIN in the store (hsmctl store set " +
               store_entry(caps, observed, "user-pin") + ") or point spec.userPin at it";
        actions.push_back(blocked("user PIN differs or is unknown", why));
      }
      break;
    }
  }
}

/// "spec.dkek" or "spec.keyDomains[1].dkek": where a domain's share files are written.
std::string dkek_field(const PicoHsmSpec& spec, int index) {
  return spec.key_domains.empty() ? std::string("spec.dkek")
                                  : "spec.keyDomains[" + std::to_string(index) + "].dkek";
}

/// The manifest's DKEK share files, imported after the steps that set their domains up (in the
/// same session) or into a domain that waits for all of its shares. `fresh`: the plan
/// (re-)initializes the device, so every domain starts with no share imported.
void append_dkek_imports(const PicoHsmSpec& spec, const ObservedPico* observed,
                         const CredentialFacts& creds, bool user_pin_known, bool fresh,
                         std::vector<Action>& actions, std::vector<std::string>& notes) {
  const int domains = spec.key_domains.empty() ? 1 : static_cast<int>(spec.key_domains.size());
  for (int index = 0; index < domains; ++index) {
    const model::DkekImport* files = spec.dkek_import(index);
    if (files == nullptr)
      continue;
    const int n = static_cast<int>(files->shares.size());
    const std::string field = dkek_field(spec, index);
    const std::string where =
        spec.key_domains.empty() ? std::string("the DKEK") : "key domain " + std::to_string(index);
    const auto kcv_it = creds.dkek_files_kcv.find(index);
    const std::string files_kcv = kcv_it == creds.dkek_files_kcv.end() ? "" : kcv_it->second;
    if (!files->expected_kcv.empty() && !files_kcv.empty() && files_kcv != files->expected_kcv) {
      actions.push_back(blocked(
          "import " + std::to_string(n) + " DKEK share(s) into " + where,
          "the share files make a DKEK with KCV " + files_kcv + ", but " + field +
              ".expectedKcv is " + files->expected_kcv +
              ": a file of another ceremony or another custodian's file; nothing is imported"));
      continue;
    }
    // Set up by this plan (INITIALIZE or INS 52 P1=01 before it): nothing imported yet.
    bool set_up_here = fresh;
    for (const auto& a : actions) {
      const auto* p = std::any_cast<KeyDomainPayload>(&a.payload);
      if (a.kind == kind::kSetupKeyDomain && p != nullptr && p->index == index)
        set_up_here = true;
    }
    const model::KeyDomainStatus* seen = nullptr;
    if (observed != nullptr) {
      for (const auto& d : observed->key_domains) {
        if (d.index == index)
          seen = &d;
      }
    }
    bool import = set_up_here;
    if (!set_up_here) {
      if (seen == nullptr || !seen->set_up || seen->total_shares != n)
        continue;  // the domain steps above change it first, or the domain is not this one
      if (seen->outstanding_shares > 0 && seen->outstanding_shares < n) {
        actions.push_back(blocked(
            "import " + std::to_string(seen->outstanding_shares) + " DKEK share(s) into " + where,
            std::to_string(n - seen->outstanding_shares) + " of " + std::to_string(n) +
                " share(s) were imported outside this plan (or by an interrupted apply), and the "
                "device cannot say which: import the remaining one(s) with sc-hsm-tool "
                "--import-dkek-share, or clear the domain's DKEK (INS 52 P1=04) and apply again"));
        continue;
      }
      import = seen->outstanding_shares == n;
    }
    if (import) {
      const std::string summary = "import " + std::to_string(n) + " DKEK share(s) into " + where +
                                  (files_kcv.empty() ? "" : " (KCV " + files_kcv + ")");
      if (files_kcv.empty()) {
        actions.push_back(blocked(summary, "the share files were not read"));
        continue;
      }
      if (!user_pin_known) {
        actions.push_back(blocked(summary, "needs the user PIN, which is not known to hsmctl"));
        continue;
      }
      Action a;
      a.kind = kind::kImportDkekShares;
      a.action_class = ActionClass::kUpdate;
      a.payload = DkekImportPayload{index, n, files_kcv};
      a.attributes.push_back({"key_domain", static_cast<long long>(index)});
      a.attributes.push_back({"kcv", files_kcv});
      a.summary = summary;
      a.reason =
          "the share files were decrypted and checked here; apply imports them after "
          "verifying the user PIN and compares the device's KCV with theirs";
      a.changes.push_back({field + ".shares", "0 of " + std::to_string(n) + " imported",
                           std::to_string(n) + " of " + std::to_string(n) + " imported", false});
      actions.push_back(std::move(a));
      continue;
    }
    // Complete: the device's DKEK must be the files' (or the ceremony's) DKEK.
    const std::string want = files->expected_kcv.empty() ? files_kcv : files->expected_kcv;
    const std::string have = to_hex(seen->kcv);
    if (have.empty() || have == std::string(have.size(), '0')) {
      notes.push_back(where +
                      ": the KCV was not checked (the device shows it only after the "
                      "user PIN is verified)");
    } else if (want.empty()) {
      notes.push_back(where + ": the KCV " + have + " was not compared with the share files");
    } else if (have != want) {
      actions.push_back(blocked(
          where + " holds another DKEK",
          "the device's KCV is " + have + ", the manifest's share files make " + want +
              "; a DKEK cannot be replaced in place without losing what was wrapped under it: "
              "check which files were imported (docs/ceremonies.md)",
          {{field + ".shares", "KCV " + have, "KCV " + want, false}}));
    }
  }
}

/// The manifest's public-key files not yet registered (every one after an INITIALIZE of this
/// plan: `observed` nullptr), registered in one user-PIN session. Returns how many are planned.
int append_pka_registration(const PicoHsmSpec& spec, const ObservedPico* observed,
                            bool user_pin_known, std::vector<Action>& actions) {
  if (!spec.public_key_auth || spec.public_key_auth->key_files.empty())
    return 0;
  const model::PublicKeyAuth& pka = *spec.public_key_auth;
  RegisterPublicKeysPayload payload;
  std::string names;
  for (const auto& f : pka.key_files) {
    bool registered = false;
    if (observed != nullptr && observed->pka) {
      for (const auto& slot : observed->pka->slots)
        registered = registered || slot.chr == f.chr;
    }
    if (registered)
      continue;
    payload.keys.push_back({f.chr_text, f.request});
    names += (names.empty() ? "" : ", ") + f.chr_text;
  }
  const int n = static_cast<int>(payload.keys.size());
  if (n == 0)
    return 0;
  const std::string summary = "register " + std::to_string(n) + " public key(s) (" + names + ")";
  const int registered_now =
      observed != nullptr && observed->pka ? observed->pka->total - observed->pka->missing : 0;
  std::vector<FieldChange> changes{
      {"spec.publicKeyAuth.keys",
       std::to_string(registered_now) + " of " + std::to_string(pka.keys) + " registered",
       std::to_string(registered_now + n) + " of " + std::to_string(pka.keys) + " registered",
       false}};
  if (observed != nullptr) {
    if (!observed->pka || !observed->pka->slots_read) {
      actions.push_back(blocked(summary, "the device's registered keys were not read", changes));
      return 0;
    }
    if (n > observed->pka->missing) {
      actions.push_back(blocked(summary,
                                "the device has " + std::to_string(observed->pka->missing) +
                                    " free slot(s) for " + std::to_string(n) + " key(s)",
                                changes));
      return 0;
    }
    if (!user_pin_known) {
      actions.push_back(
          blocked(summary, "needs the user PIN, which is not known to hsmctl", changes));
      return 0;
    }
  }
  Action a;
  a.kind = kind::kRegisterPublicKeys;
  a.action_class = ActionClass::kUpdate;
  a.summary = summary;
  a.reason =
      "the manifest lists these custodians' public-key files and the device has not registered "
      "them; apply registers each (INS 54) after verifying the user PIN";
  a.changes = std::move(changes);
  a.payload = std::move(payload);
  actions.push_back(std::move(a));
  return n;
}

/// What the device is still waiting for from operators (sc-hsm-tool's "DKEK import pending").
/// `pka_planned`: keys this plan registers (not pending any more).
void append_pending(const PicoHsmSpec& spec, const ObservedPico& observed, int pka_planned,
                    std::vector<std::string>& pending) {
  for (const auto& d : observed.key_domains) {
    if (!d.set_up || d.outstanding_shares <= 0 || spec.dkek_import(d.index) != nullptr)
      continue;  // no share outstanding, or the manifest's files are planned above
    const std::string where = spec.key_domains.empty() ? std::string("the DKEK")
                                                       : "key domain " + std::to_string(d.index);
    pending.push_back("DKEK import pending: " + where + " still misses " +
                      std::to_string(d.outstanding_shares) + " of " +
                      std::to_string(d.total_shares) +
                      " share(s); keys cannot be wrapped or backed up until the custodians "
                      "import them (sc-hsm-tool --import-dkek-share)");
  }
  if (observed.pka && observed.pka->missing - pka_planned > 0) {
    pending.push_back(
        "public key authentication: " + std::to_string(observed.pka->missing - pka_planned) +
        " of " + std::to_string(observed.pka->total) +
        " key(s) still to register; until then the quorum of " +
        std::to_string(observed.pka->required) + " cannot authenticate");
  }
}

}  // namespace

DevicePlan make_plan(const PicoHsmManifest& desired, const ObservedPico& observed_in,
                     const CredentialFacts& creds, const Capabilities& caps) {
  const PicoHsmSpec& spec = desired.spec;
  // Where a domain without DKEK answers 6A88 (SC-HSM), a device without key domains whose one
  // domain reads "not set up" has no DKEK: planned as such.
  std::optional<ObservedPico> adjusted;
  if (caps.no_dkek_is_6a88 && spec.key_domains.empty() && observed_in.key_domains.size() == 1 &&
      !observed_in.key_domains[0].set_up) {
    adjusted = observed_in;
    adjusted->key_domains[0].set_up = true;
    adjusted->key_domains[0].total_shares = 0;
    adjusted->key_domains[0].outstanding_shares = 0;
  }
  const ObservedPico& observed = adjusted ? *adjusted : observed_in;
  DevicePlan plan;
  plan.name = desired.metadata.name;
  plan.serial = observed.serial;
  plan.transport = observed.transport;
  plan.initialized = observed.initialized;

  if (!observed.attestation_failure.empty()) {
    // Observation sent no VERIFY with data; nothing else may be sent either.
    plan.actions.push_back(
        blocked("device attestation failed: hsmctl sends no credential to this device",
                observed.attestation_failure +
                    "; if the device was replaced or re-certified on purpose, check its "
                    "certificate (shown above in this plan) and update spec.device.attestation"));
    return plan;
  }

  if ((observed.options & model::kOptSecureLock) != 0) {
    plan.notes.push_back(
        "secure lock is enabled: INITIALIZE is refused (6982) until the device is unlocked; "
        "hsmctl does not manage secure lock");
  }
  if (spec.options.secure_lock &&
      *spec.options.secure_lock != ((observed.options & model::kOptSecureLock) != 0)) {
    const bool on = *spec.options.secure_lock;
    plan.actions.push_back(blocked(
        std::string("secure lock: the manifest asks for it ") + (on ? "on" : "off") +
            ", the device has it " + (on ? "off" : "on") + "; hsmctl does not change it",
        std::string("secure lock ties the device's key store to a 32-byte host secret (EXTRAS "
                    "80 64 3A: ECDH on P-256, HKDF-SHA256, ChaCha20-Poly1305) that must unlock "
                    "it after every power-up, and losing that secret locks the keys away; run ") +
            (on ? "`pico-hsm-tool.py secure enable`" : "`pico-hsm-tool.py secure disable`") +
            " yourself and keep its secret, or change spec.options.secureLock",
        {{"spec.options.secureLock", on ? "false" : "true", on ? "true" : "false", false}}));
  }
  if (caps.pico_device && !observed.is_pico) {
    plan.notes.push_back(
        "the device does not identify as a Pico HSM (tag 85 byte 2 is not FF); SmartCard-HSM "
        "re-initialization needs the current SO PIN and a wrong one burns an SO PIN try");
  }

  if (!observed.initialized) {
    plan.actions.push_back(make_initialize(spec, observed, false, {}, creds, caps));
    append_domain_and_option_steps(spec, nullptr, caps, plan.actions);
    append_dkek_imports(spec, nullptr, creds, true, true, plan.actions, plan.notes);
    append_pka_registration(spec, nullptr, true, plan.actions);
    return plan;
  }

  ReinitCheck reinit = init_only_differences(spec, observed);
  for (auto& u : reinit.unknowns)
    plan.notes.push_back(std::move(u));
  if (!reinit.changes.empty()) {
    if ((observed.options & model::kOptSecureLock) != 0) {
      plan.actions.push_back(blocked("re-initialization needed but secure lock is enabled",
                                     "unlock the device first (pico-hsm-tool secure unlock)",
                                     reinit.changes));
      return plan;
    }
    if (caps.reinit_needs_current_so && !creds.so_pin_usable()) {
      plan.actions.push_back(blocked("re-initialization needs the current SO PIN",
                                     reinit_without_so_text(observed, creds, caps),
                                     reinit.changes));
      return plan;
    }
    plan.actions.push_back(make_initialize(spec, observed, true, reinit.changes, creds, caps));
    if (caps.reinit_needs_current_so && creds.so_pin == CredentialKnowledge::kKnownOther) {
      // INITIALIZE carried the current SO PIN: the manifest's follows in the same session.
      Action a;
      a.kind = kind::kChangeSoPin;
      a.action_class = ActionClass::kUpdate;
      a.payload = CredentialPayload{CredentialPayload::Target::kSoPin,
                                    CredentialPayload::Proof::kCurrentValue};
      a.summary = "change SO PIN";
      a.reason =
          "this device re-initializes only with its current SO PIN, which INITIALIZE carries; "
          "the manifest's value follows by CHANGE REFERENCE DATA";
      a.changes.push_back({"spec.soPin", "(sensitive)", "(sensitive, will change)", false});
      plan.actions.push_back(std::move(a));
    }
    append_domain_and_option_steps(spec, nullptr, caps, plan.actions);
    append_dkek_imports(spec, nullptr, creds, true, true, plan.actions, plan.notes);
    append_pka_registration(spec, nullptr, true, plan.actions);
    return plan;
  }

  bool user_pin_known = false;
  plan_credentials(observed, creds, caps, plan.actions, plan.notes, user_pin_known);

  std::vector<Action> in_place;
  append_domain_and_option_steps(spec, &observed, caps, in_place);
  // Without key domains a "not set up" domain 0 only arises from tag 97 = 1; setting it up in
  // place gives the same table as tag 92 would.
  if (spec.key_domains.empty() && observed.key_domains.size() == 1 &&
      !observed.key_domains[0].set_up && spec.dkek_shares && *spec.dkek_shares > 0) {
    Action set;
    set.kind = kind::kSetupKeyDomain;
    set.action_class = ActionClass::kUpdate;
    set_key_domain(set, 0, *spec.dkek_shares);
    set.summary =
        "set up key domain 0 with " + std::to_string(*spec.dkek_shares) + " DKEK share(s)";
    set.reason = "domain 0 exists but is not set up";
    set.changes.push_back(
        {"spec.dkekShares", "(not set up)", std::to_string(*spec.dkek_shares), false});
    in_place.insert(in_place.begin(), std::move(set));
  }
  for (auto& a : in_place) {
    if (!user_pin_known) {
      plan.actions.push_back(
          blocked(a.summary, "needs the user PIN, which is not known to hsmctl", a.changes));
    } else {
      plan.actions.push_back(std::move(a));
    }
  }
  append_dkek_imports(spec, &observed, creds, user_pin_known, false, plan.actions, plan.notes);
  const int pka_planned = append_pka_registration(spec, &observed, user_pin_known, plan.actions);
  append_pending(spec, observed, pka_planned, plan.pending);
  if (observed.user_pin.state == PinStatus::State::kTriesLeft && observed.pin_retries_max &&
      observed.user_pin.tries_left < *observed.pin_retries_max) {
    plan.notes.push_back("the user PIN counter shows " +
                         std::to_string(*observed.pin_retries_max - observed.user_pin.tries_left) +
                         " failed attempt(s) since the last success");
  }
  return plan;
}

}  // namespace hsmctl::families::schsm_engine
