// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/device/sim/sim_card.hpp"

#include "hsmctl/device/sim/sim_crypto.hpp"
#include "hsmctl/device/sim/sim_state.hpp"
#include "hsmctl/device/sim/sim_tlv.hpp"
#include "hsmctl/util/atomic_file.hpp"

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sstream>

// Behaviour below follows pico-hsm (src/hsm/cmd_*.c, sc_hsm.c, kek.c) and pico-keys-sdk
// (apdu.c, fs/file.c, rescue.c) at v6.6 as summarised in docs/simulator.md; comments name the
// firmware function a block mirrors and say where the simulator deliberately differs.

namespace hsmctl::device::sim {
namespace {

constexpr std::uint8_t kHsmAid[] = {0xE8, 0x2B, 0x06, 0x01, 0x04, 0x01,
                                    0x81, 0xC3, 0x1F, 0x02, 0x01};
constexpr std::uint8_t kRescueAid[] = {0xA0, 0x58, 0x3F, 0xC1, 0x9B, 0x7E, 0x4F, 0x21};
constexpr char kSelfSignedChr[] = "ESPICOHSMTR00001";
constexpr char kDeviceLabel[] = "ESPICOHSMTR";
constexpr std::uint32_t kFreeMemory = 0x00100000;  // emulation build heapLeft()
constexpr std::uint8_t kPlatformEmulation = 3;
constexpr std::uint8_t kProductHsm = 1;
// id-TA-ECDSA-SHA-256 and id-TA-RSA-v1-5-SHA-256 (BSI TR-03110).
constexpr std::uint8_t kOidEcdsaSha256[] = {0x04, 0x00, 0x7F, 0x00, 0x07,
                                            0x02, 0x02, 0x02, 0x02, 0x03};

// Status words (pico-keys-sdk apdu.h). SW_WRONG_DATA is 6700 on Pico, like wrong length.
constexpr std::uint16_t kSwOk = 0x9000;
constexpr std::uint16_t kSwEof = 0x6282;
constexpr std::uint16_t kSwExecError = 0x6400;
constexpr std::uint16_t kSwWrongLength = 0x6700;
constexpr std::uint16_t kSwWrongData = 0x6700;
constexpr std::uint16_t kSwSecurity = 0x6982;
constexpr std::uint16_t kSwBlocked = 0x6983;
constexpr std::uint16_t kSwDataInvalid = 0x6984;
constexpr std::uint16_t kSwConditions = 0x6985;
constexpr std::uint16_t kSwNotAllowed = 0x6986;
constexpr std::uint16_t kSwFuncNotSupported = 0x6A81;
constexpr std::uint16_t kSwFileNotFound = 0x6A82;
constexpr std::uint16_t kSwFileFull = 0x6A84;
constexpr std::uint16_t kSwIncorrectP1P2 = 0x6A86;
constexpr std::uint16_t kSwRefNotFound = 0x6A88;
constexpr std::uint16_t kSwFileExists = 0x6A89;
constexpr std::uint16_t kSwWrongP1P2 = 0x6B00;
constexpr std::uint16_t kSwInsNotSupported = 0x6D00;
constexpr std::uint16_t kSwClaNotSupported = 0x6E00;

constexpr std::uint16_t kFidTermCa = 0x2F02;
constexpr std::uint16_t kFidEeDev = 0xCE00;
constexpr std::uint16_t kFidPrkdDev = 0xC400;
constexpr std::uint16_t kFidKeyDev = 0xCC00;

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

Reply status(std::uint16_t sw) {
  return Reply{{}, sw, false};
}
Reply ok(Bytes data) {
  return Reply{std::move(data), kSwOk, false};
}

Bytes u16(std::uint16_t v) {
  return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}

// pico-keys-sdk apdu_process(): the firmware's lenient APDU parser. nullopt when Lc claims more
// data than present (the firmware would read past the buffer; the simulator answers 6700).
std::optional<Apdu> parse_apdu(ByteView raw) {
  if (raw.size() < 4) {
    return std::nullopt;
  }
  Apdu a;
  a.cla = raw[0];
  a.ins = raw[1];
  a.p1 = raw[2];
  a.p2 = raw[3];
  if (raw.size() == 4) {
    a.ne = 256;
  } else if (raw.size() == 5) {
    a.ne = raw[4] == 0 ? 256 : raw[4];
  } else if (raw[4] == 0 && raw.size() >= 7) {
    if (raw.size() == 7) {
      std::size_t le = (static_cast<std::size_t>(raw[5]) << 8) | raw[6];
      a.ne = le == 0 ? 65536 : le;
    } else {
      std::size_t nc = (static_cast<std::size_t>(raw[5]) << 8) | raw[6];
      if (7 + nc > raw.size()) {
        return std::nullopt;
      }
      a.data.assign(raw.begin() + 7, raw.begin() + 7 + static_cast<std::ptrdiff_t>(nc));
      if (nc + 9 == raw.size()) {
        std::size_t le = (static_cast<std::size_t>(raw[raw.size() - 2]) << 8) | raw.back();
        a.ne = le == 0 ? 65536 : le;
      }
    }
  } else {
    std::size_t nc = raw[4];
    if (5 + nc > raw.size()) {
      return std::nullopt;
    }
    a.data.assign(raw.begin() + 5, raw.begin() + 5 + static_cast<std::ptrdiff_t>(nc));
    if (nc + 6 == raw.size()) {
      a.ne = raw.back() == 0 ? 256 : raw.back();
    }
  }
  return a;
}

bool starts_with(ByteView data, ByteView prefix) {
  return data.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), data.begin());
}

Bytes str_bytes(const std::string& s) {
  return Bytes(s.begin(), s.end());
}

// ---- CV certificates (BSI TR-03110 layout, as pico-hsm's cvc.c builds them) ----------------

// Big-endian integer without leading zero bytes, as mbedtls_mpi_write_binary(x, mpi_size(x))
// writes it; zero becomes one 00 byte (asn1_cvc_public_key_ecdsa writes "82 01 00" for the
// A = 0 of secp256k1).
Bytes minimal_integer(const Bytes& v) {
  auto first = std::find_if(v.begin(), v.end(), [](std::uint8_t b) { return b != 0; });
  if (first == v.end()) {
    return Bytes{0x00};
  }
  return Bytes(first, v.end());
}

// cvc.c asn1_cvc_public_key_ecdsa(): 7F49 { 06 id-TA-ECDSA-SHA-256, 81 p, 82 A, 83 B, 84 G,
// 85 order, 86 point, 87 cofactor }. A and B are written at their integer size (P-256: full 32
// bytes; secp256k1: 82 01 00, 83 01 07). Without domain parameters: OID and point only (the form
// CV certificates issued by a PKI use).
Bytes cv_public_key(const Bytes& point, bool with_domain_parameters,
                    crypto::Curve curve = crypto::Curve::kP256) {
  Bytes inner;
  tlv::put(inner, 0x06, kOidEcdsaSha256);
  if (with_domain_parameters) {
    const auto& d = crypto::curve_params(curve);
    tlv::put(inner, 0x81, d.p);
    tlv::put(inner, 0x82, minimal_integer(d.a));
    tlv::put(inner, 0x83, minimal_integer(d.b));
    tlv::put(inner, 0x84, d.g);
    tlv::put(inner, 0x85, d.n);
    tlv::put(inner, 0x86, point);
    tlv::put(inner, 0x87, d.h);
  } else {
    tlv::put(inner, 0x86, point);
  }
  return tlv::make(0x7F49, inner);
}

// cvc.c asn1_cvc_cert_body(): 7F4E { 5F29 00, 42 CAR, 7F49 key, 5F20 CHR [, 7F4C role, 5F25
// effective date, 5F24 expiration date] }. The "full" form (certificates, not requests) carries
// the firmware's fixed role (CHAT: OID id-AT 0.4.0.127.0.7.3.1.2.2, discretionary data 53 01 00)
// and its fixed dates 2023-03-21 .. 2070-12-31 (one BCD digit per byte, YYMMDD).
Bytes cv_body(const std::string& car, const Bytes& public_key, const std::string& chr, bool full) {
  Bytes body;
  tlv::put(body, 0x5F29, Bytes{0x00});
  tlv::put(body, 0x42, str_bytes(car));
  body.insert(body.end(), public_key.begin(), public_key.end());
  tlv::put(body, 0x5F20, str_bytes(chr));
  if (full) {
    tlv::put(
        body, 0x7F4C,
        Bytes{0x06, 0x09, 0x04, 0x00, 0x7F, 0x00, 0x07, 0x03, 0x01, 0x02, 0x02, 0x53, 0x01, 0x00});
    tlv::put(body, 0x5F25, Bytes{0x02, 0x03, 0x00, 0x03, 0x02, 0x01});  // 2023-03-21
    tlv::put(body, 0x5F24, Bytes{0x07, 0x00, 0x01, 0x02, 0x03, 0x01});  // 2070-12-31
  }
  return tlv::make(0x7F4E, body);
}

