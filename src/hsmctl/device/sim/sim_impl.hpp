// SPDX-License-Identifier: Apache-2.0
#pragma once
// Private to device/sim: the simulator's internals shared by its .cpp files, one per command
// group (sim_card.cpp: facade, transport, dispatch, persistence; sim_files.cpp; sim_pins.cpp;
// sim_kek.cpp; sim_initialize.cpp; sim_key_domains.cpp; sim_pka.cpp; sim_keys.cpp;
// sim_signature.cpp; sim_extras.cpp; sim_cvc.cpp). Nothing outside src/hsmctl/device/sim includes
// this header but tests/unit/device/schsm/constants_parity_test.cpp (its constants ==
// device/schsm/protocol.hpp).
// Behaviour follows pico-hsm (src/hsm/cmd_*.c, sc_hsm.c, kek.c) and pico-keys-sdk (apdu.c,
// fs/file.c, rescue.c) at v6.6 as summarised in docs/simulator.md; comments name the firmware
// function a block mirrors and say where the simulator deliberately differs.

#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/device/sim/sim_crypto.hpp"
#include "hsmctl/device/sim/sim_state.hpp"
#include "hsmctl/util/atomic_file.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace hsmctl::device::sim::detail {

inline constexpr std::uint8_t kHsmAid[] = {0xE8, 0x2B, 0x06, 0x01, 0x04, 0x01,
                                           0x81, 0xC3, 0x1F, 0x02, 0x01};
inline constexpr std::uint8_t kRescueAid[] = {0xA0, 0x58, 0x3F, 0xC1, 0x9B, 0x7E, 0x4F, 0x21};
inline constexpr char kSelfSignedChr[] = "ESPICOHSMTR00001";
inline constexpr char kDeviceLabel[] = "ESPICOHSMTR";
inline constexpr std::uint32_t kFreeMemory = 0x00100000;  // emulation build heapLeft()
inline constexpr std::uint8_t kPlatformEmulation = 3;
inline constexpr std::uint8_t kProductHsm = 1;
// id-TA-ECDSA-SHA-256 (BSI TR-03110).
inline constexpr std::uint8_t kOidEcdsaSha256[] = {0x04, 0x00, 0x7F, 0x00, 0x07,
                                                   0x02, 0x02, 0x02, 0x02, 0x03};

// Status words (pico-keys-sdk apdu.h). SW_WRONG_DATA is 6700 on Pico, like wrong length.
inline constexpr std::uint16_t kSwOk = 0x9000;
inline constexpr std::uint16_t kSwEof = 0x6282;
inline constexpr std::uint16_t kSwExecError = 0x6400;
inline constexpr std::uint16_t kSwWrongLength = 0x6700;
inline constexpr std::uint16_t kSwWrongData = 0x6700;
inline constexpr std::uint16_t kSwSecurity = 0x6982;
inline constexpr std::uint16_t kSwBlocked = 0x6983;
inline constexpr std::uint16_t kSwDataInvalid = 0x6984;
inline constexpr std::uint16_t kSwConditions = 0x6985;
inline constexpr std::uint16_t kSwNotAllowed = 0x6986;
inline constexpr std::uint16_t kSwFuncNotSupported = 0x6A81;
inline constexpr std::uint16_t kSwFileNotFound = 0x6A82;
inline constexpr std::uint16_t kSwFileFull = 0x6A84;
inline constexpr std::uint16_t kSwIncorrectP1P2 = 0x6A86;
inline constexpr std::uint16_t kSwRefNotFound = 0x6A88;
inline constexpr std::uint16_t kSwFileExists = 0x6A89;
inline constexpr std::uint16_t kSwWrongP1P2 = 0x6B00;
inline constexpr std::uint16_t kSwInsNotSupported = 0x6D00;
inline constexpr std::uint16_t kSwClaNotSupported = 0x6E00;
/// [SC-HSM] INITIALIZE with a wrong initialization code (SO-PIN). UNCONFIRMED: the plan chose
/// 6982; OpenSC's sc_hsm_initialize() turns SC_ERROR_NOT_ALLOWED (6900/6985/6986 in iso7816.c)
/// into "PIN incorrect", which hints that the real card answers one of those. One place to change.
inline constexpr std::uint16_t kSwWrongInitCode = kSwSecurity;

