// SPDX-License-Identifier: Apache-2.0
// `dkek:` in PicoHSM and SmartCardHSM manifests (issue 11): share files relative to the
// manifest's directory, one file per dkekShares, each file once (a share imported twice cancels
// out of the DKEK), passwords only as secret references, expectedKcv normalised; every error at
// file:line:column.

#include "support/typed_load.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;

std::string document(const std::string& spec_tail, const char* kind = "PicoHSM") {
  return std::string("apiVersion: hsmctl.dev/v1alpha1\nkind: ") + kind +
         "\nmetadata: {name: m}\nspec:\n  device: {serial: \"0102030405060708\"}\n"
         "  userPin: {secret: env:P}\n  soPin: {secret: env:S}\n" +
         spec_tail;
}

constexpr const char* kTwoFiles =
    "  dkekShares: 2\n"
    "  dkek:\n"
    "    shares:\n"
    "      - {file: a.pbe, password: {secret: env:PW_A}}\n"
    "      - {file: /abs/b.pbe, password: {secret: prompt}}\n"
    "    expectedKcv: 0123456789abcdef\n";

TEST(DkekManifest, RelativeFilesAreResolvedAgainstTheManifestsDirectory) {
  for (const char* kind : {"PicoHSM", "SmartCardHSM"}) {
    SCOPED_TRACE(kind);
    auto r = load_typed_text(document(kTwoFiles, kind), "/srv/hsm/ca/device.yaml");
    ASSERT_TRUE(r.ok()) << r.errors[0].to_string();
    ASSERT_EQ(r.pico_hsms.size(), 1u);  // both kinds convert to the engine's model
    ASSERT_TRUE(r.pico_hsms[0].spec.dkek);
  }
  auto r = load_typed_text(document(kTwoFiles), "/srv/hsm/ca/device.yaml");
  ASSERT_TRUE(r.ok());
  const auto& d = r.pico_hsms.at(0).spec.dkek;
  ASSERT_TRUE(d);
  ASSERT_EQ(d->shares.size(), 2u);
  EXPECT_EQ(d->shares[0].file, "/srv/hsm/ca/a.pbe");
  EXPECT_EQ(d->shares[0].field, "spec.dkek.shares[0]");
  EXPECT_EQ(d->shares[0].password.kind, model::SecretRef::Kind::kEnv);
  EXPECT_EQ(d->shares[1].file, "/abs/b.pbe");
  EXPECT_EQ(d->shares[1].password.kind, model::SecretRef::Kind::kPrompt);
  EXPECT_EQ(d->expected_kcv, "0123456789ABCDEF");
}

TEST(DkekManifest, KeyDomainsTakeTheirOwnFiles) {
  auto r = load_typed_text(document("  keyDomains:\n"
                                    "    - dkekShares: 1\n"
                                    "      dkek: {shares: [{file: d0.pbe, password: {secret: "
                                    "env:PW}}]}\n"
                                    "    - {}\n"),
                           "/m/x.yaml");
  ASSERT_TRUE(r.ok()) << r.errors[0].to_string();
  const auto& spec = r.pico_hsms.at(0).spec;
  ASSERT_NE(spec.dkek_import(0), nullptr);
  EXPECT_EQ(spec.dkek_import(0)->shares.at(0).file, "/m/d0.pbe");
  EXPECT_EQ(spec.dkek_import(0)->shares.at(0).field, "spec.keyDomains[0].dkek.shares[0]");
  EXPECT_EQ(spec.dkek_import(1), nullptr);
}

TEST(DkekManifest, TheNumberOfFilesMustBeTheShareCount) {
  auto r = load_typed_text(document("  dkekShares: 3\n"
                                    "  dkek:\n"
                                    "    shares:\n"
                                    "      - {file: a.pbe, password: {secret: env:A}}\n"),
                           "m.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].to_string(),
            "m.yaml:11:7: spec.dkek.shares: 1 share file(s) for dkekShares: 3; list one file per "
            "share");
}