// 7F21 { body, 5F37 signature-by-signer(body) }.
std::optional<Bytes> cv_certificate(const Bytes& body, const crypto::EcKeyPair& signer) {
  auto sig = crypto::sign_ec(signer, body);
  if (!sig) {
    return std::nullopt;
  }
  Bytes inner = body;
  tlv::put(inner, 0x5F37, *sig);
  return tlv::make(0x7F21, inner);
}

// 67 { certificate, 42 outer CAR, 5F37 outer signature } (authenticated request).
std::optional<Bytes> cv_authenticated_request(const Bytes& certificate,
                                              const std::string& outer_car,
                                              const crypto::EcKeyPair& outer_signer) {
  Bytes inner = certificate;
  tlv::put(inner, 0x42, str_bytes(outer_car));
  auto sig = crypto::sign_ec(outer_signer, inner);
  if (!sig) {
    return std::nullopt;
  }
  tlv::put(inner, 0x5F37, *sig);
  return tlv::make(0x67, inner);
}

// A field (5F20 CHR, 42 CAR) of the body of a CV certificate or (authenticated) request;
// empty if absent.
Bytes cv_field(ByteView data, std::uint32_t tag) {
  ByteView cur = data;
  for (int depth = 0; depth < 4; ++depth) {
    auto items = tlv::parse(cur);
    if (items.empty()) {
      return {};
    }
    if (items[0].tag == 0x7F4E) {
      auto v = tlv::find(items[0].value, tag);
      return v ? Bytes(v->begin(), v->end()) : Bytes{};
    }
    if (items[0].tag != 0x67 && items[0].tag != 0x7F21) {
      return {};
    }
    cur = items[0].value;
  }
  return {};
}

Bytes cv_chr(ByteView data) {
  return cv_field(data, 0x5F20);
}

// PKCS#15 PrivateECKey descriptor (what OpenSC's sc_pkcs15_decode_prkdf_entry expects).
Bytes ec_prkd(const std::string& label, const Bytes& id, int field_bits) {
  Bytes common_object;
  tlv::put(common_object, 0x0C, str_bytes(label));
  Bytes common_key;
  tlv::put(common_key, 0x04, id);
  tlv::put(common_key, 0x03, Bytes{0x07, 0x20, 0x80});  // sign, derive
  Bytes ec_attr;
  tlv::put(ec_attr, 0x30, tlv::make(0x04, Bytes{}));  // empty path
  tlv::put(
      ec_attr, 0x02,
      Bytes{static_cast<std::uint8_t>(field_bits >> 8), static_cast<std::uint8_t>(field_bits)});
  Bytes body;
  tlv::put(body, 0x30, common_object);
  tlv::put(body, 0x30, common_key);
  tlv::put(body, 0xA1, tlv::make(0x30, ec_attr));
  return tlv::make(0xA0, body);
}

crypto::EcKeyPair key_pair(const SimKey& k) {
  return {k.private_scalar, k.public_point,
          k.secp256k1 ? crypto::Curve::kSecp256k1 : crypto::Curve::kP256};
}

// ---- Static file table (pico-hsm files.c) ----------------------------------------------------

enum class FileKind : std::uint8_t { kDf, kWorking, kInternal };
struct StaticFile {
  std::uint16_t fid;
  FileKind kind;
  bool readable;  // ACL read: ACL_ALL / ACL_RO / ACL_R_WP vs ACL_NONE
};
constexpr StaticFile kStaticFiles[] = {
    {0x3F00, FileKind::kDf, true},
    {0x2F00, FileKind::kWorking, true},
    {0x2F01, FileKind::kWorking, true},
    {kFidTermCa, FileKind::kWorking, true},
    {0x2F03, FileKind::kWorking, true},
    {0x5015, FileKind::kDf, true},
    {0x5031, FileKind::kWorking, true},
    {0x5032, FileKind::kWorking, true},
    {0x5033, FileKind::kWorking, true},
    {0x1081, FileKind::kInternal, false},
    {0x1082, FileKind::kInternal, false},
    {0x1083, FileKind::kInternal, false},
    {0x1088, FileKind::kInternal, false},
    {0x1089, FileKind::kInternal, false},
    {0x108A, FileKind::kInternal, false},
    {0x100E, FileKind::kInternal, false},
    {0x6040, FileKind::kWorking, true},
    {0x6041, FileKind::kWorking, true},
    {0x6042, FileKind::kWorking, true},
    {0x6043, FileKind::kWorking, true},
    {0x6044, FileKind::kWorking, true},
    {0x6045, FileKind::kWorking, true},
    {0x10A0, FileKind::kInternal, false},
    {0x10C0, FileKind::kInternal, false},
    {kFidKeyDev, FileKind::kInternal, false},
    {kFidPrkdDev, FileKind::kInternal, true},
    {kFidEeDev, FileKind::kInternal, true},
    {0x100A, FileKind::kInternal, false},
    {0x100B, FileKind::kInternal, false},
};

const StaticFile* find_static(std::uint16_t fid) {
  for (const auto& f : kStaticFiles) {
    if (f.fid == fid) {
      return &f;
    }
  }
  return nullptr;
}

bool persistent_file(std::uint16_t fid) {
  return fid == kFidTermCa || fid == kFidEeDev || fid == kFidPrkdDev;
}

enum class MkekResult { kOk, kNoLogin, kError };

}  // namespace

struct SimCard::Impl {
  SimState state;
  std::string path;  // empty = in memory
  bool exclusive = false;
  /// A lose_write_after_answer fault fired: the card has no power until power_cycle().
  bool powered_off = false;
  std::optional<FileLock> lock;
  std::string last_saved;

  // ---- PIN verifiers, session keys, MKEK and DKEK wrapping (sc_hsm.c, kek.c) ----------------

  static Bytes verifier(const Bytes& salt, ByteView pin) { return crypto::sha256(salt, pin); }

  // The firmware's session_pin: a deterministic per-device hash of the PIN (hash_multi).
  Bytes session_key(ByteView pin) const {
    Bytes prefix = str_bytes("hsmctl-sim-session");
    prefix.insert(prefix.end(), state.persistent.serial.begin(), state.persistent.serial.end());
    return crypto::sha256(prefix, pin);
  }

  static Bytes keystream(const char* label, ByteView key, ByteView extra = {}) {
    Bytes input = str_bytes(label);
    input.insert(input.end(), key.begin(), key.end());
    input.insert(input.end(), extra.begin(), extra.end());
    return crypto::sha256(input);
  }

  static Bytes xor_bytes(ByteView a, ByteView b) {
    Bytes out(a.begin(), a.end());
    for (std::size_t i = 0; i < out.size() && i < b.size(); ++i) {
      out[i] ^= b[i];
    }
    return out;
  }

  static void set_pin(SimPin& pin, ByteView value) {
    pin.length = static_cast<int>(value.size() & 0xFF);
    pin.salt = crypto::random_bytes(16);
    pin.verifier = verifier(pin.salt, value);
  }

  static bool pin_matches(const SimPin& pin, ByteView value) {
    if (pin.verifier.size() != 32) {
      return false;
    }
    Bytes v = verifier(pin.salt, value);
    unsigned diff = 0;
    for (std::size_t i = 0; i < 32; ++i) {
      diff |= static_cast<unsigned>(v[i] ^ pin.verifier[i]);
    }
    return diff == 0;
  }

  // kek.c load_mkek(): the user-PIN blob takes precedence; no fallback to the SO blob when it
  // fails to unwrap.
  MkekResult load_mkek(Bytes& mkek) const {
    const SimVolatile& s = state.session;
    const SimPersistent& p = state.persistent;
    if (!s.has_session_pin && !s.has_session_sopin) {
      return MkekResult::kNoLogin;
    }
    const WrappedMkek* blob = nullptr;
    const Bytes* key = nullptr;
    if (s.has_session_pin && p.mkek_user) {
      blob = &*p.mkek_user;
      key = &s.session_pin_key;
    } else if (s.has_session_sopin && p.mkek_so) {
      blob = &*p.mkek_so;
      key = &s.session_sopin_key;
    }
    if (blob == nullptr) {
      return MkekResult::kError;
    }
    mkek = xor_bytes(blob->wrapped, keystream("mkek", *key));
    Bytes check = crypto::sha256(mkek);
    check.resize(4);
    if (check != blob->check) {
      return MkekResult::kError;
    }
    return MkekResult::kOk;
  }

  // kek.c store_mkek(): wraps under every session that exists; a random MKEK when none given.
  MkekResult store_mkek(const std::optional<Bytes>& mkek_in) {
    SimVolatile& s = state.session;
    if (!s.has_session_pin && !s.has_session_sopin) {
      return MkekResult::kNoLogin;
    }
    Bytes mkek = mkek_in ? *mkek_in : crypto::random_bytes(32);
    Bytes check = crypto::sha256(mkek);
    check.resize(4);
    if (s.has_session_pin) {
      state.persistent.mkek_user =
          WrappedMkek{xor_bytes(mkek, keystream("mkek", s.session_pin_key)), check};
    }
    if (s.has_session_sopin) {
      state.persistent.mkek_so =
          WrappedMkek{xor_bytes(mkek, keystream("mkek", s.session_sopin_key)), check};
    }
    return MkekResult::kOk;
  }

