// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/manifest/load.hpp"

#include "support/temp_dir.hpp"
#include "support/typed_load.hpp"

#include "hsmctl/model/options.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace hsmctl::manifest {
namespace {

namespace fs = std::filesystem;
using model::SecretRef;
using ::testing::HasSubstr;

fs::path fixtures() {
  return fs::path(HSMCTL_SOURCE_DIR) / "tests/fixtures/manifests";
}

std::string all_errors(const hsmctl::testing::TypedLoad& r) {
  std::string s;
  for (const auto& e : r.errors)
    s += e.to_string() + "\n";
  return s;
}

hsmctl::testing::TypedLoad load_fixture(const std::string& rel) {
  return hsmctl::testing::load_typed({(fixtures() / rel).string()});
}

TEST(ManifestLoad, MinimalUsesDocumentedDefaults) {
  hsmctl::testing::TypedLoad r = load_fixture("valid/minimal.yaml");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_TRUE(r.warnings.empty());
  ASSERT_EQ(r.pico_hsms.size(), 1u);
  const auto& m = r.pico_hsms[0];
  EXPECT_EQ(m.metadata.name, "minimal");
  EXPECT_TRUE(m.metadata.labels.empty());
  const auto& s = m.spec;
  EXPECT_EQ(s.device.serial, "E6614C311B4A2B21");  // normalised to upper case
  EXPECT_EQ(s.device.reader, "");
  ASSERT_TRUE(s.user_pin);
  EXPECT_EQ(s.user_pin->kind, SecretRef::Kind::kEnv);
  EXPECT_EQ(s.user_pin->target, "ROOT_CA_PIN");
  ASSERT_TRUE(s.so_pin);
  EXPECT_EQ(s.so_pin->kind, SecretRef::Kind::kFile);
  EXPECT_EQ(s.so_pin->target, "/run/secrets/so");
  EXPECT_EQ(s.pin_retries, 3);
  EXPECT_TRUE(s.reset_retry_counter.enabled);
  EXPECT_FALSE(s.reset_retry_counter.only_resets_counter);
  EXPECT_FALSE(s.transport_pin);
  EXPECT_FALSE(s.dkek_shares);
  EXPECT_TRUE(s.key_domains.empty());
  EXPECT_FALSE(s.public_key_auth);
  EXPECT_FALSE(s.options.press_to_confirm);
  EXPECT_FALSE(s.options.key_usage_counter);
  EXPECT_FALSE(s.acknowledge.transport_pin_lockout);
  EXPECT_EQ(s.init_options(), model::kOptResetRetryCounter);
  EXPECT_EQ(s.dynamic_options(), 0);

  // Positions: the document starts at its first key (line 2, after the schema comment).
  EXPECT_EQ(m.origin.line, 2);
  EXPECT_EQ(m.origin.column, 1);
  EXPECT_THAT(m.origin.file, HasSubstr("minimal.yaml"));
  SourcePos serial = m.position_of("spec.device.serial");
  EXPECT_EQ(serial.line, 7);
  EXPECT_EQ(serial.column, 20);
  // Unknown paths fall back to the document.
  EXPECT_EQ(m.position_of("spec.pinRetries").line, 2);
}

TEST(ManifestLoad, FullExampleParsesEveryField) {
  hsmctl::testing::TypedLoad r = load_fixture("valid/full.yaml");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  ASSERT_EQ(r.pico_hsms.size(), 1u);
  const auto& m = r.pico_hsms[0];
  EXPECT_EQ(m.metadata.name, "root-ca");
  EXPECT_EQ(m.metadata.labels.at("site"), "zurich");
  EXPECT_EQ(m.metadata.labels.at("hsmctl.dev/role"), "root");
  const auto& s = m.spec;
  EXPECT_EQ(s.device.serial, "");
  EXPECT_EQ(s.device.reader, "Pico HSM");
  ASSERT_TRUE(s.user_pin);
  EXPECT_EQ(s.user_pin->kind, SecretRef::Kind::kGenerate);
  EXPECT_EQ(s.user_pin->generate.charset, model::GenerateSpec::Charset::kAlphanumeric);
  EXPECT_EQ(s.user_pin->generate.length, 12);
  ASSERT_TRUE(s.so_pin);
  EXPECT_EQ(s.so_pin->kind, SecretRef::Kind::kGenerate);
  EXPECT_EQ(s.so_pin->generate.charset, model::GenerateSpec::Charset::kHex);
  EXPECT_EQ(s.so_pin->generate.length, 16);
  EXPECT_EQ(s.pin_retries, 5);
  ASSERT_EQ(s.key_domains.size(), 3u);
  EXPECT_EQ(s.key_domains[0].dkek_shares, 2);
  EXPECT_EQ(s.key_domains[1].dkek_shares, 0);
  EXPECT_FALSE(s.key_domains[2].dkek_shares);
  EXPECT_FALSE(s.dkek_shares);
  ASSERT_TRUE(s.public_key_auth);
  EXPECT_EQ(s.public_key_auth->keys, 3);
  EXPECT_EQ(s.public_key_auth->required, 2);
  EXPECT_TRUE(s.public_key_auth->replaceable);
  EXPECT_FALSE(s.public_key_auth->combined_with_pin);
  EXPECT_FALSE(s.options.press_to_confirm);
  EXPECT_TRUE(s.options.key_usage_counter);
  EXPECT_EQ(s.init_options(), model::kOptResetRetryCounter | model::kOptReplacePka);
  EXPECT_EQ(s.dynamic_options(), model::kOptKeyUsageCounter);
  EXPECT_EQ(m.position_of("spec.keyDomains[1].dkekShares").line, 22);
  EXPECT_EQ(m.position_of("spec.publicKeyAuth.required").column, 38);
}

TEST(ManifestLoad, MultiDocumentStreamSkipsTrailingSeparator) {
  hsmctl::testing::TypedLoad r = load_fixture("valid/multi.yaml");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  ASSERT_EQ(r.pico_hsms.size(), 2u);
  const auto& a = r.pico_hsms[0].spec;
  EXPECT_EQ(r.pico_hsms[0].metadata.name, "issuing-a");
  EXPECT_EQ(a.user_pin->kind, SecretRef::Kind::kStore);
  EXPECT_EQ(a.user_pin->target, "issuing-a.user");
  EXPECT_EQ(a.so_pin->kind, SecretRef::Kind::kPrompt);
  EXPECT_EQ(a.dkek_shares, 0);
  const auto& b = r.pico_hsms[1].spec;
  EXPECT_EQ(r.pico_hsms[1].metadata.name, "issuing-b");
  EXPECT_EQ(b.dkek_shares, 3);
  EXPECT_EQ(b.pin_retries, 10);
  EXPECT_EQ(b.so_pin->kind, SecretRef::Kind::kGenerate);
  EXPECT_EQ(b.so_pin->generate.charset, model::GenerateSpec::Charset::kDigits);
  EXPECT_EQ(b.so_pin->generate.length, 8);  // non-hex SO PIN: 8 characters = 8 bytes
  EXPECT_EQ(r.pico_hsms[1].origin.line, 10);
}

TEST(ManifestLoad, DangerousButAllowedSettingsAreWarnings) {
  hsmctl::testing::TypedLoad r = load_fixture("valid/warnings.yaml");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  ASSERT_EQ(r.pico_hsms.size(), 1u);
  EXPECT_TRUE(r.pico_hsms[0].spec.transport_pin);
  EXPECT_TRUE(r.pico_hsms[0].spec.acknowledge.transport_pin_lockout);
  EXPECT_EQ(r.pico_hsms[0].spec.init_options(),
            model::kOptResetRetryCounter | model::kOptRrcResetOnly | model::kOptTransportPin);
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_EQ(r.warnings[0].path, "spec.resetRetryCounter.onlyResetsCounter");
  EXPECT_EQ(r.warnings[0].where->line, 9);
  EXPECT_THAT(r.warnings[0].message, HasSubstr("does not stop an SO PIN holder"));
  EXPECT_EQ(r.warnings[1].path, "spec.options.pressToConfirm");
  EXPECT_EQ(r.warnings[1].where->line, 13);
  EXPECT_THAT(r.warnings[1].message, HasSubstr("unattended apply"));
}

TEST(ManifestLoad, DirectoryLoadIsSortedAndTakesOnlyYaml) {
  hsmctl::testing::TypedLoad r = load_fixture("dir");
  ASSERT_TRUE(r.ok()) << all_errors(r);  // notes.txt (not YAML) is ignored
  ASSERT_EQ(r.pico_hsms.size(), 3u);
  EXPECT_EQ(r.pico_hsms[0].metadata.name, "first");   // a.yml
  EXPECT_EQ(r.pico_hsms[1].metadata.name, "second");  // b.yaml
  EXPECT_EQ(r.pico_hsms[2].metadata.name, "third");   // c.yaml
  EXPECT_THAT(r.pico_hsms[0].origin.file, HasSubstr("a.yml"));
}

TEST(ManifestLoad, DuplicatesAcrossFilesNameTheOtherFile) {
  // A copy of dir/a.yml elsewhere: same name and serial as the original.
  const std::string a = (fixtures() / "dir/a.yml").string();
  const hsmctl::testing::TempDir tmp("hsmctl-manifest-copy");
  const fs::path copy = tmp.file("a.yaml");
  fs::copy_file(a, copy, fs::copy_options::overwrite_existing);
  hsmctl::testing::TypedLoad r =
      hsmctl::testing::load_typed({(fixtures() / "dir").string(), copy.string()});
  ASSERT_EQ(r.errors.size(), 2u) << all_errors(r);
  EXPECT_TRUE(r.pico_hsms.empty());
  EXPECT_EQ(r.errors[0].to_string(), copy.string() +
                                         ":3:18: metadata.name: duplicate name 'first' (first "
                                         "defined at " +
                                         a + ":3:18)");
  EXPECT_EQ(r.errors[1].to_string(),
            copy.string() +
                ":5:20: spec.device.serial: serial 00000000000000A0 is already "
                "selected by another manifest (at " +
                a + ":5:20)");
}

TEST(ManifestLoad, ErrorsFollowFileOrder) {
  const std::string yes = (fixtures() / "invalid/yes.yaml").string();
  const std::string octal = (fixtures() / "invalid/octal.yaml").string();
  hsmctl::testing::TypedLoad r = hsmctl::testing::load_typed({yes, octal});
  ASSERT_EQ(r.errors.size(), 4u) << all_errors(r);
  EXPECT_EQ(r.errors[0].where->file, yes);
  EXPECT_EQ(r.errors[1].where->file, yes);
  EXPECT_EQ(r.errors[2].where->file, octal);
  EXPECT_EQ(r.errors[3].where->file, octal);
  EXPECT_LT(r.errors[2].where->line, r.errors[3].where->line);
}

TEST(ManifestLoad, MissingPathsAndEmptyDirectoriesAreErrors) {
  hsmctl::testing::TypedLoad r =
      hsmctl::testing::load_typed({(fixtures() / "does-not-exist.yaml").string()});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].code, Errc::kIo);
  EXPECT_THAT(r.errors[0].to_string(), HasSubstr("does-not-exist.yaml: no such file"));

  const hsmctl::testing::TempDir empty("hsmctl-manifest-empty");
  hsmctl::testing::TypedLoad r2 = hsmctl::testing::load_typed({empty.path()});
  ASSERT_EQ(r2.errors.size(), 1u);
  EXPECT_THAT(r2.errors[0].message, HasSubstr("no *.yaml or *.yml files"));
}

