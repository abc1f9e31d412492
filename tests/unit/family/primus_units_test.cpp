// SPDX-License-Identifier: Apache-2.0
// The Primus family gives one unit per PrimusCluster (families/primus/family.hpp): a cluster that
// cannot be prepared is shown with its own error while the other clusters are still observed and
// planned (before, one failure turned every cluster into that error), and apply stays
// all-or-nothing: nothing runs on any cluster.

#include "../primus/primus_fixture.hpp"

#include "hsmctl/families/primus/family.hpp"
#include "hsmctl/families/registry.hpp"
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

  std::unique_ptr<reconcile::Session> start(const manifest::LoadResult& loaded) {
    const family::Family* table[] = {&families::primus::family()};
    family::Options options;
    options.values["ppin"] = HSMCTL_PPIN_DOUBLE;
    auto session = std::make_unique<reconcile::Session>(families::units_of(table, loaded), keeper_,
                                                        options, reconcile::Io{out_, err_, {}});
    session->prepare(reconcile::device_map({}), 0);
    return session;
  }

  std::ostringstream out_, err_;
};

TEST_F(PrimusUnits, OneUnitPerClusterWithItsPartitions) {
  manifest::LoadResult loaded;
  PrimusCluster other = cluster();
  other.name = "other";
  loaded.primus_clusters = {cluster(), other};
  loaded.primus_partitions = {partition("onprem")};
  auto units = families::primus::family().units(loaded);
  ASSERT_EQ(units.size(), 2u);
  EXPECT_EQ(units[0]->name(), "onprem");
  EXPECT_EQ(units[1]->name(), "other");
  EXPECT_STREQ(units[0]->noun(), "cluster");
  EXPECT_FALSE(units[0]->takes_device_uri());
}

TEST_F(PrimusUnits, AFailingClusterDoesNotTurnTheOthersIntoErrors) {
  manifest::LoadResult loaded;
  loaded.primus_clusters = {broken_cluster(), cluster()};
  loaded.primus_partitions = {partition("onprem")};
  auto session = start(loaded);
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
