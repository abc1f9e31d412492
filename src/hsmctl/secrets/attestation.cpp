// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/secrets/attestation.hpp"

#include "hsmctl/util/atomic_file.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>
#include <memory>

namespace hsmctl::secrets {
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
struct BldFree {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct SigFree {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
struct GroupFree {
  void operator()(EC_GROUP* p) const { EC_GROUP_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

struct NamedCurve {
  const char* name;
  int nid;
};
// In the order curve_of() tries them (the Pico's two curves first).
constexpr std::array<NamedCurve, 7> kCurves{{
    {"prime256v1", NID_X9_62_prime256v1},
    {"secp256k1", NID_secp256k1},
    {"brainpoolP256r1", NID_brainpoolP256r1},
    {"secp384r1", NID_secp384r1},
    {"brainpoolP384r1", NID_brainpoolP384r1},
    {"secp521r1", NID_secp521r1},
    {"brainpoolP512r1", NID_brainpoolP512r1},
}};

Bytes strip_leading_zeros(ByteView v) {
  auto first = std::find_if(v.begin(), v.end(), [](std::uint8_t b) { return b != 0; });
  return Bytes(first, v.end());
}

// The curve's prime p, and its size in bytes.
std::optional<Bytes> curve_prime(int nid) {
  std::unique_ptr<EC_GROUP, GroupFree> group(EC_GROUP_new_by_curve_name(nid));
  std::unique_ptr<BIGNUM, BnFree> p(BN_new());
  if (!group || !p || EC_GROUP_get_curve(group.get(), p.get(), nullptr, nullptr, nullptr) != 1)
    return std::nullopt;
  Bytes out(static_cast<std::size_t>(BN_num_bytes(p.get())));
  BN_bn2bin(p.get(), out.data());
  return out;
}

// EVP_PKEY_fromdata decodes the point on the named curve and refuses a point not on it.
Pkey public_key(const char* curve, ByteView point) {
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve, 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size())) {
    return nullptr;
  }
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld.get()));
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0)
    return nullptr;
  EVP_PKEY* out = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &out, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0)
    return nullptr;
  Pkey key(out);
  // fromdata does not check the point on every OpenSSL 3 release: check it explicitly.
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> check(
      EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1)
    return nullptr;
  return key;
}

std::string describe(const cvc::Certificate& c) {
  return "certificate " + c.chr + " (issuer " + (c.car.empty() ? "(none)" : c.car) + ")";
}

bool same_key(const cvc::PublicKey& a, const cvc::PublicKey& b) {
  return a.point == b.point;
}

}  // namespace

std::string key_fingerprint(const cvc::PublicKey& key) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(key.point.data(), key.point.size(), md.data(), &len, EVP_sha256(), nullptr) != 1)
    return {};
  std::string hex = to_hex(ByteView(md.data(), len));
  std::transform(hex.begin(), hex.end(), hex.begin(),
                 [](char c) { return static_cast<char>(std::tolower(c)); });
  return hex;
}

std::optional<model::DeviceCertificateInfo> describe_device_certificate(
    const std::vector<cvc::Element>& elements) {
  for (const auto& e : elements) {
    if (e.authenticated_request)
      continue;
    model::DeviceCertificateInfo info;
    info.subject = e.cert.chr;
    info.issuer = e.cert.car;
    info.valid_from = e.cert.effective ? cvc::format_date(*e.cert.effective) : "";
    info.valid_until = e.cert.expiration ? cvc::format_date(*e.cert.expiration) : "";
    info.fingerprint = key_fingerprint(e.cert.key);
    return info;
  }
  return std::nullopt;
}

std::string curve_of(const cvc::PublicKey& key) {
  if (key.point.size() < 3)
    return {};
  const std::size_t field = (key.point.size() - 1) / 2;
  const Bytes want_p = strip_leading_zeros(key.p);
  for (const NamedCurve& c : kCurves) {
    auto p = curve_prime(c.nid);
    if (!p || p->size() != field)
      continue;
    if (key.has_domain_parameters() && strip_leading_zeros(*p) != want_p)
      continue;
    if (public_key(c.name, key.point))
      return c.name;
  }
  return {};
}

bool verify_signature(const cvc::PublicKey& signer, ByteView message, ByteView signature) {
  const std::string curve = curve_of(signer);
  if (curve.empty() || signature.empty() || signature.size() % 2 != 0)
    return false;
  Pkey pkey = public_key(curve.c_str(), signer.point);
  if (!pkey)
    return false;
  const int half = static_cast<int>(signature.size() / 2);
  std::unique_ptr<ECDSA_SIG, SigFree> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(signature.data(), half, nullptr);
  BIGNUM* s = BN_bin2bn(signature.data() + half, half, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return false;
  }
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(sig.get(), &der);
  if (der_len <= 0)
    return false;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> md(EVP_MD_CTX_new());
  const bool ok = md &&
                  EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, pkey.get()) == 1 &&
                  EVP_DigestVerify(md.get(), der, static_cast<std::size_t>(der_len), message.data(),
                                   message.size()) == 1;
  OPENSSL_free(der);
  return ok;
}

