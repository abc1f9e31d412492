// SPDX-License-Identifier: Apache-2.0
// Device attestation through the real PC/SC stack (issue 11): hsmctl -> libpcsclite -> private
// pcscd -> vpcd -> hsmctl-vcard, checked against OpenSC. The device certificate (EF 2F02) is read
// with opensc-tool, independently of hsmctl; its key's fingerprint pins the device. A plan pinned
// to it is not blocked and shows the certificate; a plan pinned to another key is blocked and
// sends no VERIFY (sc-hsm-tool reports both retry counters full); `get` and `devices` show the
// same fingerprint. No PIN appears in any output.

#include "pcsc_fixture.hpp"
#include "support/files.hpp"
#include "support/temp_dir.hpp"

#include "hsmctl/secrets/attestation.hpp"
#include "hsmctl/util/bytes.hpp"
#include "hsmctl/util/cvc.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace hsmctl::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kSelectHsm = "00 A4 04 00 0B E8 2B 06 01 04 01 81 C3 1F 02 01 00";
constexpr const char* kUserPin = "31415926";
constexpr const char* kSoPin = "0011223344556677";
// Wrong values: any VERIFY with them would cost a try.
constexpr const char* kWrongUserPin = "11223344";
constexpr const char* kWrongSoPin = "7766554433221100";

class TestDir : public testing::TempDir {
 public:
  TestDir() : TempDir("hsmctl-e2e-attest") {}
  std::string write(const std::string& name, const std::string& text) const {
    testing::write_text(file(name), text, 0600);
    return file(name);
  }
};

std::string manifest(const std::string& attestation = "") {
  return std::string(
             "apiVersion: hsmctl.dev/v1alpha1\nkind: PicoHSM\nmetadata:\n  name: attested\n"
             "spec:\n  device: {serial: \"") +
         kVcardSerial + "\"" +
         (attestation.empty() ? std::string() : ", attestation: " + attestation) +
         "}\n  userPin: {secret: \"env:E2E_USER_PIN\"}\n  soPin: {secret: \"env:E2E_SO_PIN\"}\n";
}

/// One answer opensc-tool printed: its status line and its data.
struct Answer {
  std::string status;  ///< "SW1=0x90, SW2=0x00"
  Bytes data;
};

/// The answers in opensc-tool's output, in order. Each is "Received (SW1=0x90, SW2=0x00):"
/// followed by hex-dump lines of up to 16 bytes: "XX " per byte, then the ASCII column (the hex
/// part padded to 48 columns on every line but a first one).
std::vector<Answer> answers(const std::string& out) {
  std::vector<Answer> all;
  std::istringstream lines(out);
  std::string line;
  bool in_answer = false;
  while (std::getline(lines, line)) {
    if (line.rfind("Received (", 0) == 0) {
      const auto close = line.find(')');
      all.push_back({line.substr(10, close == std::string::npos ? 0 : close - 10), {}});
      in_answer = true;
      continue;
    }
    if (!in_answer || line.empty() || line.rfind("Sending:", 0) == 0) {
      in_answer = false;
      continue;
    }
    for (std::size_t pos = 0, n = 0; n < 16 && pos + 2 <= line.size(); pos += 3, ++n) {
      if (std::isxdigit(static_cast<unsigned char>(line[pos])) == 0 ||
          std::isxdigit(static_cast<unsigned char>(line[pos + 1])) == 0 ||
          (pos + 2 < line.size() && line[pos + 2] != ' ')) {
        break;
      }
      all.back().data.push_back(
          static_cast<std::uint8_t>(std::stoi(line.substr(pos, 2), nullptr, 16)));
    }
  }
  return all;
}

class AttestationE2e : public PcscE2eTest {
 protected:
  ProcessResult hsmctl(const std::vector<std::string>& args) {
    auto r = run_hsmctl(args, env_);
    transcript_ += r.out + r.err;
    return r;
  }

