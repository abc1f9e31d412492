// SPDX-License-Identifier: Apache-2.0
#pragma once
// The simulator's only contact with OpenSSL: random bytes, SHA-256, EC keys (P-256 for keys the
// host generates, secp256k1 for the device key, as the v6.6 firmware) and raw ECDSA.

#include "hsmctl/util/bytes.hpp"

#include <optional>
#include <string>

namespace hsmctl::device::sim::crypto {

Bytes random_bytes(std::size_t n);
Bytes sha256(ByteView data);
Bytes sha256(ByteView a, ByteView b);

/// The two 256-bit curves the simulator uses.
enum class Curve {
  kP256,       ///< prime256v1 / secp256r1: generated keys, PKI test chains
  kSecp256k1,  ///< the device key (EF CC00) of the v6.6 firmware (OID 1.3.132.0.10)
};
/// "prime256v1" / "secp256k1" (OpenSSL group names, also used in the state file).
const char* curve_name(Curve curve);
std::optional<Curve> curve_from_name(const std::string& name);

struct EcKeyPair {
  Bytes private_scalar;  ///< 32 bytes
  Bytes public_point;    ///< 65 bytes, 04 || X || Y
  Curve curve = Curve::kP256;
};

/// A fresh key pair on `curve`; nullopt if OpenSSL fails.
std::optional<EcKeyPair> generate_ec(Curve curve);
inline std::optional<EcKeyPair> generate_p256() {
  return generate_ec(Curve::kP256);
}
/// ECDSA-SHA256 over `message` as raw r || s (64 bytes), the CV-certificate signature format;
/// nullopt if OpenSSL fails. The key's own curve is used.
std::optional<Bytes> sign_ec(const EcKeyPair& key, ByteView message);
inline std::optional<Bytes> sign_p256(const EcKeyPair& key, ByteView message) {
  return sign_ec(key, message);
}
/// ECDSA over an already computed `digest` (used as is; OpenSSL truncates one longer than the
/// order), DER-encoded (SEQUENCE { r, s }) as the firmware's COMPUTE SIGNATURE answers it;
/// nullopt if OpenSSL fails or `digest` is empty.
std::optional<Bytes> sign_ec_digest_der(const EcKeyPair& key, ByteView digest);
/// Verifies a raw r || s signature over SHA-256(`message`) (PKA, tests).
bool verify_ec(Curve curve, ByteView public_point, ByteView message, ByteView signature);
inline bool verify_p256(ByteView public_point, ByteView message, ByteView signature) {
  return verify_ec(Curve::kP256, public_point, message, signature);
}

/// Domain parameters as stored in CV public keys (tags 81..87), full width.
struct CurveParams {
  Bytes p, a, b, g, n, h;
};
using P256Params = CurveParams;
const CurveParams& curve_params(Curve curve);
inline const CurveParams& p256_params() {
  return curve_params(Curve::kP256);
}

}  // namespace hsmctl::device::sim::crypto
