// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/families/schsm_engine/engine.hpp"

#include "hsmctl/device/connect/open.hpp"
#include "hsmctl/device/schsm/observe.hpp"
#include "hsmctl/device/schsm/protocol.hpp"
#include "hsmctl/device/schsm/smartcard_hsm.hpp"
#include "hsmctl/model/options.hpp"
#include "hsmctl/secrets/attestation.hpp"
#include "hsmctl/secrets/digest.hpp"
#include "hsmctl/secrets/dkek_share.hpp"
#include "hsmctl/secrets/password_shares.hpp"
#include "hsmctl/secrets/resolve.hpp"
#include "hsmctl/store/fingerprint.hpp"
#include "hsmctl/store/journal.hpp"
#include "hsmctl/util/atomic_file.hpp"
#include "hsmctl/util/interrupt.hpp"

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <stdexcept>
#include <string>

namespace hsmctl::families::schsm_engine {
namespace {

using device::schsm::PinRef;
using device::schsm::SmartCardHsm;
using plan::ActionClass;

constexpr const char* kUserPin = "user-pin";
constexpr const char* kSoPin = "so-pin";
constexpr const char* kRetriesMax = "retries_max";

// The store keeps an SO PIN as 16 hex digits, the form sc-hsm-tool and `hsmctl store get
// --reveal` users type; the device gets the 8 raw bytes.
bool is_so_pin(const store::CredentialKey& key) {
  return key.name == kSoPin;
}

Result<std::optional<Secret>> read_stored(store::CredentialKeeper& keeper,
                                          const store::CredentialKey& key, bool pending) {
  HSMCTL_TRY_ASSIGN(auto v, pending ? keeper.pending(key) : keeper.current(key));
  if (!v || !is_so_pin(key))
    return v;
  HSMCTL_TRY_ASSIGN(Secret raw, secrets::normalize_so_pin(*v, "store entry " + key.id()));
  return std::optional<Secret>(std::move(raw));
}

Secret stored_form(const store::CredentialKey& key, const Secret& value) {
  if (!is_so_pin(key))
    return value;
  std::string hex = to_hex(value.bytes());
  Secret out(hex);
  secure_wipe(hex.data(), hex.size());
  return out;
}

/// Keyed fingerprints (store/fingerprint.hpp, never the values) of values a device rejected, per
/// device and PIN. States of a value:
///   sending   a VERIFY with the value was about to be sent and its outcome was never recorded
///             (the run was interrupted): treated as rejected, since it may have cost a try;
///   rejected  the device answered 63Cx/6983; counts as one of hsmctl's own failed attempts;
///   reset     rejected, but a later success reset the counter (no longer counted).
/// A recorded value is never sent to the device again; a different value (the held value
/// changed) is not affected.
///
/// Where it is kept: every change is one operation ("sending <fp> <t>", "rejected <fp> <t>",
/// "accepted <fp> <t>", "clear - <t>") appended to the keeper's record log ("sending" is written
/// before a VERIFY and synced once the answer is not an acceptance; apply's SO-PIN proof is synced
/// before the command; losing any other leaves a safer state) under a
/// stream named by a keyed hash of the entry; the state is the store entry
/// "pico:<serial>/user-pin-rejected" (or so-pin-rejected; lines "<fp> <state> <t>") with the
/// operations after it replayed. So the record made before every VERIFY is one small synced
/// append, not a rewrite of the store. Every kFoldAfter operations the state is folded into the
/// entry, which then names the last operation it contains ("#folded <seq>"), and the folded
/// operations are dropped; a crash between the two steps replays nothing twice.
class Rejections {
 public:
  static Result<Rejections> load(store::CredentialKeeper& keeper, store::CredentialKey key) {
    Rejections r(keeper, std::move(key));
    HSMCTL_TRY_ASSIGN(r.fp_key_, store::fingerprint_key(keeper, false));
    HSMCTL_TRY_ASSIGN(auto stored, store::load_lines(keeper, r.key_));
    std::string folded_through;
    for (auto& l : stored) {
      if (l.rfind(kFoldedMarker, 0) == 0) {
        folded_through = l.substr(std::string_view(kFoldedMarker).size());
      } else {
        r.lines_.push_back(std::move(l));
      }
    }
    if (!r.fp_key_)
      return r;  // no fingerprint was ever recorded in this store
    r.stream_ = store::record_stream(*r.fp_key_, r.key_);
    HSMCTL_TRY_ASSIGN(auto records, keeper.records(r.stream_));
    bool skipping = !folded_through.empty() &&
                    std::any_of(records.begin(), records.end(), [&](const store::LogRecord& rec) {
                      return rec.seq == folded_through;
                    });
    for (const auto& rec : records) {
      if (skipping) {
        skipping = rec.seq != folded_through;
        continue;
      }
      r.replay(rec.text);
      r.last_seq_ = rec.seq;
      ++r.unfolded_;
    }
    if (r.unfolded_ > kFoldAfter)
      HSMCTL_TRY(r.fold());
    return r;
  }
  /// The recorded state of `v` ("sending", "rejected", "reset"), or nullopt.
  std::optional<std::string> state_of(const Secret& v) const {
    if (!fp_key_)
      return std::nullopt;
    auto rest = store::lookup(lines_, store::fingerprint(*fp_key_, v));
    if (!rest)
      return std::nullopt;
    return rest->substr(0, rest->find(' '));
  }
  /// hsmctl's own failed (or possibly failed) attempts since the last success.
  int own_failures() const {
    int n = 0;
    for (const auto& l : lines_) {
      const auto st = state(l);
      if (st == "sending" || st == "rejected")
        ++n;
    }
    return n;
  }
  /// Records `v` as "sending" or "rejected"; on stable storage when this returns if `durable`,
  /// else written (it survives the process, not a power loss).
  Result<void> mark(const Secret& v, const char* st, bool durable) {
    if (!fp_key_) {
      HSMCTL_TRY_ASSIGN(fp_key_, store::fingerprint_key(*keeper_, true));
      stream_ = store::record_stream(*fp_key_, key_);
    }
    return record(std::string(st) + " " + store::fingerprint(*fp_key_, v), durable);
  }
  /// The device accepted `v` (its counter is full again): `v` is no longer rejected and earlier
  /// failures no longer count.
  Result<void> accepted(const Secret& v) {
    if (lines_.empty() || !fp_key_)
      return {};
    // Not synced: losing it (power loss before the kernel writes it) leaves the value recorded
    // as "sending", which withholds it: the safe direction, never a try spent. The next
    // "sending" append, synced, makes it durable too.
    return record("accepted " + store::fingerprint(*fp_key_, v), /*durable=*/false);
  }
  /// The device was re-initialized: nothing recorded applies any more.
  Result<void> clear() {
    if (lines_.empty() || !fp_key_)
      return {};
    return record("clear -", /*durable=*/false);  // lost: old records stay, which only withholds
  }

 private:
  static constexpr const char* kFoldedMarker = "#folded ";
  static constexpr int kFoldAfter = 64;