  static Bytes dkek_stream(const Bytes& mkek, int domain) {
    return keystream("dkek", mkek, Bytes{static_cast<std::uint8_t>(domain)});
  }

  // kek.c save_dkek_key(): wraps the stored accumulator (or `key`) with the MKEK.
  MkekResult save_dkek(int domain, const std::optional<Bytes>& key) {
    auto it = state.persistent.dkeks.find(domain);
    if (it == state.persistent.dkeks.end()) {
      return MkekResult::kError;
    }
    Bytes plain = key ? *key : it->second.value;
    if (plain.size() != 32) {
      plain.resize(32, 0);
    }
    Bytes mkek;
    MkekResult r = load_mkek(mkek);
    if (r != MkekResult::kOk) {
      return r;
    }
    it->second.value = xor_bytes(plain, dkek_stream(mkek, domain));
    it->second.wrapped = true;
    return MkekResult::kOk;
  }

  // kek.c dkek_kcv(): zeros unless the DKEK file exists and the MKEK can be loaded. A value still
  // stored as plaintext is "decrypted" anyway, exactly like the firmware, giving a wrong KCV.
  Bytes dkek_kcv(int domain) const {
    Bytes kcv(8, 0);
    auto it = state.persistent.dkeks.find(domain);
    if (it == state.persistent.dkeks.end() || it->second.value.size() != 32) {
      return kcv;
    }
    Bytes mkek;
    if (load_mkek(mkek) != MkekResult::kOk) {
      return kcv;
    }
    Bytes plain = xor_bytes(it->second.value, dkek_stream(mkek, domain));
    Bytes h = crypto::sha256(plain);
    std::copy(h.begin(), h.begin() + 8, kcv.begin());
    return kcv;
  }

  // sc_hsm.c check_pin(): drops every session first; a wrong value costs a try.
  std::uint16_t check_pin(bool so, ByteView value) {
    SimPin& pin = so ? state.persistent.so : state.persistent.user;
    SimVolatile& s = state.session;
    bool pka = state.pka_enabled();
    if (!pka) {
      s.user_authenticated = false;
    }
    s.has_session_pin = s.has_session_sopin = false;
    s.session_pin_key.clear();
    s.session_sopin_key.clear();
    if (pin.length == 0 || !pin_matches(pin, value)) {
      if (pin.retries > 0) {
        pin.retries -= 1;
        if (pin.retries == 0) {
          return kSwBlocked;
        }
        return static_cast<std::uint16_t>(0x63C0 | (pin.retries & 0xFF));
      }
      return kSwBlocked;
    }
    if (pin.retries == 0) {
      return kSwBlocked;
    }
    pin.retries = pin.max_retries;
    if (!pka) {
      s.user_authenticated = true;
    }
    if (so) {
      s.session_sopin_key = session_key(value);
      s.has_session_sopin = true;
    } else {
      s.session_pin_key = session_key(value);
      s.has_session_pin = true;
    }
    if (s.pending_save_dkek) {
      save_dkek(*s.pending_save_dkek, std::nullopt);
      s.pending_save_dkek.reset();
    }
    return kSwOk;
  }

  // ---- Device identity ------------------------------------------------------------------------

  // cmd_initialize.c (v6.6): a new device key on secp256k1 (the emulation and RP2350/ESP32
  // builds derive it from OTP; elsewhere the firmware uses P-256), then
  //   EF CE00 = asn1_cvc_aut(): 67 { 7F21 { body without role/dates, signed by the key }, 42 outer
  //             CAR, 5F37 outer signature by the device key }. The outer CAR is the firmware's
  //             dev_name, still unset when INITIALIZE runs, so it is empty (42 00);
  //   EF 2F02 = that request followed by asn1_cvc_cert(full): the self-signed certificate with
  //             role and dates (CAR == CHR == "ESPICOHSMTR00001"). 798 bytes in all, as observed;
  //   EF C400 = PrKD of the device key.
  bool create_device_identity() {
    auto key = crypto::generate_ec(crypto::Curve::kSecp256k1);
    if (!key) {
      return false;
    }
    const Bytes pub = cv_public_key(key->public_point, true, crypto::Curve::kSecp256k1);
    auto req_cert = cv_certificate(cv_body(kSelfSignedChr, pub, kSelfSignedChr, false), *key);
    auto cert = cv_certificate(cv_body(kSelfSignedChr, pub, kSelfSignedChr, true), *key);
    if (!cert || !req_cert) {
      return false;
    }
    auto request = cv_authenticated_request(*req_cert, "", *key);
    if (!request) {
      return false;
    }
    SimPersistent& p = state.persistent;
    p.keys[0] = SimKey{key->private_scalar, key->public_point, 0, true};
    Bytes termca = *request;
    termca.insert(termca.end(), cert->begin(), cert->end());
    p.files[kFidTermCa] = termca;
    p.files[kFidEeDev] = *request;
    p.files[kFidPrkdDev] = ec_prkd(kDeviceLabel, Bytes(20, 0), 256);
    p.device_chr = kSelfSignedChr;
    p.device_cert_pki = false;
    p.device_key_generation += 1;
    return true;
  }

  // ---- Generated files ------------------------------------------------------------------------

  // The chip serial as TokenInfo and the rescue applet report it: all zeros on the emulation
  // build (defects.emulation_zero_serial), the chip ID otherwise.
  Bytes reported_serial() const {
    if (state.persistent.defects.emulation_zero_serial) {
      return Bytes(8, 0);
    }
    return state.persistent.serial;
  }

  // sc_hsm.c parse_token_info(): PKCS#15 TokenInfo built by the firmware on every read.
  Bytes token_info() const {
    Bytes body;
    tlv::put(body, 0x02, Bytes{kFirmwareMajor});
    tlv::put(body, 0x04, reported_serial());
    tlv::put(body, 0x0C, str_bytes("Pol Henarejos"));
    tlv::put(body, 0x80, str_bytes("Pico-HSM"));
    tlv::put(body, 0x03, Bytes{0x04, 0x30});
    return tlv::make(0x30, body);
  }

  // EF.DIR with the one application (content UNCONFIRMED, see docs/simulator.md).
  static Bytes ef_dir() {
    Bytes body;
    tlv::put(body, 0x4F, kHsmAid);
    tlv::put(body, 0x50, str_bytes("Pico-HSM"));
    return tlv::make(0x61, body);
  }

  struct FileView {
    bool exists = false;
    bool readable = false;
    bool generated = false;
    FileKind kind = FileKind::kWorking;
    std::optional<Bytes> data;  // nullopt = no data
  };

  FileView lookup(std::uint16_t fid) const {
    FileView v;
    const SimPersistent& p = state.persistent;
    if (fid == 0x0000) {  // the applet entry selected by SELECT AID
      v.exists = true;
      v.readable = true;
      return v;
    }
    if (const StaticFile* sf = find_static(fid)) {
      v.exists = true;
      v.readable = sf->readable;
      v.kind = sf->kind;
      if (fid == 0x2F00) {
        v.generated = true;
        v.data = ef_dir();
      } else if (fid == 0x2F03) {
        v.generated = true;
        v.data = token_info();
      } else if (fid == kFidKeyDev) {
        if (p.keys.count(0)) {
          v.data = Bytes(p.keys.at(0).private_scalar.size(), 0);
        }
      } else if (auto it = p.files.find(fid); it != p.files.end()) {
        v.data = it->second;
      }
      return v;
    }
    if ((fid >> 8) == 0xCC) {
      // Key objects: the firmware stores them MKEK-encrypted and (by a bug) lets them be read;
      // the simulator never returns key material and answers 6982 instead.
      if (p.keys.count(fid & 0xFF)) {
        v.exists = true;
        v.kind = FileKind::kWorking;
        v.data = Bytes(32, 0);
      }
      return v;
    }
    if (auto it = p.files.find(fid); it != p.files.end()) {
      v.exists = true;
      v.readable = true;
      v.data = it->second;
    }
    return v;
  }

  // sdk fs/file.c process_fci(): FCP template.
  Bytes fcp(std::uint16_t fid, const FileView& v) const {
    Bytes body;
    std::size_t size = v.data ? v.data->size() : 0;
    tlv::put(body, 0x81, u16(static_cast<std::uint16_t>(size)));
    std::uint8_t type = v.kind == FileKind::kDf         ? 0x38
                        : v.kind == FileKind::kInternal ? 0x08
                                                        : 0x01;
    tlv::put(body, 0x82, Bytes{type});
    tlv::put(body, 0x83, u16(fid));
    tlv::put(body, 0x8A, Bytes{0x05});
    return tlv::make(0x62, body);
  }

  // The observed v6.6 SELECT-AID answer: tag 84 carries the AID shifted by one byte plus a stray
  // byte (firmware copy offset bug), tag 85 = options, FF, major, minor.
  Bytes applet_fcp() const {
    Bytes body;
    tlv::put(body, 0x81, Bytes{0x00, 0x00});
    tlv::put(body, 0x82, Bytes{0x01});
    tlv::put(body, 0x83, Bytes{0x00, 0x00});
    Bytes name(std::begin(kHsmAid) + 1, std::end(kHsmAid));
    name.push_back(0x30);
    tlv::put(body, 0x84, name);
    tlv::put(body, 0x8A, Bytes{0x05});
    std::uint16_t o = state.options();
    tlv::put(body, 0x85,
             Bytes{static_cast<std::uint8_t>(o >> 8), static_cast<std::uint8_t>(o), 0xFF,
                   kFirmwareMajor, kFirmwareMinor});
    return tlv::make(0x62, body);
  }

