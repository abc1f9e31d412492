// SPDX-License-Identifier: Apache-2.0
#pragma once
// The simulator's only contact with OpenSSL: random bytes, SHA-256, P-256 keys and raw ECDSA.

#include "hsmctl/util/bytes.hpp"

#include <optional>

namespace hsmctl::device::sim::crypto {

Bytes random_bytes(std::size_t n);
Bytes sha256(ByteView data);
Bytes sha256(ByteView a, ByteView b);

struct EcKeyPair {
  Bytes private_scalar;  ///< 32 bytes
  Bytes public_point;    ///< 65 bytes, 04 || X || Y
};

/// A fresh P-256 key pair; nullopt if OpenSSL fails.
std::optional<EcKeyPair> generate_p256();
/// ECDSA-SHA256 over `message` as raw r || s (64 bytes), the CV-certificate signature format;
/// nullopt if OpenSSL fails.
std::optional<Bytes> sign_p256(const EcKeyPair& key, ByteView message);
/// Verifies a raw r || s signature (used by tests).
bool verify_p256(ByteView public_point, ByteView message, ByteView signature);

/// P-256 domain parameters as stored in CV public keys (tags 81..87).
struct P256Params {
  Bytes p, a, b, g, n, h;
};
const P256Params& p256_params();

}  // namespace hsmctl::device::sim::crypto
