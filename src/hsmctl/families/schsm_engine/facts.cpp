// SPDX-License-Identifier: Apache-2.0
// The observation facts a saved plan binds (docs/review.md "Saved plans"): what `apply PLAN`
// compares, by name, to tell the operator what changed on the device since the plan.
#include "hsmctl/families/schsm_engine/engine.hpp"
#include "hsmctl/util/bytes.hpp"

#include <cstdio>

namespace hsmctl::families::schsm_engine {
namespace {

std::string pin_state(const model::PinStatus& s) {
  using State = model::PinStatus::State;
  switch (s.state) {
    case State::kNotInitialized:
      return "not initialized";
    case State::kTriesLeft:
      return std::to_string(s.tries_left);
    case State::kBlocked:
      return "blocked";
    case State::kTransport:
      return "transport state";
    case State::kVerified:
      return "verified";
  }
  return "?";
}

std::string knowledge(CredentialKnowledge k) {
  switch (k) {
    case CredentialKnowledge::kMatchesDesired:
      return "the manifest's value";
    case CredentialKnowledge::kKnownOther:
      return "a value hsmctl holds, not the manifest's";
    case CredentialKnowledge::kMismatchUnknown:
      return "unknown (a value was rejected)";
    case CredentialKnowledge::kUnchecked:
      return "not checked";
    case CredentialKnowledge::kDesiredGenerated:
      return "to be generated";
  }
  return "?";
}

std::string key_domain(const model::KeyDomainStatus& d) {
  if (!d.set_up)
    return "not set up";
  std::string s = d.total_shares == 0 ? "set up without DKEK"
                                      : std::to_string(d.total_shares) + " share(s), " +
                                            std::to_string(d.outstanding_shares) + " outstanding";
  if (!d.kcv.empty())
    s += ", KCV " + to_hex(d.kcv);
  if (d.has_xkek)
    s += ", XKEK";
  return s;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> observation_facts(const PreparedDevice& prepared) {
  const model::ObservedPico& o = prepared.observed;
  std::vector<std::pair<std::string, std::string>> f;
  f.emplace_back("serial", o.serial.empty() ? "(unreadable)" : o.serial);
  f.emplace_back("firmware",
                 std::to_string(o.firmware_major) + "." + std::to_string(o.firmware_minor));
  f.emplace_back("initialized", o.initialized ? "yes" : "no");
  char options[8];
  std::snprintf(options, sizeof options, "%04X", static_cast<unsigned>(o.options));
  f.emplace_back("options", options);
  f.emplace_back("user PIN retry counter", pin_state(o.user_pin));
  f.emplace_back("SO PIN retry counter", pin_state(o.so_pin));
  f.emplace_back("user PIN retry maximum",
                 o.pin_retries_max ? std::to_string(*o.pin_retries_max) : "(unknown)");
  f.emplace_back("current user PIN", knowledge(prepared.facts.user_pin));
  f.emplace_back("current SO PIN", knowledge(prepared.facts.so_pin));
  f.emplace_back("key domains", std::to_string(o.key_domains.size()));
  for (const auto& d : o.key_domains)
    f.emplace_back("key domain " + std::to_string(d.index), key_domain(d));
  if (o.pka) {
    f.emplace_back("PKA", std::to_string(o.pka->total) + " total, " +
                              std::to_string(o.pka->missing) + " missing, " +
                              std::to_string(o.pka->required) + " required, " +
                              std::to_string(o.pka->authenticated) + " authenticated");
  } else {
    f.emplace_back("PKA", "not configured");
  }
  if (o.objects_read)
    f.emplace_back("private keys", std::to_string(o.key_count));
  for (const auto& [index, kcv] : prepared.facts.dkek_files_kcv)
    f.emplace_back("KCV of the DKEK share files of key domain " + std::to_string(index), kcv);
  return f;
}

}  // namespace hsmctl::families::schsm_engine