  // ---- Command dispatch -----------------------------------------------------------------------

  void reset_security() {  // sc_hsm.c init_sc_hsm() / sc_hsm_unload()
    SimVolatile& s = state.session;
    s.has_session_pin = s.has_session_sopin = false;
    s.session_pin_key.clear();
    s.session_sopin_key.clear();
    s.user_authenticated = false;
    s.puk_status.fill(0);
    s.challenge.clear();
    s.secure_lock_unlocked = false;
  }

  // sdk apdu.c process_apdu(): SELECT by AID is handled before the applet sees the command.
  Reply select_application(const Apdu& a) {
    SimVolatile& s = state.session;
    std::size_t n = a.data.size();
    bool hsm = std::equal(
        a.data.begin(), a.data.begin() + static_cast<std::ptrdiff_t>(std::min(n, sizeof(kHsmAid))),
        kHsmAid);
    bool rescue =
        !hsm &&
        std::equal(a.data.begin(),
                   a.data.begin() + static_cast<std::ptrdiff_t>(std::min(n, sizeof(kRescueAid))),
                   kRescueAid);
    if (hsm) {
      // Re-select or switch: either way init_sc_hsm() resets all security state.
      reset_security();
      s.app = SimVolatile::App::kHsm;
      s.current_ef = 0x0000;
      // init_sc_hsm() runs cmd_select(), which only finds the DF by its full 11-byte name.
      if (n != sizeof(kHsmAid)) {
        return ok({});
      }
      return ok(applet_fcp());
    }
    if (rescue) {
      reset_security();  // unload of the HSM applet
      s.app = SimVolatile::App::kRescue;
      Bytes r{kPlatformEmulation, kProductHsm, kFirmwareMajor, kFirmwareMinor};
      const Bytes serial = reported_serial();
      r.insert(r.end(), serial.begin(), serial.end());
      Reply reply = ok(r);
      reply.no_chaining = true;
      return reply;
    }
    return status(kSwFileNotFound);
  }

  Reply dispatch(const Apdu& a) {
    if (a.ins == 0xA4 && a.p1 == 0x04 && (a.p2 == 0x00 || a.p2 == 0x04)) {
      return select_application(a);
    }
    switch (state.session.app) {
      case SimVolatile::App::kNone:
        return status(kSwFileNotFound);
      case SimVolatile::App::kRescue:
        return rescue(a);
      case SimVolatile::App::kHsm:
        break;
    }
    switch (a.ins) {
      case 0xA4:
        return cmd_select(a);
      case 0x58:
        return cmd_list_keys();
      case 0xB0:
      case 0xB1:
        return cmd_read_binary(a);
      case 0x20:
        return cmd_verify(a);
      case 0x2C:
        return cmd_reset_retry(a);
      case 0x84:
        return cmd_challenge(a);
      case 0x50:
        return cmd_initialize(a);
      case 0x52:
        return cmd_key_domain(a);
      case 0x46:
        return cmd_keypair_gen(a);
      case 0xD7:
        return cmd_update_ef(a);
      case 0xE4:
        return cmd_delete_file(a);
      case 0x24:
        return cmd_change_pin(a);
      case 0x64:
        return cmd_extras(a);
      case 0x54:
        return cmd_puk_auth(a);
      default:
        return status(kSwInsNotSupported);
    }
  }

  // sdk rescue.c (emulation build).
  Reply rescue(const Apdu& a) {
    if (a.cla != 0x80) {
      return status(kSwClaNotSupported);
    }
    switch (a.ins) {
      case 0x10:  // sign with the OTP attestation key: no OTP key on emulation
        if (a.data.empty()) {
          return status(kSwWrongLength);
        }
        return status(kSwInsNotSupported);
      case 0x1C:
        if (a.data.size() < 2) {
          return status(kSwWrongLength);
        }
        return ok({});
      case 0x1E: {
        if (!a.data.empty()) {
          return status(kSwWrongLength);
        }
        if (a.p1 == 0x02) {
          Bytes r;
          std::uint32_t used = 0, total = 0x100000, files = 0;
          for (std::uint32_t v : {total - used, used, total, files, total}) {
            r.push_back(static_cast<std::uint8_t>(v >> 24));
            r.push_back(static_cast<std::uint8_t>(v >> 16));
            r.push_back(static_cast<std::uint8_t>(v >> 8));
            r.push_back(static_cast<std::uint8_t>(v));
          }
          return ok(r);
        }
        if (a.p1 == 0x03) {
          return ok(Bytes{0x00, 0x00, 0xFF});
        }
        return ok({});
      }
      default:
        return status(kSwInsNotSupported);
    }
  }

  // cmd_select.c
  Reply cmd_select(const Apdu& a) {
    std::optional<std::uint16_t> target;
    FileView v;
    std::uint16_t fid = 0;
    if (a.data.size() == 2) {
      fid = static_cast<std::uint16_t>((a.data[0] << 8) | a.data[1]);
    }
    if (fid != 0) {
      v = lookup(fid);
      if (!v.exists) {
        return status(kSwFileNotFound);
      }
      target = fid;
    } else if (a.p1 == 0x00 && a.data.empty()) {
      target = 0x3F00;
      v = lookup(0x3F00);
    } else if (a.p1 == 0x04) {
      // By DF name inside the applet (only reached with P2 other than 00/04).
      if (a.data.size() != sizeof(kHsmAid) || !std::equal(a.data.begin(), a.data.end(), kHsmAid)) {
        return status(kSwFileNotFound);
      }
      target = 0x0000;
      v = lookup(0x0000);
    } else {
      return status(kSwFileNotFound);
    }
    if ((a.p2 & 0xFC) != 0x00 && (a.p2 & 0xFC) != 0x04) {
      return status(kSwIncorrectP1P2);
    }
    Bytes r = *target == 0x0000 ? applet_fcp() : fcp(*target, v);
    if (v.kind != FileKind::kDf) {
      state.session.current_ef = *target;
    }
    return ok(r);
  }

  // cmd_list_keys.c
  Reply cmd_list_keys() {
    const SimPersistent& p = state.persistent;
    Bytes r = {0xC4, 0x00, 0xCC, 0x00};
    for (const auto& [id, key] : p.keys) {
      if (id != 0) {
        r.insert(r.end(), {0xCC, static_cast<std::uint8_t>(id)});
      }
    }
    for (std::uint8_t prefix : {0xC4, 0xC8, 0xC9}) {
      for (const auto& [fid, data] : p.files) {
        if ((fid >> 8) == prefix && fid != kFidPrkdDev) {
          r.insert(r.end(), {prefix, static_cast<std::uint8_t>(fid & 0xFF)});
        }
      }
    }
    return ok(r);
  }

  // cmd_read_binary.c
  Reply cmd_read_binary(const Apdu& a) {
    std::optional<std::uint16_t> fid;
    std::size_t offset = 0;
    if ((a.ins & 0x01) == 0) {
      if ((a.p1 & 0x80) != 0) {
        return status(kSwFileNotFound);  // no short EF ids on Pico
      }
      offset = static_cast<std::size_t>(((a.p1 << 8) | a.p2) & 0x7FFF);
      fid = state.session.current_ef;
    } else {
      if (a.p1 == 0 && (a.p2 & 0xE0) == 0 && (a.p2 & 0x1F) != 0 && (a.p2 & 0x1F) != 0x1F) {
        return status(kSwFileNotFound);
      }
      std::uint16_t id = static_cast<std::uint16_t>((a.p1 << 8) | a.p2);
      if (id == 0) {
        fid = state.session.current_ef;
      } else {
        if (!lookup(id).exists) {
          return status(kSwFileNotFound);
        }
        fid = id;
      }
      if (a.data.size() < 2 || a.data[0] != 0x54 ||
          static_cast<std::size_t>(a.data[1]) + 2 > a.data.size()) {
        return status(kSwWrongData);
      }
      for (int d = 0; d < a.data[1]; ++d) {
        offset = (offset << 8) | a.data[2 + d];
      }
    }
    if (!fid) {
      return status(kSwFileNotFound);  // firmware: undefined (no current EF)
    }
    FileView v = lookup(*fid);
    if (!v.exists) {
      return status(kSwFileNotFound);
    }
    if (!v.readable) {
      return status(kSwSecurity);
    }
    if (!v.data) {
      return ok({});
    }
    const Bytes& data = *v.data;
    if (offset > data.size()) {
      return status(v.generated ? kSwWrongP1P2 : kSwEof);
    }
    return ok(Bytes(data.begin() + static_cast<std::ptrdiff_t>(offset), data.end()));
  }

