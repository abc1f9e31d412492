// SPDX-License-Identifier: Apache-2.0
#pragma once
// The n-of-m split of a DKEK share file's password, compatible with `sc-hsm-tool
// --create-dkek-share FILE --pwd-shares-threshold t --pwd-shares-total n` and its
// `--import-dkek-share FILE --pwd-shares-total k` (reference pico-hsm.md 5.5): the password is
// 8 random bytes with the top bit cleared, split with Shamir's scheme over GF(p) for a random
// 64-bit prime p greater than it, custodian i (1..n) holding y = poly(i) mod p.
//
// One custodian's part as text (what a manifest's `passwordShares` part and `hsmctl dkek kcv`
// read, and what `hsmctl dkek create --password-shares` shows): "PRIME/ID/VALUE", PRIME and VALUE
// as hex bytes separated by ':' as sc-hsm-tool prints them ("c5:1f:...", either case, ':' or ' '
// or nothing between bytes), ID in decimal as sc-hsm-tool prints it. PRIME may be left empty
// ("/2/0a:..") when another part of the same password gives it. A part is a secret (with the
// threshold's other parts it is the password): it lives in a Secret, never in a message.

#include "hsmctl/util/error.hpp"
#include "hsmctl/util/secret.hpp"

#include <span>
#include <string>
#include <vector>

namespace hsmctl::secrets {

/// sc-hsm-tool's limits: at least 3 parts, a threshold of at least 2 and at most the total.
inline constexpr int kMinPasswordSharesTotal = 3;
inline constexpr int kMinPasswordSharesThreshold = 2;
/// hsmctl's own limit when it creates: sc-hsm-tool prints share IDs in decimal but reads them
/// back as hex, so an ID from 10 on would not import there as printed.
inline constexpr int kMaxPasswordSharesTotal = 9;
/// The password sc-hsm-tool generates for a split: 8 bytes.
inline constexpr std::size_t kSplitPasswordSize = 8;

/// One custodian's part of a generated password.
struct PasswordSharePart {
  std::string prime_hex;  ///< "c5:1f:...": the same for every part (not secret alone)
  int id = 0;             ///< 1..n
  Secret value_hex;       ///< "0a:bc:..."
  /// "PRIME/ID/VALUE".
  Secret text() const;
};

struct SplitPassword {
  Secret password;  ///< kSplitPasswordSize bytes, the first in 0x01..0x7F
  std::vector<PasswordSharePart> parts;
};

/// "threshold must be ..." when (threshold, total) is not 2 <= threshold <= total, 3 <= total
/// <= kMaxPasswordSharesTotal (Errc::kUsage), else empty.
std::string check_password_shares(int threshold, int total);

/// A new random password and its `total` parts, any `threshold` of which give it back (OpenSSL
/// CSPRNG and BN_generate_prime_ex). The first password byte is never 0: sc-hsm-tool turns the
/// recovered number back into bytes without leading zeros, so such a password would come back 7
/// bytes long there and not decrypt the file.
Result<SplitPassword> split_new_password(int threshold, int total);

/// The password the parts (texts as above, at least 2, at most 255) give back by Lagrange
/// interpolation at 0 over GF(prime). Errc::kSecret naming the part's index (never its text)
/// when a part is malformed, the primes differ or none is given, an ID repeats or is not in
/// 1..255, a value is not below the prime, or the prime is not prime. Always
/// kSplitPasswordSize bytes when the number fits (leading zero bytes kept, unlike sc-hsm-tool,
/// which fails on such a password of its own making), else its minimal bytes. Too few parts, or
/// parts of another password, give a wrong password: only the file's decryption can tell.
Result<Secret> combine_password_shares(std::span<const Secret> parts);

}  // namespace hsmctl::secrets
