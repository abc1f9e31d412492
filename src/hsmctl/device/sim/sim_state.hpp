// SPDX-License-Identifier: Apache-2.0
#pragma once
// The state of one simulated Pico HSM: what the firmware keeps in flash (persistent, written to
// the `sim:PATH` JSON file) and what it keeps in RAM (volatile, lost on power_cycle()).
// Field names follow the firmware's files (pico-hsm src/hsm/files.h) where one exists.
// Secrets: PINs are stored only as salted SHA-256 verifiers; the master key (MKEK) only wrapped
// under keys derived from the PINs, and DKEKs only wrapped under the MKEK (except the firmware's
// own plaintext-accumulator window, see docs/simulator.md).

#include "hsmctl/util/bytes.hpp"
#include "hsmctl/util/error.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hsmctl::device::sim {

/// Firmware version reported by SELECT tag 85, INITIALIZE-without-data and the rescue applet.
inline constexpr std::uint8_t kFirmwareMajor = 6;
inline constexpr std::uint8_t kFirmwareMinor = 6;
/// Version of the JSON state file format.
inline constexpr int kStateFormatVersion = 1;

/// Device options bits (EF 0x100E, SELECT tag 85 bytes 0-1).
inline constexpr std::uint16_t kOptRrc = 0x0001;
inline constexpr std::uint16_t kOptTransportPin = 0x0002;
inline constexpr std::uint16_t kOptReplacePka = 0x0008;
inline constexpr std::uint16_t kOptCombinedAuth = 0x0010;
inline constexpr std::uint16_t kOptRrcResetOnly = 0x0020;
inline constexpr std::uint16_t kOptButton = 0x0100;
inline constexpr std::uint16_t kOptKeyCounter = 0x0200;
inline constexpr std::uint16_t kOptSecureLock = 0x0400;

/// Which device the simulator plays. Persisted as "flavour" in the state file; a file without it
/// is a Pico HSM (every file written before the field existed).
enum class SimFlavour : std::uint8_t {
  kPicoHsm,       ///< Pico HSM firmware v6.6 (the default; docs/simulator.md)
  kSmartCardHsm,  ///< CardContact SmartCard-HSM / Nitrokey HSM 2, second-hand (UNCONFIRMED)
};

/// One PIN reference (EF 0x1081..0x1083 for the user PIN, 0x1088..0x108A for the SO-PIN).
struct SimPin {
  /// Stored PIN length; 0 = "not initialized" (VERIFY status 6A88). CHANGE REFERENCE DATA and
  /// RESET RETRY COUNTER split their data with it.
  int length = 0;
  Bytes salt;      ///< 16 random bytes, renewed on every change
  Bytes verifier;  ///< SHA-256(salt || PIN)
  int retries = 3;
  int max_retries = 3;
};

/// The MKEK wrapped under a key derived from one PIN (EF 0x100A user, 0x100B SO).
struct WrappedMkek {
  Bytes wrapped;  ///< 32 bytes
  Bytes check;    ///< first 4 bytes of SHA-256(MKEK): the firmware's CRC check
};

/// Key-domain DKEK file (EF 0x1090 + domain).
struct SimDkek {
  /// 32 bytes, or empty (file created by INITIALIZE tag 92 before any share). While `wrapped`
  /// is false this is the firmware's plaintext XOR accumulator (shares still outstanding, or
  /// completion pending a PIN session).
  Bytes value;
  bool wrapped = false;
};

/// A key object the simulator knows (EF CCxx plus its meta data).
struct SimKey {
  Bytes private_scalar;  ///< 32 bytes; simulator-only, never returned by any APDU
  Bytes public_point;    ///< 65 bytes, uncompressed
  int domain = 0;        ///< meta tag 92; 0 when absent (as the firmware reads it)
  /// P-256 for generated keys; secp256k1 for the device key (CC00) as on v6.6. State files
  /// written before the field existed hold P-256 keys only.
  bool secp256k1 = false;
};

/// Switches for known firmware defects, default off.
struct SimDefects {
  /// v6.6: INITIALIZE answers 6400 (after wiping and re-personalising) whenever it has to
  /// create a new device key (freshly flashed device, or PIN/SO-PIN differ from the stored
  /// ones with no session); re-running it in the same session succeeds.
  bool initialize_6400_first_attempt = false;
  /// The emulation build (what section 13 of pico-hsm.md observed): TokenInfo (EF 2F03) and the
  /// rescue applet report the chip serial as 0000000000000000 on every device.
  bool emulation_zero_serial = false;
};

/// Injected faults (test switches, persisted so they reach `sim:PATH` and hsmctl-vcard).
struct SimFaults {
  /// "Power lost before the deferred flash write": the firmware answers first and writes flash
  /// from its main loop afterwards. The next command with one of these INS bytes that answers
  /// 9000 is answered, then the power fails: its persistent effect is lost (the state reverts to
  /// what it was before the command), the RAM state is gone and the card answers nothing until
  /// power_cycle(). Each entry fires once and is then removed.
  std::vector<std::uint8_t> lose_write_after_answer;
};

