// SPDX-License-Identifier: Apache-2.0
// Public-key authentication on the simulator (pico-hsm.md section 6): GET CHALLENGE, MSE SET AT
// by CHR, EXTERNAL AUTHENTICATE with a raw ECDSA signature over SHA-256(device CHR || challenge)
// by the registered key, the authenticated count in the status and the slot read, and the
// quorum that makes the session user-authenticated.
#include "sim_test_util.hpp"

#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/device/sim/sim_crypto.hpp"
#include "hsmctl/device/sim/sim_state.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hsmctl::device::sim {
namespace {

using namespace hsmctl::device::sim::testing;  // NOLINT(google-build-using-namespace)

// INITIALIZE as sc-hsm-tool sends it, with tag 93: 2 PKA keys, 2 required.
const std::string kInitPka22 =
    "805000001D"
    "80020001"
    "8106" +
    kPinHex + "8208" + kSoHex +
    "910103"
    "93020202";

Bytes tlv(std::uint32_t tag, const Bytes& value) {
  Bytes out;
  if (tag > 0xFF) {
    out.push_back(static_cast<std::uint8_t>(tag >> 8));
  }
  out.push_back(static_cast<std::uint8_t>(tag));
  if (value.size() < 0x80) {
    out.push_back(static_cast<std::uint8_t>(value.size()));
  } else if (value.size() <= 0xFF) {
    out.push_back(0x81);
    out.push_back(static_cast<std::uint8_t>(value.size()));
  } else {
    out.push_back(0x82);
    out.push_back(static_cast<std::uint8_t>(value.size() >> 8));
    out.push_back(static_cast<std::uint8_t>(value.size()));
  }
  out.insert(out.end(), value.begin(), value.end());
  return out;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) {
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

Bytes text(const std::string& s) {
  return Bytes(s.begin(), s.end());
}

// An authenticated CV request for `key` named `chr`, shaped like what
// `sc-hsm-tool --export-for-pub-key-auth` writes (the card stores it unverified, so the
// signatures are placeholders).
std::string request_hex(const crypto::EcKeyPair& key, const std::string& chr) {
  const Bytes oid = *from_hex("04007F00070202020203");
  const Bytes body =
      tlv(0x7F4E, cat({tlv(0x5F29, {0x00}), tlv(0x42, text("UTCA00001")),
                       tlv(0x7F49, cat({tlv(0x06, oid), tlv(0x86, key.public_point)})),
                       tlv(0x5F20, text(chr))}));
  const Bytes cert = tlv(0x7F21, cat({body, tlv(0x5F37, Bytes(64, 0x11))}));
  return to_hex(
      tlv(0x67, cat({cert, tlv(0x42, text("ESPICOHSMTR00001")), tlv(0x5F37, Bytes(64, 0x22))})));
}

std::string hex_of(const std::string& s) {
  return to_hex(text(s));
}

class SimPkaAuth : public ::testing::Test {
 protected:
  void SetUp() override {
    auto a = crypto::generate_p256();
    auto b = crypto::generate_p256();
    ASSERT_TRUE(a && b);
    key_a_ = *a;
    key_b_ = *b;
    card_ = initialized_card(kInitPka22);
    ASSERT_EQ(verify_pin(*card_), "9000");
    for (const auto& [key, chr] : {std::pair{key_a_, kChrA}, std::pair{key_b_, kChrB}}) {
      const std::string req = request_hex(key, chr);
      const std::size_t n = req.size() / 2;  // over 255 bytes: extended Lc
      ASSERT_EQ(sw(*card_, "8054000000" +
                               to_hex(Bytes{static_cast<std::uint8_t>(n >> 8),
                                            static_cast<std::uint8_t>(n)}) +
                               req + "0000"),
                "9000");
    }
    ASSERT_EQ(sw(*card_, kSelect), "9000");  // a new session: nobody logged in
    ASSERT_FALSE(card_->state().persistent.device_chr.empty());
  }

  /// GET CHALLENGE of 8 bytes; returns them.
  Bytes challenge() {
    const std::string r = tx(*card_, "0084000008");
    EXPECT_EQ(r.size(), 20u);
    EXPECT_EQ(r.substr(16), "9000");
    return *from_hex(r.substr(0, 16));
  }
  /// r || s by `key` over SHA-256(device CHR || challenge), hex.
  std::string signature(const crypto::EcKeyPair& key, const Bytes& challenge) const {
    Bytes data = text(card_->state().persistent.device_chr);
    data.insert(data.end(), challenge.begin(), challenge.end());
    auto sig = crypto::sign_ec(key, data);
    EXPECT_TRUE(sig);
    return sig ? to_hex(*sig) : "";
  }
  std::string mse(const std::string& chr) {
    const std::string crt = "83" + lc(hex_of(chr)) + hex_of(chr);
    return sw(*card_, "002281A4" + lc(crt) + crt);
  }
  std::string external_authenticate(const std::string& sig_hex) {
    return sw(*card_, "00820000" + lc(sig_hex) + sig_hex);
  }
  /// The 4-byte PKA status: total, missing, required, authenticated.
  std::string pka_status() { return tx(*card_, "8054000000"); }

  static constexpr const char* kChrA = "UTCUSTA00001";
  static constexpr const char* kChrB = "UTCUSTB00001";
  crypto::EcKeyPair key_a_;
  crypto::EcKeyPair key_b_;
  std::unique_ptr<SimCard> card_;
};

TEST_F(SimPkaAuth, ValidSignaturesAuthenticateUntilTheQuorumLogsTheUserIn) {
  EXPECT_EQ(pka_status(), "020002009000");
  EXPECT_EQ(sw(*card_, "8064060000"), "6982");  // DYNOPS needs an authenticated user
  const Bytes c = challenge();
  ASSERT_EQ(mse(kChrA), "9000");
  EXPECT_EQ(external_authenticate(signature(key_a_, c)), "9000");
  EXPECT_EQ(pka_status(), "020002019000");
  EXPECT_EQ(tx(*card_, "8054020000"), hex_of(kChrA) + "9001");  // authenticated
  EXPECT_EQ(tx(*card_, "8054020100"), hex_of(kChrB) + "9000");  // not yet
  EXPECT_EQ(sw(*card_, "8064060000"), "6982");                  // 1 of 2 required
  EXPECT_FALSE(card_->state().session.user_authenticated);
  ASSERT_EQ(mse(kChrB), "9000");
  EXPECT_EQ(external_authenticate(signature(key_b_, c)), "9000");
  EXPECT_EQ(pka_status(), "020002029000");
  EXPECT_TRUE(card_->state().session.user_authenticated);
  EXPECT_EQ(sw(*card_, "8064060000"), "9000");
  // A re-SELECT ends the session: nothing is authenticated any more.
  ASSERT_EQ(sw(*card_, kSelect), "9000");
  EXPECT_EQ(pka_status(), "020002009000");
  EXPECT_EQ(sw(*card_, "8064060000"), "6982");
}

TEST_F(SimPkaAuth, WrongSignatureIsRefused) {
  const Bytes c = challenge();
  ASSERT_EQ(mse(kChrA), "9000");
  std::string sig = signature(key_a_, c);
  const std::string good = sig;
  sig[10] = sig[10] == '0' ? '1' : '0';  // one bit of r changed
  EXPECT_EQ(external_authenticate(sig), "6985");
  EXPECT_EQ(external_authenticate(signature(key_b_, c)), "6985");  // the other custodian's key
  // Signed without the device CHR (only the challenge).
  auto bare = crypto::sign_ec(key_a_, c);
  ASSERT_TRUE(bare);
  EXPECT_EQ(external_authenticate(to_hex(*bare)), "6985");
  EXPECT_EQ(external_authenticate(good.substr(0, 64)), "6985");  // r only
  EXPECT_EQ(pka_status(), "020002009000");
  EXPECT_EQ(sw(*card_, "8054020000"), "9000");
  // The right signature still works afterwards (the challenge was not used up).
  EXPECT_EQ(external_authenticate(good), "9000");
  EXPECT_EQ(pka_status(), "020002019000");
  // A bad signature for an authenticated key takes its authentication away (the firmware
  // clears the flag before checking) — after MSE, which now answers 6985 but selects it.
  EXPECT_EQ(mse(kChrA), "6985");
  EXPECT_EQ(external_authenticate(sig), "6985");
  EXPECT_EQ(pka_status(), "020002009000");
}

TEST_F(SimPkaAuth, NoChallengeIsRefused) {
  ASSERT_EQ(mse(kChrA), "9000");
  // A signature over a challenge the card never issued in this session.
  const Bytes c = challenge();
  const std::string sig = signature(key_a_, c);
  ASSERT_EQ(sw(*card_, kSelect), "9000");  // the challenge is gone with the session
  ASSERT_EQ(mse(kChrA), "9000");
  EXPECT_EQ(external_authenticate(sig), "6985");
  EXPECT_EQ(pka_status(), "020002009000");
}

TEST_F(SimPkaAuth, UnknownChrAndNoSelectedKey) {
  const Bytes c = challenge();
  EXPECT_EQ(external_authenticate(signature(key_a_, c)), "6A88");  // no MSE SET AT yet
  EXPECT_EQ(mse("UTCUSTC00001"), "6A88");
  EXPECT_EQ(mse("UTCUSTA0000"), "6A88");  // a prefix is not the name
  EXPECT_EQ(external_authenticate(signature(key_a_, c)), "6A88");
  ASSERT_EQ(mse(kChrA), "9000");
  EXPECT_EQ(external_authenticate(""), "6700");
  EXPECT_EQ(sw(*card_, "00820100" + lc(signature(key_a_, c)) + signature(key_a_, c)), "6A86");
  EXPECT_EQ(sw(*card_, "0022F2A4058303414243"), "6A86");  // STORE, not SET
  EXPECT_EQ(sw(*card_, "002281A0058303414243"), "6A86");  // no such template
  EXPECT_EQ(sw(*card_, "002281B6058303414243"), "6A88");  // no certificate store
}

TEST_F(SimPkaAuth, AlreadyAuthenticatedKeyAnswers6985) {
  const Bytes c = challenge();
  ASSERT_EQ(mse(kChrA), "9000");
  ASSERT_EQ(external_authenticate(signature(key_a_, c)), "9000");
  EXPECT_EQ(mse(kChrA), "6985");
  EXPECT_EQ(mse(kChrB), "9000");
  EXPECT_EQ(pka_status(), "020002019000");
}

TEST_F(SimPkaAuth, NewChallengeResetsAuthentication) {
  const Bytes c = challenge();
  ASSERT_EQ(mse(kChrA), "9000");
  const std::string sig = signature(key_a_, c);
  ASSERT_EQ(external_authenticate(sig), "9000");
  ASSERT_EQ(pka_status(), "020002019000");
  const Bytes c2 = challenge();
  EXPECT_NE(c, c2);
  EXPECT_EQ(pka_status(), "020002009000");
  EXPECT_EQ(sw(*card_, "8054020000"), "9000");
  ASSERT_EQ(mse(kChrA), "9000");
  EXPECT_EQ(external_authenticate(sig), "6985");  // signed the old challenge
  EXPECT_EQ(external_authenticate(signature(key_a_, c2)), "9000");
  EXPECT_EQ(pka_status(), "020002019000");
}

TEST_F(SimPkaAuth, QuorumUsesUpTheChallenge) {
  const Bytes c = challenge();
  ASSERT_EQ(mse(kChrA), "9000");
  ASSERT_EQ(external_authenticate(signature(key_a_, c)), "9000");
  ASSERT_EQ(mse(kChrB), "9000");
  ASSERT_EQ(external_authenticate(signature(key_b_, c)), "9000");
  ASSERT_TRUE(card_->state().session.user_authenticated);
  // Once the quorum is reached the challenge is gone: the same signature cannot be replayed.
  ASSERT_EQ(mse(kChrB), "6985");
  EXPECT_EQ(external_authenticate(signature(key_b_, c)), "6985");
}

}  // namespace
}  // namespace hsmctl::device::sim
