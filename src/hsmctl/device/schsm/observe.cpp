// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/device/schsm/observe.hpp"

#include "hsmctl/device/schsm/protocol.hpp"
#include "hsmctl/device/schsm/tlv.hpp"
#include "hsmctl/model/limits.hpp"
#include "hsmctl/model/options.hpp"
#include "hsmctl/util/cvc.hpp"

#include <algorithm>

namespace hsmctl::device::schsm {
namespace {

using model::CredentialCheck;
using PinState = model::PinStatus::State;

// The fewest SO-PIN tries left at which hsmctl still tries a value (after its own one failure).
constexpr int kSoPinFloor = model::kSoPinRetries - 1;

struct CvNames {
  Bytes car;
  Bytes chr;
};

std::optional<CvNames> cv_names(const Tlv& cert) {
  if (cert.tag != cvc::kCertificate)
    return std::nullopt;
  auto body = find_tlv(cert.value, cvc::kBody);
  if (!body)
    return std::nullopt;
  auto car = find_tlv(*body, cvc::kCar);
  auto chr = find_tlv(*body, cvc::kChr);
  if (!car || !chr)
    return std::nullopt;
  return CvNames{Bytes(car->begin(), car->end()), Bytes(chr->begin(), chr->end())};
}

// Only transport failures abort observation of optional facts; a device that answers oddly
// for TokenInfo or the certificate file just leaves those facts unknown.
bool is_fatal(const Error& e) {
  return e.code != Errc::kDevice;
}

// Whether the user PIN may be tried, and if not, why (rules in observe.hpp).
std::optional<CredentialCheck> user_pin_precheck(const model::PinStatus& st, bool has_candidate,
                                                 int expected_retries, int own_failures) {
  switch (st.state) {
    case PinState::kNotInitialized:
    case PinState::kBlocked:
    case PinState::kTransport:
      return CredentialCheck::kNotApplicable;
    case PinState::kVerified:
      // Cannot happen right after SELECT; never VERIFY on a state we do not understand.
      return has_candidate ? CredentialCheck::kSkippedUnsafe : CredentialCheck::kNotChecked;
    case PinState::kTriesLeft:
      break;
  }
  if (!has_candidate)
    return CredentialCheck::kNotChecked;
  // Never the last try: a miss must leave at least one.
  if (st.tries_left < 2)
    return CredentialCheck::kSkippedUnsafe;
  // A full counter (no failure since the last success), or one short by exactly hsmctl's own
  // recorded failures (each of a different value): no one else's failure is being added to.
  if (st.tries_left >= expected_retries)
    return std::nullopt;
  if (own_failures > 0 && st.tries_left == expected_retries - own_failures)
    return std::nullopt;
  return CredentialCheck::kSkippedUnsafe;
}

std::optional<CredentialCheck> so_pin_precheck(const model::PinStatus& st, bool is_pico,
                                               bool has_candidate, int own_failures) {
  // SC-HSM cannot log in with the SO PIN; its tries can never be restored.
  if (!is_pico)
    return CredentialCheck::kNotApplicable;
  if (st.state == PinState::kNotInitialized || st.state == PinState::kBlocked) {
    return CredentialCheck::kNotApplicable;
  }
  if (!has_candidate)
    return CredentialCheck::kNotChecked;
  if (st.state != PinState::kTriesLeft)
    return CredentialCheck::kSkippedUnsafe;
  if (st.tries_left == model::kSoPinRetries)
    return std::nullopt;
  // The floor: one recorded failure of hsmctl's own, never more (15 -> 14 -> at worst 13).
  if (own_failures == 1 && st.tries_left == kSoPinFloor)
    return std::nullopt;
  return CredentialCheck::kSkippedUnsafe;
}

// Applies a VERIFY outcome to the observation; returns true when a session was opened.
bool record_verify(const VerifyOutcome& out, model::PinStatus& status,
                   model::CredentialObservation& check) {
  switch (out.result) {
    case VerifyResult::kOk:
      check.check = CredentialCheck::kMatches;
      return true;
    case VerifyResult::kWrong:
      check.check = CredentialCheck::kMismatch;
      status.state = PinState::kTriesLeft;
      status.tries_left = out.tries_left;
      return false;
    case VerifyResult::kBlocked:
      check.check = CredentialCheck::kMismatch;
      status.state = PinState::kBlocked;
      status.tries_left = 0;
      return false;
    case VerifyResult::kTransport:
      check.check = CredentialCheck::kNotApplicable;
      status.state = PinState::kTransport;
      return false;
    case VerifyResult::kNotInitialized:
      check.check = CredentialCheck::kNotApplicable;
      status.state = PinState::kNotInitialized;
      return false;
  }
  return false;
}

}  // namespace

std::optional<bool> device_certificate_is_pki(ByteView ef_2f02) {
  std::vector<CvNames> certs;
  ByteView rest = ef_2f02;
  // Tolerate padding after the chain: stop at the first byte that does not start a CV cert.
  // v6.6 writes its authenticated request (67) before the self-signed certificate: skipped.
  while (!rest.empty() &&
         (rest[0] == (cvc::kCertificate >> 8) || rest[0] == cvc::kAuthenticatedRequest)) {
    auto t = parse_tlv(rest);
    if (!t)
      break;
    if (t->tag == cvc::kAuthenticatedRequest) {
      rest = rest.subspan(t->whole.size());
      continue;
    }
    auto names = cv_names(*t);
    if (!names)
      break;
    certs.push_back(std::move(*names));
    rest = rest.subspan(t->whole.size());
  }
  if (certs.empty())
    return std::nullopt;
  const CvNames& device = certs.front();
  return device.car != device.chr || certs.size() > 1;
}

// One VERIFY with data, reported to request.after_verify before anything else is sent (also
// when the VERIFY failed without an answer: the value may have reached the device).
Result<VerifyOutcome> verify_and_report(SmartCardHsm& hsm, const ObserveRequest& request,
                                        PinRef ref, std::size_t i) {
  const auto& value =
      ref == PinRef::kSo ? request.so_pin_candidates[i] : request.user_pin_candidates[i];
  auto out = hsm.verify_detailed(ref, value);
  if (request.after_verify) {
    const bool accepted = out && out->result == VerifyResult::kOk;
    HSMCTL_TRY(request.after_verify(ref, i, accepted));
  }
  return out;
}

Result<void> observe_objects(SmartCardHsm& hsm, model::ObservedPico& o) {
  const int first_apdu = hsm.transport().wire_apdus();
  HSMCTL_TRY_ASSIGN(ObjectList objects, hsm.enumerate_objects());
  o.key_count = objects.private_keys();
  if (o.attestation_checked) {
    // Read before the VERIFYs for the attestation check: not again.
    if (o.device_certificate_file)
      o.device_certificate_pki = device_certificate_is_pki(*o.device_certificate_file);
  } else if (auto ef = hsm.read_ef(kEfDeviceCertificate); !ef) {
    if (is_fatal(ef.error()))
      return tl::unexpected(ef.error());
  } else if (*ef) {
    o.device_certificate_pki = device_certificate_is_pki(**ef);
    o.device_certificate_file = **ef;
    if (auto chain = hsmctl::cvc::parse_elements(**ef))
      o.device_certificate_chain = std::move(*chain);
  }
  o.objects_read = true;
  o.apdu_count += hsm.transport().wire_apdus() - first_apdu;
  return {};
}

Result<model::ObservedPico> observe(SmartCardHsm& hsm, const ObserveRequest& request) {
  // Counted where APDUs meet the wire: GET RESPONSE and resent commands included.
  const int first_apdu = hsm.transport().wire_apdus();
  model::ObservedPico o;
  o.transport = hsm.transport().describe();

  // 1. SELECT: options, version, Pico or not. Also logs out whatever session existed.
  HSMCTL_TRY_ASSIGN(SelectInfo sel, hsm.select());
  o.options = sel.options;
  o.firmware_major = sel.firmware_major;
  o.firmware_minor = sel.firmware_minor;
  o.is_pico = sel.device_type == kDeviceTypePico;
  if (request.check_select)
    HSMCTL_TRY(request.check_select(sel));

  // 2. Chip serial from TokenInfo: firmware-generated, readable on a fresh device too. Right
  //    after SELECT, as the by-serial probe reads it: a card chosen by that probe answers both
  //    from its record (device/probed_transport.hpp) instead of on the wire.
  if (auto ef = hsm.read_ef(kEfTokenInfo); !ef) {
    if (is_fatal(ef.error()))
      return tl::unexpected(ef.error());
  } else if (*ef) {
    o.serial = parse_token_info_serial(**ef).value_or("");
  }
  if (!request.expected_serial.empty() && o.serial != request.expected_serial) {
    // Checked before any VERIFY with data: a PIN is never sent to the wrong device.
    return make_error(Errc::kRefused, o.transport + " holds device " +
                                          (o.serial.empty() ? "(serial unreadable)" : o.serial) +
                                          ", not " + request.expected_serial +
                                          " as the manifest names");
  }

  // 2b. Device attestation: the certificate file is checked before any credential is sent.
  bool credentials_barred = false;
  if (request.check_attestation) {
    if (auto ef = hsm.read_ef(kEfDeviceCertificate); !ef) {
      if (is_fatal(ef.error()))
        return tl::unexpected(ef.error());
    } else if (*ef) {
      o.device_certificate_file = **ef;
      if (auto chain = hsmctl::cvc::parse_elements(**ef))
        o.device_certificate_chain = std::move(*chain);
    }
    o.attestation_checked = true;
    o.attestation_failure = request.check_attestation(o.device_certificate_file);
    credentials_barred = !o.attestation_failure.empty();
  }

  // 3. PIN status queries (free: no data, never cost a try).
  HSMCTL_TRY_ASSIGN(o.user_pin, hsm.pin_status(PinRef::kUser));
  HSMCTL_TRY_ASSIGN(o.so_pin, hsm.pin_status(PinRef::kSo));
  o.initialized =
      o.so_pin.state != PinState::kNotInitialized || o.user_pin.state != PinState::kNotInitialized;

  if (!o.initialized) {
    // Nothing else exists on a never-initialized device: no domains, no PKA, no objects.
    o.user_pin_check.check = CredentialCheck::kNotApplicable;
    o.so_pin_check.check = CredentialCheck::kNotApplicable;
    o.apdu_count = hsm.transport().wire_apdus() - first_apdu;
    return o;
  }

  // 4. Public key authentication status.
  HSMCTL_TRY_ASSIGN(o.pka, hsm.pka_status());
  if (o.pka && request.read_pka_slots) {
    // Registration fills the first free slot, but read on past an empty one (a replaced or
    // otherwise odd table) until every registered key was seen.
    const int registered = o.pka->total - o.pka->missing;
    int seen = 0;
    for (int i = 0; i < o.pka->total && seen < registered; ++i) {
      HSMCTL_TRY_ASSIGN(auto slot, hsm.pka_slot(i));
      if (slot) {
        o.pka->slots.push_back(std::move(*slot));
        ++seen;
      }
    }
    o.pka->slots_read = true;
  }

  // 5. Credential checks, SO PIN first: any VERIFY with data drops earlier sessions, so doing the
  //    user PIN last leaves the user session open for the KCV reads and lets the re-SELECT that
  //    reads the retry maximum double as the final logout.
  bool session_open = false;
  bool user_verified = false;
  int tries_before_verify = -1;  // the user counter just before the VERIFY that decided
  int so_own = request.so_own_failures;
  for (std::size_t i = 0;; ++i) {
    const bool has = !credentials_barred && i < request.so_pin_candidates.size();
    if (auto why = so_pin_precheck(o.so_pin, o.is_pico && request.so_verify, has, so_own)) {
      if (i == 0)
        o.so_pin_check.check = *why;  // after a mismatch it stays kMismatch
      break;
    }
    if (request.before_verify)
      HSMCTL_TRY(request.before_verify(PinRef::kSo, i));
    HSMCTL_TRY_ASSIGN(VerifyOutcome out, verify_and_report(hsm, request, PinRef::kSo, i));
    session_open = record_verify(out, o.so_pin, o.so_pin_check);
    if (o.so_pin_check.check == CredentialCheck::kMatches) {
      o.so_pin_check.matched_candidate = static_cast<int>(i);
      break;
    }
    if (o.so_pin_check.check != CredentialCheck::kMismatch)
      break;
    o.so_pin_check.rejected_candidates.push_back(static_cast<int>(i));
    ++so_own;
  }

  int user_own = request.user_own_failures;
  std::size_t user_matched = 0;
  const bool reset_instead =
      request.user_pin_reset_preferred && o.so_pin_check.check == CredentialCheck::kMatches &&
      (o.options & model::kOptResetRetryCounter) != 0 && o.user_pin.state == PinState::kTriesLeft;
  for (std::size_t i = 0; !reset_instead; ++i) {
    const bool has = !credentials_barred && i < request.user_pin_candidates.size();
    if (auto why = user_pin_precheck(o.user_pin, has, request.expected_pin_retries, user_own)) {
      if (i == 0)
        o.user_pin_check.check = *why;
      break;
    }
    if (request.before_verify)
      HSMCTL_TRY(request.before_verify(PinRef::kUser, i));
    tries_before_verify = o.user_pin.tries_left;
    HSMCTL_TRY_ASSIGN(VerifyOutcome out, verify_and_report(hsm, request, PinRef::kUser, i));
    user_verified = record_verify(out, o.user_pin, o.user_pin_check);
    // Any VERIFY with data dropped the SO session, whatever its outcome.
    session_open = user_verified;
    if (o.user_pin_check.check == CredentialCheck::kMatches) {
      o.user_pin_check.matched_candidate = static_cast<int>(i);
      user_matched = i;
      break;
    }
    if (o.user_pin_check.check != CredentialCheck::kMismatch)
      break;
    o.user_pin_check.rejected_candidates.push_back(static_cast<int>(i));
    ++user_own;
  }

  if (reset_instead)
    o.user_pin_check.check = CredentialCheck::kNotChecked;

  // 6. Key domains until 6A86 (or 6B00: no table). In a PIN/SO session the KCVs are real.
  for (int i = 0; i < kMaxKeyDomainSlots; ++i) {
    HSMCTL_TRY_ASSIGN(auto st, hsm.key_domain_status(i));
    if (!st)
      break;
    o.key_domains.push_back(std::move(*st));
  }

  // 7. Objects and the device certificate.
  if (request.read_objects)
    HSMCTL_TRY(observe_objects(hsm, o));

  // 8. Log out. After a successful user VERIFY the counter equals the configured maximum; the
  //    re-SELECT both ends the session and makes the status query answer 63Cx instead of 9000.
  if (user_verified && request.recorded_pin_retries &&
      tries_before_verify == *request.recorded_pin_retries) {
    // The counter showed the recorded maximum before a VERIFY that succeeded: no status query.
    // (A device re-initialized elsewhere with a larger maximum and exactly that many failures
    // would read wrong here once; its next plan sees the full counter and reads it back.)
    o.pin_retries_max = *request.recorded_pin_retries;
    o.user_pin = {PinState::kTriesLeft, *request.recorded_pin_retries};
    if (!request.keep_session)
      HSMCTL_TRY(hsm.select());
  } else if (user_verified) {
    HSMCTL_TRY(hsm.select());
    HSMCTL_TRY_ASSIGN(o.user_pin, hsm.pin_status(PinRef::kUser));
    if (o.user_pin.state == PinState::kTriesLeft)
      o.pin_retries_max = o.user_pin.tries_left;
    if (request.keep_session) {
      // The value matched a moment ago in this exclusive session, so this cannot cost a try.
      HSMCTL_TRY_ASSIGN(VerifyResult again,
                        hsm.verify(PinRef::kUser, request.user_pin_candidates[user_matched]));
      if (again != VerifyResult::kOk) {
        return make_error(Errc::kDevice, o.transport +
                                             ": the user PIN that matched a moment ago was "
                                             "rejected on the session re-open");
      }
    }
  } else if (session_open && !request.keep_session) {
    HSMCTL_TRY(hsm.select());
  }

  o.apdu_count = hsm.transport().wire_apdus() - first_apdu;
  return o;
}

}  // namespace hsmctl::device::schsm