  // cmd_verify.c
  Reply cmd_verify(const Apdu& a) {
    SimPersistent& p = state.persistent;
    SimVolatile& s = state.session;
    if (a.p1 != 0x00 || (a.p2 & 0x60) != 0) {
      return status(kSwWrongP1P2);
    }
    if (a.p2 == 0x81) {
      if (state.options() & kOptTransportPin) {
        return status(kSwDataInvalid);
      }
      if (s.has_session_pin && a.data.empty()) {
        return status(kSwOk);
      }
      if (p.user.length == 0 && !state.pka_enabled()) {
        return status(kSwRefNotFound);
      }
      if (!a.data.empty()) {
        return status(check_pin(false, a.data));
      }
      if (p.user.retries == 0) {
        return status(kSwBlocked);
      }
      return status(static_cast<std::uint16_t>(0x63C0 | p.user.retries));
    }
    if (a.p2 == 0x88) {
      if (p.so.length == 0) {
        return status(kSwRefNotFound);
      }
      if (!a.data.empty()) {
        return status(check_pin(true, a.data));
      }
      if (p.so.retries == 0) {
        return status(kSwBlocked);
      }
      if (s.has_session_sopin) {
        return status(kSwOk);
      }
      return status(static_cast<std::uint16_t>(0x63C0 | p.so.retries));
    }
    return status(kSwRefNotFound);
  }

  // cmd_change_pin.c
  Reply cmd_change_pin(const Apdu& a) {
    if (a.p1 != 0x00 || (a.p2 != 0x81 && a.p2 != 0x88)) {
      return status(kSwWrongP1P2);
    }
    bool so = a.p2 == 0x88;
    SimPin& pin = so ? state.persistent.so : state.persistent.user;
    std::size_t old_len = static_cast<std::size_t>(pin.length);
    if (a.data.size() <= old_len || a.data.size() - old_len > 16) {
      return status(kSwWrongLength);
    }
    std::uint16_t r = check_pin(so, ByteView(a.data).first(old_len));
    if (r != kSwOk) {
      return status(r);
    }
    Bytes mkek;
    if (load_mkek(mkek) != MkekResult::kOk) {
      return status(kSwExecError);
    }
    ByteView new_pin = ByteView(a.data).subspan(old_len);
    SimVolatile& s = state.session;
    if (so) {
      s.session_sopin_key = session_key(new_pin);
      s.has_session_sopin = true;
    } else {
      s.session_pin_key = session_key(new_pin);
      s.has_session_pin = true;
    }
    if (store_mkek(mkek) != MkekResult::kOk) {
      return status(kSwExecError);
    }
    set_pin(pin, new_pin);
    return status(kSwOk);
  }

  // cmd_reset_retry.c
  Reply cmd_reset_retry(const Apdu& a) {
    SimPersistent& p = state.persistent;
    SimVolatile& s = state.session;
    if (a.p2 != 0x81) {
      return status(kSwRefNotFound);
    }
    if (p.so.length == 0) {
      return status(kSwRefNotFound);
    }
    std::uint16_t opts = state.options();
    if (!(opts & kOptRrc)) {
      return status(kSwNotAllowed);
    }
    std::size_t so_len = static_cast<std::size_t>(p.so.length);
    if (a.p1 == 0x00 || a.p1 == 0x02) {
      ByteView new_pin;
      if (a.p1 == 0x00) {
        if (a.data.size() <= so_len + 1) {
          return status(kSwWrongLength);
        }
        std::uint16_t r = check_pin(true, ByteView(a.data).first(so_len));
        if (r != kSwOk) {
          return status(r);
        }
        new_pin = ByteView(a.data).subspan(so_len);
      } else {
        if (!s.has_session_sopin) {
          return status(kSwConditions);
        }
        if (a.data.size() > 16) {
          return status(kSwWrongLength);
        }
        new_pin = a.data;
      }
      set_pin(p.user, new_pin);
      p.user.retries = p.user.max_retries;
      Bytes mkek;
      if (load_mkek(mkek) != MkekResult::kOk) {
        return status(kSwExecError);
      }
      s.session_pin_key = session_key(new_pin);
      s.has_session_pin = true;
      if (store_mkek(mkek) != MkekResult::kOk) {
        return status(kSwExecError);
      }
      return status(kSwOk);
    }
    if (a.p1 == 0x01 || a.p1 == 0x03) {
      if (!(opts & kOptRrcResetOnly)) {
        return status(kSwNotAllowed);
      }
      if (a.p1 == 0x01) {
        if (a.data.size() != so_len) {
          return status(kSwWrongLength);
        }
        std::uint16_t r = check_pin(true, a.data);
        if (r != kSwOk) {
          return status(r);
        }
      } else {
        if (!s.has_session_sopin) {
          return status(kSwConditions);
        }
        if (!a.data.empty()) {
          return status(kSwWrongLength);
        }
      }
      p.user.retries = p.user.max_retries;
      return status(kSwOk);
    }
    return status(kSwIncorrectP1P2);
  }

  // cmd_challenge.c
  Reply cmd_challenge(const Apdu& a) {
    if (a.ne == 0 || a.ne > 256) {
      return status(kSwWrongLength);
    }
    Bytes r = crypto::random_bytes(a.ne);
    state.session.puk_status.fill(0);
    state.session.challenge = r;
    return ok(r);
  }

  // The non-persistent part of flash as the firmware truncates it (file_initialize_flash +
  // scan_files): PIN files back to "not initialized" with default counters.
  void wipe() {
    SimPersistent& p = state.persistent;
    p.user = SimPin{};
    p.so = SimPin{0, {}, {}, 15, 15};
    p.key_domains.clear();
    p.dkeks.clear();
    p.pka.reset();
    p.puk_slots.clear();
    for (auto it = p.keys.begin(); it != p.keys.end();) {
      it = it->first == 0 ? std::next(it) : p.keys.erase(it);
    }
    for (auto it = p.files.begin(); it != p.files.end();) {
      it = persistent_file(it->first) ? std::next(it) : p.files.erase(it);
    }
    state.session.pending_save_dkek.reset();
  }

  // cmd_initialize.c
  Reply cmd_initialize(const Apdu& a) {
    SimPersistent& p = state.persistent;
    SimVolatile& s = state.session;
    if (a.data.empty()) {  // free memory and version
      return ok(Bytes{
          static_cast<std::uint8_t>(kFreeMemory >> 24),
          static_cast<std::uint8_t>(kFreeMemory >> 16), static_cast<std::uint8_t>(kFreeMemory >> 8),
          static_cast<std::uint8_t>(kFreeMemory), 0x00, kFirmwareMajor, kFirmwareMinor});
    }
    if ((state.options() & kOptSecureLock) && !s.secure_lock_unlocked) {
      return status(kSwSecurity);
    }
    Bytes mkek;
    MkekResult ret_mkek = load_mkek(mkek);  // with whatever session exists now
    wipe();
    s.has_session_pin = s.has_session_sopin = false;
    s.session_pin_key.clear();
    s.session_sopin_key.clear();
    s.secure_lock_unlocked = false;
    std::optional<std::uint8_t> dkeks;
    std::optional<std::uint8_t> kds;
    for (const auto& item : tlv::parse(a.data)) {
      ByteView v = item.value;
      switch (item.tag) {
        case 0x80:  // options: both bytes, verbatim
          if (v.empty()) {
            p.options.reset();
          } else {
            p.options = static_cast<std::uint16_t>((v[0] << 8) | (v.size() > 1 ? v[1] : 0));
          }
          break;
        case 0x81:
          set_pin(p.user, v);
          s.session_pin_key = session_key(v);
          s.has_session_pin = true;
          break;
        case 0x82:
          set_pin(p.so, v);
          s.session_sopin_key = session_key(v);
          s.has_session_sopin = true;
          break;
        case 0x91:
          if (!v.empty()) {
            p.user.retries = p.user.max_retries = v[0];
          }
          break;
        case 0x92:
          dkeks = v.empty() ? 0 : v[0];
          p.dkeks[0] = SimDkek{};  // empty DKEK file for domain 0
          break;
        case 0x93: {
          std::uint8_t total = std::min<std::uint8_t>(v.empty() ? 0 : v[0], 8);
          std::uint8_t required = v.size() > 1 ? v[1] : 0;
          p.pka = std::array<std::uint8_t, 4>{total, total, required, 0};
          p.puk_slots.assign(total, Bytes{});
          break;
        }
        case 0x97:
          kds = v.empty() ? 0 : v[0];
          break;
        default:
          break;  // unknown tags are ignored
      }
    }
    if (ret_mkek != MkekResult::kOk) {
      ret_mkek = load_mkek(mkek);  // retry with the new PIN/SO-PIN, in case one is unchanged
    }
    if (store_mkek(ret_mkek == MkekResult::kOk ? std::optional<Bytes>(mkek) : std::nullopt) !=
        MkekResult::kOk) {
      return status(kSwExecError);
    }
    if (dkeks) {
      if (*dkeks > 0) {
        p.key_domains = {{*dkeks, 0}};
      } else {
        if (save_dkek(0, crypto::random_bytes(32)) != MkekResult::kOk) {
          return status(kSwExecError);
        }
        p.key_domains = {{1, 1}};
      }
    } else {
      p.key_domains = {{0, 0}};
    }
    if (kds) {
      p.key_domains.assign(std::min<std::uint8_t>(*kds, 16), {0xFF, 0xFF});
    }
    s.user_authenticated = true;
    bool recreate = ret_mkek != MkekResult::kOk || p.keys.count(0) == 0 ||
                    p.files.count(kFidTermCa) == 0 || p.files.at(kFidTermCa).empty();
    if (recreate) {
      if (!create_device_identity()) {
        return status(kSwExecError);
      }
      // v6.6 defect: the certificate step failed when a new device name had to be made.
      if (p.defects.initialize_6400_first_attempt) {
        return status(kSwExecError);
      }
    }
    s.puk_status.fill(0);
    return status(kSwOk);
  }

