// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the parsers of what the vendor's `ppin` prints (docs/primus.md): the slot and
// proxy listing (`ppin -l`), error codes, the version line (`ppin -v`) and the connectivity
// test (`ppin -t`). ppin's output is not under hsmctl's control.
#include "fuzz_input.hpp"

#include "hsmctl/families/primus/ppin.hpp"

#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hsmctl::families::primus;
  const std::string_view out(reinterpret_cast<const char*>(data), size);

  const Listing listing = parse_listing(out);
  for (const auto& slot : listing.slots) {
    (void)listing.user_configured(slot.user);
  }
  for (const auto& proxy : listing.proxies) {
    (void)listing.proxy_configured(proxy.user);
  }
  if (auto code = find_error_code(out)) {
    hsmctl::fuzz::consume(describe_code(*code));
    (void)is_credential_failure(*code);
    hsmctl::fuzz::consume(error_for_code(*code, "fuzz").to_string());
  }
  if (auto version = parse_version(out)) {
    hsmctl::fuzz::consume(*version);
  }
  const TestResult test = parse_test(out);
  for (const auto& line : test.lines) {
    hsmctl::fuzz::consume(line.hsm + line.user + line.detail);
  }
  return 0;
}