/// What lives in flash.
struct SimPersistent {
  SimFlavour flavour = SimFlavour::kPicoHsm;
  Bytes serial = Bytes(8, 0);  ///< 8-byte chip ID
  /// EF 0x100E; nullopt = never written (reads as 0000).
  std::optional<std::uint16_t> options;
  SimPin user;
  SimPin so{0, {}, {}, 15, 15};
  std::optional<WrappedMkek> mkek_user;  ///< persistent: survives INITIALIZE
  std::optional<WrappedMkek> mkek_so;    ///< persistent: survives INITIALIZE
  /// EF 0x10A0: (total shares, imported shares) per domain; FF FF = not set up. An absent table
  /// (fresh device) and an empty one (tag 97 = 0) both make every INS 52 answer 6B00.
  std::vector<std::pair<std::uint8_t, std::uint8_t>> key_domains;
  std::map<int, SimDkek> dkeks;  ///< by domain index
  /// EF 0x10C0: total, missing, required, 00. nullopt = PKA not configured.
  std::optional<std::array<std::uint8_t, 4>> pka;
  std::vector<Bytes> puk_slots;  ///< registered CV requests; empty Bytes = free slot
  /// Keys by key id (CC00 is the device key).
  std::map<int, SimKey> keys;
  /// Elementary files with data, by FID (2F02, CE00, C400, C4xx, CExx, C8xx, ...).
  std::map<std::uint16_t, Bytes> files;
  /// Incremented every time a new device key (and self-signed certificate) is created.
  int device_key_generation = 0;
  /// CHR of the device certificate in EF 2F02 ("ESPICOHSMTR00001" when self-signed).
  std::string device_chr;
  /// True when EF 2F02 holds a PKI-issued chain (installed by a test helper).
  bool device_cert_pki = false;
  /// Number of simulated BOOTSEL presses (press-to-confirm is modelled as always pressed).
  int button_presses = 0;
  /// SmartCard-HSM only: VERIFY of the SO-PIN with data, refused (6982) and counted here so
  /// tests can prove a provisioner never sent one (the SO-PIN cannot log in on SC-HSM).
  int so_verify_attempts = 0;
  /// SmartCard-HSM only: CHANGE REFERENCE DATA of the user PIN has left the transport-PIN state
  /// (option 0x0002 stays in EF 0x100E; VERIFY no longer answers 6984). INITIALIZE clears it.
  bool transport_pin_left = false;
  SimDefects defects;
  SimFaults faults;
};

/// What lives in RAM; dropped by power_cycle().
struct SimVolatile {
  enum class App { kNone, kHsm, kRescue };
  App app = App::kNone;
  bool has_session_pin = false;
  bool has_session_sopin = false;
  Bytes session_pin_key;    ///< key derived from the user PIN of this session
  Bytes session_sopin_key;  ///< key derived from the SO-PIN of this session
  bool user_authenticated = false;
  bool secure_lock_unlocked = false;         ///< has_mkek_mask (secure-lock unlock not emulated)
  std::array<std::uint8_t, 8> puk_status{};  ///< per-slot PKA authenticated flags
  /// PKA slot MSE SET AT selected for EXTERNAL AUTHENTICATE (the firmware's ef_puk_aut).
  std::optional<std::size_t> puk_aut_slot;
  /// Currently selected EF; 0x0000 = the applet entry (no data).
  std::optional<std::uint16_t> current_ef;
  std::optional<int> pending_save_dkek;  ///< domain whose DKEK awaits a PIN session
  Bytes chain_buffer;                    ///< command chaining (CLA bit 0x10)
  bool chaining = false;
  Bytes pending_response;  ///< response data not yet fetched with GET RESPONSE
  std::uint16_t pending_sw = 0;
  Bytes challenge;
};

struct SimState {
  SimPersistent persistent;
  SimVolatile session;

  /// A fresh, never-initialized device with the given 8-byte serial (the device identity a
  /// SmartCard-HSM carries from production is added by SimCard, which can sign it).
  static SimState fresh(const Bytes& serial, SimFlavour flavour = SimFlavour::kPicoHsm);
  /// The persistent part as JSON text (the `sim:PATH` file format, docs/simulator.md).
  std::string to_json() const;
  /// Parses a state file; Errc::kUnavailable naming `origin` for corrupt or unknown versions.
  static Result<SimPersistent> persistent_from_json(const std::string& text,
                                                    const std::string& origin);
  std::uint16_t options() const { return persistent.options.value_or(0); }
  bool pka_enabled() const { return persistent.pka && (*persistent.pka)[0] > 0; }
  bool smartcard_hsm() const { return persistent.flavour == SimFlavour::kSmartCardHsm; }
};

}  // namespace hsmctl::device::sim