  // cmd_key_domain.c
  Reply cmd_key_domain(const Apdu& a) {
    SimPersistent& p = state.persistent;
    SimVolatile& s = state.session;
    std::uint8_t p1 = a.p1, p2 = a.p2;
    if ((!s.has_session_pin || !s.user_authenticated) && !a.data.empty() &&
        !(p1 == 0x00 && p2 == 0x00)) {
      return status(kSwConditions);
    }
    if (p2 >= 16) {
      return status(kSwWrongP1P2);
    }
    if (p.key_domains.empty()) {
      return status(kSwWrongP1P2);
    }
    // The firmware reads past the table for P2 beyond the configured count in every branch but
    // the status query; the simulator answers 6A86 for all of them.
    if (p2 >= p.key_domains.size()) {
      return status(kSwIncorrectP1P2);
    }
    auto& entry = p.key_domains[p2];
    std::uint8_t dkeks = entry.first, current = entry.second;
    if (p1 == 0x00) {
      if (!a.data.empty()) {
        if (a.data.size() < 32) {
          return status(kSwWrongLength);
        }
        if (current == dkeks) {
          return status(kSwNotAllowed);
        }
        SimDkek& file = p.dkeks[p2];  // file_new(EF_DKEK + p2)
        Bytes acc = file.value.size() == 32 ? file.value : Bytes(32, 0);
        for (std::size_t i = 0; i < 32; ++i) {
          acc[i] ^= a.data[i];
        }
        file.value = acc;
        file.wrapped = false;
        if (++current >= dkeks) {
          MkekResult r = save_dkek(p2, std::nullopt);
          if (r == MkekResult::kNoLogin) {
            s.pending_save_dkek = p2;
          } else if (r != MkekResult::kOk) {
            for (std::size_t i = 0; i < 32; ++i) {
              file.value[i] ^= a.data[i];
            }
            return status(kSwFileNotFound);
          }
        }
        entry.second = current;
      } else if (current == 0xFF) {  // not set up (and no XKEK: XKEK domains are not emulated)
        return status(kSwRefNotFound);
      }
    } else if (p1 == 0x01 || p1 == 0x03 || p1 == 0x04) {
      if (p1 == 0x01 && a.data.size() != 1) {
        return status(kSwWrongLength);
      }
      if (p1 == 0x03) {
        for (const auto& [id, key] : p.keys) {
          if (id != 0 && key.domain == p2) {
            return status(kSwFileExists);
          }
        }
      }
      if (p1 == 0x01) {
        if (entry.first != 0xFF || entry.second != 0xFF) {
          return status(kSwIncorrectP1P2);
        }
        entry = {a.data[0], 0};
      } else if (p1 == 0x03) {
        if (entry.first == 0xFF && entry.second == 0xFF) {
          return status(kSwIncorrectP1P2);
        }
        entry = {0xFF, 0xFF};
      } else {
        entry.second = 0;
      }
      dkeks = entry.first;
      current = entry.second;
      p.dkeks.erase(p2);
      if (s.pending_save_dkek == p2) {
        s.pending_save_dkek.reset();
      }
      if (p1 == 0x03) {
        return status(kSwRefNotFound);
      }
    } else if (p1 == 0x02) {
      // XKEK domain creation needs a CV request signed under the device PKI; not emulated,
      // so any request fails verification like a bad signature does.
      if (!a.data.empty()) {
        return status(kSwConditions);
      }
    } else {
      return status(kSwIncorrectP1P2);
    }
    Bytes r{dkeks, static_cast<std::uint8_t>(dkeks > current ? dkeks - current : 0)};
    Bytes kcv = dkek_kcv(p2);
    r.insert(r.end(), kcv.begin(), kcv.end());
    return ok(r);
  }

  // cmd_puk_auth.c
  Reply cmd_puk_auth(const Apdu& a) {
    SimPersistent& p = state.persistent;
    SimVolatile& s = state.session;
    if (!p.pka) {
      return status(a.data.empty() ? kSwIncorrectP1P2 : kSwFileNotFound);
    }
    auto& pka = *p.pka;
    p.puk_slots.resize(pka[0]);  // INITIALIZE creates one slot per PKA key
    if (!a.data.empty()) {
      if (a.p1 != 0x00 && a.p1 != 0x01) {
        return status(kSwIncorrectP1P2);
      }
      if (!s.has_session_pin && !s.has_session_sopin) {
        return status(kSwSecurity);
      }
      std::size_t slot = 0;
      if (a.p1 == 0x00) {
        if (a.p2 != 0x00) {
          return status(kSwIncorrectP1P2);
        }
        while (slot < pka[0] && !p.puk_slots[slot].empty()) {
          ++slot;
        }
        if (slot >= pka[0]) {
          return status(kSwFileFull);
        }
        pka[1] = static_cast<std::uint8_t>(pka[1] - 1);
      } else {
        if (!(state.options() & kOptReplacePka)) {
          return status(kSwConditions);
        }
        if (a.p2 >= pka[0]) {
          return status(kSwIncorrectP1P2);
        }
        slot = a.p2;
      }
      p.puk_slots[slot] = a.data;
    }
    if (a.p1 == 0x02) {
      if (a.p2 >= pka[0]) {
        return status(kSwIncorrectP1P2);
      }
      if (p.puk_slots[a.p2].empty()) {
        return status(kSwRefNotFound);
      }
      Reply r = ok(cv_chr(p.puk_slots[a.p2]));
      r.sw = static_cast<std::uint16_t>(0x9000 | s.puk_status[a.p2]);
      return r;
    }
    std::uint8_t authenticated = 0;
    for (std::size_t i = 0; i < pka[0] && i < s.puk_status.size(); ++i) {
      authenticated = static_cast<std::uint8_t>(authenticated + s.puk_status[i]);
    }
    return ok(Bytes{pka[0], pka[1], pka[2], authenticated});
  }

  // cmd_extras.c at v6.6: only DYNOPS (06) and secure lock (3A) remain.
  Reply cmd_extras(const Apdu& a) {
    SimPersistent& p = state.persistent;
    if (!state.session.user_authenticated) {
      return status(kSwSecurity);
    }
    if (state.options() & kOptButton) {
      p.button_presses += 1;  // pressed at once
    }
    if (a.p1 == 0x06) {
      if (a.p2 != 0x00) {
        return status(kSwIncorrectP1P2);
      }
      if (a.data.size() > 1) {
        return status(kSwWrongLength);
      }
      std::uint16_t opts = state.options();
      if (a.data.empty()) {
        return ok(u16(opts));
      }
      p.options = static_cast<std::uint16_t>((a.data[0] << 8) | (opts & 0xFF));
      return ok({});
    }
    return status(kSwIncorrectP1P2);  // 3A (secure lock) is not emulated; 0A/1B/4C/FB/05 removed
  }

  // cmd_keypair_gen.c, P-256 only.
  Reply cmd_keypair_gen(const Apdu& a) {
    SimVolatile& s = state.session;
    if (!s.user_authenticated) {
      return status(kSwSecurity);
    }
    auto pub = tlv::find(a.data, 0x7F49);
    if (!pub || pub->empty()) {
      return status(kSwWrongData);
    }
    auto oid = tlv::find(*pub, 0x06);
    if (!oid || oid->empty()) {
      return status(kSwWrongData);
    }
    if (!starts_with(*oid,
                     ByteView(kOidEcdsaSha256).first(std::min<std::size_t>(oid->size(), 10)))) {
      return status(kSwFuncNotSupported);  // RSA generation is not emulated
    }
    auto prime = tlv::find(*pub, 0x81);
    if (!prime) {
      return status(kSwWrongData);
    }
    if (!std::equal(prime->begin(), prime->end(), crypto::p256_params().p.begin(),
                    crypto::p256_params().p.end())) {
      return status(kSwFuncNotSupported);  // other curves are not emulated
    }
    auto key = crypto::generate_p256();
    if (!key) {
      return status(kSwExecError);
    }
    int key_id = a.p1;
    auto car_tag = tlv::find(a.data, 0x42);
    auto chr_tag = tlv::find(a.data, 0x5F20);
    std::string car = car_tag ? std::string(car_tag->begin(), car_tag->end()) : "UTCA00001";
    std::string chr = chr_tag ? std::string(chr_tag->begin(), chr_tag->end())
                              : "UTTM" + std::to_string(10000 + key_id);
    auto body = cv_body(car, cv_public_key(key->public_point, true), chr, false);
    auto cert = cv_certificate(body, *key);
    const SimPersistent& p = state.persistent;
    if (!cert || p.keys.count(0) == 0) {
      return status(kSwExecError);
    }
    std::string outer_car = p.device_chr.empty() ? kSelfSignedChr : p.device_chr;
    auto request = cv_authenticated_request(*cert, outer_car, key_pair(p.keys.at(0)));
    if (!request) {
      return status(kSwExecError);
    }
    // store_keys(): encrypting under the MKEK needs a PIN or SO-PIN session.
    Bytes mkek;
    if (load_mkek(mkek) != MkekResult::kOk) {
      return status(kSwExecError);
    }
    int domain = 0;
    if (auto d = tlv::find(a.data, 0x92); d && !d->empty()) {
      domain = (*d)[0];
    }
    SimPersistent& pm = state.persistent;
    pm.keys[key_id] = SimKey{key->private_scalar, key->public_point, domain};
    // store_keys(): empty label, ID = the key id in decimal ASCII.
    pm.files[static_cast<std::uint16_t>(0xC400 | key_id)] =
        ec_prkd("", str_bytes(std::to_string(key_id)), 256);
    pm.files[static_cast<std::uint16_t>(0xCE00 | key_id)] = *request;
    Reply r = ok(*request);
    r.no_chaining = a.ne == 0;
    return r;
  }