TEST(ManifestLoad, InlineSecretsAreNeverEchoed) {
  const fs::path file = fixtures() / "invalid/inline_pin.yaml";
  hsmctl::testing::TypedLoad r = hsmctl::testing::load_typed({file.string()});
  ASSERT_FALSE(r.ok());
  for (const Error& e : r.errors) {
    const std::string s = e.to_string();
    EXPECT_EQ(s.find("648219"), std::string::npos) << s;
    EXPECT_EQ(s.find("57621880"), std::string::npos) << s;
  }
  // A plain integer user PIN is refused as an inline secret without showing the number.
  hsmctl::testing::TypedLoad r2 = hsmctl::testing::load_typed_text(
      "apiVersion: hsmctl.dev/v1alpha1\nkind: PicoHSM\nmetadata: {name: x}\n"
      "spec:\n  device: {serial: \"E6614C311B4A2B21\"}\n  userPin: 123456\n"
      "  soPin: {secret: 87654321}\n",
      "t.yaml");
  ASSERT_EQ(r2.errors.size(), 2u) << all_errors(r2);
  EXPECT_EQ(r2.errors[0].to_string().substr(0, 27), "t.yaml:6:12: spec.userPin: ");
  EXPECT_THAT(r2.errors[0].message, HasSubstr("inline secret values are not allowed"));
  EXPECT_EQ(r2.errors[1].path, "spec.soPin.secret");
  EXPECT_THAT(r2.errors[1].message, HasSubstr("expected a string, got integer"));
  for (const Error& e : r2.errors) {
    EXPECT_EQ(e.to_string().find("123456"), std::string::npos) << e.to_string();
    EXPECT_EQ(e.to_string().find("87654321"), std::string::npos) << e.to_string();
  }
}

