// SPDX-License-Identifier: Apache-2.0
#pragma once
// What observation learned about a live Pico HSM. Produced by device/schsm/observe, consumed by
// the pure planner. "Unknown" is explicit: optional fields are unset when the device cannot
// reveal them without a credential hsmctl was not allowed to try.

#include "hsmctl/util/bytes.hpp"
#include "hsmctl/util/cvc.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hsmctl::model {

/// Result of the VERIFY status query (no data) for a PIN reference.
struct PinStatus {
  enum class State {
    kNotInitialized,  ///< 6A88
    kTriesLeft,       ///< 63Cx
    kBlocked,         ///< 6983
    kTransport,       ///< 6984 (user PIN in transport state)
    kVerified,        ///< 9000 (verified in this session)
  };
  State state = State::kNotInitialized;
  int tries_left = -1;  ///< set for kTriesLeft
};

/// Whether a credential hsmctl holds matches the device, and why it may not have been checked.
enum class CredentialCheck {
  kNotChecked,     ///< no candidate value was available
  kMatches,        ///< VERIFY answered 9000
  kMismatch,       ///< VERIFY answered 63Cx/6983 (one try was spent)
  kSkippedUnsafe,  ///< not tried: the retry counter shows failures or too few tries left
  kNotApplicable,  ///< device not initialized, PIN blocked, or transport state
};

struct CredentialObservation {
  CredentialCheck check = CredentialCheck::kNotChecked;
  /// Which candidate matched (index into the candidate list given to observe), if any.
  std::optional<int> matched_candidate;
  /// Candidates the device rejected (one try each), in the order they were tried.
  std::vector<int> rejected_candidates;
};

struct KeyDomainStatus {
  int index = 0;
  bool set_up = false;   ///< false: 6A88 (domain exists but not set up)
  int total_shares = 0;  ///< 0 with set_up = domain without DKEK
  int outstanding_shares = 0;
  Bytes kcv;  ///< 8 bytes; all zero unless a PIN session existed
  bool has_xkek = false;
};

/// One registered public key (INS 54 P1=02).
struct PkaSlot {
  int index = 0;
  Bytes chr;                   ///< the key's certificate holder reference
  bool authenticated = false;  ///< 9001: authenticated in this session
};

struct PkaStatus {
  int total = 0;
  int missing = 0;
  int required = 0;
  int authenticated = 0;
  /// The registered keys, read only when asked (ObserveRequest::read_pka_slots) and some are
  /// registered; `slots_read` says whether they were.
  std::vector<PkaSlot> slots{};
  bool slots_read = false;
};

struct ObservedPico {
  std::string transport;  ///< "sim:/tmp/x.json", "pcsc:Virtual PCD 00 00"
  std::string serial;     ///< chip ID, 16 upper-case hex digits; empty if unreadable
  int firmware_major = 0;
  int firmware_minor = 0;
  bool is_pico = false;      ///< tag 85 byte 2 == 0xFF
  bool initialized = false;  ///< SO PIN status is not 6A88
  std::uint16_t options = 0;

  PinStatus user_pin;
  PinStatus so_pin;
  /// Configured user-PIN retry maximum: known only after a successful VERIFY (re-SELECT and
  /// query), or inferred as at least tries_left otherwise.
  std::optional<int> pin_retries_max;
  CredentialObservation user_pin_check;
  CredentialObservation so_pin_check;

  /// Key domains 0..n-1 as reported by INS 52 status until 6A86.
  std::vector<KeyDomainStatus> key_domains;
  std::optional<PkaStatus> pka;  ///< unset when INS 54 answers 6A86 (PKA not configured)

  /// Number of private keys (CC xx objects) found by ENUMERATE OBJECTS; 0 unless objects_read.
  int key_count = 0;
  /// ENUMERATE OBJECTS and EF 2F02 were read (only when a plan needs them: re-initialization).
  bool objects_read = false;
  /// EF 2F02 holds a PKI-issued chain (true), a self-signed certificate (false), or unreadable.
  std::optional<bool> device_certificate_pki;

  /// EF 2F02 as read (only when read: objects_read, or device attestation asked); unset when
  /// not read or absent. Its elements when it parsed (empty otherwise).
  std::optional<Bytes> device_certificate_file;
  std::vector<cvc::Element> device_certificate_chain;
  /// Device attestation was checked (ObserveRequest::check_attestation), before any VERIFY.
  bool attestation_checked = false;
  /// Why the device failed attestation (which certificate, what failed); then no VERIFY with
  /// data was sent and the plan is blocked. Empty when it passed or was not checked.
  std::string attestation_failure;
  /// How far trust reaches when it passed ("self-signed ESPICOHSMTR00001", ...).
  std::string attestation_summary;

  /// APDUs sent during observation (for the benchmark and -v output).
  int apdu_count = 0;
};

}  // namespace hsmctl::model