inline constexpr std::uint16_t kFidTermCa = 0x2F02;
inline constexpr std::uint16_t kFidEeDev = 0xCE00;
inline constexpr std::uint16_t kFidPrkdDev = 0xC400;
inline constexpr std::uint16_t kFidKeyDev = 0xCC00;

struct Apdu {
  std::uint8_t cla = 0, ins = 0, p1 = 0, p2 = 0;
  Bytes data;
  std::size_t ne = 0;
};

struct Reply {
  Bytes data;
  std::uint16_t sw = kSwOk;
  /// Handlers that set apdu.ne themselves (rescue SELECT, key generation) bypass chaining.
  bool no_chaining = false;
};

inline Reply status(std::uint16_t sw) {
  return Reply{{}, sw, false};
}
inline Reply ok(Bytes data) {
  return Reply{std::move(data), kSwOk, false};
}
inline Bytes u16(std::uint16_t v) {
  return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}
inline Bytes str_bytes(const std::string& s) {
  return Bytes(s.begin(), s.end());
}
bool starts_with(ByteView data, ByteView prefix);

/// pico-keys-sdk apdu_process(): the firmware's lenient APDU parser. nullopt when Lc claims more
/// data than present (the firmware would read past the buffer; the simulator answers 6700).
std::optional<Apdu> parse_apdu(ByteView raw);

// ---- CV certificates and PKCS#15 descriptors (sim_cvc.cpp) -----------------------------------

/// 7F49 public key; with domain parameters as the firmware writes them (cvc.c), else OID + point.
Bytes cv_public_key(const Bytes& point, bool with_domain_parameters,
                    crypto::Curve curve = crypto::Curve::kP256);
/// 7F4E certificate body; `full` adds the firmware's fixed role and dates.
Bytes cv_body(const std::string& car, const Bytes& public_key, const std::string& chr, bool full);
/// 7F21 { body, 5F37 signature-by-signer(body) }.
std::optional<Bytes> cv_certificate(const Bytes& body, const crypto::EcKeyPair& signer);
/// 67 { certificate, 42 outer CAR, 5F37 outer signature } (authenticated request).
std::optional<Bytes> cv_authenticated_request(const Bytes& certificate,
                                              const std::string& outer_car,
                                              const crypto::EcKeyPair& outer_signer);
/// A field (5F20 CHR, 42 CAR) of the body of a CV certificate or (authenticated) request;
/// empty if absent.
Bytes cv_field(ByteView data, std::uint32_t tag);
Bytes cv_chr(ByteView data);
/// PKCS#15 PrivateECKey descriptor (what OpenSC's sc_pkcs15_decode_prkdf_entry expects).
Bytes ec_prkd(const std::string& label, const Bytes& id, int field_bits);
crypto::EcKeyPair key_pair(const SimKey& k);

// ---- Static file table (pico-hsm files.c; sim_files.cpp) --------------------------------------

enum class FileKind : std::uint8_t { kDf, kWorking, kInternal };
struct StaticFile {
  std::uint16_t fid;
  FileKind kind;
  bool readable;  // ACL read: ACL_ALL / ACL_RO / ACL_R_WP vs ACL_NONE
};
const StaticFile* find_static(std::uint16_t fid);
/// Files INITIALIZE does not wipe (device certificate, request, PrKD).
bool persistent_file(std::uint16_t fid);

struct FileView {
  bool exists = false;
  bool readable = false;
  bool generated = false;
  FileKind kind = FileKind::kWorking;
  std::optional<Bytes> data;  // nullopt = no data
};

enum class MkekResult { kOk, kNoLogin, kError };

/// What INITIALIZE's tags 92 (DKEK shares) and 97 (key domains) asked for.
struct InitializeLayout {
  std::optional<std::uint8_t> dkeks;
  std::optional<std::uint8_t> key_domains;
};

}  // namespace hsmctl::device::sim::detail

namespace hsmctl::device::sim {

struct SimCard::Impl {
  using Apdu = detail::Apdu;
  using Reply = detail::Reply;
  using FileView = detail::FileView;
  using MkekResult = detail::MkekResult;

  SimState state;
  std::string path;  // empty = in memory
  bool exclusive = false;
  /// A lose_write_after_answer fault fired: the card has no power until power_cycle().
  bool powered_off = false;
  std::optional<FileLock> lock;
  std::string last_saved;

