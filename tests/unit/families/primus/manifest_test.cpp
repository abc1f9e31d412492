// SPDX-License-Identifier: Apache-2.0
// The PrimusCluster / PrimusPartition kinds through the manifest loader (schema, model, errors).
#include "support/typed_load.hpp"

#include "hsmctl/manifest/load.hpp"

#include <gtest/gtest.h>

namespace hsmctl::model::primus {
namespace {

const char* kGood = R"(apiVersion: hsmctl.dev/v1alpha1
kind: PrimusCluster
metadata: {name: prod-ch}
spec:
  deployment: CloudHSM
  members:
    - {host: ch01-api.cloudshsm.com, priority: 0}
    - {host: ch02-api.cloudshsm.com, port: 2311, priority: 1}
  serviceProxy:
    user: eqabxrfnqqos
    password: {secret: "store:cloudhsm.proxy"}
  client:
    secretsFileMode: {owner: root, group: primus, mode: "0600"}
---
apiVersion: hsmctl.dev/v1alpha1
kind: PrimusPartition
metadata: {name: payments}
spec:
  cluster: prod-ch
  userName: PAYMENTS01
  slotId: 1
  permanentSecret: {state: Present, refresh: OnNewSetupPassword}
  setupPassword: {secret: "env:SETUP_PW", validityHours: 0}
  pkcs11Password: {secret: "file:/run/secrets/pin"}
)";

TEST(PrimusManifest, LoadsBothKindsIntoTheModel) {
  auto r = hsmctl::testing::load_typed_text(kGood, "primus.yaml");
  for (const auto& e : r.errors)
    ADD_FAILURE() << e.to_string();
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.primus_clusters.size(), 1u);
  ASSERT_EQ(r.primus_partitions.size(), 1u);
  EXPECT_TRUE(r.pico_hsms.empty());
  const PrimusCluster& c = r.primus_clusters[0];
  EXPECT_EQ(c.deployment, Deployment::kCloudHsm);
  ASSERT_EQ(c.members.size(), 2u);
  EXPECT_EQ(c.members[1].name, "hsm1");
  EXPECT_EQ(c.members[1].port, 2311);
  EXPECT_EQ(c.members[0].port, 2310);
  ASSERT_TRUE(c.service_proxy);
  EXPECT_EQ(c.service_proxy->password.display(), "store:cloudhsm.proxy");
  EXPECT_EQ(c.secrets_mode.mode, 0600u);
  EXPECT_FALSE(c.create_secrets_file);  // default: create no file the operator did not ask for
  EXPECT_EQ(c.config_path, "/etc/primus/primus.cfg");
  const PrimusPartition& p = r.primus_partitions[0];
  EXPECT_EQ(p.user_name, "PAYMENTS01");
  EXPECT_EQ(p.refresh, RefreshPolicy::kOnNewSetupPassword);
  EXPECT_EQ(validity_hours(p, c), 0);
  ASSERT_TRUE(p.setup_password);
  EXPECT_EQ(p.setup_password->display(), "env:SETUP_PW");
  EXPECT_EQ(p.client_id, "hsmctl");
}

TEST(PrimusManifest, SchemaErrorsHaveFileLineColumnAndNeverEchoSecrets) {
  std::string text = kGood;
  text.replace(text.find("slotId: 1"), 9, "slotId: one");
  text.replace(text.find("\"env:SETUP_PW\""), 14, "bHocQ-bdLVz-d53Cq-xP2qq-7ZdnG");
  auto r = hsmctl::testing::load_typed_text(text, "primus.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.primus_partitions.empty());
  bool slot = false;
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.to_string().find("bHocQ"), std::string::npos) << e.to_string();
    if (e.path == "spec.slotId") {
      slot = true;
      ASSERT_TRUE(e.where);
      EXPECT_EQ(e.where->file, "primus.yaml");
      EXPECT_EQ(e.where->line, 21);
      EXPECT_GT(e.where->column, 0);
    }
  }
  EXPECT_TRUE(slot);
}

TEST(PrimusManifest, CreateSecretsFileIsABoolean) {
  std::string text = kGood;
  const std::string line = "    secretsFileMode: {owner: root, group: primus, mode: \"0600\"}\n";
  text.replace(text.find(line), line.size(), line + "    createSecretsFile: true\n");
  auto r = hsmctl::testing::load_typed_text(text, "primus.yaml");
  for (const auto& e : r.errors)
    ADD_FAILURE() << e.to_string();
  ASSERT_EQ(r.primus_clusters.size(), 1u);
  EXPECT_TRUE(r.primus_clusters[0].create_secrets_file);

  text.replace(text.find("createSecretsFile: true"), 23, "createSecretsFile: yes");
  r = hsmctl::testing::load_typed_text(text, "primus.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.errors[0].path, "spec.client.createSecretsFile") << r.errors[0].to_string();
}

TEST(PrimusManifest, CrossObjectErrorsPointAtTheField) {
  std::string text = kGood;
  text.replace(text.find("cluster: prod-ch"), 16, "cluster: nowhere");
  auto r = hsmctl::testing::load_typed_text(text, "primus.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].path, "spec.cluster");
  ASSERT_TRUE(r.errors[0].where);
  EXPECT_EQ(r.errors[0].where->line, 19);
  EXPECT_NE(r.errors[0].message.find("nowhere"), std::string::npos);
}

// Cross-object errors echo input like every other manifest error: escaped for display (they
// were printed raw before the families converted their documents, issue 14 WP-E3b).
TEST(PrimusManifest, CrossObjectErrorsEscapeEchoedInput) {
  std::string text = kGood;
  text.replace(text.find("cluster: prod-ch"), 16, "cluster: \"no\\e[2Jwhere\"");
  auto r = hsmctl::testing::load_typed_text(text, "primus.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message, "PrimusCluster 'no\\e[2Jwhere' is not defined");
}

TEST(PrimusManifest, UnknownKindListsTheSupportedOnes) {
  auto r = hsmctl::testing::load_typed_text(
      "apiVersion: hsmctl.dev/v1alpha1\nkind: PrimusHSM\nmetadata: {name: x}\nspec: {}\n",
      "k.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("PrimusPartition"), std::string::npos);
  EXPECT_EQ(r.errors[0].where->line, 2);
}

TEST(PrimusManifest, ExamplesLoad) {
  auto r = hsmctl::testing::load_typed({std::string(HSMCTL_SOURCE_DIR) + "/examples/primus"});
  ASSERT_TRUE(r.ok()) << r.errors[0].to_string();
  EXPECT_EQ(r.primus_clusters.size(), 2u);
  EXPECT_EQ(r.primus_partitions.size(), 2u);
}

}  // namespace
}  // namespace hsmctl::model::primus
