// SPDX-License-Identifier: Apache-2.0
// `publicKeyAuth.keys` as a list of public-key files in PicoHSM and SmartCardHSM manifests
// (issue 11): files relative to the manifest's directory, read and parsed at load, each error at
// file:line:column; more files than `total`, the same key twice, `total` with the integer form.

#include "../../device/schsm/pka_files.hpp"
#include "support/temp_dir.hpp"
#include "support/typed_load.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;

std::string document(const std::string& pka, const char* kind = "PicoHSM") {
  return std::string("apiVersion: hsmctl.dev/v1alpha1\nkind: ") + kind +
         "\nmetadata: {name: m}\nspec:\n  device: {serial: \"0102030405060708\"}\n"
         "  userPin: {secret: env:P}\n  soPin: {secret: env:S}\n"
         "  publicKeyAuth:\n" +
         pka;
}

class PkaManifest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_bytes(dir_.path() + "/a.pka", pka_file("CUSTODIAN-A"));
    write_bytes(dir_.path() + "/b.pka", pka_file("CUSTODIAN-B"));
    write_bytes(dir_.path() + "/a-again.pka", pka_file("CUSTODIAN-A"));
    write_bytes(dir_.path() + "/junk.pka", Bytes{'h', 'e', 'l', 'l', 'o'});
  }
  std::string manifest_path() const { return dir_.path() + "/m.yaml"; }
  TempDir dir_{"hsmctl-pka-manifest"};
};

TEST_F(PkaManifest, FilesAreReadRelativeToTheManifestAndGiveTheirKeys) {
  for (const char* kind : {"PicoHSM", "SmartCardHSM"}) {
    SCOPED_TRACE(kind);
    auto r = load_typed_text(document("    keys:\n"
                                      "      - {file: a.pka}\n"
                                      "      - {file: " +
                                          dir_.path() +
                                          "/b.pka}\n"
                                          "    required: 2\n",
                                      kind),
                             manifest_path());
    ASSERT_TRUE(r.ok()) << r.errors[0].to_string();
    const auto& pka = r.pico_hsms.at(0).spec.public_key_auth;
    ASSERT_TRUE(pka);
    EXPECT_EQ(pka->keys, 2);  // total defaults to the list's length
    EXPECT_EQ(pka->required, 2);
    ASSERT_EQ(pka->key_files.size(), 2u);
    EXPECT_EQ(pka->key_files[0].file, dir_.path() + "/a.pka");
    EXPECT_EQ(pka->key_files[0].field, "spec.publicKeyAuth.keys[0]");
    EXPECT_EQ(pka->key_files[0].chr_text, "CUSTODIAN-A");
    EXPECT_EQ(pka->key_files[1].chr_text, "CUSTODIAN-B");
    EXPECT_FALSE(pka->key_files[1].request.empty());
  }
}

TEST_F(PkaManifest, TheIntegerFormStaysACountWithoutFiles) {
  auto r = load_typed_text(document("    {keys: 3, required: 2}\n"), manifest_path());
  ASSERT_TRUE(r.ok()) << r.errors[0].to_string();
  const auto& pka = r.pico_hsms.at(0).spec.public_key_auth;
  ASSERT_TRUE(pka);
  EXPECT_EQ(pka->keys, 3);
  EXPECT_TRUE(pka->key_files.empty());
}

TEST_F(PkaManifest, TotalLeavesRoomForKeysRegisteredLater) {
  auto r = load_typed_text(document("    keys: [{file: a.pka}]\n    total: 3\n    required: 2\n"),
                           manifest_path());
  ASSERT_TRUE(r.ok()) << r.errors[0].to_string();
  EXPECT_EQ(r.pico_hsms.at(0).spec.public_key_auth->keys, 3);
}

TEST_F(PkaManifest, EachBadFileIsAnErrorAtItsEntry) {
  auto r = load_typed_text(document("    keys:\n"
                                    "      - {file: missing.pka}\n"
                                    "      - {file: junk.pka}\n"
                                    "      - {file: a.pka}\n"
                                    "      - {file: a-again.pka}\n"
                                    "    required: 1\n"),
                           manifest_path());
  ASSERT_EQ(r.errors.size(), 3u);
  const std::string where = manifest_path() + ":";
  EXPECT_THAT(r.errors[0].to_string(),
              HasSubstr(where + "10:16: spec.publicKeyAuth.keys[0].file: cannot read the "
                                "public-key file: "));
  EXPECT_THAT(r.errors[1].to_string(),
              HasSubstr(where + "11:16: spec.publicKeyAuth.keys[1].file: " + dir_.path() +
                        "/junk.pka: not a public key exported for public key authentication"));
  EXPECT_THAT(r.errors[2].to_string(),
              HasSubstr(where + "13:16: spec.publicKeyAuth.keys[3].file: the same key "
                                "(CUSTODIAN-A) as keys[2]"));
}

TEST_F(PkaManifest, MoreFilesThanTotalIsAnError) {
  auto r = load_typed_text(
      document("    keys: [{file: a.pka}, {file: b.pka}]\n    total: 1\n    required: 1\n"),
      manifest_path());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0].to_string(),
              HasSubstr("spec.publicKeyAuth.keys: 2 public-key file(s) for total: 1"));
}

TEST_F(PkaManifest, TotalNeedsTheListForm) {
  auto r = load_typed_text(document("    {keys: 2, total: 3, required: 1}\n"), manifest_path());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0].to_string(), HasSubstr("spec.publicKeyAuth.total: total goes with"));
}

TEST_F(PkaManifest, KeysOfAnotherTypeNameBothForms) {
  auto r = load_typed_text(document("    {keys: abc, required: 1}\n"), manifest_path());
  ASSERT_FALSE(r.errors.empty());
  EXPECT_THAT(r.errors[0].to_string(), HasSubstr("expected an integer or a list"));
}

}  // namespace
}  // namespace hsmctl::testing
