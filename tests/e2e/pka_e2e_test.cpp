// SPDX-License-Identifier: Apache-2.0
// Public-key authentication through pcscd (issue 11): a custodian key generated on the virtual
// card with pkcs11-tool and exported with `sc-hsm-tool --export-for-pub-key-auth` is registered
// by `hsmctl apply` (which re-initializes the card with PKA first); sc-hsm-tool's
// --public-key-auth-status then reports it registered, and the next plan is "No changes.".
// OpenSC names every key of an emulated Pico HSM after the card (CHR ESPICOHSMTR00001, the same
// on every emulated card), so a second key would carry the same name: hsmctl refuses that
// (tested here too), and one key is registered.
//
// Authentication (PkaAuthE2e): the custodian's key lives on a second card (vpcd slot 1), the
// HSM is the card in slot 0. OpenSC signs, the test drives the protocol: in one PC/SC connection
// to the HSM it sends GET CHALLENGE, has pkcs11-tool sign SHA-256(device CHR || challenge) with
// the custodian's key, and sends MSE SET AT and EXTERNAL AUTHENTICATE (pico-hsm.md section 6).
// Neither hsmctl nor OpenSC 0.23 logs in with PKA themselves.

#include "pcsc_fixture.hpp"
#include "support/files.hpp"
#include "support/temp_dir.hpp"

#include "hsmctl/device/pcsc/pcsc_transport.hpp"
#include "hsmctl/device/schsm/protocol.hpp"
#include "hsmctl/device/schsm/smartcard_hsm.hpp"
#include "hsmctl/device/sim/sim_crypto.hpp"
#include "hsmctl/util/cvc.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