  // cmd_update_ef.c. Writes to the firmware's internal files and generated EFs are refused
  // (the firmware would let them corrupt PIN files; see docs/simulator.md).
  Reply cmd_update_ef(const Apdu& a) {
    if (!state.session.user_authenticated) {
      return status(kSwSecurity);
    }
    std::uint16_t fid = static_cast<std::uint16_t>((a.p1 << 8) | a.p2);
    if (fid == 0) {
      if (!state.session.current_ef || *state.session.current_ef == 0) {
        return status(kSwFileNotFound);
      }
      fid = *state.session.current_ef;
    }
    std::uint8_t prefix = static_cast<std::uint8_t>(fid >> 8);
    bool writable = fid == kFidTermCa || fid == kFidEeDev || fid == kFidPrkdDev ||
                    ((prefix == 0xC4 || prefix == 0xC8 || prefix == 0xC9 || prefix == 0xCA ||
                      prefix == 0xCB || prefix == 0xCD || prefix == 0xCE || prefix == 0xCF) &&
                     find_static(fid) == nullptr);
    if (!writable) {
      return status(kSwSecurity);
    }
    std::size_t offset = 0;
    std::optional<ByteView> data;
    for (const auto& item : tlv::parse(a.data)) {
      if (item.tag == 0x54) {
        for (std::uint8_t b : item.value) {
          offset = (offset << 8) | b;
        }
      } else if (item.tag == 0x53) {
        data = item.value;
      }
    }
    SimPersistent& p = state.persistent;
    std::size_t len = data ? data->size() : 0;
    if (len == 0 && offset == 0) {
      p.files[fid] = Bytes{};
      state.session.current_ef = fid;
      return status(kSwOk);
    }
    if (offset == 0) {
      p.files[fid] = Bytes(data->begin(), data->end());
      if (fid == kFidTermCa) {  // e.g. the PKI chain written after INITIALIZE (pypicohsm)
        Bytes chr = cv_chr(p.files[fid]);
        Bytes car = cv_field(p.files[fid], 0x42);
        p.device_chr.assign(chr.begin(), chr.end());
        p.device_cert_pki = !chr.empty() && car != chr;
      }
      return status(kSwOk);
    }
    auto it = p.files.find(fid);
    if (it == p.files.end() || it->second.empty()) {
      return status(kSwDataInvalid);
    }
    if (offset > 4032 || offset + len > 4032) {
      return status(kSwWrongLength);
    }
    Bytes merged = it->second;
    merged.resize(std::max(merged.size(), offset + len), 0);
    if (len > 0) {
      std::copy(data->begin(), data->end(), merged.begin() + static_cast<std::ptrdiff_t>(offset));
    }
    merged.resize(offset + len);  // file_put_data(offset + data_len): the firmware truncates
    it->second = merged;
    return status(kSwOk);
  }

  // cmd_delete_file.c (simplified): E4 02 00 <FID>.
  Reply cmd_delete_file(const Apdu& a) {
    if (!state.session.user_authenticated) {
      return status(kSwSecurity);
    }
    if (a.data.size() != 2) {
      return status(kSwWrongLength);
    }
    std::uint16_t fid = static_cast<std::uint16_t>((a.data[0] << 8) | a.data[1]);
    SimPersistent& p = state.persistent;
    if (find_static(fid) != nullptr) {
      return status(kSwSecurity);
    }
    if ((fid >> 8) == 0xCC) {
      if (p.keys.erase(fid & 0xFF) == 0) {
        return status(kSwFileNotFound);
      }
      return status(kSwOk);
    }
    if (p.files.erase(fid) == 0) {
      return status(kSwFileNotFound);
    }
    return status(kSwOk);
  }

  // ---- Transport-level processing (sdk apdu.c) -----------------------------------------------

  Bytes process(ByteView raw) {
    SimVolatile& s = state.session;
    auto parsed = parse_apdu(raw);
    if (!parsed) {
      s.pending_response.clear();
      return u16(kSwWrongLength);
    }
    Apdu a = std::move(*parsed);
    if (a.ins == 0xC0) {
      return get_response(a);
    }
    s.pending_response.clear();
    if (a.cla & 0x10) {  // command chaining
      if (!s.chaining) {
        s.chain_buffer.clear();
      }
      if (s.chain_buffer.size() + a.data.size() >= 4096) {
        return u16(kSwClaNotSupported);
      }
      s.chain_buffer.insert(s.chain_buffer.end(), a.data.begin(), a.data.end());
      s.chaining = true;
      return u16(kSwOk);
    }
    if (s.chaining) {
      a.data.insert(a.data.begin(), s.chain_buffer.begin(), s.chain_buffer.end());
      s.chain_buffer.clear();
      s.chaining = false;
    }
    Reply r = dispatch(a);
    if ((r.sw >> 8) != 0x90) {
      r.data.clear();  // set_res_sw()
    }
    if (r.no_chaining || r.data.size() <= a.ne) {
      Bytes out = r.data;
      Bytes sw = u16(r.sw);
      out.insert(out.end(), sw.begin(), sw.end());
      return out;
    }
    Bytes out(r.data.begin(), r.data.begin() + static_cast<std::ptrdiff_t>(a.ne));
    s.pending_response.assign(r.data.begin() + static_cast<std::ptrdiff_t>(a.ne), r.data.end());
    s.pending_sw = r.sw;
    std::size_t rest = s.pending_response.size();
    out.push_back(0x61);
    out.push_back(static_cast<std::uint8_t>(rest >= 256 ? 0 : rest));
    return out;
  }

  Bytes get_response(const Apdu& a) {
    SimVolatile& s = state.session;
    if (s.pending_response.empty()) {
      return u16(kSwConditions);  // firmware: stale buffer
    }
    std::size_t n = std::min(a.ne, s.pending_response.size());
    Bytes out(s.pending_response.begin(),
              s.pending_response.begin() + static_cast<std::ptrdiff_t>(n));
    s.pending_response.erase(s.pending_response.begin(),
                             s.pending_response.begin() + static_cast<std::ptrdiff_t>(n));
    if (s.pending_response.empty()) {
      Bytes sw = u16(s.pending_sw);
      out.insert(out.end(), sw.begin(), sw.end());
    } else {
      std::size_t rest = s.pending_response.size();
      out.push_back(0x61);
      out.push_back(static_cast<std::uint8_t>(rest >= 256 ? 0 : rest));
    }
    return out;
  }

  // ---- Persistence ----------------------------------------------------------------------------

  Result<void> reload_if_changed() {
    if (path.empty()) {
      return {};
    }
    auto content = read_file(path);
    if (!content) {
      return make_error(Errc::kUnavailable,
                        "simulator state " + path + " is gone: " + content.error().message);
    }
    std::string text(content->begin(), content->end());
    if (text == last_saved) {
      return {};
    }
    HSMCTL_TRY_ASSIGN(auto persistent, SimState::persistent_from_json(text, path));
    state.persistent = std::move(persistent);
    last_saved = text;
    return {};
  }

  Result<void> save_if_changed() {
    if (path.empty()) {
      return {};
    }
    std::string text = state.to_json();
    if (text == last_saved) {
      return {};
    }
    auto r = write_file_atomically(path, bytes_of(text));
    if (!r) {
      return make_error(Errc::kUnavailable,
                        "simulator state " + path + " could not be saved: " + r.error().message);
    }
    last_saved = text;
    return {};
  }
};

// ---- SimCard ------------------------------------------------------------------------------------

SimCard::SimCard() : impl_(std::make_unique<Impl>()) {}
SimCard::~SimCard() = default;

