// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <filesystem>

namespace hsmctl::testing {
/// The fresh directory this test process runs in (its working directory; see test_main.cpp).
const std::filesystem::path& private_test_dir();
}  // namespace hsmctl::testing
