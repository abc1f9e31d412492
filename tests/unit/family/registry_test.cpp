// SPDX-License-Identifier: Apache-2.0
// The family table (families/registry.hpp): its order is the output order, every kind is listed
// once, each family's schema is the embedded one, and the kind table manifest/ validates with
// (schema dispatch, "unknown kind ... (supported: ...)") is the registry's kinds in table order.

#include "hsmctl/families/registry.hpp"

#include "hsmctl/families/load.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace hsmctl::families {
namespace {

std::vector<family::KindSpec> all_kinds() {
  std::vector<family::KindSpec> out;
  for (const family::Family* f : families()) {
    for (auto& k : f->kinds())
      out.push_back(std::move(k));
  }
  return out;
}

// The first two registrations and their order are fixed (Pico, then Primus: the output order
// operators know); a family added later comes after them and needs no edit here.
TEST(FamilyRegistry, PicoComesFirstThenPrimus) {
  std::vector<std::string> ids;
  for (const family::Family* f : families())
    ids.emplace_back(f->id());
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids[0], "pico");
  EXPECT_EQ(ids[1], "primus");
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size()) << "a repeated id";
}

TEST(FamilyRegistry, EveryKindIsListedOnce) {
  std::set<std::string> seen;
  for (const auto& k : all_kinds())
    EXPECT_TRUE(seen.insert(k.kind).second) << k.kind;
  for (const char* kind : {"PicoHSM", "PrimusCluster", "PrimusPartition"})
    EXPECT_EQ(seen.count(kind), 1u) << kind;
}

TEST(FamilyRegistry, EachKindEmbedsItsSchema) {
  for (const auto& k : all_kinds()) {
    SCOPED_TRACE(k.kind);
    ASSERT_FALSE(k.schema_json.empty());
    const auto schema = nlohmann::json::parse(k.schema_json);
    EXPECT_EQ(schema.at("$schema"), "http://json-schema.org/draft-07/schema#");
    // The schema is the kind's own: it pins `kind` to the kind's name.
    EXPECT_EQ(schema.at("properties").at("kind").at("const"), k.kind);
  }
}

TEST(FamilyRegistry, KindTableIsTheRegistryKindsInTableOrder) {
  const auto kinds = all_kinds();
  const auto table = kind_table(families());
  ASSERT_EQ(table.size(), kinds.size());
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    EXPECT_EQ(table[i].kind, kinds[i].kind) << i;
    EXPECT_EQ(table[i].schema_json, kinds[i].schema_json) << kinds[i].kind;
    EXPECT_EQ(table[i].sensitive_pointers, kinds[i].sensitive_pointers) << kinds[i].kind;
  }
}

TEST(FamilyRegistry, UnknownKindListsTheRegistryKindsInOrder) {
  std::string supported;
  for (const auto& k : all_kinds())
    supported += (supported.empty() ? "" : ", ") + k.kind;
  auto r = load_text("apiVersion: hsmctl.dev/v1alpha1\nkind: Nope\nmetadata: {name: x}\nspec: {}\n",
                     "x.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message, "unknown kind \"Nope\" (supported: " + supported + ")");
}

TEST(FamilyRegistry, SensitivePointersNameCredentialFieldsOfTheSchema) {
  for (const auto& k : all_kinds()) {
    SCOPED_TRACE(k.kind);
    EXPECT_FALSE(k.sensitive_pointers.empty());
    const auto schema = nlohmann::json::parse(k.schema_json);
    for (const auto& p : k.sensitive_pointers) {
      // "/spec/userPin" -> /properties/spec/properties/userPin exists in the schema.
      std::string schema_pointer;
      for (std::size_t at = 1; at <= p.size();) {
        const std::size_t end = std::min(p.find('/', at), p.size());
        schema_pointer += "/properties/" + p.substr(at, end - at);
        at = end + 1;
      }
      EXPECT_TRUE(schema.contains(nlohmann::json::json_pointer(schema_pointer))) << p;
    }
  }
}

TEST(FamilyRegistry, OptionNamesAreUniqueAcrossFamilies) {
  std::set<std::string> seen = {"file",         "device", "output", "detailed-exitcode",
                                "auto-approve", "help"};
  for (const family::Family* f : families()) {
    for (const auto& o : f->options())
      EXPECT_TRUE(seen.insert(o.name).second) << o.name;
  }
}

// A PicoHSM document is one device chosen by --device; a Primus cluster is reached through its
// primus.cfg, never a device URI. (Other kinds say what they are in their own tests.)
TEST(FamilyRegistry, PicoDocumentsTakeADeviceUriPrimusDocumentsDoNot) {
  int checked = 0;
  for (const auto& k : all_kinds()) {
    if (k.kind == "PicoHSM") {
      EXPECT_TRUE(k.device_uri);
      ++checked;
    } else if (k.kind.rfind("Primus", 0) == 0) {
      EXPECT_FALSE(k.device_uri) << k.kind;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 3);
}

constexpr const char* kMixed = R"(apiVersion: hsmctl.dev/v1alpha1
kind: PrimusCluster
metadata: {name: c1}
spec:
  deployment: OnPrem
  members: [{name: hsm0, host: 10.0.0.1, port: 2310, priority: 0}]
  client: {configPath: /etc/primus/a.cfg, secretsPath: /etc/primus/.a.cfg}
---
apiVersion: hsmctl.dev/v1alpha1
kind: PicoHSM
metadata: {name: pico-b}
spec:
  device: {serial: "5049434F48534D31"}
  userPin: {secret: env:USER_PIN}
  soPin: {secret: env:SO_PIN}
---
apiVersion: hsmctl.dev/v1alpha1
kind: PrimusCluster
metadata: {name: c2}
spec:
  deployment: OnPrem
  members: [{name: hsm0, host: 10.0.0.2, port: 2310, priority: 0}]
  client: {configPath: /etc/primus/b.cfg, secretsPath: /etc/primus/.b.cfg}
---
apiVersion: hsmctl.dev/v1alpha1
kind: PicoHSM
metadata: {name: pico-a}
spec:
  device: {serial: "5049434F48534D32"}
  userPin: {secret: env:USER_PIN}
  soPin: {secret: env:SO_PIN}
)";

TEST(FamilyRegistry, UnitsFollowTheTableThenManifestOrder) {
  auto loaded = load_text(kMixed, "mixed.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.errors.front().to_string();
  EXPECT_EQ(loaded.documents, 4u);
  std::vector<std::string> got;
  for (const auto& u : loaded.units) {
    got.push_back(std::string(u->noun()) + ":" + u->name() + (u->takes_device_uri() ? ":uri" : ""));
  }
  // One unit per PicoHSM document and one per PrimusCluster (its partitions belong to it).
  EXPECT_EQ(got, (std::vector<std::string>{"device:pico-b:uri", "device:pico-a:uri", "cluster:c1",
                                           "cluster:c2"}));
}

}  // namespace
}  // namespace hsmctl::families