  /// EF 2F02 as OpenSC reads it: SELECT the applet, then READ BINARY with an offset data object
  /// (00 B1 2F 02 04 54 02 <offset> 00; /work/shared/reference/pico-hsm.md "Read EF"), from
  /// where the last answer ended (OpenSC collects what the card announces with 61xx through GET
  /// RESPONSE) until an answer is short or says the end of the file was reached (6282).
  Bytes read_device_certificate_with_opensc() {
    Bytes ef;
    opensc_out_.clear();
    for (int step = 0; step < 16 && ef.size() < 0x8000; ++step) {
      char apdu[64];
      std::snprintf(apdu, sizeof apdu, "00 B1 2F 02 04 54 02 %02X %02X 00",
                    static_cast<unsigned>(ef.size() >> 8), static_cast<unsigned>(ef.size() & 0xFF));
      auto r = run_process({"opensc-tool", "--reader", "0", "-s", kSelectHsm, "-s", apdu});
      EXPECT_EQ(r.exit_code, 0) << r.diagnostics();
      opensc_out_ += r.out;
      const auto all = answers(r.out);
      if (all.size() != 2)  // the SELECT's, then the READ BINARY's
        break;
      const bool ok = all[1].status == "SW1=0x90, SW2=0x00";
      if (!ok && all[1].status != "SW1=0x62, SW2=0x82")
        break;
      ef.insert(ef.end(), all[1].data.begin(), all[1].data.end());
      if (!ok || all[1].data.size() < 256)
        break;
    }
    return ef;
  }

  /// SO-PIN and user-PIN tries left as sc-hsm-tool reports them.
  std::pair<int, int> retry_counters() {
    auto r = run_process({"sc-hsm-tool", "--reader", "0"});
    EXPECT_EQ(r.exit_code, 0) << r.diagnostics();
    auto value = [&](const std::string& label) {
      const auto at = r.out.find(label);
      if (at == std::string::npos)
        return -1;
      const auto colon = r.out.find(':', at);
      return colon == std::string::npos ? -1 : std::atoi(r.out.c_str() + colon + 1);
    };
    return {value("SO-PIN tries left"), value("User PIN tries left")};
  }

  TestDir dir_;
  std::map<std::string, std::string> env_ = {
      {"E2E_USER_PIN", kUserPin},
      {"E2E_SO_PIN", kSoPin},
      {"HSMCTL_STORE", dir_.file("store.hsmctl")},
      {"HSMCTL_STORE_KEY_FILE", dir_.file("store.key")},
      {"NO_COLOR", "1"},
  };
  std::string transcript_;
  std::string opensc_out_;
};

