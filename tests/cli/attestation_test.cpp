// SPDX-License-Identifier: Apache-2.0
// Device attestation through the real binary on the simulator: a device whose certificate
// matches spec.device.attestation plans normally; one that does not gets a blocked plan and is
// sent no credential (its retry counters stay full although the manifest's PIN is wrong).

#include "hsmctl/secrets/attestation.hpp"

#include "cli/cli_fixture.hpp"
#include "support/plan_schema.hpp"

#include "hsmctl/util/cvc.hpp"

#include <gmock/gmock.h>
#include <nlohmann/json.hpp>

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class Attestation : public CliTest {
 protected:
  // Initializes the simulated device with the fixture's PINs.
  void enrol() {
    auto apply = hsmctl(
        {"apply", "-f", manifest_file(pico_manifest()), "--device", device(), "--auto-approve"});
    ASSERT_EQ(apply.exit_code, 0) << apply.all();
  }
  nlohmann::json state() { return nlohmann::json::parse(read_text(dir_.file("pico.json"))); }
  // The device key's fingerprint, from the simulator's EF 2F02.
  std::string device_fingerprint() {
    auto ef = from_hex(state()["files"]["2F02"].get<std::string>());
    auto elements = cvc::parse_elements(ef.value_or(Bytes{}));
    if (!elements || elements->size() < 2)
      return {};
    return secrets::key_fingerprint((*elements)[1].cert.key);
  }
  std::string manifest_with(const std::string& attestation) {
    std::string text = pico_manifest();
    const std::string sel = "device: {serial: \"" + std::string(kSerial) + "\"}";
    text.replace(
        text.find(sel), sel.size(),
        "device: {serial: \"" + std::string(kSerial) + "\", attestation: " + attestation + "}");
    return manifest_file(text);
  }
};

TEST_F(Attestation, PinnedFingerprintPlansNormally) {
  enrol();
  const std::string fp = device_fingerprint();
  ASSERT_EQ(fp.size(), 64u);
  const std::string m = manifest_with("{fingerprint: \"" + fp + "\"}");
  auto plan = hsmctl({"plan", "-f", m, "--device", device(), "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 0) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("matches the manifest")) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("device certificate: ESPICOHSMTR00001 issued by "
                                  "ESPICOHSMTR00001, valid 2023-03-21..2070-12-31, key "
                                  "fingerprint " +
                                  fp))
      << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("attestation: verified (self-signed ESPICOHSMTR00001)"));
  auto json = hsmctl({"plan", "-f", m, "--device", device(), "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.all();
  EXPECT_EQ(plan_schema_errors(json.out), "") << json.out;
  auto doc = nlohmann::json::parse(json.out);
  const auto& c = doc["devices"][0]["device_certificate"];
  EXPECT_EQ(c["fingerprint"], fp);
  EXPECT_EQ(c["attestation"], "verified");
  EXPECT_EQ(c["subject"], "ESPICOHSMTR00001");
}

TEST_F(Attestation, WrongFingerprintBlocksAndSendsNoCredential) {
  enrol();
  // Wrong PINs in the manifest and no store (its correct values are not candidates): any
  // VERIFY with data would cost a try.
  env_["USER_PIN"] = "11223344";
  env_["SO_PIN"] = "0011223344556677";
  const std::string wrong(64, 'a');
  const std::string m = manifest_with("{fingerprint: \"" + wrong + "\"}");
  auto plan =
      hsmctl({"--store", "none", "plan", "-f", m, "--device", device(), "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 3) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("device attestation failed: hsmctl sends no credential"))
      << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("differs from the pinned " + wrong)) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("attestation: failed")) << plan.all();
  auto apply =
      hsmctl({"--store", "none", "apply", "-f", m, "--device", device(), "--auto-approve"});
  EXPECT_EQ(apply.exit_code, 3) << apply.all();
  EXPECT_THAT(apply.all(), HasSubstr("apply refused")) << apply.all();
  // No VERIFY with data reached the device: both counters are full.
  EXPECT_EQ(state()["user_pin"]["retries"], 3);
  EXPECT_EQ(state()["so_pin"]["retries"], 15);
  EXPECT_THAT(transcript_, Not(HasSubstr("11223344")));
  // The same manifest without attestation does send them (so the check above can fail).
  auto unpinned = hsmctl(
      {"--store", "none", "plan", "-f", manifest_file(pico_manifest()), "--device", device()});
  EXPECT_EQ(unpinned.exit_code, 0) << unpinned.all();
  EXPECT_LT(state()["so_pin"]["retries"].get<int>(), 15);
}

// Issue 11: `get` shows the device certificate, as comments (its output still plans to no
// changes), and the attestation line it suggests pins the device.
TEST_F(Attestation, GetShowsTheDeviceCertificateAndHowToPinIt) {
  enrol();
  const std::string fp = device_fingerprint();
  ASSERT_EQ(fp.size(), 64u);
  auto get = hsmctl({"get", "--device", device(), "--name", "from-get"});
  ASSERT_EQ(get.exit_code, 0) << get.all();
  EXPECT_THAT(get.out, HasSubstr("# Device certificate (EF 2F02): ESPICOHSMTR00001 issued by "
                                 "ESPICOHSMTR00001, valid 2023-03-21..2070-12-31\n"))
      << get.out;
  EXPECT_THAT(get.out, HasSubstr("# Device key fingerprint: " + fp + "\n")) << get.out;
  const std::string suggested = "attestation: {fingerprint: \"" + fp + "\"}";
  EXPECT_THAT(get.out, HasSubstr(suggested)) << get.out;
  // The output as it is: no changes, and no attestation asked (a comment pins nothing).
  auto plan =
      hsmctl({"plan", "-f", manifest_file(get.out), "--device", device(), "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 0) << get.out << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("No changes.")) << plan.all();
  EXPECT_THAT(plan.out, Not(HasSubstr("attestation:"))) << plan.all();
  // With the suggested line added to spec.device: verified, still no changes.
  std::string pinned = get.out;
  const std::string sel = "device: {serial: \"" + std::string(kSerial) + "\"}";
  ASSERT_NE(pinned.find(sel), std::string::npos) << get.out;
  pinned.replace(pinned.find(sel), sel.size(),
                 "device: {serial: \"" + std::string(kSerial) + "\", " + suggested + "}");
  plan = hsmctl({"plan", "-f", manifest_file(pinned), "--device", device(), "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 0) << pinned << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("attestation: verified")) << plan.all();
  EXPECT_THAT(plan.out, HasSubstr("No changes.")) << plan.all();
}

TEST_F(Attestation, GetOfANeverInitializedDeviceSaysItHasNoCertificate) {
  auto get = hsmctl({"get", "--device", device()});
  ASSERT_EQ(get.exit_code, 0) << get.all();
  EXPECT_THAT(get.out, HasSubstr("# Device certificate (EF 2F02): none (no certificate in EF 2F02"))
      << get.out;
  EXPECT_THAT(get.out, Not(HasSubstr("fingerprint"))) << get.out;
}

TEST_F(Attestation, BadTrustFileIsAManifestError) {
  write_text(dir_.file("roots.cvc"), "not a certificate");
  auto v = hsmctl({"validate", "-f", manifest_with("{trust: roots.cvc}")});
  EXPECT_NE(v.exit_code, 0) << v.all();
  EXPECT_THAT(v.all(), HasSubstr("spec.device.attestation.trust")) << v.all();
  EXPECT_THAT(v.all(), HasSubstr("roots.cvc")) << v.all();
}

}  // namespace
}  // namespace hsmctl::testing
