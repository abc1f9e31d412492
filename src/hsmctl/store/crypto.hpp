// SPDX-License-Identifier: Apache-2.0
#pragma once
// The few OpenSSL 3.0 primitives the credential store uses (internal to store/): CSPRNG, scrypt,
// HKDF-SHA256, SHA-256 and AES-256-GCM. Key material is returned in Secret so it is wiped.

#include "hsmctl/util/bytes.hpp"
#include "hsmctl/util/error.hpp"
#include "hsmctl/util/secret.hpp"

#include <cstdint>

namespace hsmctl::store::crypto {

/// `size` bytes from the OpenSSL CSPRNG. Errc::kInternal if the generator fails.
Result<Bytes> random_bytes(std::size_t size);

/// scrypt(password, salt, N = 2^log2_n, r, p) -> 32 bytes. Errc::kStore on failure (for example
/// parameters OpenSSL refuses or not enough memory).
Result<Secret> scrypt(const Secret& password, ByteView salt, int log2_n, std::uint32_t r,
                      std::uint32_t p);

/// HKDF-SHA256 (extract and expand) -> `length` bytes.
Result<Secret> hkdf_sha256(const Secret& ikm, ByteView salt, std::string_view info,
                           std::size_t length);

/// SHA-256 of `data` (32 bytes).
Bytes sha256(ByteView data);

/// AES-256-GCM encryption: returns ciphertext || 16-byte tag.
Result<Bytes> aes256gcm_seal(const Secret& key, ByteView iv, ByteView aad, ByteView plaintext);

/// AES-256-GCM decryption of ciphertext || tag. Returns nullopt-like error (Errc::kStore,
/// message "authentication failed") when the tag does not verify.
Result<Secret> aes256gcm_open(const Secret& key, ByteView iv, ByteView aad,
                              ByteView ciphertext_and_tag);

/// Constant-time comparison of equal-length buffers (false when the lengths differ).
bool equal_ct(ByteView a, ByteView b);

}  // namespace hsmctl::store::crypto