AttestationResult check_attestation(const std::vector<cvc::Element>& elements,
                                    const AttestationPolicy& policy, const cvc::Date& today) {
  AttestationResult r;
  auto fail = [&r](std::string why) {
    r.ok = false;
    r.failure = std::move(why);
    return r;
  };
  std::vector<const cvc::Certificate*> certs;
  for (const cvc::Element& e : elements) {
    if (!e.authenticated_request)
      certs.push_back(&e.cert);
  }
  if (certs.empty())
    return fail("the device certificate file holds no certificate (7F21)");
  const cvc::Certificate& device = *certs.front();

  if (!policy.fingerprint.empty()) {
    const std::string actual = key_fingerprint(device.key);
    if (actual != policy.fingerprint) {
      return fail(describe(device) + ": device key fingerprint " + actual +
                  " differs from the pinned " + policy.fingerprint);
    }
  }

  // v6.6: the device's authenticated request, made and signed by the device key.
  for (const cvc::Element& e : elements) {
    if (!e.authenticated_request)
      continue;
    const std::string what = "request " + e.cert.chr;
    if (!same_key(e.cert.key, device.key))
      return fail(what + ": its key differs from the device certificate's");
    if (!verify_signature(e.cert.key, e.cert.body, e.cert.signature))
      return fail(what + ": inner signature does not verify with its own key");
    if (!verify_signature(device.key, e.outer_signed, e.outer_signature))
      return fail(what + ": outer signature does not verify with the device key");
  }

  // A certificate of the file that bears an anchor's name must bear its key too.
  for (const cvc::Certificate* c : certs) {
    for (const cvc::Certificate& a : policy.trust) {
      if (a.chr == c->chr && !same_key(a.key, c->key)) {
        return fail(describe(*c) + ": trust anchor " + a.chr + " (" + policy.trust_source +
                    ") has the same name but another key");
      }
    }
  }

  const cvc::Certificate* cur = &device;
  // Issued certificates without domain parameters take them from the issuer; curve_of() finds
  // the curve from the point, so no inheritance is needed to verify.
  for (std::size_t depth = 0; depth <= certs.size() + policy.trust.size(); ++depth) {
    if (cur->effective && today < *cur->effective)
      return fail(describe(*cur) + ": not valid before " + cvc::format_date(*cur->effective));
    if (cur->expiration && *cur->expiration < today)
      return fail(describe(*cur) + ": expired on " + cvc::format_date(*cur->expiration));
    const bool is_anchor = std::any_of(
        policy.trust.begin(), policy.trust.end(),
        [&](const cvc::Certificate& a) { return a.chr == cur->chr && same_key(a.key, cur->key); });
    if (is_anchor) {
      r.ok = true;
      r.summary = "chain of " + device.chr + " ends at trust anchor " + cur->chr;
      return r;
    }
    if (cur->car == cur->chr) {
      if (!verify_signature(cur->key, cur->body, cur->signature))
        return fail(describe(*cur) + ": self-signature does not verify with its own key");
      if (!policy.trust.empty()) {
        return fail(describe(*cur) + ": self-signed and not a trust anchor of " +
                    policy.trust_source);
      }
      r.ok = true;
      r.summary = device.car == device.chr ? "self-signed " + device.chr
                                           : "chain of " + device.chr + " ends at self-signed " +
                                                 cur->chr + " (no trust file)";
      return r;
    }
    const cvc::Certificate* issuer = nullptr;
    for (const cvc::Certificate& a : policy.trust) {
      if (a.chr == cur->car) {
        issuer = &a;
        break;
      }
    }
    for (std::size_t i = 0; issuer == nullptr && i < certs.size(); ++i) {
      if (certs[i]->chr == cur->car && certs[i] != cur)
        issuer = certs[i];
    }
    if (issuer == nullptr) {
      if (!policy.trust.empty()) {
        return fail(describe(*cur) + ": issuer " + cur->car +
                    " is neither in the device's file nor a trust anchor of " +
                    policy.trust_source);
      }
      r.ok = true;
      r.summary = "chain of " + device.chr + " verified up to " + cur->chr + "; its issuer " +
                  cur->car + " is not in the device's file (no trust file)";
      return r;
    }
    if (!verify_signature(issuer->key, cur->body, cur->signature))
      return fail(describe(*cur) + ": signature does not verify with the key of " + issuer->chr);
    cur = issuer;
  }
  return fail(describe(*cur) + ": the chain loops");
}

cvc::Date today_utc() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  return cvc::Date{tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
}

Result<std::vector<cvc::Certificate>> read_trust_file(const std::string& path) {
  constexpr std::size_t kMaxTrustFile = std::size_t{256} * 1024;
  auto file = read_regular_file(path, kMaxTrustFile);
  if (!file)
    return make_error(Errc::kManifest, "trust file " + path + ": " + file.error().message);
  Bytes data = std::move(file->content);
  const bool text = !data.empty() && std::all_of(data.begin(), data.end(), [](std::uint8_t c) {
    return std::isxdigit(c) != 0 || std::isspace(c) != 0 || c == ':';
  });
  if (text) {
    std::string hex;
    for (std::uint8_t c : data) {
      if (std::isxdigit(c) != 0)
        hex.push_back(static_cast<char>(c));
    }
    auto bin = from_hex(hex);
    if (!bin)
      return make_error(Errc::kManifest, "trust file " + path + ": not valid hex");
    data = std::move(*bin);
  }
  auto elements = cvc::parse_elements(data);
  if (!elements)
    return make_error(Errc::kManifest, "trust file " + path + ": " + elements.error().message);
  std::vector<cvc::Certificate> out;
  for (auto& e : *elements) {
    if (e.authenticated_request)
      return make_error(Errc::kManifest,
                        "trust file " + path + ": holds a request (67), not a certificate");
    out.push_back(std::move(e.cert));
  }
  return out;
}

}  // namespace hsmctl::secrets
