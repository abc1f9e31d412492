// SPDX-License-Identifier: Apache-2.0
#pragma once
// A digest of non-secret bytes (an encrypted share file), to tell later whether a file changed.

#include "hsmctl/util/bytes.hpp"

#include <string>

namespace hsmctl::secrets {

/// SHA-256 of `bytes`, 64 upper-case hex digits (to_hex).
std::string file_digest(ByteView bytes);

}  // namespace hsmctl::secrets
