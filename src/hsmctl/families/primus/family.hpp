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

namespace hsmctl::families::primus {

const family::Family& family();

}  // namespace hsmctl::families::primus
