// SPDX-License-Identifier: Apache-2.0
#pragma once
// The Securosys Primus family (kinds PrimusCluster, PrimusPartition): an adapter over
// primus::prepare / check_guards / execute (primus/engine.hpp).
//
// One unit per PrimusCluster, with the partitions that name it (decided in issue 14, WP-E1):
// a cluster is observed, planned and applied as a whole (one primus.cfg, one .secrets.cfg).
// Before, primus::prepare() prepared all clusters at once and one cluster's failure turned every
// cluster into that error; now each cluster is prepared on its own, so a failing cluster is
// shown with its own error and the others with their plans. `apply` stays all-or-nothing: the
// session refuses to execute anything when any unit failed to prepare or is blocked.

#include "hsmctl/family/family.hpp"
#include "hsmctl/model/primus.hpp"

#include <memory>
#include <vector>

namespace hsmctl::families::primus {

const family::Family& family();

/// The loader of kinds PrimusCluster and PrimusPartition (convert.cpp); its finish() runs
/// model::primus::validate() over all of them.
std::unique_ptr<family::Loader> loader();

/// The unit of one cluster with the partitions that name it.
std::unique_ptr<family::Unit> unit(model::primus::PrimusCluster cluster,
                                   std::vector<model::primus::PrimusPartition> partitions);

/// The cluster of a unit of this family; nullptr for any other unit.
const model::primus::PrimusCluster* cluster_of(const family::Unit& unit);
/// The partitions of a unit of this family; nullptr for any other unit.
const std::vector<model::primus::PrimusPartition>* partitions_of(const family::Unit& unit);

}  // namespace hsmctl::families::primus
