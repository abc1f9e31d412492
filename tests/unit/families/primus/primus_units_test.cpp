// SPDX-License-Identifier: Apache-2.0
// The Primus family gives one unit per PrimusCluster (families/primus/family.hpp): a cluster that
// cannot be prepared is shown with its own error while the other clusters are still observed and
// planned (before, one failure turned every cluster into that error), and apply stays
// all-or-nothing: nothing runs on any cluster.

#include "primus_fixture.hpp"

#include "hsmctl/families/load.hpp"
#include "hsmctl/families/primus/family.hpp"
#include "hsmctl/reconcile/exit_code.hpp"
#include "hsmctl/reconcile/session.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace hsmctl::families::primus::testing {
namespace {

class PrimusUnits : public PrimusFixture {
 protected:
  /// A cluster whose primus.cfg path lies under a regular file: stat() fails (ENOTDIR).
  PrimusCluster broken_cluster() {
    PrimusCluster c = cluster();
    c.name = "broken";
    std::ofstream(etc_ + "/not-a-dir") << "x";
    c.config_path = etc_ + "/not-a-dir/primus.cfg";
    c.secrets_path = etc_ + "/not-a-dir/.secrets.cfg";
    return c;
  }

  /// One unit per cluster, each with the partitions that name it (as the loader builds them).
  static std::vector<std::unique_ptr<family::Unit>> units_of(
      const std::vector<PrimusCluster>& clusters, const std::vector<PrimusPartition>& partitions) {
    std::vector<std::unique_ptr<family::Unit>> units;
    for (const auto& c : clusters) {
      std::vector<PrimusPartition> mine;
      for (const auto& p : partitions) {
        if (p.cluster == c.name)
          mine.push_back(p);
      }
      units.push_back(families::primus::unit(c, std::move(mine)));
    }
    return units;
  }

  std::unique_ptr<reconcile::Session> start(std::vector<std::unique_ptr<family::Unit>> units) {
    family::Options options;
    options.values["ppin"] = HSMCTL_PPIN_DOUBLE;
    auto session = std::make_unique<reconcile::Session>(std::move(units), keeper_, options,
                                                        reconcile::Io{out_, err_, {}});
    session->prepare(reconcile::device_map({}), 0);
    return session;
  }

  std::ostringstream out_, err_;
};

TEST_F(PrimusUnits, OneUnitPerClusterWithItsPartitions) {
  const std::string text = R"(apiVersion: hsmctl.dev/v1alpha1
kind: PrimusPartition
metadata: {name: payments}
spec: {cluster: other, userName: PAYMENTS01, slotId: 1}
---
apiVersion: hsmctl.dev/v1alpha1
kind: PrimusCluster
metadata: {name: onprem}
spec:
  members: [{host: 10.0.0.1}]
  client: {configPath: /etc/primus/a.cfg, secretsPath: /etc/primus/.a.cfg}
---
apiVersion: hsmctl.dev/v1alpha1
kind: PrimusCluster
metadata: {name: other}
spec:
  members: [{host: 10.0.0.2}]
  client: {configPath: /etc/primus/b.cfg, secretsPath: /etc/primus/.b.cfg}
)";
  auto loaded = families::load_text(text, "p.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.errors.front().to_string();
  EXPECT_EQ(loaded.documents, 3u);
  const auto& units = loaded.units;
  ASSERT_EQ(units.size(), 2u);
  EXPECT_EQ(units[0]->name(), "onprem");
  EXPECT_EQ(units[1]->name(), "other");
  EXPECT_STREQ(units[0]->noun(), "cluster");
  EXPECT_FALSE(units[0]->takes_device_uri());
  ASSERT_NE(families::primus::partitions_of(*units[0]), nullptr);
  EXPECT_TRUE(families::primus::partitions_of(*units[0])->empty());
  ASSERT_EQ(families::primus::partitions_of(*units[1])->size(), 1u);
  EXPECT_EQ(families::primus::partitions_of(*units[1])->front().name, "payments");
}

TEST_F(PrimusUnits, AFailingClusterDoesNotTurnTheOthersIntoErrors) {
  auto session = start(units_of({broken_cluster(), cluster()}, {partition("onprem")}));
  const auto& plans = session->plans();
  ASSERT_EQ(plans.size(), 2u);
  EXPECT_EQ(plans[0].name, "broken");
  ASSERT_TRUE(plans[0].error);
  EXPECT_EQ(plans[0].error->code, "io");
  EXPECT_EQ(plans[1].name, "onprem");
  EXPECT_FALSE(plans[1].error);
  EXPECT_TRUE(plans[1].has_changes());  // write primus.cfg, fetch the secret
  EXPECT_NE(err_.str().find("hsmctl: error: cluster \"broken\": cannot stat "), std::string::npos)
      << err_.str();
  EXPECT_EQ(err_.str().find("cluster \"onprem\""), std::string::npos) << err_.str();

  // All-or-nothing: the healthy cluster is not applied either.
  EXPECT_EQ(session->apply({}), reconcile::kExitError);
  EXPECT_FALSE(std::filesystem::exists(etc_ + "/primus.cfg"));
  EXPECT_EQ(count_invocations_with("-a"), 0);
}

}  // namespace
}  // namespace hsmctl::families::primus::testing
