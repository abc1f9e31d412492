// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/secrets/password_shares.hpp"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace hsmctl::secrets {
namespace {

// sc-hsm-tool reads a prime or a value into a 64-byte buffer.
constexpr std::size_t kMaxNumberBytes = 64;
constexpr int kMaxShareId = 255;
constexpr int kPrimeBits = 64;

struct BnFree {
  void operator()(BIGNUM* bn) const { BN_clear_free(bn); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;
struct BnCtxFree {
  void operator()(BN_CTX* ctx) const { BN_CTX_free(ctx); }
};
using BnCtx = std::unique_ptr<BN_CTX, BnCtxFree>;

Bn new_bn() {
  return Bn(BN_new());
}

// A fixed-size buffer wiped on every exit.
struct Wiped {
  std::array<std::uint8_t, kMaxNumberBytes> b{};
  Wiped() = default;
  Wiped(const Wiped&) = delete;
  Wiped& operator=(const Wiped&) = delete;
  ~Wiped() { OPENSSL_cleanse(b.data(), b.size()); }
};

// A string wiped when it goes: the text of a part is secret. Reserved up front so that no
// reallocation leaves a copy behind.
struct WipedString {
  std::string s;
  explicit WipedString(std::size_t reserve) { s.reserve(reserve); }
  WipedString(const WipedString&) = delete;
  WipedString& operator=(const WipedString&) = delete;
  ~WipedString() { OPENSSL_cleanse(s.data(), s.size()); }
};

constexpr char kHexDigits[] = "0123456789abcdef";

// sc-hsm-tool's sc_bin_to_hex(..., ':'): lower case, ':' between bytes; BN_bn2bin's minimal
// big-endian bytes.
void append_hex(std::string& out, const BIGNUM* bn) {
  Wiped buf;
  const int n = BN_bn2bin(bn, buf.b.data());
  for (int i = 0; i < n; ++i) {
    if (i != 0)
      out.push_back(':');
    out.push_back(kHexDigits[buf.b[static_cast<std::size_t>(i)] >> 4]);
    out.push_back(kHexDigits[buf.b[static_cast<std::size_t>(i)] & 0x0F]);
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// Hex bytes with ':' or ' ' between groups; a group of one digit is one byte (as sc-hsm-tool's
// sc_hex_to_bin reads "a:b"), a longer group must have an even number of digits.
std::optional<std::size_t> parse_hex(std::string_view text, Wiped& out) {
  std::size_t n = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ':' || text[i] == ' ') {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && text[j] != ':' && text[j] != ' ')
      ++j;
    const std::string_view group = text.substr(i, j - i);
    if (group.size() != 1 && group.size() % 2 != 0)
      return std::nullopt;
    for (std::size_t k = 0; k < group.size(); k += group.size() == 1 ? 1 : 2) {
      const int hi = group.size() == 1 ? 0 : hex_value(group[k]);
      const int lo = hex_value(group[group.size() == 1 ? k : k + 1]);
      if (hi < 0 || lo < 0 || n == out.b.size())
        return std::nullopt;
      out.b[n++] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    i = j;
  }
  if (n == 0)
    return std::nullopt;
  return n;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ')
    s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ')
    s.remove_suffix(1);
  return s;
}

struct Part {
  Bn prime;  // null when the part leaves it to another
  Bn x;
  Bn y;
};

tl::unexpected<Error> part_error(std::size_t index, const std::string& what) {
  return make_error(Errc::kSecret, "password share " + std::to_string(index + 1) + ": " + what);
}

Result<Part> parse_part(const Secret& text, std::size_t index) {
  const std::string_view t = text.view();
  const auto s1 = t.find('/');
  const auto s2 = s1 == std::string_view::npos ? s1 : t.find('/', s1 + 1);
  if (s2 == std::string_view::npos || t.find('/', s2 + 1) != std::string_view::npos)
    return part_error(index, "not PRIME/ID/VALUE (hex/decimal/hex)");
  const std::string_view prime_text = trim(t.substr(0, s1));
  const std::string_view id_text = trim(t.substr(s1 + 1, s2 - s1 - 1));
  const std::string_view value_text = trim(t.substr(s2 + 1));
  Part p;
  Wiped buf;
  if (!prime_text.empty()) {
    const auto n = parse_hex(prime_text, buf);
    if (!n)
      return part_error(index, "the prime is not hex bytes (at most 64)");
    p.prime = Bn(BN_bin2bn(buf.b.data(), static_cast<int>(*n), nullptr));
  }
  int id = 0;
  if (id_text.empty() || id_text.size() > 3)
    return part_error(index, "the share ID is not a decimal number 1..255");
  for (char c : id_text) {
    if (c < '0' || c > '9')
      return part_error(index, "the share ID is not a decimal number 1..255");
    id = id * 10 + (c - '0');
  }
  if (id < 1 || id > kMaxShareId)
    return part_error(index, "the share ID is not a decimal number 1..255");
  const auto n = parse_hex(value_text, buf);
  if (!n)
    return part_error(index, "the share value is not hex bytes (at most 64)");
  p.x = new_bn();
  p.y = Bn(BN_bin2bn(buf.b.data(), static_cast<int>(*n), nullptr));
  if (!p.x || !p.y || (!prime_text.empty() && !p.prime) ||
      BN_set_word(p.x.get(), static_cast<BN_ULONG>(id)) != 1)
    return make_error(Errc::kInternal, "OpenSSL BIGNUM allocation failed");
  return p;
}

}  // namespace

Secret PasswordSharePart::text() const {
  WipedString out(prime_hex.size() + 8 + value_hex.size());
  out.s += prime_hex;
  out.s += '/';
  out.s += std::to_string(id);
  out.s += '/';
  out.s += value_hex.view();
  return Secret(std::string_view(out.s));
}

std::string check_password_shares(int threshold, int total) {
  if (total < kMinPasswordSharesTotal || total > kMaxPasswordSharesTotal) {
    return "the number of password shares must be " + std::to_string(kMinPasswordSharesTotal) +
           ".." + std::to_string(kMaxPasswordSharesTotal) +
           " (sc-hsm-tool: at least 3; it reads share IDs from 10 on wrongly)";
  }
  if (threshold < kMinPasswordSharesThreshold || threshold > total) {
    return "the threshold of password shares must be " +
           std::to_string(kMinPasswordSharesThreshold) + ".." + std::to_string(total) +
           " (at least 2, at most the number of shares)";
  }
  return {};
}

Result<SplitPassword> split_new_password(int threshold, int total) {
  if (const std::string problem = check_password_shares(threshold, total); !problem.empty())
    return make_error(Errc::kUsage, problem);
  SplitPassword out;
  std::array<std::uint8_t, kSplitPasswordSize> raw{};
  // The top bit cleared as sc-hsm-tool does (a 63-bit secret, below every 64-bit prime); a
  // first byte of 0 drawn again (see the header).
  do {
    if (RAND_priv_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
      OPENSSL_cleanse(raw.data(), raw.size());
      return make_error(Errc::kInternal, "the OpenSSL random generator failed");
    }
    raw[0] &= 0x7F;
  } while (raw[0] == 0);
  out.password = Secret(ByteView(raw.data(), raw.size()));
  Bn secret(BN_bin2bn(raw.data(), static_cast<int>(raw.size()), nullptr));
  OPENSSL_cleanse(raw.data(), raw.size());

  BnCtx ctx(BN_CTX_new());
  Bn prime = new_bn();
  if (!secret || !ctx || !prime)
    return make_error(Errc::kInternal, "OpenSSL BIGNUM allocation failed");
  // A 64-bit prime has its top bit set, so it is greater than the 63-bit secret; a safe prime
  // as sc-hsm-tool's generatePrime() asks for.
  if (BN_generate_prime_ex(prime.get(), kPrimeBits, /*safe=*/1, nullptr, nullptr, nullptr) != 1 ||
      BN_ucmp(prime.get(), secret.get()) <= 0) {
    return make_error(Errc::kInternal, "OpenSSL could not generate a prime");
  }
  // poly(x) = secret + c1 x + ... + c(t-1) x^(t-1) mod prime, coefficients uniform below prime.
  std::vector<Bn> coefficients;
  coefficients.push_back(std::move(secret));
  for (int i = 1; i < threshold; ++i) {
    Bn c = new_bn();
    if (!c || BN_priv_rand_range(c.get(), prime.get()) != 1)
      return make_error(Errc::kInternal, "the OpenSSL random generator failed");
    coefficients.push_back(std::move(c));
  }
  std::string prime_hex;
  append_hex(prime_hex, prime.get());
  for (int id = 1; id <= total; ++id) {
    Bn x = new_bn();
    Bn y = new_bn();
    if (!x || !y || BN_set_word(x.get(), static_cast<BN_ULONG>(id)) != 1)
      return make_error(Errc::kInternal, "OpenSSL BIGNUM allocation failed");
    // Horner: y = (...(c(t-1) x + c(t-2)) x + ...) x + c0.
    BN_zero(y.get());
    for (auto it = coefficients.rbegin(); it != coefficients.rend(); ++it) {
      if (BN_mod_mul(y.get(), y.get(), x.get(), prime.get(), ctx.get()) != 1 ||
          BN_mod_add(y.get(), y.get(), it->get(), prime.get(), ctx.get()) != 1)
        return make_error(Errc::kInternal, "OpenSSL BIGNUM arithmetic failed");
    }
    WipedString value(3 * kMaxNumberBytes);
    append_hex(value.s, y.get());
    PasswordSharePart part;
    part.prime_hex = prime_hex;
    part.id = id;
    part.value_hex = Secret(std::string_view(value.s));
    out.parts.push_back(std::move(part));
  }
  return out;
}

Result<Secret> combine_password_shares(std::span<const Secret> parts) {
  if (parts.size() < 2 || parts.size() > static_cast<std::size_t>(kMaxShareId))
    return make_error(Errc::kSecret, "a split password needs 2..255 password shares");
  std::vector<Part> parsed;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    HSMCTL_TRY_ASSIGN(auto p, parse_part(parts[i], i));
    parsed.push_back(std::move(p));
  }
  const BIGNUM* prime = nullptr;
  for (std::size_t i = 0; i < parsed.size(); ++i) {
    if (!parsed[i].prime)
      continue;
    if (prime == nullptr)
      prime = parsed[i].prime.get();
    else if (BN_cmp(prime, parsed[i].prime.get()) != 0)
      return part_error(i, "its prime differs from the other shares' (another password's share?)");
  }
  if (prime == nullptr)
    return make_error(Errc::kSecret, "no password share gives the prime");
  BnCtx ctx(BN_CTX_new());
  if (!ctx)
    return make_error(Errc::kInternal, "OpenSSL BIGNUM allocation failed");
  if (BN_check_prime(prime, ctx.get(), nullptr) != 1)
    return make_error(Errc::kSecret, "the prime of the password shares is not a prime");
  for (std::size_t i = 0; i < parsed.size(); ++i) {
    if (BN_cmp(parsed[i].y.get(), prime) >= 0)
      return part_error(i, "its value is not below the prime");
    if (BN_cmp(parsed[i].x.get(), prime) >= 0)
      return part_error(i, "its ID is not below the prime");
    for (std::size_t j = 0; j < i; ++j) {
      if (BN_cmp(parsed[i].x.get(), parsed[j].x.get()) == 0)
        return part_error(i, "the same share ID as password share " + std::to_string(j + 1));
    }
  }
  // secret = sum_i y_i * prod_{j != i} x_j / (x_j - x_i)  (mod prime)
  Bn secret = new_bn();
  Bn num = new_bn();
  Bn den = new_bn();
  Bn diff = new_bn();
  Bn term = new_bn();
  if (!secret || !num || !den || !diff || !term)
    return make_error(Errc::kInternal, "OpenSSL BIGNUM allocation failed");
  BN_zero(secret.get());
  for (std::size_t i = 0; i < parsed.size(); ++i) {
    bool ok = BN_one(num.get()) == 1 && BN_one(den.get()) == 1;
    for (std::size_t j = 0; ok && j < parsed.size(); ++j) {
      if (i == j)
        continue;
      ok = BN_mod_mul(num.get(), num.get(), parsed[j].x.get(), prime, ctx.get()) == 1 &&
           BN_mod_sub(diff.get(), parsed[j].x.get(), parsed[i].x.get(), prime, ctx.get()) == 1 &&
           BN_mod_mul(den.get(), den.get(), diff.get(), prime, ctx.get()) == 1;
    }
    ok = ok && BN_mod_inverse(den.get(), den.get(), prime, ctx.get()) != nullptr &&
         BN_mod_mul(term.get(), num.get(), den.get(), prime, ctx.get()) == 1 &&
         BN_mod_mul(term.get(), term.get(), parsed[i].y.get(), prime, ctx.get()) == 1 &&
         BN_mod_add(secret.get(), secret.get(), term.get(), prime, ctx.get()) == 1;
    if (!ok)
      return make_error(Errc::kInternal, "OpenSSL BIGNUM arithmetic failed");
  }
  Wiped buf;
  const int bytes = BN_num_bytes(secret.get());
  const int len =
      bytes <= static_cast<int>(kSplitPasswordSize)
          ? BN_bn2binpad(secret.get(), buf.b.data(), static_cast<int>(kSplitPasswordSize))
          : BN_bn2bin(secret.get(), buf.b.data());
  if (len <= 0)
    return make_error(Errc::kInternal, "OpenSSL BIGNUM conversion failed");
  return Secret(ByteView(buf.b.data(), static_cast<std::size_t>(len)));
}

}  // namespace hsmctl::secrets