  Rejections(store::CredentialKeeper& keeper, store::CredentialKey key)
      : keeper_(&keeper), key_(std::move(key)) {}
  /// Applies `op` ("<what> <fp>") here and appends it, with the time, to the record log.
  Result<void> record(const std::string& op, bool durable) {
    const std::string text = op + " " + std::to_string(static_cast<long long>(std::time(nullptr)));
    HSMCTL_TRY_ASSIGN(last_seq_, keeper_->append_record(stream_, text, durable));
    replay(text);
    ++unfolded_;
    return {};
  }
  /// Applies one recorded operation "<what> <fp> <time>" to the state.
  void replay(const std::string& text) {
    const auto a = text.find(' ');
    const auto b = a == std::string::npos ? a : text.find(' ', a + 1);
    if (b == std::string::npos)
      return;  // not an operation this version wrote
    const std::string what = text.substr(0, a);
    const std::string fp = text.substr(a + 1, b - a - 1);
    const std::string when = text.substr(b + 1);
    if (what == "sending" || what == "rejected") {
      erase(fp);
      lines_.push_back(fp + " " + what + " " + when);
    } else if (what == "accepted") {
      erase(fp);
      for (auto& l : lines_) {
        const auto st = state(l);
        if (st == "sending" || st == "rejected") {
          l = l.substr(0, l.find(' ')) + " reset" + rest_after_state(l);
        }
      }
    } else if (what == "clear") {
      lines_.clear();
    }
  }
  /// Writes the state into the store entry, then drops the operations it contains.
  Result<void> fold() {
    std::vector<std::string> out = lines_;
    out.push_back(kFoldedMarker + last_seq_);
    HSMCTL_TRY(store::save_lines(*keeper_, key_, out));
    HSMCTL_TRY(keeper_->drop_records(stream_, last_seq_));
    unfolded_ = 0;
    return {};
  }
  static std::string state(const std::string& line) {
    const auto a = line.find(' ');
    if (a == std::string::npos)
      return "rejected";
    const auto b = line.find(' ', a + 1);
    return line.substr(a + 1, b == std::string::npos ? std::string::npos : b - a - 1);
  }
  static std::string rest_after_state(const std::string& line) {
    const auto a = line.find(' ');
    if (a == std::string::npos)
      return "";
    const auto b = line.find(' ', a + 1);
    return b == std::string::npos ? "" : line.substr(b);
  }
  void erase(const std::string& fp) {
    std::erase_if(lines_, [&](const std::string& l) { return l.substr(0, l.find(' ')) == fp; });
  }
  store::CredentialKeeper* keeper_;
  store::CredentialKey key_;
  std::optional<Secret> fp_key_;
  std::string stream_;
  std::string last_seq_;
  int unfolded_ = 0;
  std::vector<std::string> lines_;
};

store::CredentialKey rejected_key(const store::CredentialKey& pin) {
  return {pin.device, pin.name + "-rejected"};
}

/// One value that may be tried for a PIN, and where it came from (named in messages).
struct Candidate {
  Secret value;
  bool is_desired = false;  ///< the candidate equals the manifest's value
  std::string source;       ///< "the store's value (pico:…/user-pin)"
};

/// The values to try for one PIN, in order, each once.
struct PinCandidates {
  std::vector<Candidate> list;
  std::vector<std::string> withheld;  ///< sources not sent: the device rejected them before
  bool pending_withheld = false;      ///< the pending value is one of them
  bool from_pending = false;          ///< list holds only the pending value of an interrupted run
};

// An interrupted change left a pending value: the device holds either it or the stored one. Only
// the pending value is tried (a change is staged right before it is sent, so it is the likely
// one); a miss lets the stored value be inferred without another try. Otherwise the store's
// value, then the manifest's (when it differs). A value recorded as rejected is never tried.
PinCandidates pick_candidates(const std::optional<Secret>& pending,
                              const std::optional<Secret>& stored,
                              const std::optional<Secret>& desired, const store::CredentialKey& key,
                              const char* field, const Rejections& rejections) {
  PinCandidates c;
  auto withheld = [&](const Secret& v, const std::string& source) {
    auto st = rejections.state_of(v);
    if (!st)
      return false;
    c.withheld.push_back(source + (*st == "sending"
                                       ? " (an earlier run was interrupted while trying it)"
                                       : " (rejected in an earlier run)"));
    return true;
  };
  if (pending) {
    const std::string source = "the pending value of an interrupted change (" + key.id() + ")";
    if (withheld(*pending, source)) {
      c.pending_withheld = true;
    } else {
      c.list.push_back({*pending, desired && pending->equals(*desired), source});
      c.from_pending = true;
    }
    return c;
  }
  const bool same = stored && desired && stored->equals(*desired);
  if (stored) {
    const std::string source =
        same ? "the value in the store (" + key.id() + ") and the manifest (" + field + ")"
             : "the store's value (" + key.id() + ")";
    if (!withheld(*stored, source))
      c.list.push_back({*stored, same, source});
  }
  if (desired && !same) {
    const std::string source = std::string("the manifest's value (") + field + ")";
    if (!withheld(*desired, source))
      c.list.push_back({*desired, true, source});
  }
  return c;
}

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts)
    out += (out.empty() ? "" : sep) + p;
  return out;
}

Error device_error(const Error& e, const std::string& step) {
  Error out = e;
  out.message = step + ": " + e.message;
  return out;
}

}  // namespace

PreparedDevice::~PreparedDevice() {
  if (transport)
    transport->end_exclusive();
}

store::CredentialKey credential_key(const std::string& serial, const char* name) {
  return credential_key(kPicoCapabilities.store_prefix, serial, name);
}

store::CredentialKey credential_key(std::string_view prefix, const std::string& serial,
                                    const char* name) {
  return {std::string(prefix) + ":" + serial, name};
}

namespace {
Result<PreparedDevice> prepare_impl(const model::PicoHsmManifest& manifest,
                                    const std::string* device_uri,
                                    std::unique_ptr<device::Transport> transport,
                                    store::CredentialKeeper& keeper, const Capabilities& caps);

// A secret that cannot be resolved or breaks a PIN rule is a problem of a manifest field: the
// error gets that field's file:line:column, like every other manifest error.
Result<PreparedDevice> with_position(Result<PreparedDevice> r,
                                     const model::PicoHsmManifest& manifest) {
  if (!r && r.error().code == Errc::kSecret && !r.error().where && !r.error().path.empty() &&
      r.error().path.rfind("spec.", 0) == 0) {
    r.error().where = manifest.position_of(r.error().path);
  }
  return r;
}
}  // namespace

Result<PreparedDevice> prepare(const model::PicoHsmManifest& manifest,
                               const std::string& device_uri, store::CredentialKeeper& keeper,
                               const Capabilities& caps) {
  return with_position(prepare_impl(manifest, &device_uri, nullptr, keeper, caps), manifest);
}

Result<PreparedDevice> prepare(const model::PicoHsmManifest& manifest,
                               std::unique_ptr<device::Transport> transport,
                               store::CredentialKeeper& keeper, const Capabilities& caps) {
  return with_position(prepare_impl(manifest, nullptr, std::move(transport), keeper, caps),
                       manifest);
}

namespace {

// A prompt names the manifest and where the field is: `manifest "root-ca" (root-ca.yaml:7:13)`.
std::string prompt_context(const model::PicoHsmManifest& manifest, const char* field) {
  SourcePos pos = manifest.position_of(field);
  std::string where = pos.file;
  if (pos.line > 0)
    where += ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column);
  return "manifest \"" + manifest.metadata.name + "\"" + (where.empty() ? "" : " (" + where + ")");
}

// Secrets that do not depend on the device are resolved and checked before the device is even
// opened: a missing or malformed secret never costs an APDU.
Result<void> resolve_early(const model::PicoHsmManifest& manifest, store::CredentialKeeper& keeper,
                           DeviceCredentials& creds) {
  const auto& spec = manifest.spec;
  auto resolve = [&](const model::SecretRef& ref,
                     const char* field) -> Result<std::optional<secrets::Resolved>> {
    if (ref.kind == model::SecretRef::Kind::kGenerate)
      return std::nullopt;
    HSMCTL_TRY_ASSIGN(auto r,
                      secrets::resolve(ref, field, keeper, {}, prompt_context(manifest, field)));
    return std::optional<secrets::Resolved>(std::move(r));
  };
  HSMCTL_TRY_ASSIGN(auto user_early, resolve(*spec.user_pin, "spec.userPin"));
  HSMCTL_TRY_ASSIGN(auto so_early, resolve(*spec.so_pin, "spec.soPin"));
  if (user_early) {
    HSMCTL_TRY(secrets::check_user_pin(*user_early->value, spec.pin_retries, "spec.userPin"));
    creds.user_desired = std::move(user_early->value);
  }
  if (so_early) {
    HSMCTL_TRY_ASSIGN(Secret normalized, secrets::normalize_so_pin(*so_early->value, "spec.soPin"));
    creds.so_desired = std::move(normalized);
  }
  return {};
}

// Generated credentials live in the store under the device's serial. A value generated by an
// interrupted run is still pending: it is the one to use, since the device may already hold it.
Result<void> resolve_generated(const model::PicoHsmManifest& manifest,
                               store::CredentialKeeper& keeper, const model::SecretRef& ref,
                               const char* field, const store::CredentialKey& key,
                               bool& to_generate, std::optional<Secret>& desired) {
  if (ref.kind != model::SecretRef::Kind::kGenerate)
    return {};
  HSMCTL_TRY_ASSIGN(auto r,
                    secrets::resolve(ref, field, keeper, key, prompt_context(manifest, field)));
  if (r.to_generate) {
    HSMCTL_TRY_ASSIGN(auto pending, read_stored(keeper, key, true));
    if (pending) {
      r.value = std::move(pending);
      r.to_generate = false;
    }
  }
  to_generate = r.to_generate;
  desired = std::move(r.value);
  if (desired && is_so_pin(key)) {
    HSMCTL_TRY_ASSIGN(Secret raw, secrets::normalize_so_pin(*desired, field));
    desired = std::move(raw);
  }
  return {};
}

/// What the store holds for one device before it is observed.
struct Held {
  store::CredentialKey user_key, so_key;
  std::optional<Secret> user_stored, user_pending, so_stored, so_pending;
  /// "an apply begun ... did not finish": for the plan's notes.
  std::vector<std::string> journal_notes;
};

