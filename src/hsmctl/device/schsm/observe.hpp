// SPDX-License-Identifier: Apache-2.0
#pragma once
// Observation of a Pico HSM with the fewest APDUs and without ever spending a PIN try on a guess.
//
// Rules (documented in docs/observation.md):
// - status queries (SELECT tag 85, VERIFY without data, INS 52/54 status, READ BINARY, ENUMERATE)
//   are free and always sent;
// - a VERIFY with data is sent only with a candidate value the caller provides (store or manifest),
//   each candidate at most once, in order, and only while the retry counter shows no failed
//   attempt other than hsmctl's own recorded ones (user PIN: tries_left >= 2 and tries_left ==
//   expected_retries, or == expected_retries - own failures; SO PIN: 15, or 14 when hsmctl's own
//   recorded failure explains the missing try);
// - after a successful user-PIN VERIFY the retry maximum is read back by re-SELECT + status.
// The session ends logged out (a final re-SELECT) unless keep_session is set.

#include "hsmctl/device/schsm/smartcard_hsm.hpp"
#include "hsmctl/model/limits.hpp"
#include "hsmctl/model/observed.hpp"
#include "hsmctl/util/secret.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace hsmctl::device::schsm {

struct ObserveRequest {
  /// Candidate values, most likely first and all distinct; tried in order while the rules above
  /// allow, until one matches.
  std::vector<Secret> user_pin_candidates;
  std::vector<Secret> so_pin_candidates;
  /// Failed VERIFYs hsmctl itself made (recorded in the store) since the PIN's last success: a
  /// counter short by exactly these is not someone else's failure.
  int user_own_failures = 0;
  int so_own_failures = 0;
  /// Called right before each VERIFY with data (PIN, candidate index), so the caller can record
  /// the attempt durably first; an error stops observation before the VERIFY is sent.
  std::function<Result<void>(PinRef, std::size_t)> before_verify;
  /// Called right after each VERIFY with data, before anything else is sent, with whether the
  /// device accepted the value (false also when no answer came), so the caller can make a
  /// failure durable at once; an error stops observation.
  std::function<Result<void>(PinRef, std::size_t, bool accepted)> after_verify;
  /// The retry maximum the manifest expects; used for the "no failed attempts" rule.
  int expected_pin_retries = model::kDefaultPinRetries;
  /// The retry maximum hsmctl recorded when it last verified or set the user PIN. When the
  /// counter before a successful VERIFY equals it, it is taken as the maximum without the
  /// re-SELECT + status query (2 APDUs; the re-SELECT is still sent when it is the logout).
  std::optional<int> recorded_pin_retries;
  /// Skip the user-PIN VERIFYs when an SO-PIN candidate matched and the device allows RESET
  /// RETRY COUNTER (option 0x0001): the caller will set the user PIN with the SO PIN instead of
  /// risking a try on a value in doubt. user_pin_check is then kNotChecked.
  bool user_pin_reset_preferred = false;
  /// Read EF 2F02 / ENUMERATE OBJECTS. A plan needs them only when it re-initializes (what
  /// would be lost): families::schsm_engine::prepare reads them later with observe_objects() in
  /// that case.
  bool read_objects = true;
  /// Read the CHR of each registered PKA key (INS 54 P1=02 per slot, free) when the device
  /// reports some registered: set when the manifest lists key files to compare. A device with
  /// none registered costs no APDU more.
  bool read_pka_slots = false;
  /// When set, observe() fails with Errc::kRefused (before any VERIFY with data) if the
  /// device's chip serial differs: a PIN must never be sent to the wrong device.
  std::string expected_serial;
  /// Called with the SELECT answer before any VERIFY (a family refusing a device of another
  /// family); an error stops observation.
  std::function<Result<void>(const SelectInfo&)> check_select;
  /// VERIFY of the SO PIN with data may be sent. False (SmartCard-HSM: the SO PIN cannot log
  /// in, and its tries are never restored): never, so_pin_check is kNotApplicable. The free SO
  /// status query is sent either way. (A device that does not report tag 85 type FF is never
  /// sent one either.)
  bool so_verify = true;
  /// Device attestation (spec.device.attestation): when set, EF 2F02 is read right after the
  /// serial check, before the PIN status queries and any VERIFY, and this is called with what
  /// was read (unset: the file is absent). It returns why the device fails (empty: it passes);
  /// a failing device gets no VERIFY with data at all (both checks kNotChecked) and
  /// attestation_failure says why. observe_objects() then does not read the file again.
  std::function<std::string(const std::optional<Bytes>& ef_2f02)> check_attestation;
  /// Leave the session authenticated instead of logging out at the end, for an apply that
  /// continues in the same card session (call inside Transport::begin_exclusive()). If the user
  /// PIN matched, it is VERIFYed once more after the retry maximum was read (the value just
  /// matched, so this costs no try); if only the SO PIN matched, its session is left open.
  bool keep_session = false;
};

/// Observes the device behind `hsm`. Leaves the applet selected and logged out (unless
/// `keep_session`).
/// Transport failures (kUnavailable) and unexpected status words (kDevice) are errors; a
/// TokenInfo or device certificate that cannot be read or parsed only leaves `serial` empty /
/// `device_certificate_pki` unset.
Result<model::ObservedPico> observe(SmartCardHsm& hsm, const ObserveRequest& request);

/// ENUMERATE OBJECTS and EF 2F02 (no credential needed): sets key_count,
/// device_certificate_pki and objects_read.
Result<void> observe_objects(SmartCardHsm& hsm, model::ObservedPico& observed);

/// Classifies the content of EF 2F02 (a concatenation of CV certificates 7F21, on v6.6 preceded by
/// the device's authenticated request 67, which is skipped): true when the
/// device certificate was issued by a PKI (its CAR differs from its CHR, or a DV certificate
/// follows), false when it is self-signed (CAR == CHR, alone); nullopt when it is not a CV
/// certificate at all.
std::optional<bool> device_certificate_is_pki(ByteView ef_2f02);

}  // namespace hsmctl::device::schsm
