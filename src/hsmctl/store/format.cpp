// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/format.hpp"

#include "hsmctl/store/crypto.hpp"

#include <algorithm>
#include <cstring>

namespace hsmctl::store {
namespace {

constexpr std::size_t kChecksumOffset = 101;
constexpr std::string_view kScryptSaltLabel = "hsmctl-store/v1";
constexpr std::string_view kKeyCheckInfo = "hsmctl-store/v1 key check";
constexpr std::string_view kPayloadInfo = "hsmctl-store/v1 payload";

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
void put_be32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

tl::unexpected<FormatError> fail(FailureKind kind, std::string message) {
  return tl::unexpected<FormatError>(FormatError{kind, std::move(message)});
}

Bytes encode_header_without_checksum(const StoreHeader& h) {
  Bytes out(kChecksumOffset, 0);
  std::memcpy(out.data(), kMagic, 8);
  out[8] = static_cast<std::uint8_t>(h.version >> 8);
  out[9] = static_cast<std::uint8_t>(h.version);
  out[10] = static_cast<std::uint8_t>(h.kdf);
  out[11] = h.aead;
  out[12] = static_cast<std::uint8_t>(h.scrypt.log2_n);
  put_be32(&out[13], h.scrypt.r);
  put_be32(&out[17], h.scrypt.p);
  std::copy(h.salt.begin(), h.salt.end(), out.begin() + 21);
  std::copy(h.nonce.begin(), h.nonce.end(), out.begin() + 37);
  std::copy(h.iv.begin(), h.iv.end(), out.begin() + 69);
  put_be32(&out[81], h.ciphertext_length);
  std::copy(h.key_check.begin(), h.key_check.end(), out.begin() + 85);
  return out;
}

Result<Secret> key_check_of(const StoreHeader& h, const Secret& kek) {
  return crypto::hkdf_sha256(kek, h.salt, kKeyCheckInfo, 16);
}

}  // namespace

const char* key_mode_name(KeyMode mode) {
  return mode == KeyMode::kKeyFile ? "key file" : "passphrase";
}

Result<Secret> FixedKeySource::material(KeyMode mode, bool) {
  if (mode != mode_) {
    return make_error(Errc::kStore, std::string("the store is protected by a ") +
                                        key_mode_name(mode) + ", but a " + key_mode_name(mode_) +
                                        " was given");
  }
  return value_;
}

const char* failure_kind_name(FailureKind kind) {
  switch (kind) {
    case FailureKind::kWrongKey:
      return "wrong key";
    case FailureKind::kCorrupt:
      return "corrupt";
    case FailureKind::kTruncated:
      return "truncated";
    case FailureKind::kUnsupported:
      return "unsupported";
  }
  return "unknown";
}

bool scrypt_within_caps(int log2_n, std::uint32_t r, std::uint32_t p) {
  if (log2_n < kMinLog2N || log2_n > kMaxLog2N || r < 1 || r > kMaxScryptR || p < 1 ||
      p > kMaxScryptP) {
    return false;
  }
  const std::uint64_t n = std::uint64_t{1} << log2_n;
  return 128 * n * r <= kMaxScryptMemory && n * r * p <= kMaxScryptWork;
}

FormatResult<StoreHeader> parse_header(ByteView file) {
  const std::size_t size = file.size();
  if (size < 8) {
    if (std::equal(file.begin(), file.end(), reinterpret_cast<const std::uint8_t*>(kMagic))) {
      return fail(FailureKind::kTruncated,
                  "store file is truncated (" + std::to_string(size) + " bytes)");
    }
    return fail(FailureKind::kCorrupt, "not an hsmctl store file (bad magic)");
  }
  if (std::memcmp(file.data(), kMagic, 8) != 0) {
    return fail(FailureKind::kCorrupt, "not an hsmctl store file (bad magic)");
  }
  if (size < 10)
    return fail(FailureKind::kTruncated, "store file is truncated (no version)");
  StoreHeader h;
  h.version = static_cast<std::uint16_t>((file[8] << 8) | file[9]);
  if (h.version == 0)
    return fail(FailureKind::kCorrupt, "store file has invalid format version 0");
  if (h.version > kFormatVersion) {
    return fail(FailureKind::kUnsupported,
                "store file has format version " + std::to_string(h.version) +
                    ", written by a newer hsmctl (this one reads version " +
                    std::to_string(kFormatVersion) + ")");
  }
  if (size < kHeaderSize) {
    return fail(FailureKind::kTruncated, "store file is truncated (" + std::to_string(size) +
                                             " bytes, header needs " + std::to_string(kHeaderSize) +
                                             ")");
  }
  Bytes digest = crypto::sha256(file.subspan(0, kChecksumOffset));
  if (!std::equal(digest.begin(), digest.end(), file.begin() + kChecksumOffset)) {
    return fail(FailureKind::kCorrupt, "store file header is corrupt (checksum mismatch)");
  }
  h.kdf = static_cast<KdfId>(file[10]);
  h.aead = file[11];
  h.scrypt.log2_n = file[12];
  h.scrypt.r = be32(&file[13]);
  h.scrypt.p = be32(&file[17]);
  std::copy_n(file.begin() + 21, 16, h.salt.begin());
  std::copy_n(file.begin() + 37, 32, h.nonce.begin());
  std::copy_n(file.begin() + 69, 12, h.iv.begin());
  h.ciphertext_length = be32(&file[81]);
  std::copy_n(file.begin() + 85, 16, h.key_check.begin());
  if (h.aead != kAeadAes256Gcm) {
    return fail(FailureKind::kUnsupported,
                "store file uses unknown cipher id " + std::to_string(h.aead));
  }
  switch (h.kdf) {
    case KdfId::kScrypt:
      if (!scrypt_within_caps(h.scrypt.log2_n, h.scrypt.r, h.scrypt.p)) {
        return fail(FailureKind::kUnsupported,
                    "store file asks for scrypt parameters outside the accepted range (log2 N " +
                        std::to_string(h.scrypt.log2_n) + ", r " + std::to_string(h.scrypt.r) +
                        ", p " + std::to_string(h.scrypt.p) + "; caps: log2 N " +
                        std::to_string(kMinLog2N) + ".." + std::to_string(kMaxLog2N) +
                        ", 128 * N * r <= 1 GiB, N * r * p <= 2^23)");
      }
      break;
    case KdfId::kKeyFile:
      if (h.scrypt.log2_n != 0 || h.scrypt.r != 0 || h.scrypt.p != 0) {
        return fail(FailureKind::kCorrupt,
                    "store file header is inconsistent (KDF parameters "
                    "set in key-file mode)");
      }
      break;
    case KdfId::kArgon2id:
      return fail(FailureKind::kUnsupported,
                  "store file uses argon2id, which this build of hsmctl does not support");
    default:
      return fail(FailureKind::kUnsupported,
                  "store file uses unknown KDF id " + std::to_string(file[10]));
  }
  const std::uint64_t expected =
      std::uint64_t{kHeaderSize} + h.ciphertext_length + std::uint64_t{kTagSize};
  if (size < expected) {
    return fail(FailureKind::kTruncated, "store file is truncated (" + std::to_string(size) +
                                             " of " + std::to_string(expected) + " bytes)");
  }
  if (size > expected) {
    return fail(FailureKind::kCorrupt,
                "store file has " + std::to_string(size - expected) + " unexpected trailing bytes");
  }
  return h;
}

Result<Secret> derive_kek(const StoreHeader& header, const Secret& material) {
  if (header.kdf == KdfId::kKeyFile) {
    if (material.size() != 32) {
      return make_error(Errc::kStore, "a store key file must hold exactly 32 bytes");
    }
    return material;
  }
  if (header.kdf != KdfId::kScrypt)
    return make_error(Errc::kStore, "unsupported KDF");
  Bytes salt(kScryptSaltLabel.begin(), kScryptSaltLabel.end());
  salt.insert(salt.end(), header.salt.begin(), header.salt.end());
  return crypto::scrypt(material, salt, header.scrypt.log2_n, header.scrypt.r, header.scrypt.p);
}

Result<bool> kek_matches(const StoreHeader& header, const Secret& kek) {
  HSMCTL_TRY_ASSIGN(Secret check, key_check_of(header, kek));
  return crypto::equal_ct(check.bytes(), header.key_check);
}

FormatResult<Secret> open_file(ByteView file, const StoreHeader& header, const Secret& kek) {
  auto matches = kek_matches(header, kek);
  if (!matches)
    return fail(FailureKind::kCorrupt, matches.error().message);
  if (!*matches) {
    return fail(FailureKind::kWrongKey, header.kdf == KdfId::kKeyFile
                                            ? "wrong key file: it does not unlock this store"
                                            : "wrong passphrase: it does not unlock this store");
  }
  auto key = crypto::hkdf_sha256(kek, header.nonce, kPayloadInfo, 32);
  if (!key)
    return fail(FailureKind::kCorrupt, key.error().message);
  auto plain = crypto::aes256gcm_open(*key, header.iv, file.subspan(0, kHeaderSize),
                                      file.subspan(kHeaderSize));
  if (!plain) {
    return fail(FailureKind::kCorrupt,
                "store file is corrupt or was tampered with (authentication failed)");
  }
  return std::move(*plain);
}

Result<Bytes> seal_file(StoreHeader header, const Secret& kek, ByteView plaintext) {
  if (plaintext.size() > 0xFFFFFFF0u)
    return make_error(Errc::kStore, "store payload too large");
  HSMCTL_TRY_ASSIGN(Bytes nonce, crypto::random_bytes(header.nonce.size()));
  HSMCTL_TRY_ASSIGN(Bytes iv, crypto::random_bytes(header.iv.size()));
  std::copy(nonce.begin(), nonce.end(), header.nonce.begin());
  std::copy(iv.begin(), iv.end(), header.iv.begin());
  header.ciphertext_length = static_cast<std::uint32_t>(plaintext.size());
  HSMCTL_TRY_ASSIGN(Secret check, key_check_of(header, kek));
  std::copy(check.bytes().begin(), check.bytes().end(), header.key_check.begin());
  Bytes out = encode_header_without_checksum(header);
  Bytes digest = crypto::sha256(out);
  out.insert(out.end(), digest.begin(), digest.end());
  HSMCTL_TRY_ASSIGN(Secret key, crypto::hkdf_sha256(kek, header.nonce, kPayloadInfo, 32));
  HSMCTL_TRY_ASSIGN(Bytes sealed, crypto::aes256gcm_seal(key, header.iv, out, plaintext));
  out.insert(out.end(), sealed.begin(), sealed.end());
  return out;
}

Result<StoreHeader> new_header(KeyMode mode, const ScryptParams& params) {
  StoreHeader h;
  if (mode == KeyMode::kKeyFile) {
    h.kdf = KdfId::kKeyFile;
    h.scrypt = ScryptParams{0, 0, 0};
  } else {
    h.kdf = KdfId::kScrypt;
    h.scrypt = params;
  }
  HSMCTL_TRY_ASSIGN(Bytes salt, crypto::random_bytes(h.salt.size()));
  std::copy(salt.begin(), salt.end(), h.salt.begin());
  return h;
}

Error format_error_to_error(const FormatError& e, const std::string& path) {
  return Error{Errc::kStore, path + ": " + e.message, std::nullopt, {}};
}

}  // namespace hsmctl::store