Result<void> read_held(store::CredentialKeeper& keeper, PreparedDevice& prepared, Held& h) {
  DeviceCredentials& creds = prepared.credentials;
  HSMCTL_TRY_ASSIGN(h.user_stored, keeper.current(h.user_key));
  HSMCTL_TRY_ASSIGN(h.user_pending, keeper.pending(h.user_key));
  HSMCTL_TRY_ASSIGN(h.so_stored, read_stored(keeper, h.so_key, false));
  HSMCTL_TRY_ASSIGN(h.so_pending, read_stored(keeper, h.so_key, true));
  // An apply that was interrupted left its journal open. A credential step it recorded as
  // never sent (intent) or refused cannot have changed the device: its pending value is dropped
  // without a VERIFY, and the stored value is the candidate.
  auto* journal = keeper.journal();
  if (journal == nullptr)
    return {};
  HSMCTL_TRY_ASSIGN(auto open, journal->open_journals());
  for (const auto& j : open) {
    if (j.device != h.user_key.device)
      continue;
    prepared.stale_journals.push_back(j.id);
    std::string last = j.steps.empty() ? "no step recorded"
                                       : "last step '" + j.steps.back().step + "' was " +
                                             store::journal_state_name(j.steps.back().state);
    h.journal_notes.push_back("an apply begun " + j.started + " did not finish (" + last + ")");
    auto unsent = [&](const store::CredentialKey& key) {
      auto st = j.last_state_for(key.id());
      return st && (*st == store::JournalState::kIntent || *st == store::JournalState::kRefused);
    };
    if (h.user_pending && unsent(h.user_key)) {
      h.user_pending.reset();
      creds.user_pending_unsent = true;
    }
    if (h.so_pending && unsent(h.so_key)) {
      h.so_pending.reset();
      creds.so_pending_unsent = true;
    }
  }
  return {};
}

// A device that cannot verify its SO PIN (Capabilities::so_verify false): the store's value is
// the only one hsmctl uses, never the manifest's, and it is never sent to VERIFY. A pending value
// of an interrupted change leaves it in doubt (nothing can tell the two apart without a try).
PinCandidates store_only_candidates(const Held& h, const std::optional<Secret>& desired,
                                    const Rejections& rejections) {
  PinCandidates c =
      pick_candidates(h.so_pending, h.so_stored, std::nullopt, h.so_key, "spec.soPin", rejections);
  for (auto& cand : c.list) {
    cand.is_desired = desired && cand.value.equals(*desired);
    if (cand.is_desired && !c.from_pending)
      cand.source = "the value in the store (" + h.so_key.id() + ") and the manifest (spec.soPin)";
  }
  return c;
}

struct AttestationOutcome {
  std::string summary;  ///< when it passed
  std::string failure;  ///< when it failed
};

/// Device attestation of what observe() read from EF 2F02 (unset: absent): empty when the
/// device passes, else which certificate failed and why.
AttestationOutcome attest(const model::DeviceAttestation& a, const std::optional<Bytes>& ef) {
  if (!ef) {
    return {"",
            "the device has no device certificate (EF 2F02 absent or unreadable), so its "
            "identity cannot be checked"};
  }
  auto elements = cvc::parse_elements(*ef);
  if (!elements)
    return {"", "EF 2F02: " + elements.error().message};
  auto r = secrets::check_attestation(*elements, {a.trust, a.trust_file, a.fingerprint},
                                      secrets::today_utc());
  return r.ok ? AttestationOutcome{r.summary, ""} : AttestationOutcome{"", r.failure};
}

/// What the plan shows of the device certificate (its first 7F21) and the verdict.
plan::DeviceCertificate certificate_view(const model::ObservedPico& o,
                                         const model::DeviceAttestation& a) {
  plan::DeviceCertificate v;
  if (auto info = secrets::describe_device_certificate(o.device_certificate_chain)) {
    v.subject = info->subject;
    v.issuer = info->issuer;
    v.valid_from = info->valid_from;
    v.valid_until = info->valid_until;
    v.fingerprint = info->fingerprint;
  }
  if (!o.attestation_checked) {
    v.attestation = "not checked";
  } else if (!o.attestation_failure.empty()) {
    v.attestation = "failed";
    v.detail = o.attestation_failure;
  } else {
    v.attestation = "verified";
    v.detail = attest(a, o.device_certificate_file).summary;
  }
  return v;
}

/// The request observe() gets: candidates in order, the retry maximum hsmctl knows, the
/// two-phase record before each VERIFY, what the family allows.
Result<device::schsm::ObserveRequest> observe_request(
    const model::PicoHsmSpec& spec, store::CredentialKeeper& keeper, const Held& h,
    const Capabilities& caps, const PinCandidates& user_c, const PinCandidates& so_c,
    Rejections& user_rejections, Rejections& so_rejections, const std::string& transport) {
  device::schsm::ObserveRequest request;
  // "No failed attempt since the last success" means tries_left == the configured maximum. The
  // maximum hsmctl last saw (or set) is better evidence than the manifest, which may be asking
  // to change it.
  request.expected_pin_retries = spec.pin_retries;
  HSMCTL_TRY_ASSIGN(auto known_max, keeper.fact(h.user_key, kRetriesMax));
  if (known_max) {
    try {
      request.expected_pin_retries = std::stoi(*known_max);
      request.recorded_pin_retries = request.expected_pin_retries;
    } catch (const std::exception&) {
      // an unreadable fact is no evidence: keep the manifest's value
    }
  }
  // No VERIFY may reach a device other than the one the manifest names, nor a device of
  // another family.
  request.expected_serial = spec.device.serial;
  if (!caps.pico_device) {
    request.check_select = [&caps,
                            transport](const device::schsm::SelectInfo& sel) -> Result<void> {
      if (sel.device_type != device::schsm::kDeviceTypePico)
        return {};
      return make_error(Errc::kRefused,
                        transport +
                            ": the device reports type FF in its SELECT answer (tag 85): "
                            "it is a Pico HSM, not a device of kind " +
                            std::string(caps.kind) + "; use kind: PicoHSM");
    };
  }
  request.so_verify = caps.so_verify;
  for (const auto& c : user_c.list)
    request.user_pin_candidates.push_back(c.value);
  if (caps.so_verify) {
    for (const auto& c : so_c.list)
      request.so_pin_candidates.push_back(c.value);
  }
  request.user_own_failures = user_rejections.own_failures();
  request.so_own_failures = so_rejections.own_failures();
  // An interrupted change of the user PIN (or one whose write the device may have lost: see
  // two_phase()) leaves two possible values, and trying the wrong one costs a try. When the SO
  // PIN is not in doubt, observation verifies it and, if the device allows RESET RETRY COUNTER,
  // skips the user PIN: the plan then sets it with the SO PIN, which costs no try at all.
  request.user_pin_reset_preferred =
      caps.so_verify && user_c.from_pending && !so_c.list.empty() && !so_c.from_pending;
  // Two-phase: the attempt is written before the VERIFY goes out, so a run killed before it
  // could record the answer never tries that value again. It is synced only when the answer is
  // not an acceptance (right after it, before anything else is sent): a power loss can then lose
  // only the record of an accepted value, or of a failure in the instant before its sync. A
  // no-change plan so costs no fdatasync (docs/observation.md, rule 9).
  request.before_verify = [&user_rejections, &so_rejections, &user_c, &so_c](
                              PinRef ref, std::size_t i) -> Result<void> {
    return ref == PinRef::kUser
               ? user_rejections.mark(user_c.list[i].value, "sending", /*durable=*/false)
               : so_rejections.mark(so_c.list[i].value, "sending", /*durable=*/false);
  };
  request.after_verify = [&user_rejections, &so_rejections, &user_c, &so_c](
                             PinRef ref, std::size_t i, bool accepted) -> Result<void> {
    if (accepted)
      return {};
    // "sending" again, synced: settle() records the outcome ("rejected") once observation ends.
    return ref == PinRef::kUser
               ? user_rejections.mark(user_c.list[i].value, "sending", /*durable=*/true)
               : so_rejections.mark(so_c.list[i].value, "sending", /*durable=*/true);
  };
  // Objects and the device certificate only matter to a re-initialization: read later if
  // planned. With attestation the certificate is read and checked before any VERIFY.
  request.read_objects = false;
  // Registered PKA keys matter only when the manifest names keys to compare them with.
  request.read_pka_slots = spec.public_key_auth && !spec.public_key_auth->key_files.empty();
  if (spec.device.attestation) {
    request.check_attestation = [a = *spec.device.attestation](const std::optional<Bytes>& ef) {
      return attest(a, ef).failure;
    };
  }
  return request;
}

/// What observation proved about one PIN.
struct Settled {
  std::optional<Candidate> match;
  std::vector<std::string> rejected;  ///< sources the device rejected (now or before)
};

