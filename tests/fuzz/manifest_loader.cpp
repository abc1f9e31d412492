// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the whole manifest loader on one in-memory document stream (YAML event pre-pass
// -> JSON with source map -> JSON Schema -> semantic checks -> typed model, all kinds).
// Errors are the expected outcome for most inputs; crashes, hangs and sanitizer reports are not.
#include "fuzz_input.hpp"

#include "hsmctl/families/load.hpp"

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto result = hsmctl::families::load_text(text, "fuzz.yaml");
  for (const auto& e : result.errors) {
    hsmctl::fuzz::consume(e.to_string());
  }
  for (const auto& w : result.warnings) {
    hsmctl::fuzz::consume(w.to_string());
  }
  return 0;
}