  // ---- PIN verifiers, session keys, MKEK and DKEK wrapping (sim_kek.cpp, sim_pins.cpp) -----
  static Bytes verifier(const Bytes& salt, ByteView pin) { return crypto::sha256(salt, pin); }
  Bytes session_key(ByteView pin) const;
  static Bytes keystream(const char* label, ByteView key, ByteView extra = {});
  static Bytes xor_bytes(ByteView a, ByteView b);
  static void set_pin(SimPin& pin, ByteView value);
  static bool pin_matches(const SimPin& pin, ByteView value);
  MkekResult load_mkek(Bytes& mkek) const;
  MkekResult store_mkek(const std::optional<Bytes>& mkek_in);
  static Bytes dkek_stream(const Bytes& mkek, int domain);
  MkekResult save_dkek(int domain, const std::optional<Bytes>& key);
  Bytes dkek_kcv(int domain) const;
  std::uint16_t check_pin(bool so, ByteView value);

  // ---- Device identity (sim_cvc.cpp) ----------------------------------------------------------
  bool create_device_identity();
  bool install_pki_chain(const std::string& chr, const std::string& dv_chr,
                         const std::string& ca_chr);
  /// A fresh device of `flavour` (a SmartCard-HSM with its production identity).
  void manufacture(const Bytes& serial, SimFlavour flavour);
  bool smartcard_hsm() const { return state.smartcard_hsm(); }

  // ---- Files (sim_files.cpp) --------------------------------------------------------------------
  Bytes reported_serial() const;
  Bytes token_info() const;
  static Bytes ef_dir();
  FileView lookup(std::uint16_t fid) const;
  Bytes fcp(std::uint16_t fid, const FileView& v) const;
  Bytes applet_fcp() const;
  Reply cmd_select(const Apdu& a);
  Reply cmd_list_keys();
  Reply cmd_read_binary(const Apdu& a);
  Reply cmd_update_ef(const Apdu& a);
  Reply cmd_delete_file(const Apdu& a);

  // ---- Dispatch (sim_card.cpp) ------------------------------------------------------------------
  void reset_security();
  Reply select_application(const Apdu& a);
  Reply dispatch(const Apdu& a);

  // ---- PINs (sim_pins.cpp) ----------------------------------------------------------------------
  Reply cmd_verify(const Apdu& a);
  Reply cmd_change_pin(const Apdu& a);
  Reply cmd_reset_retry(const Apdu& a);
  Reply reset_retry_set_pin(const Apdu& a);       // P1 00 / 02
  Reply reset_retry_counter_only(const Apdu& a);  // P1 01 / 03

  // ---- INITIALIZE (sim_initialize.cpp) ----------------------------------------------------------
  void wipe();
  Reply cmd_initialize(const Apdu& a);
  std::uint16_t check_initialization_code(ByteView data);
  detail::InitializeLayout apply_initialize_tags(ByteView data);
  bool build_key_domain_table(const detail::InitializeLayout& layout);

  // ---- Key domains / DKEK (sim_key_domains.cpp) -------------------------------------------------
  Reply cmd_key_domain(const Apdu& a);
  Reply import_dkek_share(const Apdu& a);
  Reply change_key_domain(const Apdu& a);  // P1 01 set up, 03 delete, 04 clear
  Reply key_domain_status(std::uint8_t domain) const;

  // ---- PKA, challenge, MSE and EXTERNAL AUTHENTICATE (sim_pka.cpp)
  // ----------------------------------------------------------
  Reply cmd_puk_auth(const Apdu& a);
  Reply cmd_challenge(const Apdu& a);
  Reply cmd_mse(const Apdu& a);
  Reply cmd_external_authenticate(const Apdu& a);

  // ---- Keys (sim_keys.cpp) ----------------------------------------------------------------------
  Reply cmd_keypair_gen(const Apdu& a);

  // ---- Signatures (sim_signature.cpp) -----------------------------------------------------------
  Reply cmd_signature(const Apdu& a);

  // ---- Vendor extras and the rescue applet (sim_extras.cpp) -------------------------------------
  Reply cmd_extras(const Apdu& a);
  Reply rescue(const Apdu& a);

  // ---- Transport-level processing (sdk apdu.c) and persistence (sim_card.cpp) -------------------
  Bytes process(ByteView raw);
  Bytes get_response(const Apdu& a);
  Result<void> reload_if_changed();
  Result<void> save_if_changed();
};

}  // namespace hsmctl::device::sim
