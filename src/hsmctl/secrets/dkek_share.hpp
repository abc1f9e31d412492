// SPDX-License-Identifier: Apache-2.0
#pragma once
// DKEK share files, byte-compatible with `sc-hsm-tool --create-dkek-share` (reference
// pico-hsm.md 5.5): 64 bytes = "Salted__" | 8-byte salt | AES-256-CBC (PKCS#7) of the 32-byte
// share, key and IV from OpenSSL EVP_BytesToKey(AES-256-CBC, MD5, salt, password, 10,000,000
// iterations). The key check value of a DKEK is the first 8 bytes of SHA-256 over the XOR of its
// shares (5.2). A share is a secret: it lives only in a Secret (wiped), never in a message.

#include "hsmctl/util/bytes.hpp"
#include "hsmctl/util/error.hpp"
#include "hsmctl/util/secret.hpp"

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace hsmctl::secrets {

inline constexpr std::size_t kDkekShareSize = 32;
inline constexpr std::size_t kDkekShareFileSize = 64;
/// sc-hsm-tool's fixed key-derivation count (no option there): deriving one key takes seconds.
inline constexpr int kScHsmToolIterations = 10'000'000;

using Kcv = std::array<std::uint8_t, 8>;

/// "A1B2C3D4E5F60718" (16 upper-case hex digits).
std::string kcv_hex(const Kcv& kcv);

/// The KCV of the DKEK made of `shares` (each kDkekShareSize bytes; Errc::kInternal otherwise).
Result<Kcv> dkek_kcv(std::span<const Secret> shares);

/// The share inside the bytes of a share file. Errc::kSecret when the size or the "Salted__"
/// header is wrong ("not a DKEK share file (... bytes, expected 64)"), or when the password is
/// wrong (the only sign is a bad padding: "wrong password or damaged file"). `iterations` other
/// than kScHsmToolIterations only for tests of this codec.
Result<Secret> decrypt_dkek_share(ByteView file_bytes, const Secret& password,
                                  int iterations = kScHsmToolIterations);

/// read_regular_file() + decrypt_dkek_share(); errors name `path`.
Result<Secret> read_dkek_share_file(const std::string& path, const Secret& password,
                                    int iterations = kScHsmToolIterations);

/// read_dkek_share_file() of each path with the password of the same index (as many of each:
/// Errc::kInternal otherwise), the files decrypted at the same time, one thread each: the key
/// derivation costs seconds per file, so a ceremony's shares take the time of one on a machine
/// with as many cores. One result per path, in order (falls back to one after the other when no
/// thread can be started).
std::vector<Result<Secret>> read_dkek_share_files(std::span<const std::string> paths,
                                                  std::span<const Secret> passwords,
                                                  int iterations = kScHsmToolIterations);

/// The 64 file bytes of `share` under `password`, with a fresh random salt. Errc::kSecret for
/// an empty password (sc-hsm-tool would accept it; a share protected by nothing is a mistake).
Result<Bytes> encrypt_dkek_share(const Secret& share, const Secret& password,
                                 int iterations = kScHsmToolIterations);

/// A new random share written to `path` (created exclusively, mode 0600, synced; never
/// overwrites: Errc::kIo naming the path when it exists). Returns the KCV of a DKEK made of this
/// share alone: what the device reports after importing it as the only share (sc-hsm-tool
/// 0.23 prints no KCV when it creates a share, only "DKEK share created and saved to FILE").
Result<Kcv> create_dkek_share_file(const std::string& path, const Secret& password,
                                   int iterations = kScHsmToolIterations);

}  // namespace hsmctl::secrets
