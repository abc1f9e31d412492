// SPDX-License-Identifier: Apache-2.0
#pragma once
// Test support: whole-file reads and writes.

#include <string>

namespace hsmctl::testing {

/// The file's bytes; "" when it cannot be read.
std::string read_text(const std::string& path);
/// Replaces the file's content with `text` and sets its permission bits to `mode`; false when
/// either failed.
bool write_text(const std::string& path, const std::string& text, int mode = 0600);

}  // namespace hsmctl::testing
