// SPDX-License-Identifier: Apache-2.0
// Public-key authentication through pcscd (issue 11): a custodian key generated on the virtual
// card with pkcs11-tool and exported with `sc-hsm-tool --export-for-pub-key-auth` is registered
// by `hsmctl apply` (which re-initializes the card with PKA first); sc-hsm-tool's
// --public-key-auth-status then reports it registered, and the next plan is "No changes.".
// OpenSC names every key of an emulated Pico HSM after the card (CHR ESPICOHSMTR00001, the same
// on every emulated card), so a second key would carry the same name: hsmctl refuses that
// (tested here too), and one key is registered.

#include "pcsc_fixture.hpp"
#include "support/files.hpp"
#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
                        std::string("apiVersion: hsmctl.dev/v1alpha1\n"
                                    "kind: PicoHSM\n"
                                    "metadata: {name: ca}\n"
                                    "spec:\n"
                                    "  device: {serial: \"") +
                            kVcardSerial +
                            "\"}\n"
                            "  userPin: {secret: env:USER_PIN}\n"
                            "  soPin: {secret: env:SO_PIN}\n"
                            "  publicKeyAuth:\n"
                            "    keys:\n" +
                            keys + "    required: " + std::to_string(required) + "\n",
                        0600);
  };
  const std::map<std::string, std::string> env = {{"USER_PIN", kPin},
                                                  {"SO_PIN", kSoPin},
                                                  {"HSMCTL_STORE", dir.file("store.hsmctl")},
                                                  {"HSMCTL_STORE_KEY_FILE", dir.file("store.key")},
                                                  {"NO_COLOR", "1"}};

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

}  // namespace
}  // namespace hsmctl::e2e
