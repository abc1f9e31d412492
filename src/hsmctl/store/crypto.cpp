// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/crypto.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <memory>
#include <string>

namespace hsmctl::store::crypto {
namespace {

struct KdfDeleter {
  void operator()(EVP_KDF* k) const { EVP_KDF_free(k); }
  void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

constexpr std::size_t kTagSize = 16;

Result<Secret> derive(const char* name, OSSL_PARAM* params, std::size_t length) {
  std::unique_ptr<EVP_KDF, KdfDeleter> kdf(EVP_KDF_fetch(nullptr, name, nullptr));
  if (!kdf)
    return make_error(Errc::kStore, std::string("OpenSSL has no ") + name + " KDF");
  std::unique_ptr<EVP_KDF_CTX, KdfDeleter> ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx)
    return make_error(Errc::kInternal, "cannot allocate a KDF context");
  Bytes out(length);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    OPENSSL_cleanse(out.data(), out.size());
    return make_error(Errc::kStore, std::string(name) + " key derivation failed");
  }
  Secret result(out);
  OPENSSL_cleanse(out.data(), out.size());
  return result;
}

}  // namespace

Result<Bytes> random_bytes(std::size_t size) {
  Bytes out(size);
  if (size != 0 && RAND_bytes(out.data(), static_cast<int>(size)) != 1) {
    return make_error(Errc::kInternal, "the random number generator failed");
  }
  return out;
}

Result<Secret> scrypt(const Secret& password, ByteView salt, int log2_n, std::uint32_t r,
                      std::uint32_t p) {
  if (log2_n < 1 || log2_n > 40)
    return make_error(Errc::kStore, "invalid scrypt work factor");
  std::uint64_t n = std::uint64_t{1} << log2_n;
  // Memory needed is about 128 * r * (N + p); give OpenSSL an explicit, generous ceiling so
  // its 32 MiB default does not refuse the production parameters.
  std::uint64_t maxmem = 128ULL * r * (n + p + 2) * 2 + (1ULL << 20);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
                                        const_cast<std::uint8_t*>(password.bytes().data()),
                                        password.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<std::uint8_t*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
      OSSL_PARAM_construct_end(),
  };
  return derive("SCRYPT", params, 32);
}

Result<Secret> hkdf_sha256(const Secret& ikm, ByteView salt, std::string_view info,
                           std::size_t length) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                        const_cast<std::uint8_t*>(ikm.bytes().data()), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<std::uint8_t*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()),
                                        info.size()),
      OSSL_PARAM_construct_end(),
  };
  return derive("HKDF", params, length);
}

Bytes sha256(ByteView data) {
  Bytes out(32);
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

Result<Bytes> aes256gcm_seal(const Secret& key, ByteView iv, ByteView aad, ByteView plaintext) {
  if (key.size() != 32 || iv.size() != 12) {
    return make_error(Errc::kInternal, "bad AES-GCM key or IV size");
  }
  std::unique_ptr<EVP_CIPHER_CTX, KdfDeleter> ctx(EVP_CIPHER_CTX_new());
  if (!ctx)
    return make_error(Errc::kInternal, "cannot allocate a cipher context");
  Bytes out(plaintext.size() + kTagSize);
  int len = 0;
  if (EVP_EncryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), key.bytes().data(), iv.data(), nullptr) !=
          1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out.data(), &len, plaintext.data(),
                        static_cast<int>(plaintext.size())) != 1) {
    return make_error(Errc::kStore, "encryption failed");
  }
  int total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), out.data() + total, &len) != 1) {
    return make_error(Errc::kStore, "encryption failed");
  }
  total += len;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, out.data() + total) != 1) {
    return make_error(Errc::kStore, "encryption failed");
  }
  out.resize(static_cast<std::size_t>(total) + kTagSize);
  return out;
}

Result<Secret> aes256gcm_open(const Secret& key, ByteView iv, ByteView aad,
                              ByteView ciphertext_and_tag) {
  if (key.size() != 32 || iv.size() != 12 || ciphertext_and_tag.size() < kTagSize) {
    return make_error(Errc::kStore, "authentication failed");
  }
  std::size_t ct_len = ciphertext_and_tag.size() - kTagSize;
  std::unique_ptr<EVP_CIPHER_CTX, KdfDeleter> ctx(EVP_CIPHER_CTX_new());
  if (!ctx)
    return make_error(Errc::kInternal, "cannot allocate a cipher context");
  Bytes out(ct_len + kTagSize);
  int len = 0;
  Bytes tag(ciphertext_and_tag.end() - kTagSize, ciphertext_and_tag.end());
  bool ok =
      EVP_DecryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), key.bytes().data(), iv.data(), nullptr) ==
          1 &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1 &&
      EVP_DecryptUpdate(ctx.get(), out.data(), &len, ciphertext_and_tag.data(),
                        static_cast<int>(ct_len)) == 1;
  int total = len;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) == 1;
  ok = ok && EVP_DecryptFinal_ex(ctx.get(), out.data() + total, &len) == 1;
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());
    return make_error(Errc::kStore, "authentication failed");
  }
  total += len;
  Secret result(ByteView(out.data(), static_cast<std::size_t>(total)));
  OPENSSL_cleanse(out.data(), out.size());
  return result;
}

bool equal_ct(ByteView a, ByteView b) {
  if (a.size() != b.size())
    return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace hsmctl::store::crypto