// Records what the device answered: rejected values are never sent again; a match resets the
// counter, so earlier failures no longer count.
Result<Settled> settle(const model::CredentialObservation& seen, PinCandidates& c,
                       Rejections& rejections) {
  Settled out;
  for (int i : seen.rejected_candidates) {
    HSMCTL_TRY(rejections.mark(c.list[i].value, "rejected", /*durable=*/false));
    out.rejected.push_back(c.list[i].source);
  }
  for (auto& w : c.withheld)
    out.rejected.push_back(w);
  if (seen.check != model::CredentialCheck::kMatches || !seen.matched_candidate)
    return out;
  Candidate& m = c.list[*seen.matched_candidate];
  HSMCTL_TRY(rejections.accepted(m.value));
  out.match = m;
  return out;
}

CredentialKnowledge knowledge(const Settled& s, bool to_generate) {
  if (s.match) {
    return s.match->is_desired ? CredentialKnowledge::kMatchesDesired
                               : CredentialKnowledge::kKnownOther;
  }
  if (!s.rejected.empty())
    return CredentialKnowledge::kMismatchUnknown;
  return to_generate ? CredentialKnowledge::kDesiredGenerated : CredentialKnowledge::kUnchecked;
}

/// From what observation proved to what the planner and execute() know (facts, current values).
void derive_facts(PreparedDevice& prepared, const Held& h, const PinCandidates& user_c,
                  const PinCandidates& so_c, Settled& user, Settled& so, bool durable) {
  DeviceCredentials& creds = prepared.credentials;
  CredentialFacts& facts = prepared.facts;
  if (creds.user_generate && !creds.user_desired && user.match) {
    // An interrupted first apply left a generated value pending, and the device has it.
    creds.user_desired = user.match->value;
    user.match->is_desired = true;
  }
  if (creds.so_generate && !creds.so_desired && so.match) {
    creds.so_desired = so.match->value;
    so.match->is_desired = true;
  }
  facts.user_pin_held_is_desired =
      h.user_stored && creds.user_desired && h.user_stored->equals(*creds.user_desired);
  // Said "verified" only when a VERIFY succeeded in this run (not inferred from a journal).
  facts.user_pin_verified =
      prepared.observed.user_pin_check.check == model::CredentialCheck::kMatches;
  facts.so_pin_verified = prepared.observed.so_pin_check.check == model::CredentialCheck::kMatches;
  facts.user_pin = knowledge(user, !creds.user_desired);
  facts.so_pin = knowledge(so, !creds.so_desired);
  facts.user_pin_rejected = join(user.rejected, "; then ");
  facts.so_pin_rejected = join(so.rejected, "; then ");
  facts.rejections_recorded = durable;
  if (user.match)
    creds.user_current = user.match->value;
  if (so.match)
    creds.so_current = so.match->value;

  creds.user_pending_rejected =
      user_c.pending_withheld || (user_c.from_pending && prepared.observed.user_pin_check.check ==
                                                             model::CredentialCheck::kMismatch);
  creds.so_pending_rejected =
      so_c.pending_withheld || (so_c.from_pending && prepared.observed.so_pin_check.check ==
                                                         model::CredentialCheck::kMismatch);
  // The device refused the value an interrupted change would have set, so it still holds the
  // value that change started from: the stored current one. Inferred, not tried again (one
  // VERIFY per run); a wrong inference is answered 63Cx by the next command, never blocks.
  if (creds.user_pending_rejected && h.user_stored) {
    creds.user_current = h.user_stored;
    facts.user_pin = creds.user_desired && h.user_stored->equals(*creds.user_desired)
                         ? CredentialKnowledge::kMatchesDesired
                         : CredentialKnowledge::kKnownOther;
  }
  if (creds.so_pending_rejected && h.so_stored) {
    creds.so_current = h.so_stored;
    facts.so_pin = creds.so_desired && h.so_stored->equals(*creds.so_desired)
                       ? CredentialKnowledge::kMatchesDesired
                       : CredentialKnowledge::kKnownOther;
  }
}

/// The pure plan, with what a re-initialization would lose read first when one is planned, and
/// the notes about what observation found.
Result<void> plan_device(PreparedDevice& prepared, SmartCardHsm& hsm, Held& h, const Settled& user,
                         const Settled& so, bool reset_preferred) {
  const auto& manifest = *prepared.manifest;
  prepared.plan = make_plan(manifest, prepared.observed, prepared.facts, prepared.caps);
  if (prepared.plan.needs_reinit()) {
    // What a re-initialization would lose (keys, the PKI certificate) and the guards need.
    HSMCTL_TRY(device::schsm::observe_objects(hsm, prepared.observed));
    prepared.observed.apdu_count = prepared.transport->wire_apdus();
    prepared.plan = make_plan(manifest, prepared.observed, prepared.facts, prepared.caps);
  }
  if (const auto& a = manifest.spec.device.attestation)
    prepared.plan.device_certificate = certificate_view(prepared.observed, *a);
  auto& notes = prepared.plan.notes;
  for (auto& n : h.journal_notes)
    notes.push_back(std::move(n));
  if (reset_preferred &&
      prepared.observed.user_pin_check.check == model::CredentialCheck::kNotChecked &&
      prepared.observed.so_pin_check.check == model::CredentialCheck::kMatches) {
    notes.push_back("user PIN: an earlier change of " + h.user_key.id() +
                    " did not finish (the device may hold the old or the new value); instead of "
                    "trying one (a miss costs a try), hsmctl sets the manifest's value with the "
                    "SO PIN");
  }
  // A value rejected before another matched: say which, so a stale store is visible.
  if (user.match && !user.rejected.empty()) {
    notes.push_back("user PIN: the device rejected " + join(user.rejected, "; then ") + "; " +
                    user.match->source + " matched");
  }
  if (so.match && !so.rejected.empty()) {
    notes.push_back("SO PIN: the device rejected " + join(so.rejected, "; then ") + "; " +
                    so.match->source + " matched");
  }
  if (!prepared.caps.so_verify && h.so_pending && !prepared.credentials.so_pending_rejected) {
    notes.push_back("SO PIN: an earlier change of " + h.so_key.id() +
                    " did not finish; the device may hold the old or the new value, and this "
                    "device cannot verify either without risking a try that is never restored");
  }
  return {};
}

/// The store fact (on the user-PIN entry) that records the KCV and the files of the last DKEK
/// import into a domain: "<KCV>:<files digest>".
std::string dkek_fact(int index) {
  return "dkek-" + std::to_string(index);
}

/// The key-derivation count of share files; HSMCTL_TEST_DKEK_ITERATIONS only in tests (files
/// made with a small count keep engine tests fast; docs/simulator.md "Test hooks").
int dkek_iterations() {
  const char* v = std::getenv("HSMCTL_TEST_DKEK_ITERATIONS");
  if (v == nullptr || *v == '\0')
    return secrets::kScHsmToolIterations;
  const int n = std::atoi(v);
  return n > 0 ? n : secrets::kScHsmToolIterations;
}

/// The password of one share file: its reference, or the custodians' parts of a split password
/// (sc-hsm-tool --pwd-shares-*) put together.
Result<Secret> dkek_file_password(const model::PicoHsmManifest& manifest,
                                  const model::DkekShareFile& f, store::CredentialKeeper& keeper) {
  if (f.password_parts.empty()) {
    const std::string field = f.field + ".password";
    HSMCTL_TRY_ASSIGN(auto pw, secrets::resolve(f.password, field, keeper, {},
                                                prompt_context(manifest, field.c_str())));
    if (!pw.value)
      return make_error(Errc::kSecret, field + ": no value");
    return std::move(*pw.value);
  }
  std::vector<Secret> parts;
  for (std::size_t i = 0; i < f.password_parts.size(); ++i) {
    const std::string field = f.field + ".passwordShares.parts[" + std::to_string(i) + "]";
    HSMCTL_TRY_ASSIGN(auto part, secrets::resolve(f.password_parts[i], field, keeper, {},
                                                  prompt_context(manifest, field.c_str())));
    if (!part.value)
      return make_error(Errc::kSecret, field + ": no value");
    parts.push_back(std::move(*part.value));
  }
  auto password = secrets::combine_password_shares(parts);
  if (!password) {
    Error e = password.error();
    e.message = f.field + ".passwordShares: " + e.message;
    return tl::unexpected(std::move(e));
  }
  return password;
}

