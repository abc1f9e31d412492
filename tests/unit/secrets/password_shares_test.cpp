// SPDX-License-Identifier: Apache-2.0
// The n-of-m password split (secrets/password_shares.hpp), sc-hsm-tool's scheme: known-answer
// vectors computed independently (Python, y = s + a1 x + a2 x^2 mod p, printed as sc-hsm-tool's
// generate_pwd_shares prints them: lower-case hex bytes with ':', the ID in decimal), round trips
// of generated splits, and the quirks the reference lists (leading zero bytes, IDs, primes).

#include "hsmctl/secrets/password_shares.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hsmctl::secrets {
namespace {

// p = 2^64 - 59; s = 00 a1 b2 c3 d4 e5 f6 07 (a first byte of 0: sc-hsm-tool's import would
// rebuild 7 bytes); a1 = 0123456789abcdef, a2 = 7edcba9876543210 (threshold 3).
constexpr const char* kPrime = "ff:ff:ff:ff:ff:ff:ff:c5";
const std::vector<std::string> kValues3 = {"80:a1:b2:c3:d4:e5:f6:06", "fe:5b:27:f4:c1:8e:5a:60",
                                           "79:ce:12:56:9a:df:23:50", "f2:fa:71:e9:60:d8:50:60",
                                           "69:e0:46:ad:13:79:e2:06"};
const std::vector<std::uint8_t> kSecret3 = {0x00, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07};

Secret part(const std::string& prime, int id, const std::string& value) {
  return Secret(std::string_view(prime + "/" + std::to_string(id) + "/" + value));
}

std::vector<std::uint8_t> bytes_of(const Secret& s) {
  return {s.bytes().begin(), s.bytes().end()};
}

TEST(PasswordShares, KnownAnswerThreeOfFiveAnyThreeKeepsTheLeadingZeroByte) {
  const std::vector<std::vector<int>> subsets = {{1, 2, 3}, {5, 3, 1}, {2, 4, 5}, {1, 2, 3, 4, 5}};
  for (const auto& ids : subsets) {
    std::vector<Secret> parts;
    for (int id : ids)
      parts.push_back(part(kPrime, id, kValues3[static_cast<std::size_t>(id - 1)]));
    auto secret = combine_password_shares(parts);
    ASSERT_TRUE(secret) << secret.error().message;
    EXPECT_EQ(bytes_of(*secret), kSecret3);  // 8 bytes, the 00 kept (sc-hsm-tool: 7)
  }
}

TEST(PasswordShares, KnownAnswerTwoOfThreeAcceptsTheFormsCustodiansType) {
  // s = 5a5b5c5d5e5f6061, a1 = 0123456789abcdef.
  const std::vector<std::uint8_t> want = {0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f, 0x60, 0x61};
  // Upper case, spaces instead of ':', no separators, blanks around the fields, the prime given
  // by one part only.
  std::vector<Secret> parts;
  parts.emplace_back(std::string_view(" FF FF FF FF FF FF FF C5 / 1 / 5B 7E A1 C4 E8 0B 2E 50 "));
  parts.emplace_back(std::string_view("/3/5dc52c93fb62ca2e"));
  auto secret = combine_password_shares(parts);
  ASSERT_TRUE(secret) << secret.error().message;
  EXPECT_EQ(bytes_of(*secret), want);
  // Fewer parts than the threshold give another number: only decryption can tell.
  std::vector<Secret> one_short;
  one_short.push_back(part(kPrime, 1, kValues3[0]));
  one_short.push_back(part(kPrime, 2, kValues3[1]));
  auto wrong = combine_password_shares(one_short);
  ASSERT_TRUE(wrong);
  EXPECT_NE(bytes_of(*wrong), kSecret3);
}

TEST(PasswordShares, GeneratedSplitsRoundTripWithEveryThresholdSubset) {
  for (int total = kMinPasswordSharesTotal; total <= 5; ++total) {
    for (int threshold = 2; threshold <= total; ++threshold) {
      auto split = split_new_password(threshold, total);
      ASSERT_TRUE(split) << split.error().message;
      ASSERT_EQ(split->password.size(), kSplitPasswordSize);
      EXPECT_GE(split->password.bytes()[0], 0x01);  // never a leading 00 (see the header)
      EXPECT_LE(split->password.bytes()[0], 0x7F);  // top bit cleared, as sc-hsm-tool
      ASSERT_EQ(split->parts.size(), static_cast<std::size_t>(total));
      // The last `threshold` parts, and the first `threshold` ones.
      for (int first : {0, total - threshold}) {
        std::vector<Secret> texts;
        for (int i = first; i < first + threshold; ++i) {
          const auto& p = split->parts[static_cast<std::size_t>(i)];
          EXPECT_EQ(p.id, i + 1);
          EXPECT_EQ(p.prime_hex.size(), 23u);  // 8 bytes "xx:" * 7 + "xx": a 64-bit prime
          texts.push_back(p.text());
        }
        auto back = combine_password_shares(texts);
        ASSERT_TRUE(back) << back.error().message;
        EXPECT_TRUE(back->equals(split->password)) << threshold << " of " << total;
      }
    }
  }
}

TEST(PasswordShares, LimitsAreScHsmToolsAndNineAtMost) {
  EXPECT_FALSE(split_new_password(2, 2));   // sc-hsm-tool: total at least 3
  EXPECT_FALSE(split_new_password(1, 3));   // threshold at least 2
  EXPECT_FALSE(split_new_password(4, 3));   // threshold at most total
  EXPECT_FALSE(split_new_password(2, 10));  // IDs from 10 on: sc-hsm-tool reads them as hex
  EXPECT_TRUE(split_new_password(9, 9));
  EXPECT_EQ(split_new_password(2, 10).error().code, Errc::kUsage);
}

TEST(PasswordShares, MalformedPartsAreNamedByIndexNeverEchoed) {
  const std::string value = kValues3[1];
  auto check = [&](std::vector<Secret> parts, const std::string& want) {
    auto r = combine_password_shares(parts);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kSecret);
    EXPECT_NE(r.error().message.find(want), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find("fe:5b"), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find("c5"), std::string::npos) << r.error().message;
  };
  std::vector<Secret> ok1;
  ok1.push_back(part(kPrime, 1, kValues3[0]));
  auto with = [&](Secret second) {
    std::vector<Secret> v;
    v.push_back(part(kPrime, 1, kValues3[0]));
    v.push_back(std::move(second));
    return v;
  };
  check(with(Secret(std::string_view("fe:5b"))), "password share 2: not PRIME/ID/VALUE");
  check(with(part(kPrime, 0, value)), "password share 2: the share ID");
  check(with(part(kPrime, 256, value)), "password share 2: the share ID");
  check(with(Secret(std::string_view(std::string(kPrime) + "/a/" + value))),
        "password share 2: the share ID");
  check(with(part(kPrime, 1, value)), "password share 2: the same share ID as password share 1");
  check(with(part(kPrime, 2, "fe:5g")), "password share 2: the share value is not hex");
  check(with(part(kPrime, 2, "fe5:00")), "password share 2: the share value is not hex");
  check(with(part("ff:ff:ff:ff:ff:ff:ff:c7", 2, value)), "password share 2: its prime differs");
  check(with(part(kPrime, 2, "ff:ff:ff:ff:ff:ff:ff:c5")),
        "password share 2: its value is not below");
  std::vector<Secret> no_prime;
  no_prime.push_back(part("", 1, kValues3[0]));
  no_prime.push_back(part("", 2, value));
  check(std::move(no_prime), "no password share gives the prime");
  std::vector<Secret> not_prime;
  not_prime.push_back(part("ff:ff:ff:ff:ff:ff:ff:c3", 1, kValues3[0]));
  not_prime.push_back(part("", 2, value));
  check(std::move(not_prime), "is not a prime");
  check(std::move(ok1), "needs 2..255 password shares");
}

}  // namespace
}  // namespace hsmctl::secrets
