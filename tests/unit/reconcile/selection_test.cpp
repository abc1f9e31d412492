// SPDX-License-Identifier: Apache-2.0
// `--selector` / `--target`: parsing, matching on metadata.labels of every family's units, and
// the errors (usage for bad syntax or an unknown target, manifest for an empty selection).

#include "hsmctl/families/load.hpp"
#include "hsmctl/manifest/load.hpp"
#include "hsmctl/reconcile/session.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hsmctl::reconcile {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const char* const kManifests = R"(apiVersion: hsmctl.dev/v1alpha1
kind: PicoHSM
metadata:
  name: hsm-a
  labels: {env: prod, site: dc1}
spec:
  device: {serial: "0102030405060708"}
  userPin: {secret: "env:USER_PIN"}
  soPin: {secret: "env:SO_PIN"}
---
apiVersion: hsmctl.dev/v1alpha1
kind: PicoHSM
metadata:
  name: hsm-b
  labels: {env: lab}
spec:
  device: {serial: "1112131415161718"}
  userPin: {secret: "env:USER_PIN"}
  soPin: {secret: "env:SO_PIN"}
---
apiVersion: hsmctl.dev/v1alpha1
kind: PrimusCluster
metadata:
  name: dc1-primus
  labels: {env: prod, site: dc1}
spec:
  deployment: OnPrem
  members:
    - {name: hsm0, host: 10.10.0.21}
---
apiVersion: hsmctl.dev/v1alpha1
kind: PrimusPartition
metadata:
  name: payments
  labels: {env: lab}
spec:
  cluster: dc1-primus
  userName: PAYMENTS01
  slotId: 1
  clientId: hsmctl-payments
  permanentSecret: {state: Present, refresh: Never}
  setupPassword: {secret: "env:PRIMUS_SETUP_PW"}
)";

std::vector<std::string> names_selected(const std::vector<std::string>& selectors,
                                        const std::vector<std::string>& targets,
                                        Errc* error = nullptr, std::string* message = nullptr) {
  families::Loaded loaded = families::load_text(kManifests, "m.yaml");
  EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0].to_string());
  auto selection = parse_selection(selectors, targets);
  if (!selection) {
    if (error)
      *error = selection.error().code;
    if (message)
      *message = selection.error().message;
    return {"<invalid>"};
  }
  auto selected = select_units(std::move(loaded.units), *selection);
  if (!selected) {
    if (error)
      *error = selected.error().code;
    if (message)
      *message = selected.error().message;
    return {"<error>"};
  }
  std::vector<std::string> names;
  for (const auto& u : selected->units)
    names.push_back(u->name());
  return names;
}

TEST(Selection, NoneSelectsAll) {
  EXPECT_THAT(names_selected({}, {}), ElementsAre("hsm-a", "hsm-b", "dc1-primus"));
}

TEST(Selection, LabelsOfEveryFamilyAllRequirementsMustHold) {
  EXPECT_THAT(names_selected({"env=prod"}, {}), ElementsAre("hsm-a", "dc1-primus"));
  EXPECT_THAT(names_selected({"env=prod,site=dc1"}, {}), ElementsAre("hsm-a", "dc1-primus"));
  EXPECT_THAT(names_selected({"env=lab"}, {}), ElementsAre("hsm-b"));  // not the partition's
  EXPECT_THAT(names_selected({"env!=prod"}, {}), ElementsAre("hsm-b"));
  EXPECT_THAT(names_selected({"site!=dc1"}, {}), ElementsAre("hsm-b"));  // absent label
  EXPECT_THAT(names_selected({"env==prod", "site=dc1"}, {}), ElementsAre("hsm-a", "dc1-primus"));
  EXPECT_THAT(names_selected({"env=prod"}, {"dc1-primus"}), ElementsAre("dc1-primus"));
  EXPECT_THAT(names_selected({}, {"hsm-b", "hsm-a"}), ElementsAre("hsm-a", "hsm-b"));
}

TEST(Selection, InvalidSyntaxIsAUsageError) {
  for (const char* bad :
       {"env", "=prod", "env=prod,", "env=prod,,site=dc1", "-env=x", "e v=x", "!=x", ""}) {
    Errc code = Errc::kInternal;
    std::string message;
    EXPECT_THAT(names_selected({bad}, {}, &code, &message), ElementsAre("<invalid>")) << bad;
    EXPECT_EQ(code, Errc::kUsage) << bad;
    EXPECT_THAT(message, HasSubstr("--selector")) << bad;
  }
}

TEST(Selection, UnknownTargetIsAUsageErrorNamingIt) {
  Errc code = Errc::kInternal;
  std::string message;
  EXPECT_THAT(names_selected({}, {"hsm-a", "hsm-x"}, &code, &message), ElementsAre("<error>"));
  EXPECT_EQ(code, Errc::kUsage);
  EXPECT_THAT(message, HasSubstr("--target hsm-x: no manifest is named \"hsm-x\""));
}

TEST(Selection, NothingSelectedIsAManifestError) {
  Errc code = Errc::kInternal;
  std::string message;
  EXPECT_THAT(names_selected({"env=staging"}, {}, &code, &message), ElementsAre("<error>"));
  EXPECT_EQ(code, Errc::kManifest);
  EXPECT_THAT(message, HasSubstr("no manifests match selector env=staging"));
}

}  // namespace
}  // namespace hsmctl::reconcile
