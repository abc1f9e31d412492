// SPDX-License-Identifier: Apache-2.0
#pragma once
// The byte format of an hsmctl store file (docs/store-format.md): a fixed 133-byte header that
// is entirely authenticated as AES-GCM additional data, then the ciphertext and the tag.
// Parsing classifies every failure, so callers can tell a wrong passphrase from a damaged file.

#include "hsmctl/store/key_source.hpp"
#include "hsmctl/util/bytes.hpp"
#include "hsmctl/util/error.hpp"
#include "hsmctl/util/secret.hpp"

#include <tl/expected.hpp>

#include <array>
#include <cstdint>
#include <string>

namespace hsmctl::store {

inline constexpr char kMagic[8] = {'H', 'S', 'M', 'C', 'T', 'L', 'S', '\0'};
inline constexpr std::uint16_t kFormatVersion = 1;
inline constexpr std::size_t kHeaderSize = 133;
inline constexpr std::size_t kTagSize = 16;

enum class KdfId : std::uint8_t { kScrypt = 1, kArgon2id = 2 /* reserved */, kKeyFile = 3 };
inline constexpr std::uint8_t kAeadAes256Gcm = 1;

/// scrypt parameters. Production stores use log2_n >= kMinProductionLog2N (default 17); lower
/// values down to kMinLog2N are accepted only when the caller explicitly allows them (tests).
struct ScryptParams {
  int log2_n = 17;
  std::uint32_t r = 8;
  std::uint32_t p = 1;
};
inline constexpr int kDefaultLog2N = 17;
inline constexpr int kMinProductionLog2N = 15;
inline constexpr int kMinLog2N = 10;
inline constexpr int kMaxLog2N = 20;  ///< cap: 2^20 * 128 * r(8) = 1 GiB
inline constexpr std::uint32_t kMaxScryptR = 16;
inline constexpr std::uint32_t kMaxScryptP = 4;
/// Memory cap, checked before deriving: 128 * N * r <= 1 GiB (2^20 at r = 8, 2^19 at r = 16).
inline constexpr std::uint64_t kMaxScryptMemory = std::uint64_t{1} << 30;
/// Work cap, checked before deriving: N * r * p <= 2^23 (N = 2^20, r = 8, p = 1; 8 times the
/// default 2^17 * 8 * 1).
inline constexpr std::uint64_t kMaxScryptWork = std::uint64_t{1} << 23;

/// True when the parameters are inside every documented cap (ranges, memory and work).
bool scrypt_within_caps(int log2_n, std::uint32_t r, std::uint32_t p);

struct StoreHeader {
  std::uint16_t version = kFormatVersion;
  KdfId kdf = KdfId::kScrypt;
  std::uint8_t aead = kAeadAes256Gcm;
  ScryptParams scrypt;  ///< zero in key-file mode
  std::array<std::uint8_t, 16> salt{};
  std::array<std::uint8_t, 32> nonce{};
  std::array<std::uint8_t, 12> iv{};
  std::uint32_t ciphertext_length = 0;
  std::array<std::uint8_t, 16> key_check{};

  KeyMode mode() const { return kdf == KdfId::kKeyFile ? KeyMode::kKeyFile : KeyMode::kPassphrase; }
};

/// Why a store file could not be read.
enum class FailureKind {
  kWrongKey,     ///< the passphrase or key file does not match this store
  kCorrupt,      ///< damaged or tampered (bad magic, header checksum, authentication tag, JSON)
  kTruncated,    ///< the file is shorter than its header says
  kUnsupported,  ///< a newer format version, an unknown KDF/AEAD id, or a work factor above cap
};
const char* failure_kind_name(FailureKind kind);

struct FormatError {
  FailureKind kind = FailureKind::kCorrupt;
  std::string message;
};
template <class T>
using FormatResult = tl::expected<T, FormatError>;

/// Structural checks of a whole file, cheapest first: magic, version, size, header checksum,
/// ids, parameter caps, total length. No key is needed.
FormatResult<StoreHeader> parse_header(ByteView file);

/// The key-encryption key for a header's KDF and salt from `material` (passphrase or key file).
Result<Secret> derive_kek(const StoreHeader& header, const Secret& material);

/// Whether `kek` is the key this file was written with (the header's key check).
Result<bool> kek_matches(const StoreHeader& header, const Secret& kek);

/// Decrypts a file whose header was parsed by parse_header with the right kek. kWrongKey if
/// the key check fails, kCorrupt if authentication fails.
FormatResult<Secret> open_file(ByteView file, const StoreHeader& header, const Secret& kek);

/// Encrypts `plaintext` into a complete file. `header` supplies version, KDF id, parameters and
/// salt; a fresh nonce and IV are drawn for every call.
Result<Bytes> seal_file(StoreHeader header, const Secret& kek, ByteView plaintext);

/// A new header for `mode` with a fresh random salt.
Result<StoreHeader> new_header(KeyMode mode, const ScryptParams& params);

/// Errc::kStore error "<path>: <message>" for a format failure.
Error format_error_to_error(const FormatError& e, const std::string& path);

}  // namespace hsmctl::store