/// Reads the manifest's DKEK share files where an import may be planned, or where the domain is
/// complete and only the files can say which DKEK it should hold. A file that cannot be read or
/// decrypted fails the device's plan here, before anything is imported. Decrypting costs seconds
/// per file (sc-hsm-tool's 10,000,000-round key derivation), so it is skipped where the device
/// answers the question: a complete domain checked against expectedKcv, or against the KCV
/// recorded at an import of these same files.
Result<void> read_dkek_files(const model::PicoHsmManifest& manifest, PreparedDevice& prepared,
                             store::CredentialKeeper& keeper, const store::CredentialKey& user_key,
                             bool fresh) {
  const auto& spec = manifest.spec;
  const int domains = spec.key_domains.empty() ? 1 : static_cast<int>(spec.key_domains.size());
  for (int index = 0; index < domains; ++index) {
    const model::DkekImport* files = spec.dkek_import(index);
    if (files == nullptr)
      continue;
    const int n = static_cast<int>(files->shares.size());
    const model::KeyDomainStatus* seen = nullptr;
    for (const auto& d : prepared.observed.key_domains) {
      if (d.index == index)
        seen = &d;
    }
    const bool complete = !fresh && seen != nullptr && seen->set_up && seen->total_shares == n &&
                          seen->outstanding_shares == 0;
    const bool partial = !fresh && seen != nullptr && seen->set_up && seen->total_shares == n &&
                         seen->outstanding_shares > 0 && seen->outstanding_shares < n;
    // A partial import is blocked whatever the files hold; a complete domain with the
    // ceremony's KCV is compared with it: the files are not opened (custodians may keep them
    // offline after the ceremony).
    if (partial || (complete && !files->expected_kcv.empty()))
      continue;

    std::vector<std::string> digests;
    for (const auto& f : files->shares) {
      HSMCTL_TRY_ASSIGN(auto bytes, read_regular_file(f.file, 4096));
      digests.push_back(secrets::file_digest(bytes.content));
    }
    std::sort(digests.begin(), digests.end());  // the DKEK is the XOR: order does not matter
    std::string digest;
    for (const auto& d : digests)
      digest += d;
    digest = secrets::file_digest(Bytes(digest.begin(), digest.end()));
    prepared.credentials.dkek_files_digest[index] = digest;

    if (complete) {
      HSMCTL_TRY_ASSIGN(auto recorded, keeper.fact(user_key, dkek_fact(index)));
      const std::string suffix = ":" + digest;
      if (recorded && recorded->size() > suffix.size() &&
          recorded->compare(recorded->size() - suffix.size(), suffix.size(), suffix) == 0) {
        prepared.facts.dkek_files_kcv[index] =
            recorded->substr(0, recorded->size() - suffix.size());
        continue;
      }
    }
    // Every password first (a prompt asks the custodians one after the other), then the files
    // decrypted at the same time: seconds of key derivation each.
    std::vector<std::string> paths;
    std::vector<Secret> passwords;
    for (const auto& f : files->shares) {
      HSMCTL_TRY_ASSIGN(auto password, dkek_file_password(manifest, f, keeper));
      paths.push_back(f.file);
      passwords.push_back(std::move(password));
    }
    auto decrypted = secrets::read_dkek_share_files(paths, passwords, dkek_iterations());
    std::vector<Secret> shares;
    for (std::size_t i = 0; i < decrypted.size(); ++i) {
      if (!decrypted[i]) {
        Error e = decrypted[i].error();
        e.message = files->shares[i].field + ": " + e.message;
        return tl::unexpected(std::move(e));
      }
      shares.push_back(std::move(*decrypted[i]));
    }
    HSMCTL_TRY_ASSIGN(auto kcv, secrets::dkek_kcv(shares));
    prepared.facts.dkek_files_kcv[index] = secrets::kcv_hex(kcv);
    prepared.credentials.dkek_shares[index] = std::move(shares);
  }
  return {};
}

Result<PreparedDevice> prepare_impl(const model::PicoHsmManifest& manifest,
                                    const std::string* device_uri,
                                    std::unique_ptr<device::Transport> transport,
                                    store::CredentialKeeper& keeper, const Capabilities& caps) {
  const auto& spec = manifest.spec;
  PreparedDevice prepared;
  prepared.manifest = std::make_shared<const model::PicoHsmManifest>(manifest);
  prepared.caps = caps;

  if (!spec.user_pin || !spec.so_pin) {
    return make_error(Errc::kManifest, "spec.userPin and spec.soPin are required");
  }
  DeviceCredentials& creds = prepared.credentials;
  HSMCTL_TRY(resolve_early(manifest, keeper, creds));

  if (device_uri != nullptr) {
    // observe() checks the serial before any VERIFY, so a single card needs no probe.
    HSMCTL_TRY_ASSIGN(
        prepared.transport,
        device::connect::open_device(*device_uri, spec.device, !spec.device.serial.empty()));
  } else {
    prepared.transport = std::move(transport);
  }
  HSMCTL_TRY(prepared.transport->begin_exclusive());
  SmartCardHsm hsm(*prepared.transport);

  // The store is keyed by chip serial; a manifest that names its serial costs no extra APDU.
  std::string serial = spec.device.serial;
  if (serial.empty()) {
    HSMCTL_TRY(hsm.select());
    HSMCTL_TRY_ASSIGN(serial, hsm.chip_serial());
  }
  Held h;
  h.user_key = credential_key(caps.store_prefix, serial, kUserPin);
  h.so_key = credential_key(caps.store_prefix, serial, kSoPin);
  // How to generate a value apply creates (execute() reads no manifest).
  creds.user_generate_spec = spec.user_pin->generate;
  creds.so_generate_spec = spec.so_pin->generate;
  HSMCTL_TRY(resolve_generated(manifest, keeper, *spec.user_pin, "spec.userPin", h.user_key,
                               creds.user_generate, creds.user_desired));
  HSMCTL_TRY(resolve_generated(manifest, keeper, *spec.so_pin, "spec.soPin", h.so_key,
                               creds.so_generate, creds.so_desired));
  HSMCTL_TRY(read_held(keeper, prepared, h));

  HSMCTL_TRY_ASSIGN(auto user_rejections, Rejections::load(keeper, rejected_key(h.user_key)));
  HSMCTL_TRY_ASSIGN(auto so_rejections, Rejections::load(keeper, rejected_key(h.so_key)));
  PinCandidates user_c = pick_candidates(h.user_pending, h.user_stored, creds.user_desired,
                                         h.user_key, "spec.userPin", user_rejections);
  PinCandidates so_c = caps.so_verify ? pick_candidates(h.so_pending, h.so_stored, creds.so_desired,
                                                        h.so_key, "spec.soPin", so_rejections)
                                      : store_only_candidates(h, creds.so_desired, so_rejections);

  HSMCTL_TRY_ASSIGN(auto request,
                    observe_request(spec, keeper, h, caps, user_c, so_c, user_rejections,
                                    so_rejections, prepared.transport->describe()));
  HSMCTL_TRY_ASSIGN(prepared.observed, device::schsm::observe(hsm, request));
  // Everything on the wire since the device was opened: the by-serial reader probe and the
  // serial read above included.
  prepared.observed.apdu_count = prepared.transport->wire_apdus();

  HSMCTL_TRY_ASSIGN(Settled user,
                    settle(prepared.observed.user_pin_check, user_c, user_rejections));
  HSMCTL_TRY_ASSIGN(Settled so, settle(prepared.observed.so_pin_check, so_c, so_rejections));
  if (!caps.so_verify && !so_c.from_pending && !so_c.list.empty()) {
    // Known from the store, never verified (nor recorded as accepted): the device cannot say.
    so.match = so_c.list.front();
  }
  derive_facts(prepared, h, user_c, so_c, user, so, keeper.durable());
  // Whether the plan starts the domains afresh (a pure first pass, no I/O).
  const bool fresh = !prepared.observed.initialized ||
                     make_plan(manifest, prepared.observed, prepared.facts, caps).needs_reinit();
  HSMCTL_TRY(read_dkek_files(manifest, prepared, keeper, h.user_key, fresh));
  HSMCTL_TRY(plan_device(prepared, hsm, h, user, so, request.user_pin_reset_preferred));
  return prepared;
}
}  // namespace

Result<void> check_guards(const PreparedDevice& prepared, const ApplyOptions& options) {
  const auto& p = prepared.plan;
  if (!p.needs_reinit())
    return {};
  if (!options.allow_reinit) {
    std::string fields;
    for (const auto& a : p.actions) {
      for (const auto& c : a.changes) {
        if (!c.forces_reinit)
          continue;
        if (!fields.empty())
          fields += ", ";
        fields += c.path;
      }
    }
    return make_error(Errc::kRefused, "device \"" + p.name + "\" needs a re-initialization (" +
                                          fields +
                                          ") which wipes all keys; nothing was changed. Re-run "
                                          "with --allow-reinit to allow it");
  }
  if (!prepared.observed.objects_read) {
    // Never guess "no keys": the guard below depends on ENUMERATE OBJECTS.
    return make_error(Errc::kInternal, "device \"" + p.name +
                                           "\": the objects were not read before planning a "
                                           "re-initialization; nothing was changed");
  }
  if (prepared.observed.key_count > 0 && !options.allow_key_loss) {
    return make_error(Errc::kRefused,
                      "device \"" + p.name + "\" holds " +
                          std::to_string(prepared.observed.key_count) +
                          " private key(s) that re-initialization would destroy; nothing was "
                          "changed. Re-run with --allow-reinit --allow-key-loss to allow it");
  }
  return {};
}