std::unique_ptr<SimCard> SimCard::create_in_memory(const std::string& serial_hex) {
  std::unique_ptr<SimCard> card(new SimCard());
  auto serial = from_hex(serial_hex);
  card->impl_->state = SimState::fresh(serial && serial->size() == 8 ? *serial : Bytes(8, 0));
  return card;
}

Result<std::unique_ptr<SimCard>> SimCard::open_file(const std::string& path,
                                                    const std::string& serial_if_new) {
  std::optional<Bytes> new_serial;
  if (!serial_if_new.empty()) {
    new_serial = from_hex(serial_if_new);
    if (!new_serial || new_serial->size() != 8) {
      return make_error(Errc::kUsage, "simulator serial must be 16 hex digits");
    }
  }
  std::unique_ptr<SimCard> card(new SimCard());
  Impl& impl = *card->impl_;
  impl.path = path;
  HSMCTL_TRY_ASSIGN(FileLock lock, FileLock::acquire(path + ".lock"));
  auto content = read_file(path);
  if (!content) {
    if (content.error().code != Errc::kUnavailable) {
      return tl::unexpected(content.error());
    }
    impl.state = SimState::fresh(new_serial ? *new_serial : crypto::random_bytes(8));
    HSMCTL_TRY(impl.save_if_changed());
    return card;
  }
  std::string text(content->begin(), content->end());
  HSMCTL_TRY_ASSIGN(auto persistent, SimState::persistent_from_json(text, path));
  impl.state.persistent = std::move(persistent);
  impl.last_saved = text;
  return card;
}

void SimCard::fire_test_signal() {
  const TestSignal hook = *test_signal_;
  test_signal_.reset();  // once
  for (int i = 0; i < hook.count; ++i)
    raise(hook.sig);
}

Result<std::optional<SimCard::TestSignal>> test_signal_from_env() {
  const char* env = std::getenv("HSMCTL_SIM_TEST_SIGNAL");
  if (env == nullptr || *env == '\0')
    return std::optional<SimCard::TestSignal>();
  const std::string text = env;
  auto bad = [&] {
    return make_error(Errc::kUsage, "HSMCTL_SIM_TEST_SIGNAL=\"" + text +
                                        "\": expected \"SIG INS [after] [xN]\", e.g. \"INT 24\"");
  };
  std::istringstream in(text);
  std::string sig, ins, word;
  if (!(in >> sig >> ins))
    return bad();
  SimCard::TestSignal hook;
  if (sig == "INT") {
    hook.sig = SIGINT;
  } else if (sig == "TERM") {
    hook.sig = SIGTERM;
  } else {
    return bad();
  }
  auto ins_byte = from_hex(ins);
  if (!ins_byte || ins_byte->size() != 1)
    return bad();
  hook.ins = (*ins_byte)[0];
  while (in >> word) {
    if (word == "after") {
      hook.after = true;
    } else if (word.size() == 2 && word[0] == 'x' && word[1] >= '1' && word[1] <= '9') {
      hook.count = word[1] - '0';
    } else {
      return bad();
    }
  }
  return std::optional<SimCard::TestSignal>(hook);
}

Result<Bytes> SimCard::transmit(ByteView command) {
  count_wire_apdu();
  const bool hook = test_signal_ && command.size() >= 2 && command[1] == test_signal_->ins;
  if (hook && !test_signal_->after)
    fire_test_signal();
  auto response = transmit_now(command);
  if (hook && test_signal_)
    fire_test_signal();
  return response;
}

Result<Bytes> SimCard::transmit_now(ByteView command) {
  Impl& impl = *impl_;
  if (impl.powered_off) {
    return make_error(Errc::kUnavailable,
                      describe() + ": the card lost power (simulated fault); replug it");
  }
  std::optional<FileLock> lock;
  if (!impl.path.empty() && !impl.exclusive) {
    HSMCTL_TRY_ASSIGN(FileLock l, FileLock::acquire(impl.path + ".lock"));
    lock.emplace(std::move(l));
    HSMCTL_TRY(impl.reload_if_changed());
  }
  // Deferred flash write (faults.lose_write_after_answer): keep what flash held before the
  // command, in case the power goes between the answer and the write.
  auto& armed = impl.state.persistent.faults.lose_write_after_answer;
  const bool may_lose = command.size() >= 2 && command[1] != 0xC0 &&
                        std::find(armed.begin(), armed.end(), command[1]) != armed.end();
  std::optional<SimPersistent> flash_before;
  if (may_lose) {
    flash_before = impl.state.persistent;
  }
  Bytes response = impl.process(command);
  const bool answered_ok = response.size() >= 2 && response[response.size() - 2] == 0x90 &&
                           response[response.size() - 1] == 0x00;
  if (flash_before && answered_ok) {
    // The answer went out; the power failed before the main loop wrote flash.
    auto& left = flash_before->faults.lose_write_after_answer;
    left.erase(std::find(left.begin(), left.end(), command[1]));
    impl.state.persistent = std::move(*flash_before);
    impl.state.session = SimVolatile{};
    impl.powered_off = true;
  }
  HSMCTL_TRY(impl.save_if_changed());
  return response;
}

std::string SimCard::describe() const {
  if (impl_->path.empty()) {
    return "sim:memory:" + to_hex(impl_->state.persistent.serial);
  }
  return "sim:" + impl_->path;
}

Result<void> SimCard::begin_exclusive() {
  Impl& impl = *impl_;
  if (impl.exclusive) {
    return make_error(Errc::kInternal, "nested exclusive use of " + describe());
  }
  if (!impl.path.empty()) {
    HSMCTL_TRY_ASSIGN(FileLock l, FileLock::acquire(impl.path + ".lock"));
    impl.lock.emplace(std::move(l));
    auto r = impl.reload_if_changed();
    if (!r) {
      impl.lock.reset();
      return r;
    }
  }
  impl.exclusive = true;
  return {};
}

void SimCard::end_exclusive() {
  impl_->exclusive = false;
  impl_->lock.reset();
}

void SimCard::power_cycle() {
  impl_->state.session = SimVolatile{};
  impl_->powered_off = false;
}

void SimCard::warm_reset() {
  SimVolatile& s = impl_->state.session;
  s.pending_response.clear();
  s.chain_buffer.clear();
  s.chaining = false;
}

Bytes SimCard::atr() {
  return {0x3B, 0xFE, 0x18, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x31, 0x81,
          0x54, 0x48, 0x53, 0x4D, 0x31, 0x73, 0x80, 0x21, 0x40, 0x81, 0x07, 0xFA};
}

SimState& SimCard::state() {
  return impl_->state;
}

Result<void> SimCard::save() {
  return impl_->save_if_changed();
}

Result<void> SimCard::install_key(int key_id, int domain) {
  if (key_id < 1 || key_id > 255 || domain < 0 || domain > 255) {
    return make_error(Errc::kInternal, "install_key: key id or domain out of range");
  }
  auto key = crypto::generate_p256();
  if (!key) {
    return make_error(Errc::kInternal, "install_key: key generation failed");
  }
  SimPersistent& p = impl_->state.persistent;
  p.keys[key_id] = SimKey{key->private_scalar, key->public_point, domain};
  p.files[static_cast<std::uint16_t>(0xC400 | key_id)] =
      ec_prkd("", str_bytes(std::to_string(key_id)), 256);
  auto body = cv_body("UTCA00001", cv_public_key(key->public_point, true),
                      "UTTM" + std::to_string(10000 + key_id), false);
  auto cert = cv_certificate(body, *key);
  if (!cert) {
    return make_error(Errc::kInternal, "install_key: signing failed");
  }
  p.files[static_cast<std::uint16_t>(0xCE00 | key_id)] = *cert;
  return impl_->save_if_changed();
}

Result<void> SimCard::install_pki_device_chain(const std::string& chr) {
  SimPersistent& p = impl_->state.persistent;
  if (chr.size() < 8) {
    return make_error(Errc::kInternal, "install_pki_device_chain: CHR too short");
  }
  if (p.keys.count(0) == 0 && !impl_->create_device_identity()) {
    return make_error(Errc::kInternal, "install_pki_device_chain: key generation failed");
  }
  auto ca = crypto::generate_p256();
  auto dv = crypto::generate_p256();
  if (!ca || !dv) {
    return make_error(Errc::kInternal, "install_pki_device_chain: keygen failed");
  }
  const std::string ca_chr = "ESPICOHSMCA00001";
  const std::string dv_chr = "ESPICOHSMDV00001";
  auto dv_cert =
      cv_certificate(cv_body(ca_chr, cv_public_key(dv->public_point, false), dv_chr, true), *ca);
  auto dev_cert = cv_certificate(
      cv_body(dv_chr, cv_public_key(p.keys.at(0).public_point, false), chr, true), *dv);
  // (The device key's curve is not in a certificate without domain parameters.)
  if (!dv_cert || !dev_cert) {
    return make_error(Errc::kInternal, "install_pki_device_chain: signing failed");
  }
  Bytes chain = *dev_cert;
  chain.insert(chain.end(), dv_cert->begin(), dv_cert->end());
  p.files[kFidTermCa] = chain;
  p.device_chr = chr;
  p.device_cert_pki = true;
  return impl_->save_if_changed();
}

}  // namespace hsmctl::device::sim