TEST(ManifestLoad, AllErrorsOfAFileAreReported) {
  hsmctl::testing::TypedLoad r = load_fixture("invalid/multiple_errors.yaml");
  EXPECT_EQ(r.errors.size(), 7u) << all_errors(r);
  for (std::size_t i = 1; i < r.errors.size(); ++i) {
    EXPECT_LE(r.errors[i - 1].where->line, r.errors[i].where->line);
  }
}

TEST(ManifestLoad, SyntaxErrorAfterAValidDocumentKeepsNothing) {
  hsmctl::testing::TypedLoad r = hsmctl::testing::load_typed_text(
      "apiVersion: hsmctl.dev/v1alpha1\nkind: PicoHSM\nmetadata: {name: x}\n"
      "spec:\n  device: {serial: \"E6614C311B4A2B21\"}\n  userPin: {secret: prompt}\n"
      "  soPin: {secret: prompt}\n---\nkind: [\n",
      "s.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_THAT(r.errors[0].to_string(), HasSubstr("s.yaml:10:1: YAML syntax error"));
  EXPECT_TRUE(r.pico_hsms.empty());
}

TEST(ManifestLoad, EmptyStreamHasNoDocumentsAndNoErrors) {
  hsmctl::testing::TypedLoad r =
      hsmctl::testing::load_typed_text("# nothing here\n---\n", "e.yaml");
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.pico_hsms.empty());
}