namespace {

/// Records apply progress in the store's journal when the keeper keeps one.
class StepJournal {
 public:
  StepJournal(store::CredentialKeeper& keeper) : journal_(keeper.journal()) {}
  Result<void> begin(const std::string& device, const std::string& summary) {
    if (journal_ == nullptr)
      return {};
    HSMCTL_TRY_ASSIGN(id_, journal_->journal_begin(device, summary));
    return {};
  }
  Result<void> step(const std::string& name, store::JournalState state,
                    const std::string& credential = {}) {
    if (journal_ == nullptr || id_.empty())
      return {};
    return journal_->journal_step(id_, name, state, credential);
  }
  Result<void> end(const std::string& outcome) {
    if (journal_ == nullptr || id_.empty())
      return {};
    return journal_->journal_end(id_, outcome);
  }
  Result<void> end_other(const std::string& id, const std::string& outcome) {
    if (journal_ == nullptr)
      return {};
    return journal_->journal_end(id, outcome);
  }

 private:
  store::ApplyJournal* journal_;
  std::string id_;
};

/// A refusal by the device is definite: nothing changed. A transport failure is not: the
/// command may have run.
bool definite_failure(const Error& e) {
  return e.code == Errc::kAuth || e.code == Errc::kDevice || e.code == Errc::kRefused;
}

/// Runs one device command under the journal: sending -> succeeded / refused (left "sending"
/// when the outcome is unknown).
template <class Send>
Result<void> journaled(StepJournal& journal, const std::string& step, Send send) {
  HSMCTL_TRY(journal.step(step, store::JournalState::kSending));
  Result<void> sent = send();
  if (sent) {
    HSMCTL_TRY(journal.step(step, store::JournalState::kSucceeded));
  } else if (definite_failure(sent.error())) {
    (void)journal.step(step, store::JournalState::kRefused);
  }
  return sent;
}

/// Runs one credential-setting command under the two-phase rule: the journal records the intent,
/// the new value is staged durably, the journal records "sending", the command is sent, then the
/// value is committed (success), discarded (definite refusal) or kept pending (unknown outcome).
///
/// "Success" needs more than the 9000: Pico HSM answers first and writes flash afterwards, from
/// its main loop (pico-hsm.md 13.1), so a change answered 9000 is lost if the power goes before
/// that write. `confirm` sends one free status query after the answer; a device that answers it
/// has run its main loop since, i.e. written the change. Only then is the value committed. If the
/// query fails (the card is gone), the value stays pending: the next run treats the change as
/// interrupted and resolves it (prepare(): with the SO PIN when it can, costing no user-PIN try).
template <class Send, class Confirm>
Result<void> two_phase(store::CredentialKeeper& keeper, StepJournal& journal,
                       const std::string& step,
                       const std::vector<std::pair<store::CredentialKey, const Secret*>>& values,
                       Send send, Confirm confirm) {
  for (const auto& [key, value] : values) {
    HSMCTL_TRY(journal.step(step + " (" + key.name + ")", store::JournalState::kIntent, key.id()));
    HSMCTL_TRY(keeper.stage(key, stored_form(key, *value)));
  }
  for (const auto& [key, value] : values) {
    HSMCTL_TRY(journal.step(step + " (" + key.name + ")", store::JournalState::kSending, key.id()));
  }
  Result<void> sent = send();
  if (sent) {
    if (Result<void> written = confirm(); !written) {
      Error e = written.error();
      e.message =
          "the device answered success but not the status query that follows, so the "
          "change may not have reached its flash (power lost?); the new value stays "
          "pending and the next run resolves it: " +
          e.message;
      return tl::unexpected(std::move(e));
    }
    for (const auto& [key, value] : values) {
      HSMCTL_TRY(keeper.commit(key));
      HSMCTL_TRY(
          journal.step(step + " (" + key.name + ")", store::JournalState::kSucceeded, key.id()));
    }
    return {};
  }
  if (definite_failure(sent.error())) {
    for (const auto& [key, value] : values) {
      (void)keeper.discard(key);
      (void)journal.step(step + " (" + key.name + ")", store::JournalState::kRefused, key.id());
    }
  }
  return sent;
}

}  // namespace

namespace {

/// What the action needs to execute (its payload), or Errc::kInternal: a plan this engine did not
/// make, or one changed since.
template <class T>
Result<const T*> payload_of(const plan::Action& a) {
  const T* p = std::any_cast<T>(&a.payload);
  if (p == nullptr) {
    return make_error(Errc::kInternal, "action \"" + a.summary + "\" (" + a.kind +
                                           ") does not carry what apply needs to run it");
  }
  return p;
}

/// Every step of the plan carries the payload its kind needs: checked before anything is sent.
Result<void> check_payloads(const plan::DevicePlan& plan) {
  for (const auto& a : plan.actions) {
    if (a.action_class == ActionClass::kBlocked)
      continue;
    if (a.kind == kind::kInitialize) {
      HSMCTL_TRY(payload_of<InitializePayload>(a));
    } else if (a.kind == kind::kChangeSoPin || a.kind == kind::kChangeUserPin ||
               a.kind == kind::kResetUserPin) {
      HSMCTL_TRY(payload_of<CredentialPayload>(a));
    } else if (a.kind == kind::kSetupKeyDomain || a.kind == kind::kDeleteKeyDomain) {
      HSMCTL_TRY(payload_of<KeyDomainPayload>(a));
    } else if (a.kind == kind::kSetDynamicOptions) {
      HSMCTL_TRY(payload_of<DynOptionsPayload>(a));
    } else if (a.kind == kind::kImportDkekShares) {
      HSMCTL_TRY(payload_of<DkekImportPayload>(a));
    } else if (a.kind == kind::kRegisterPublicKeys) {
      HSMCTL_TRY(payload_of<RegisterPublicKeysPayload>(a));
    } else {
      return make_error(Errc::kInternal, "not a Pico HSM action: " + a.kind);
    }
  }
  return {};
}

/// One execute(): the plan's actions in order, in the card session prepare() holds. Each step
/// reads only its action's payload and the credentials prepare() resolved, never the manifest.
class Executor {
 public:
  Executor(PreparedDevice& prepared, store::CredentialKeeper& keeper, const Progress& progress)
      : prepared_(prepared),
        caps_(prepared.caps),
        creds_(prepared.credentials),
        keeper_(keeper),
        progress_(progress),
        hsm_(*prepared.transport),
        journal_(keeper),
        user_key_(credential_key(prepared.caps.store_prefix, prepared.observed.serial, kUserPin)),
        so_key_(credential_key(prepared.caps.store_prefix, prepared.observed.serial, kSoPin)) {}

  Result<ApplyReport> run();

 private:
  Result<void> settle_observed();
  Result<void> generate_desired();
  Result<void> begin();
  Result<void> step(const plan::Action& a);
  Result<void> initialize(const plan::Action& a, const InitializePayload& p);
  Result<void> credential(const plan::Action& a, const CredentialPayload& p);
  Result<void> import_dkek(const plan::Action& a, const DkekImportPayload& p);
  template <class Send>
  Result<void> in_user_session(const plan::Action& a, Send send);
  Result<void> finish(const ApplyReport& report);

  Rejections& rejections(PinRef ref) { return ref == PinRef::kUser ? *user_rej_ : *so_rej_; }
  Result<device::schsm::VerifyResult> verify_known(PinRef ref, const Secret& value);
  /// The durability check of two_phase(): VERIFY status of the user PIN (never costs a try,
  /// keeps every session).
  Result<void> written() {
    HSMCTL_TRY(hsm_.pin_status(PinRef::kUser));
    return {};
  }
  /// A device error of a step: ends the journal when the outcome is definite (an unknown one
  /// leaves it open for the next run).
  Error fail(const Error& e, const plan::Action& a) {
    Error out = device_error(e, a.summary);
    if (definite_failure(out))
      (void)journal_.end("failed: " + out.message);
    return out;
  }