TEST(DkekManifest, FilesNeedAShareCount) {
  auto r = load_typed_text(
      document("  dkek: {shares: [{file: a.pbe, password: {secret: env:A}}]}\n"), "m.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0].to_string(), HasSubstr("m.yaml:8:9: spec.dkek: share files need"));
}

TEST(DkekManifest, TheSameFileTwiceIsAnError) {
  auto r = load_typed_text(document("  dkekShares: 2\n"
                                    "  dkek:\n"
                                    "    shares:\n"
                                    "      - {file: a.pbe, password: {secret: env:A}}\n"
                                    "      - {file: ./a.pbe, password: {secret: env:B}}\n"),
                           "/m/x.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0].to_string(), HasSubstr("cancels out of the DKEK"));
  EXPECT_THAT(r.errors[0].to_string(), HasSubstr("/m/x.yaml:12:"));
}

TEST(DkekManifest, APasswordIsAReferenceNeverAValue) {
  auto r = load_typed_text(document("  dkekShares: 1\n"
                                    "  dkek: {shares: [{file: a.pbe, password: {secret: "
                                    "hunter2-literal}}]}\n"),
                           "m.yaml");
  ASSERT_FALSE(r.ok());
  for (const auto& e : r.errors)
    EXPECT_THAT(e.to_string(), ::testing::Not(HasSubstr("hunter2-literal")));
}

TEST(DkekManifest, APasswordMayBeSplitIntoCustodiansParts) {
  const std::string spec =
      "  dkekShares: 1\n"
      "  dkek:\n"
      "    shares:\n"
      "      - file: a.pbe\n"
      "        passwordShares:\n"
      "          threshold: 2\n"
      "          parts:\n"
      "            - {secret: prompt}\n"
      "            - {secret: env:PART_3}\n"
      "            - {secret: \"file:/media/usb/a.pbe.password-share-2\"}\n";
  for (const char* kind : {"PicoHSM", "SmartCardHSM"}) {
    SCOPED_TRACE(kind);
    auto r = load_typed_text(document(spec, kind), "/m/x.yaml");
    ASSERT_TRUE(r.ok()) << r.errors[0].to_string();
    const auto& share = r.pico_hsms.at(0).spec.dkek->shares.at(0);
    EXPECT_EQ(share.password_threshold, 2);
    ASSERT_EQ(share.password_parts.size(), 3u);
    EXPECT_EQ(share.password_parts[0].kind, model::SecretRef::Kind::kPrompt);
    EXPECT_EQ(share.password_parts[1].kind, model::SecretRef::Kind::kEnv);
    EXPECT_EQ(share.password_parts[2].kind, model::SecretRef::Kind::kFile);
  }
}

TEST(DkekManifest, ASplitPasswordNeedsTheThresholdsPartsAndExcludesAPassword) {
  auto r = load_typed_text(document("  dkekShares: 1\n"
                                    "  dkek:\n"
                                    "    shares:\n"
                                    "      - file: a.pbe\n"
                                    "        passwordShares:\n"
                                    "          threshold: 3\n"
                                    "          parts: [{secret: env:A}, {secret: env:B}]\n"),
                           "m.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].to_string(),
            "m.yaml:14:18: spec.dkek.shares[0].passwordShares.parts: 2 password share(s) for "
            "threshold 3; list at least the threshold's number of custodians' parts");

  r = load_typed_text(document("  dkekShares: 1\n"
                               "  dkek:\n"
                               "    shares:\n"
                               "      - file: a.pbe\n"
                               "        password: {secret: env:PW}\n"
                               "        passwordShares: {threshold: 2, parts: [{secret: env:A}, "
                               "{secret: env:B}]}\n"),
                      "m.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].to_string(),
            "m.yaml:11:9: spec.dkek.shares[0]: give password or passwordShares, not both");

  r = load_typed_text(document("  dkekShares: 1\n"
                               "  dkek: {shares: [{file: a.pbe}]}\n"),
                      "m.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0].to_string(),
              HasSubstr("m.yaml:9:19: spec.dkek.shares[0]: a share file needs its password"));

  // A part is a reference, never the part itself.
  r = load_typed_text(document("  dkekShares: 1\n"
                               "  dkek:\n"
                               "    shares:\n"
                               "      - file: a.pbe\n"
                               "        passwordShares:\n"
                               "          threshold: 2\n"
                               "          parts: [{secret: env:A}, {secret: \"c5:1f/2/0a:bc\"}]\n"),
                      "m.yaml");
  ASSERT_FALSE(r.ok());
  for (const auto& e : r.errors)
    EXPECT_THAT(e.to_string(), ::testing::Not(HasSubstr("0a:bc")));
}

}  // namespace
}  // namespace hsmctl::testing