namespace hsmctl::e2e {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kPin = "648219";
constexpr const char* kSoPin = "3537363231383830";

class PkaE2e : public PcscE2eTest {
 protected:
  void SetUp() override {
    PcscE2eTest::SetUp();
    auto restarted = sandbox().restart();  // a fresh card
    ASSERT_TRUE(restarted) << restarted.error().message;
  }
};

TEST_F(PkaE2e, KeysScHsmToolExportedAreRegisteredByHsmctl) {
  testing::TempDir dir("pka-e2e");
  // The custodians' tokens: two keys on this card, each exported for PKA.
  const auto init = run_process(
      {"sc-hsm-tool", "--reader", "0", "--initialize", "--so-pin", kSoPin, "--pin", kPin});
  ASSERT_EQ(init.exit_code, 0) << init.diagnostics();
  for (const char* id : {"1", "2"}) {  // two keys, two files: the same CHR
    const auto gen =
        run_process({"pkcs11-tool", "--module", "opensc-pkcs11.so", "--login", "--pin", kPin,
                     "--keypairgen", "--key-type", "EC:prime256v1", "--id", std::string("0") + id,
                     "--label", std::string("custodian-") + id});
    ASSERT_EQ(gen.exit_code, 0) << gen.diagnostics();
    const auto exported =
        run_process({"sc-hsm-tool", "--reader", "0", "--export-for-pub-key-auth",
                     dir.file(std::string("custodian-") + id + ".pka"), "--key-reference", id});
    ASSERT_EQ(exported.exit_code, 0) << exported.diagnostics();
  }

  const std::string manifest = dir.file("ca.yaml");
  auto write_manifest = [&](const std::string& keys, int required) {
    testing::write_text(manifest,
                        pico_manifest("  publicKeyAuth:\n    keys:\n" + keys +
                                      "    required: " + std::to_string(required) + "\n"),
                        0600);
  };
  const auto env = pin_store_env(dir.path(), kPin, kSoPin);

  write_manifest("      - {file: custodian-1.pka}\n      - {file: custodian-2.pka}\n", 2);
  const auto same = run_hsmctl({"validate", "-f", manifest}, env);
  EXPECT_EQ(same.exit_code, 65) << same.diagnostics();
  EXPECT_THAT(same.err, HasSubstr("the same key (ESPICOHSMTR00001) as keys[0]"))
      << same.diagnostics();

  write_manifest("      - {file: custodian-1.pka}\n", 1);
  const auto plan = run_hsmctl({"plan", "-f", manifest, "--device", "pcsc:"}, env);
  EXPECT_THAT(plan.out, HasSubstr("register 1 public key(s) (ESPICOHSMTR00001)"))
      << plan.diagnostics();

  const auto apply = run_hsmctl({"apply", "-f", manifest, "--device", "pcsc:", "--auto-approve",
                                 "--allow-reinit", "--allow-key-loss"},
                                env);
  ASSERT_EQ(apply.exit_code, 0) << apply.diagnostics();
  EXPECT_THAT(apply.all(), Not(HasSubstr(kPin)));

  const auto status = run_process({"sc-hsm-tool", "--reader", "0", "--public-key-auth-status"});
  ASSERT_EQ(status.exit_code, 0) << status.diagnostics();
  EXPECT_THAT(status.out, ContainsRegex("Number of public keys: +1")) << status.diagnostics();
  EXPECT_THAT(status.out, ContainsRegex("Missing public keys: +0")) << status.diagnostics();
  EXPECT_THAT(status.out, ContainsRegex("Required pubkeys for auth: +1")) << status.diagnostics();

  const auto again =
      run_hsmctl({"plan", "-f", manifest, "--device", "pcsc:", "--detailed-exitcode"}, env);
  EXPECT_EQ(again.exit_code, 0) << again.diagnostics();
  EXPECT_THAT(again.out, HasSubstr("No changes.")) << again.diagnostics();
}

// ---- authentication, the key on a second card --------------------------------------------------

constexpr const char* kCustodianCardSerial = "E2E0C0FFEE0000C5";

Bytes read_binary_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class PkaAuthE2e : public PcscE2eTest {
 protected:
  static void SetUpTestSuite() {
    SandboxOptions options;
    options.second_serial = kCustodianCardSerial;
    start_suite(options);
  }
  void SetUp() override {
    PcscE2eTest::SetUp();
    auto restarted = sandbox().restart();  // fresh cards
    ASSERT_TRUE(restarted) << restarted.error().message;
    // OpenSC sees only the custodian's card: it would otherwise bind to the HSM too (and
    // re-SELECT its applet, which ends the session the challenge belongs to).
    testing::write_text(
        opensc_conf_, std::string("app default {\n  ignored_readers = \"") + kReader0 + "\";\n}\n");
    custodian_env_ = {{"OPENSC_CONF", opensc_conf_}};
  }

  /// `80 54 00 00`: total, missing, required, authenticated (hex) + SW.
  static std::string pka_status(device::Transport& t) {
    auto r = t.transmit(*from_hex("8054000000"));
    return r ? to_hex(*r) : "ERR " + r.error().message;
  }
  static std::string sw(const Result<Bytes>& r) {
    if (!r) {
      return "ERR " + r.error().message;
    }
    return r->size() >= 2 ? to_hex(Bytes(r->end() - 2, r->end())) : to_hex(*r);
  }

  testing::TempDir dir_{"pka-auth-e2e"};
  std::string opensc_conf_ = dir_.file("opensc.conf");
  std::map<std::string, std::string> custodian_env_;
};

TEST_F(PkaAuthE2e, OpenScSignsTheChallengeWithAKeyFromAnotherCardAndTheHsmAuthenticatesIt) {
  // The custodian's token (slot 1): initialize, generate a key, export it for PKA.
  const auto init = run_process(
      {"sc-hsm-tool", "--reader", "0", "--initialize", "--so-pin", kSoPin, "--pin", kPin},
      custodian_env_);
  ASSERT_EQ(init.exit_code, 0) << init.diagnostics();
  const auto gen = run_process(
      {"pkcs11-tool", "--module", "opensc-pkcs11.so", "--login", "--pin", kPin, "--keypairgen",
       "--key-type", "EC:prime256v1", "--id", "01", "--label", "custodian"},
      custodian_env_);
  ASSERT_EQ(gen.exit_code, 0) << gen.diagnostics();
  const std::string pka_file = dir_.file("custodian.pka");
  const auto exported = run_process({"sc-hsm-tool", "--reader", "0", "--export-for-pub-key-auth",
                                     pka_file, "--key-reference", "1"},
                                    custodian_env_);
  ASSERT_EQ(exported.exit_code, 0) << exported.diagnostics();

  // The HSM (slot 0, chosen by serial): hsmctl registers the key, one required.
  const std::string manifest = dir_.file("ca.yaml");
  testing::write_text(manifest,
                      pico_manifest("  publicKeyAuth:\n"
                                    "    keys:\n"
                                    "      - {file: custodian.pka}\n"
                                    "    required: 1\n"),
                      0600);
  const auto env = pin_store_env(dir_.path(), kPin, kSoPin);
  const auto apply = run_hsmctl({"apply", "-f", manifest, "--device", "pcsc:", "--auto-approve",
                                 "--allow-reinit", "--allow-key-loss"},
                                env);
  ASSERT_EQ(apply.exit_code, 0) << apply.diagnostics();

  // One connection to the HSM for the whole exchange.
  auto t = device::pcsc::connect_reader(kReader0);
  ASSERT_TRUE(t) << t.error().message;
  device::schsm::SmartCardHsm hsm(**t);
  ASSERT_TRUE(hsm.select());
  auto serial = hsm.chip_serial();
  ASSERT_TRUE(serial) << serial.error().message;
  ASSERT_EQ(*serial, kVcardSerial);  // the HSM, not the custodian's card
  EXPECT_EQ(pka_status(**t), "010001009000");
  auto slot = (*t)->transmit(*from_hex("8054020000"));
  ASSERT_TRUE(slot) << slot.error().message;
  ASSERT_EQ(sw(slot), "9000");
  const Bytes key_chr(slot->begin(), slot->end() - 2);
  // The device CHR the signature covers: the first element of EF 2F02.
  auto ef = hsm.read_ef(device::schsm::kEfDeviceCertificate);
  ASSERT_TRUE(ef && ef->has_value());
  auto elements = cvc::parse_elements(**ef);
  ASSERT_TRUE(elements) << elements.error().message;
  const std::string device_chr = elements->front().cert.chr;
  ASSERT_FALSE(device_chr.empty());
  // Both emulated cards carry the same device CHR, and OpenSC names the exported key after
  // its card: the key registered on the HSM is called what the HSM itself is called.
  EXPECT_EQ(std::string(key_chr.begin(), key_chr.end()), device_chr);

  auto challenge = (*t)->transmit(*from_hex("0084000008"));
  ASSERT_TRUE(challenge) << challenge.error().message;
  ASSERT_EQ(sw(challenge), "9000");
  ASSERT_EQ(challenge->size(), 10u);
  Bytes signed_data(device_chr.begin(), device_chr.end());
  signed_data.insert(signed_data.end(), challenge->begin(), challenge->end() - 2);
  const Bytes digest = device::sim::crypto::sha256(signed_data);
  ASSERT_TRUE(
      testing::write_text(dir_.file("digest.bin"), std::string(digest.begin(), digest.end())));
  const auto signature =
      run_process({"pkcs11-tool", "--module", "opensc-pkcs11.so", "--login", "--pin", kPin,
                   "--sign", "--mechanism", "ECDSA", "--id", "01", "--input-file",
                   dir_.file("digest.bin"), "--output-file", dir_.file("signature.bin")},
                  custodian_env_);
  ASSERT_EQ(signature.exit_code, 0) << signature.diagnostics();
  const Bytes sig = read_binary_file(dir_.file("signature.bin"));
  ASSERT_EQ(sig.size(), 64u) << to_hex(sig);  // raw r || s

  Bytes mse = *from_hex("002281A4");
  mse.push_back(static_cast<std::uint8_t>(key_chr.size() + 2));
  mse.push_back(0x83);
  mse.push_back(static_cast<std::uint8_t>(key_chr.size()));
  mse.insert(mse.end(), key_chr.begin(), key_chr.end());
  EXPECT_EQ(sw((*t)->transmit(mse)), "9000");
  auto external_authenticate = [&](const Bytes& s) {
    Bytes apdu = *from_hex("00820000");
    apdu.push_back(static_cast<std::uint8_t>(s.size()));
    apdu.insert(apdu.end(), s.begin(), s.end());
    return sw((*t)->transmit(apdu));
  };
  Bytes tampered = sig;
  tampered[63] ^= 0x01;
  EXPECT_EQ(external_authenticate(tampered), "6985");
  EXPECT_EQ(pka_status(**t), "010001009000");
  EXPECT_EQ(external_authenticate(sig), "9000");
  EXPECT_EQ(pka_status(**t), "010001019000");
  slot = (*t)->transmit(*from_hex("8054020000"));
  EXPECT_EQ(sw(slot), "9001");                 // authenticated in this session
  EXPECT_EQ(sw((*t)->transmit(mse)), "6985");  // already authenticated

  // A new session (re-SELECT) forgets it; the old signature does not open the next one.
  ASSERT_TRUE(hsm.select());
  EXPECT_EQ(pka_status(**t), "010001009000");
  auto again = (*t)->transmit(*from_hex("0084000008"));
  ASSERT_EQ(sw(again), "9000");
  EXPECT_EQ(sw((*t)->transmit(mse)), "9000");
  EXPECT_EQ(external_authenticate(sig), "6985");
  EXPECT_EQ(pka_status(**t), "010001009000");
}

}  // namespace
}  // namespace hsmctl::e2e