  PreparedDevice& prepared_;
  const Capabilities& caps_;  ///< what the device family allows (not the manifest)
  DeviceCredentials& creds_;
  store::CredentialKeeper& keeper_;
  const Progress& progress_;
  SmartCardHsm hsm_;
  StepJournal journal_;
  const store::CredentialKey user_key_;
  const store::CredentialKey so_key_;
  std::optional<Rejections> user_rej_, so_rej_;
  bool user_session_ = false;
};

// Learn what observation proved, so the store holds every credential the device requires, and
// settle a pending value left by an interrupted run.
Result<void> Executor::settle_observed() {
  auto& creds = creds_;
  for (auto [key, dropped] :
       {std::pair{user_key_, creds.user_pending_rejected || creds.user_pending_unsent},
        std::pair{so_key_, creds.so_pending_rejected || creds.so_pending_unsent}}) {
    if (!dropped)
      continue;
    // VERIFY answered "wrong" to the pending value, or the journal shows it was never sent:
    // the device did not take it.
    HSMCTL_TRY(keeper_.discard(key));
    progress_("resolved the interrupted change of " + key.id() + ": the device kept the old value");
  }
  for (const auto& id : prepared_.stale_journals) {
    HSMCTL_TRY(journal_.end_other(id, "interrupted; resolved by a later run"));
  }
  for (auto [key, current] :
       {std::pair{user_key_, &creds.user_current}, std::pair{so_key_, &creds.so_current}}) {
    if (!*current)
      continue;
    HSMCTL_TRY_ASSIGN(auto stored, read_stored(keeper_, key, false));
    HSMCTL_TRY_ASSIGN(auto pending, read_stored(keeper_, key, true));
    if (pending && pending->equals(**current)) {
      HSMCTL_TRY(keeper_.commit(key));
      progress_("resolved the interrupted change of " + key.id() +
                ": the device has the new value");
    } else if (!stored || !stored->equals(**current)) {
      HSMCTL_TRY(keeper_.record_current(key, stored_form(key, **current)));
    }
    if (pending && !pending->equals(**current)) {
      HSMCTL_TRY(keeper_.discard(key));
      progress_("resolved the interrupted change of " + key.id() +
                ": the device kept the old value");
    }
  }
  if (prepared_.observed.pin_retries_max) {
    HSMCTL_TRY(keeper_.record_fact(user_key_, kRetriesMax,
                                   std::to_string(*prepared_.observed.pin_retries_max)));
  }
  return {};
}

// Generated values are created now, and staged before use like every other credential.
Result<void> Executor::generate_desired() {
  if (!creds_.user_desired && creds_.user_generate) {
    HSMCTL_TRY_ASSIGN(Secret v, secrets::generate(creds_.user_generate_spec));
    creds_.user_desired = std::move(v);
  }
  if (!creds_.so_desired && creds_.so_generate) {
    HSMCTL_TRY_ASSIGN(Secret v, secrets::generate(creds_.so_generate_spec));
    HSMCTL_TRY_ASSIGN(Secret n, secrets::normalize_so_pin(v, "spec.soPin"));
    creds_.so_desired = std::move(n);
  }
  if (!creds_.user_desired || !creds_.so_desired) {
    return make_error(Errc::kInternal, "desired credentials missing at apply time");
  }
  return {};
}

Result<void> Executor::begin() {
  std::string summary;
  for (const auto& a : prepared_.plan.actions) {
    if (a.action_class == ActionClass::kBlocked)
      continue;
    summary += (summary.empty() ? "" : "; ") + a.summary;
  }
  HSMCTL_TRY(journal_.begin(user_key_.device, summary));
  HSMCTL_TRY(hsm_.select());
  HSMCTL_TRY_ASSIGN(auto user, Rejections::load(keeper_, rejected_key(user_key_)));
  HSMCTL_TRY_ASSIGN(auto so, Rejections::load(keeper_, rejected_key(so_key_)));
  user_rej_.emplace(std::move(user));
  so_rej_.emplace(std::move(so));
  return {};
}

// Checks a proven value once more (cannot cost a try unless the device changed meanwhile).
Result<device::schsm::VerifyResult> Executor::verify_known(PinRef ref, const Secret& value) {
  HSMCTL_TRY_ASSIGN(auto v, hsm_.verify(ref, value));
  if (v == device::schsm::VerifyResult::kOk) {
    HSMCTL_TRY(rejections(ref).accepted(value));
  } else if (v == device::schsm::VerifyResult::kWrong ||
             v == device::schsm::VerifyResult::kBlocked) {
    HSMCTL_TRY(rejections(ref).mark(value, "rejected", /*durable=*/false));
  }
  return v;
}

Result<void> Executor::step(const plan::Action& a) {
  if (a.kind == kind::kInitialize) {
    HSMCTL_TRY_ASSIGN(const auto* p, payload_of<InitializePayload>(a));
    return initialize(a, *p);
  }
  if (a.kind == kind::kChangeSoPin || a.kind == kind::kChangeUserPin ||
      a.kind == kind::kResetUserPin) {
    HSMCTL_TRY_ASSIGN(const auto* p, payload_of<CredentialPayload>(a));
    return credential(a, *p);
  }
  if (a.kind == kind::kSetupKeyDomain) {
    HSMCTL_TRY_ASSIGN(const auto* p, payload_of<KeyDomainPayload>(a));
    return in_user_session(a, [&] { return hsm_.key_domain_setup(p->index, p->shares); });
  }
  if (a.kind == kind::kDeleteKeyDomain) {
    HSMCTL_TRY_ASSIGN(const auto* p, payload_of<KeyDomainPayload>(a));
    return in_user_session(a, [&] { return hsm_.key_domain_delete(p->index); });
  }
  if (a.kind == kind::kImportDkekShares) {
    HSMCTL_TRY_ASSIGN(const auto* p, payload_of<DkekImportPayload>(a));
    return import_dkek(a, *p);
  }
  if (a.kind == kind::kRegisterPublicKeys) {
    HSMCTL_TRY_ASSIGN(const auto* p, payload_of<RegisterPublicKeysPayload>(a));
    // INS 54 P1=00 alone, as pico-hsm.md section 6 reads v6.6 (the request is stored without
    // verifying its chain); docs/ceremonies.md "Public-key authentication" on OpenSC's
    // MSE SET / PSO VERIFY CERTIFICATE preamble, which hsmctl does not send.
    return in_user_session(a, [&]() -> Result<void> {
      for (const auto& key : p->keys) {
        HSMCTL_TRY_ASSIGN(auto st, hsm_.pka_register(key.request));
        (void)st;
        progress_("  registered public key " + key.chr);
      }
      return {};
    });
  }
  if (a.kind == kind::kSetDynamicOptions) {
    HSMCTL_TRY_ASSIGN(const auto* p, payload_of<DynOptionsPayload>(a));
    // Read-modify-write of these bits only; secure lock is left as it is.
    return in_user_session(a, [&]() -> Result<void> {
      HSMCTL_TRY(hsm_.update_dynamic_options(p->set, p->clear));
      return {};
    });
  }
  return make_error(Errc::kInternal, "not a Pico HSM action: " + a.kind);
}

Result<void> Executor::initialize(const plan::Action& a, const InitializePayload& p) {
  const bool reinit = a.action_class == ActionClass::kReinitialize;
  if (reinit && !caps_.reinit_keeps_device_key) {
    // Verifying a current credential first keeps the device key and its certificate
    // (pico-hsm.md 2.4). Only values observation already proved are used.
    if (creds_.user_current) {
      HSMCTL_TRY(verify_known(PinRef::kUser, *creds_.user_current));
    } else if (creds_.so_current && caps_.so_verify) {
      HSMCTL_TRY(verify_known(PinRef::kSo, *creds_.so_current));
    }
  }
  const Secret& user_new = *creds_.user_desired;
  // A device that re-initializes only with its current SO PIN (Capabilities) gets the
  // store's value in tag 82; a new SO value follows by CHANGE REFERENCE DATA (planned).
  Secret so_sent = *creds_.so_desired;
  const bool so_proof = reinit && caps_.reinit_needs_current_so;
  if (so_proof) {
    if (!creds_.so_current) {
      return make_error(Errc::kInternal, "re-initialization without the current SO PIN");
    }
    so_sent = *creds_.so_current;
    // On record before it is sent, like a VERIFY: a wrong one burns a try.
    HSMCTL_TRY(so_rej_->mark(so_sent, "sending", /*durable=*/true));
  }
  device::schsm::InitializeParams params;
  params.options = p.options;
  params.user_pin = user_new;
  params.so_pin = so_sent;
  params.pin_retries = p.pin_retries;
  params.dkek_shares = p.dkek_shares;
  params.pka = p.pka;
  params.key_domains = p.key_domains;
  progress_(a.summary + " ...");
  auto sent = two_phase(
      keeper_, journal_, a.summary, {{user_key_, &user_new}, {so_key_, &so_sent}},
      [&]() -> Result<void> {
        auto r = hsm_.initialize(params);
        if (!r && caps_.retry_6400 && r.error().code == Errc::kDevice &&
            r.error().status_word() == device::schsm::kSwInitializeDefect) {
          // Firmware v6.6 answers 6400 on a first INITIALIZE after it has already wiped the
          // device; the documented remedy is to run it again.
          progress_("  the device answered 6400 (known v6.6 defect); initializing again");
          r = hsm_.initialize(params);
        }
        return r;
      },
      [&] { return written(); });
  if (!sent) {
    // Refused: the SO PIN sent as proof counts as rejected (the status word of a wrong one is
    // unconfirmed), so it is never sent again.
    if (so_proof && definite_failure(sent.error()))
      HSMCTL_TRY(so_rej_->mark(so_sent, "rejected", /*durable=*/false));
    return tl::unexpected(fail(sent.error(), a));
  }
  user_session_ = true;            // INITIALIZE leaves the session authenticated
  HSMCTL_TRY(user_rej_->clear());  // a new device state: nothing recorded applies
  HSMCTL_TRY(so_rej_->clear());
  creds_.user_current = user_new;
  creds_.so_current = so_sent;
  return keeper_.record_fact(user_key_, kRetriesMax, std::to_string(p.pin_retries));
}

Result<void> Executor::credential(const plan::Action& a, const CredentialPayload& p) {
  using Proof = CredentialPayload::Proof;
  const bool user = p.target == CredentialPayload::Target::kUserPin;
  const PinRef target = user ? PinRef::kUser : PinRef::kSo;
  const bool by_so = p.proof == Proof::kSoPin;
  if (by_so && !user)
    return make_error(Errc::kInternal, a.summary + ": the SO PIN cannot reset itself");
  // The value that proves the change: the target's current one, or the SO PIN.
  const std::optional<Secret>& proof = by_so || !user ? creds_.so_current : creds_.user_current;
  if (!proof) {
    return make_error(Errc::kInternal, by_so  ? "PIN reset without SO PIN"
                                       : user ? "user PIN change without old value"
                                              : "SO PIN change without old value");
  }
  const Secret& value = user ? *creds_.user_desired : *creds_.so_desired;
  // An SO PIN the device cannot verify (the store's) is on record before it is sent.
  if ((by_so || !user) && !caps_.so_verify)
    HSMCTL_TRY(so_rej_->mark(*proof, "sending", /*durable=*/true));
  progress_(a.summary + " ...");
  auto sent = two_phase(
      keeper_, journal_, a.summary, {{user ? user_key_ : so_key_, &value}},
      [&] {
        return by_so ? hsm_.reset_retry_counter(*proof, value)
                     : hsm_.change_reference_data(target, *proof, value);
      },
      [&] { return written(); });
  // A value a command proved wrong (63Cx / 6983) is recorded like a rejected VERIFY.
  Rejections& proof_rejections = rejections(by_so ? PinRef::kSo : target);
  if (!sent && sent.error().code == Errc::kAuth)
    HSMCTL_TRY(proof_rejections.mark(*proof, "rejected", /*durable=*/false));
  if (!sent)
    return tl::unexpected(fail(sent.error(), a));
  if (by_so)
    HSMCTL_TRY(so_rej_->accepted(*creds_.so_current));
  (user ? creds_.user_current : creds_.so_current) = value;
  HSMCTL_TRY(rejections(target).accepted(value));
  // CHANGE REFERENCE DATA 81 opens a session; RRC P1=00 leaves the user PIN verified.
  if (user)
    user_session_ = true;
  return {};
}

template <class Send>
Result<void> Executor::in_user_session(const plan::Action& a, Send send) {
  if (!user_session_) {
    if (!creds_.user_current) {
      return make_error(Errc::kInternal, a.summary + ": no user PIN session");
    }
    HSMCTL_TRY_ASSIGN(auto v, verify_known(PinRef::kUser, *creds_.user_current));
    if (v != device::schsm::VerifyResult::kOk) {
      return make_error(Errc::kAuth, a.summary + ": the user PIN was not accepted");
    }
    user_session_ = true;
  }
  progress_(a.summary + " ...");
  Result<void> r = journaled(journal_, a.summary, send);
  if (!r)
    return tl::unexpected(fail(r.error(), a));
  return {};
}

// pico-hsm.md 5.4: VERIFY the user PIN, import every share, read the status (KCV), all in one
// session: a Pico wraps the DKEK under its MKEK only while a PIN session exists.
Result<void> Executor::import_dkek(const plan::Action& a, const DkekImportPayload& p) {
  const auto shares = creds_.dkek_shares.find(p.index);
  if (shares == creds_.dkek_shares.end() || static_cast<int>(shares->second.size()) != p.shares ||
      !creds_.user_current) {
    return make_error(Errc::kInternal, a.summary + ": the shares or the user PIN are not at hand");
  }
  HSMCTL_TRY_ASSIGN(auto v, verify_known(PinRef::kUser, *creds_.user_current));
  if (v != device::schsm::VerifyResult::kOk) {
    return make_error(Errc::kAuth, a.summary + ": the user PIN was not accepted");
  }
  user_session_ = true;
  progress_(a.summary + " ...");
  model::KeyDomainStatus status;
  Result<void> r = journaled(journal_, a.summary, [&]() -> Result<void> {
    for (const Secret& share : shares->second) {
      HSMCTL_TRY_ASSIGN(status, hsm_.import_dkek_share(p.index, share));
    }
    return {};
  });
  if (!r)
    return tl::unexpected(fail(r.error(), a));
  const std::string kcv = to_hex(status.kcv);
  if (status.outstanding_shares != 0 || kcv != p.kcv) {
    return make_error(Errc::kDevice,
                      a.summary + ": after the import the device reports " +
                          std::to_string(status.outstanding_shares) +
                          " share(s) outstanding and KCV " + kcv + ", expected none and KCV " +
                          p.kcv +
                          "; the domain holds a DKEK that is not the files' "
                          "(docs/ceremonies.md: clear the domain's DKEK and import again)");
  }
  const auto digest = creds_.dkek_files_digest.find(p.index);
  if (digest != creds_.dkek_files_digest.end()) {
    // Later plans then know these files' KCV without decrypting them (seconds per file).
    HSMCTL_TRY(keeper_.record_fact(user_key_, dkek_fact(p.index), p.kcv + ":" + digest->second));
  }
  return {};
}

Result<void> Executor::finish(const ApplyReport& report) {
  // Leave the device logged out, and check it still answers (pico-hsm.md 2.5: some firmware
  // needs a replug after INITIALIZE).
  auto reselect = hsm_.select();
  if (!reselect) {
    return make_error(Errc::kUnavailable,
                      prepared_.transport->describe() +
                          ": the device no longer answers after apply (replug required): " +
                          reselect.error().message);
  }
  if (report.interrupted_by != 0) {
    // Every step is settled (done, or never sent): the journal is closed, nothing is left for
    // the next run to resolve but the steps themselves, which the next plan shows again.
    HSMCTL_TRY(journal_.end(std::string("interrupted by ") + signal_name(report.interrupted_by) +
                            " after " + std::to_string(report.steps_done) + " of " +
                            std::to_string(report.steps_total) +
                            " step(s); not started: " + join(report.not_started, "; ")));
  } else {
    HSMCTL_TRY(journal_.end("applied"));
  }
  if (user_session_) {
    // The last user-PIN success reset the counter to its maximum: remember it, so the next
    // observation can tell "no failed attempts" apart from "a smaller maximum".
    HSMCTL_TRY_ASSIGN(auto status, hsm_.pin_status(PinRef::kUser));
    if (status.state == model::PinStatus::State::kTriesLeft) {
      HSMCTL_TRY(keeper_.record_fact(user_key_, kRetriesMax, std::to_string(status.tries_left)));
    }
  }
  return {};
}

Result<ApplyReport> Executor::run() {
  const auto& plan = prepared_.plan;
  ApplyReport report;
  HSMCTL_TRY(check_payloads(plan));
  HSMCTL_TRY(settle_observed());
  if (!plan.has_changes()) {
    report.steps_blocked = plan.count(ActionClass::kBlocked);
    return report;
  }
  HSMCTL_TRY(generate_desired());
  HSMCTL_TRY(begin());
  for (const auto& action : plan.actions) {
    if (action.action_class != ActionClass::kBlocked)
      ++report.steps_total;
  }
  for (const auto& action : plan.actions) {
    if (action.action_class == ActionClass::kBlocked) {
      ++report.steps_blocked;
      continue;
    }
    // A stop request (SIGINT/SIGTERM) is honoured between steps only: the previous step's
    // command and its store commit are complete, and this one has not sent anything yet.
    if (report.interrupted_by == 0)
      report.interrupted_by = stop_signal();
    if (report.interrupted_by != 0) {
      report.not_started.push_back(action.summary);
      continue;
    }
    HSMCTL_TRY(step(action));
    ++report.steps_done;
    progress_("  done");
  }
  HSMCTL_TRY(finish(report));
  return report;
}

}  // namespace

Result<ApplyReport> execute(PreparedDevice& prepared, const ApplyOptions& options,
                            store::CredentialKeeper& keeper, const Progress& progress) {
  HSMCTL_TRY(check_guards(prepared, options));
  Executor executor(prepared, keeper, progress);
  return executor.run();
}

}  // namespace hsmctl::families::schsm_engine