TEST(ManifestLoad, EmbeddedSchemaIsTheSchemaFile) {
  std::ifstream in(fs::path(HSMCTL_SOURCE_DIR) / "schemas/picohsm.v1alpha1.schema.json");
  std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(picohsm_schema_json(), file);
}

// Every truncation and a deterministic set of byte substitutions of a valid manifest must load
// without crashing, and either succeed or report errors with a position.
TEST(ManifestLoad, DamagedInputNeverCrashes) {
  std::ifstream in(fixtures() / "valid/full.yaml");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(text.empty());
  auto check = [](const std::string& t) {
    hsmctl::testing::TypedLoad r = hsmctl::testing::load_typed_text(t, "damaged.yaml");
    for (const Error& e : r.errors) {
      ASSERT_TRUE(e.where.has_value()) << e.to_string();
      EXPECT_EQ(e.where->file, "damaged.yaml");
    }
    if (!r.ok()) {
      EXPECT_TRUE(r.pico_hsms.empty());
    }
  };
  for (std::size_t n = 0; n <= text.size(); ++n)
    check(text.substr(0, n));
  const char replacements[] = {'\t', ':', '-', '{', ']', '&', '*', '"', '\'', '#', ' ', '\n', '0'};
  for (std::size_t i = 0; i < text.size(); i += 3) {
    std::string t = text;
    t[i] = replacements[i % sizeof replacements];
    check(t);
  }
}

}  // namespace
}  // namespace hsmctl::manifest
