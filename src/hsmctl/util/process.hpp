// SPDX-License-Identifier: Apache-2.0
#pragma once
// Process hardening for code that holds secrets.

namespace hsmctl {

/// No core dumps and no ptrace attach by other users' tools for this process (PR_SET_DUMPABLE 0,
/// RLIMIT_CORE 0): a crash while a PIN is in memory must not write it to disk.
void disable_core_dumps();

}  // namespace hsmctl
