// SPDX-License-Identifier: Apache-2.0
#pragma once
// A Transport test double that plays a script: every transmit() must match the next expected
// command byte for byte; it answers with the canned response. An unexpected or surplus APDU
// fails the current test (and returns a kUnavailable error so the code under test stops).

#include "hsmctl/device/transport.hpp"
#include "hsmctl/util/bytes.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hsmctl::device::testing {

/// Hex to bytes for test literals; fails the test on bad hex.
inline Bytes H(std::string_view hex) {
  auto b = from_hex(hex);
  EXPECT_TRUE(b.has_value()) << "bad hex literal in test: " << hex;
  return b.value_or(Bytes{});
}

inline Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

class ScriptedTransport : public Transport {
 public:
  explicit ScriptedTransport(std::string name = "script:test") : name_(std::move(name)) {}

  /// Expects `command` next and answers `response` (data followed by SW1 SW2).
  ScriptedTransport& expect(Bytes command, Bytes response) {
    script_.push_back({std::move(command), std::move(response)});
    return *this;
  }
  ScriptedTransport& expect(std::string_view command_hex, std::string_view response_hex) {
    return expect(H(command_hex), H(response_hex));
  }
  ScriptedTransport& expect(std::string_view command_hex, Bytes response) {
    return expect(H(command_hex), std::move(response));
  }

  Result<Bytes> transmit(ByteView command) override {
    count_wire_apdu();
    Bytes cmd(command.begin(), command.end());
    sent_.push_back(cmd);
    if (script_.empty()) {
      ADD_FAILURE() << "unexpected APDU after the end of the script: " << to_hex_spaced(cmd);
      return make_error(Errc::kUnavailable, name_ + ": unexpected APDU");
    }
    auto step = std::move(script_.front());
    script_.pop_front();
    if (step.first != cmd) {
      ADD_FAILURE() << "APDU #" << sent_.size()
                    << " differs from the script\n  expected: " << to_hex_spaced(step.first)
                    << "\n  actual:   " << to_hex_spaced(cmd);
      return make_error(Errc::kUnavailable, name_ + ": unexpected APDU");
    }
    return step.second;
  }

  std::string describe() const override { return name_; }

  /// True when every scripted step was consumed.
  bool done() const { return script_.empty(); }
  std::size_t remaining() const { return script_.size(); }
  const std::vector<Bytes>& sent() const { return sent_; }

  /// Number of VERIFY commands carrying data (each may cost a PIN try) for reference `p2`.
  int verifies_with_data(std::uint8_t p2) const {
    int n = 0;
    for (const Bytes& c : sent_) {
      if (c.size() > 4 && c[1] == 0x20 && c[3] == p2)
        ++n;
    }
    return n;
  }

 private:
  std::string name_;
  std::deque<std::pair<Bytes, Bytes>> script_;
  std::vector<Bytes> sent_;
};

}  // namespace hsmctl::device::testing