// One test: the steps build on the card's state (one sandbox per suite).
TEST_F(AttestationE2e, PinnedDeviceIsVerifiedAnotherKeyIsBlockedWithoutAVerify) {
  // A never-initialized Pico HSM has no device certificate, and says so.
  auto devices = hsmctl({"devices"});
  ASSERT_EQ(devices.exit_code, 0) << devices.diagnostics();
  EXPECT_THAT(devices.out, HasSubstr(std::string(kReader0) + " (" + kVcardSerial +
                                     "): none (no certificate in EF 2F02"))
      << devices.out;
  auto get = hsmctl({"get", "--device", "pcsc:"});
  ASSERT_EQ(get.exit_code, 0) << get.diagnostics();
  EXPECT_THAT(get.out, HasSubstr("# Device certificate (EF 2F02): none (no certificate in EF 2F02"))
      << get.out;

  // Initialize through pcscd; the device creates its key and certificate.
  auto apply = hsmctl(
      {"apply", "-f", dir_.write("plain.yaml", manifest()), "--device", "pcsc:", "--auto-approve"});
  ASSERT_EQ(apply.exit_code, 0) << apply.diagnostics();

  // The certificate as OpenSC reads it, and its key's fingerprint.
  const Bytes ef = read_device_certificate_with_opensc();
  ASSERT_GT(ef.size(), 256u) << opensc_out_;
  auto elements = cvc::parse_elements(ef);
  ASSERT_TRUE(elements) << elements.error().message << "\n" << opensc_out_;
  std::string fp, chr, car;
  for (const auto& e : *elements) {
    if (!e.authenticated_request) {
      fp = secrets::key_fingerprint(e.cert.key);
      chr = e.cert.chr;
      car = e.cert.car;
      break;
    }
  }
  ASSERT_EQ(fp.size(), 64u) << opensc_out_;
  EXPECT_EQ(chr, "ESPICOHSMTR00001");

  // Pinned to that key: verified, not blocked, no changes; text, JSON and Markdown show it.
  const std::string pinned = dir_.write("pinned.yaml", manifest("{fingerprint: \"" + fp + "\"}"));
  auto plan = hsmctl({"plan", "-f", pinned, "--device", "pcsc:", "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 0) << plan.diagnostics();
  EXPECT_THAT(plan.out, HasSubstr("device certificate: " + chr + " issued by " + car +
                                  ", valid 2023-03-21..2070-12-31, key fingerprint " + fp))
      << plan.diagnostics();
  EXPECT_THAT(plan.out, HasSubstr("attestation: verified (self-signed " + chr + ")"));
  EXPECT_THAT(plan.out, HasSubstr("No changes."));
  auto json = hsmctl({"plan", "-f", pinned, "--device", "pcsc:", "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.diagnostics();
  const auto doc = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << json.out;
  EXPECT_EQ(doc["devices"][0]["device_certificate"]["fingerprint"], fp) << json.out;
  EXPECT_EQ(doc["devices"][0]["device_certificate"]["attestation"], "verified") << json.out;
  auto md = hsmctl({"plan", "-f", pinned, "--device", "pcsc:", "-o", "markdown"});
  ASSERT_EQ(md.exit_code, 0) << md.diagnostics();
  EXPECT_THAT(md.out, HasSubstr("key fingerprint `" + fp + "`")) << md.out;
  // A saved plan carries it to `show`.
  const std::string saved = dir_.file("pinned.plan");
  auto out = hsmctl({"plan", "-f", pinned, "--device", "pcsc:", "-out", saved});
  ASSERT_EQ(out.exit_code, 0) << out.diagnostics();
  auto show = hsmctl({"show", saved});
  ASSERT_EQ(show.exit_code, 0) << show.diagnostics();
  EXPECT_THAT(show.out, HasSubstr("key fingerprint " + fp)) << show.out;
  EXPECT_THAT(show.out, HasSubstr("attestation: verified")) << show.out;

  // Pinned to another key, with wrong PINs and no store (the right values are no candidates):
  // blocked (plan --detailed-exitcode 3, apply 3: docs/exit-codes.md) and no VERIFY sent.
  ASSERT_EQ(retry_counters(), std::make_pair(15, 3));
  env_["E2E_USER_PIN"] = kWrongUserPin;
  env_["E2E_SO_PIN"] = kWrongSoPin;
  const std::string other(64, 'a');
  const std::string wrong = dir_.write("wrong.yaml", manifest("{fingerprint: \"" + other + "\"}"));
  plan =
      hsmctl({"--store", "none", "plan", "-f", wrong, "--device", "pcsc:", "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 3) << plan.diagnostics();
  EXPECT_THAT(plan.out, HasSubstr("device attestation failed: hsmctl sends no credential"))
      << plan.diagnostics();
  EXPECT_THAT(plan.out,
              HasSubstr("device key fingerprint " + fp + " differs from the pinned " + other))
      << plan.diagnostics();
  apply = hsmctl({"--store", "none", "apply", "-f", wrong, "--device", "pcsc:", "--auto-approve"});
  EXPECT_EQ(apply.exit_code, 3) << apply.diagnostics();
  EXPECT_EQ(retry_counters(), std::make_pair(15, 3)) << "a VERIFY reached the device";

  // get and devices through pcscd show the same fingerprint.
  get = hsmctl({"get", "--device", "pcsc:"});
  ASSERT_EQ(get.exit_code, 0) << get.diagnostics();
  EXPECT_THAT(get.out, HasSubstr("# Device key fingerprint: " + fp + "\n")) << get.out;
  EXPECT_THAT(get.out, HasSubstr("# Device certificate (EF 2F02): " + chr + " issued by " + car))
      << get.out;
  devices = hsmctl({"devices"});
  ASSERT_EQ(devices.exit_code, 0) << devices.diagnostics();
  EXPECT_THAT(devices.out,
              HasSubstr(std::string(kReader0) + " (" + kVcardSerial + "): " + chr + " issued by " +
                        car + ", valid 2023-03-21..2070-12-31, key fingerprint " + fp))
      << devices.out;
  auto devices_json = hsmctl({"devices", "-o", "json"});
  ASSERT_EQ(devices_json.exit_code, 0) << devices_json.diagnostics();
  const auto dj = nlohmann::json::parse(devices_json.out, nullptr, false);
  ASSERT_FALSE(dj.is_discarded()) << devices_json.out;
  EXPECT_EQ(dj["readers"][0]["device_certificate"]["fingerprint"], fp) << devices_json.out;
  EXPECT_EQ(dj["readers"][0]["device_certificate"]["subject"], chr) << devices_json.out;
  EXPECT_TRUE(dj["readers"][1]["device_certificate"].is_null()) << devices_json.out;

  // The same wrong PINs without attestation do reach the device (so the counter check above
  // can fail).
  plan = hsmctl({"--store", "none", "plan", "-f", dir_.file("plain.yaml"), "--device", "pcsc:"});
  EXPECT_NE(retry_counters(), std::make_pair(15, 3)) << plan.diagnostics();

  for (const char* secret : {kUserPin, kSoPin, kWrongUserPin, kWrongSoPin})
    EXPECT_THAT(transcript_, Not(HasSubstr(secret))) << "a PIN was printed";
}

}  // namespace
}  // namespace hsmctl::e2e
