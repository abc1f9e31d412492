// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/device/sim/sim_crypto.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace hsmctl::device::sim::crypto {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct CtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_clear_free(p); }
};
struct BldFree {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct SigFree {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// Only for the compile-time curve constants below, which are valid hex.
Bytes from_hex_literal(const char* h) {
  return from_hex(h).value_or(Bytes{});
}

// Builds an EVP_PKEY from raw EC material; private part optional.
Pkey make_pkey(Curve curve, const Bytes* private_scalar, ByteView public_point) {
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld) {
    return nullptr;
  }
  std::unique_ptr<BIGNUM, BnFree> priv;
  if (!OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve_name(curve),
                                       0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, public_point.data(),
                                        public_point.size())) {
    return nullptr;
  }
  if (private_scalar != nullptr) {
    priv.reset(
        BN_bin2bn(private_scalar->data(), static_cast<int>(private_scalar->size()), nullptr));
    if (!priv || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv.get())) {
      return nullptr;
    }
  }
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld.get()));
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0) {
    return nullptr;
  }
  EVP_PKEY* out = nullptr;
  int selection = private_scalar != nullptr ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY;
  if (EVP_PKEY_fromdata(ctx.get(), &out, selection, params.get()) <= 0) {
    return nullptr;
  }
  return Pkey(out);
}

Bytes left_pad(const BIGNUM* bn, int size) {
  Bytes out(static_cast<std::size_t>(size), 0);
  BN_bn2binpad(bn, out.data(), size);
  return out;
}

}  // namespace

Bytes random_bytes(std::size_t n) {
  Bytes out(n, 0);
  if (n > 0 && RAND_bytes(out.data(), static_cast<int>(n)) != 1) {
    // RAND_bytes does not fail on a seeded Linux system; fall back loudly rather than silently.
    std::abort();
  }
  return out;
}

Bytes sha256(ByteView data) {
  Bytes out(32, 0);
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

Bytes sha256(ByteView a, ByteView b) {
  Bytes joined(a.begin(), a.end());
  joined.insert(joined.end(), b.begin(), b.end());
  Bytes out = sha256(joined);
  std::fill(joined.begin(), joined.end(), 0);
  return out;
}

const char* curve_name(Curve curve) {
  return curve == Curve::kSecp256k1 ? "secp256k1" : "prime256v1";
}

std::optional<Curve> curve_from_name(const std::string& name) {
  if (name == "prime256v1")
    return Curve::kP256;
  if (name == "secp256k1")
    return Curve::kSecp256k1;
  return std::nullopt;
}

std::optional<EcKeyPair> generate_ec(Curve curve) {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve_name(curve)));
  if (!key) {
    return std::nullopt;
  }
  BIGNUM* priv = nullptr;
  if (EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_PRIV_KEY, &priv) != 1) {
    return std::nullopt;
  }
  std::unique_ptr<BIGNUM, BnFree> priv_holder(priv);
  Bytes pub(65, 0);
  std::size_t pub_len = 0;
  if (EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_PUB_KEY, pub.data(), pub.size(),
                                      &pub_len) != 1 ||
      pub_len != 65) {
    return std::nullopt;
  }
  return EcKeyPair{left_pad(priv, 32), pub, curve};
}

std::optional<Bytes> sign_ec(const EcKeyPair& key, ByteView message) {
  Pkey pkey = make_pkey(key.curve, &key.private_scalar, key.public_point);
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> md(EVP_MD_CTX_new());
  if (!pkey || !md ||
      EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, pkey.get()) != 1) {
    return std::nullopt;
  }
  std::size_t der_len = 0;
  if (EVP_DigestSign(md.get(), nullptr, &der_len, message.data(), message.size()) != 1) {
    return std::nullopt;
  }
  Bytes der(der_len, 0);
  if (EVP_DigestSign(md.get(), der.data(), &der_len, message.data(), message.size()) != 1) {
    return std::nullopt;
  }
  const unsigned char* p = der.data();
  std::unique_ptr<ECDSA_SIG, SigFree> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
  if (!sig) {
    return std::nullopt;
  }
  Bytes out = left_pad(ECDSA_SIG_get0_r(sig.get()), 32);
  Bytes s = left_pad(ECDSA_SIG_get0_s(sig.get()), 32);
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

std::optional<Bytes> sign_ec_digest_der(const EcKeyPair& key, ByteView digest) {
  if (digest.empty()) {
    return std::nullopt;
  }
  Pkey pkey = make_pkey(key.curve, &key.private_scalar, key.public_point);
  if (!pkey) {
    return std::nullopt;
  }
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new(pkey.get(), nullptr));
  std::size_t der_len = 0;
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 ||
      EVP_PKEY_sign(ctx.get(), nullptr, &der_len, digest.data(), digest.size()) != 1) {
    return std::nullopt;
  }
  Bytes der(der_len, 0);
  if (EVP_PKEY_sign(ctx.get(), der.data(), &der_len, digest.data(), digest.size()) != 1) {
    return std::nullopt;
  }
  der.resize(der_len);
  return der;
}

bool verify_ec(Curve curve, ByteView public_point, ByteView message, ByteView signature) {
  if (signature.size() != 64) {
    return false;
  }
  Pkey pkey = make_pkey(curve, nullptr, public_point);
  if (!pkey) {
    return false;
  }
  std::unique_ptr<ECDSA_SIG, SigFree> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(signature.data(), 32, nullptr);
  BIGNUM* s = BN_bin2bn(signature.data() + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return false;
  }
  unsigned char* der = nullptr;
  int der_len = i2d_ECDSA_SIG(sig.get(), &der);
  if (der_len <= 0) {
    return false;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> md(EVP_MD_CTX_new());
  bool ok = md && EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, pkey.get()) == 1 &&
            EVP_DigestVerify(md.get(), der, static_cast<std::size_t>(der_len), message.data(),
                             message.size()) == 1;
  OPENSSL_free(der);
  return ok;
}

const CurveParams& curve_params(Curve curve) {
  static const CurveParams secp256k1{
      from_hex_literal("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F"),
      from_hex_literal("0000000000000000000000000000000000000000000000000000000000000000"),
      from_hex_literal("0000000000000000000000000000000000000000000000000000000000000007"),
      from_hex_literal("0479BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798"
                       "483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8"),
      from_hex_literal("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141"),
      from_hex_literal("01")};
  if (curve == Curve::kSecp256k1) {
    return secp256k1;
  }
  static const CurveParams params{
      from_hex_literal("FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF"),
      from_hex_literal("FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC"),
      from_hex_literal("5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B"),
      from_hex_literal("046B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296"
                       "4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5"),
      from_hex_literal("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"),
      from_hex_literal("01")};
  return params;
}

}  // namespace hsmctl::device::sim::crypto
