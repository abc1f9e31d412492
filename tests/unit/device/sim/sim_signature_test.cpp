// SPDX-License-Identifier: Apache-2.0
// COMPUTE SIGNATURE (INS 68) on the simulator: ECDSA with a generated key, the DER answer OpenSC
// decodes, and the conditions (authenticated user, PIN session, key present, algorithm).
#include "sim_test_util.hpp"

#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/device/sim/sim_crypto.hpp"
#include "hsmctl/device/sim/sim_state.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace hsmctl::device::sim {
namespace {

using namespace hsmctl::device::sim::testing;  // NOLINT(google-build-using-namespace)

// SEQUENCE { INTEGER r, INTEGER s } (short lengths, as for P-256) -> r || s, 32 bytes each.
std::optional<Bytes> der_to_raw(const Bytes& der) {
  if (der.size() < 8 || der[0] != 0x30 || der[1] != der.size() - 2) {
    return std::nullopt;
  }
  Bytes out;
  std::size_t i = 2;
  for (int k = 0; k < 2; ++k) {
    if (i + 2 > der.size() || der[i] != 0x02) {
      return std::nullopt;
    }
    std::size_t len = der[i + 1];
    i += 2;
    if (i + len > der.size()) {
      return std::nullopt;
    }
    Bytes v(der.begin() + static_cast<std::ptrdiff_t>(i),
            der.begin() + static_cast<std::ptrdiff_t>(i + len));
    while (v.size() > 32 && v[0] == 0) {
      v.erase(v.begin());
    }
    if (v.size() > 32) {
      return std::nullopt;
    }
    out.insert(out.end(), 32 - v.size(), 0);
    out.insert(out.end(), v.begin(), v.end());
    i += len;
  }
  return out;
}

class SimSignature : public ::testing::Test {
 protected:
  void SetUp() override {
    card_ = initialized_card();
    ASSERT_TRUE(card_->install_key(1, 0));
    public_point_ = card_->state().persistent.keys.at(1).public_point;
  }
  /// Sends `80 68 01 <algo>` with `data`; returns the raw r || s of a 9000 answer, else the SW.
  std::string sign(const std::string& algo, const Bytes& data, Bytes* raw) {
    const std::string d = to_hex(data);
    const std::string r = tx(*card_, "806801" + algo + lc(d) + d + "00");
    if (r.size() < 4 || r.substr(r.size() - 4) != "9000") {
      return r;
    }
    auto der = from_hex(r.substr(0, r.size() - 4));
    auto rs = der ? der_to_raw(*der) : std::nullopt;
    EXPECT_TRUE(rs) << r;
    if (rs) {
      *raw = *rs;
    }
    return "9000";
  }
  std::unique_ptr<SimCard> card_;
  Bytes public_point_;
};

TEST_F(SimSignature, EcdsaRawAndSha256VerifyWithTheKeysPublicPoint) {
  const Bytes message{'c', 'h', 'a', 'l', 'l', 'e', 'n', 'g', 'e'};
  ASSERT_EQ(verify_pin(*card_), "9000");
  Bytes raw;
  ASSERT_EQ(sign("70", crypto::sha256(message), &raw), "9000");  // the hash, as OpenSC sends it
  EXPECT_TRUE(crypto::verify_p256(public_point_, message, raw));
  Bytes other{'o', 't', 'h', 'e', 'r'};
  EXPECT_FALSE(crypto::verify_p256(public_point_, other, raw));
  Bytes hashed_on_card;
  ASSERT_EQ(sign("73", message, &hashed_on_card), "9000");
  EXPECT_TRUE(crypto::verify_p256(public_point_, message, hashed_on_card));
}

TEST_F(SimSignature, NeedsLoginKeyAndAKnownAlgorithm) {
  Bytes raw;
  const Bytes digest(32, 0xAB);
  EXPECT_EQ(sign("70", digest, &raw), "6982");  // no user authenticated
  ASSERT_EQ(verify_pin(*card_), "9000");
  EXPECT_EQ(sw(*card_, "8068027020" + to_hex(digest) + "00"), "6A82");  // no key 2
  EXPECT_EQ(sign("21", digest, &raw), "6A86");                          // RSA: not emulated
  EXPECT_EQ(sw(*card_, "8068017000"), "6700");                          // no data
  EXPECT_EQ(sign("70", digest, &raw), "9000");
}

}  // namespace
}  // namespace hsmctl::device::sim
