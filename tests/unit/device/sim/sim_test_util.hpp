// SPDX-License-Identifier: Apache-2.0
#pragma once
// Raw-APDU helpers for the simulator tests: commands and answers as hex strings.

#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/device/sim/sim_state.hpp"
#include "hsmctl/util/bytes.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hsmctl::device::sim::testing {

inline const std::string kAid = "E82B0601040181C31F0201";
inline const std::string kSelect = "00A404000B" + kAid + "00";
inline const std::string kPin = "648219";
inline const std::string kPinHex = "363438323139";
inline const std::string kSoHex = "3537363231383830";  // ASCII "57621880"
// What sc-hsm-tool --initialize sends: options 0001, PIN, SO-PIN, retries 3.
inline const std::string kInitScHsmTool =
    "8050000019"
    "80020001"
    "8106" +
    kPinHex + "8208" + kSoHex + "910103";

inline std::string lc(const std::string& data_hex) {
  return to_hex(Bytes{static_cast<std::uint8_t>(data_hex.size() / 2)});
}

/// Sends hex, returns the whole answer (data + SW) as upper-case hex.
inline std::string tx(Transport& card, const std::string& apdu_hex) {
  auto cmd = from_hex(apdu_hex);
  EXPECT_TRUE(cmd.has_value()) << apdu_hex;
  if (!cmd)
    return "";
  auto r = card.transmit(*cmd);
  EXPECT_TRUE(r.has_value()) << apdu_hex;
  if (!r)
    return "ERR";
  return to_hex(*r);
}

/// Only the status word of the answer.
inline std::string sw(Transport& card, const std::string& apdu_hex) {
  std::string r = tx(card, apdu_hex);
  return r.size() >= 4 ? r.substr(r.size() - 4) : r;
}

inline std::string verify_pin(Transport& c, const std::string& pin_hex = kPinHex) {
  return sw(c, "00200081" + lc(pin_hex) + pin_hex);
}
inline std::string verify_so(Transport& c, const std::string& so_hex = kSoHex) {
  return sw(c, "00200088" + lc(so_hex) + so_hex);
}

/// A fresh device initialized like sc-hsm-tool does, re-selected (no session).
inline std::unique_ptr<SimCard> initialized_card(const std::string& init = kInitScHsmTool) {
  auto card = SimCard::create_in_memory("0102030405060708");
  EXPECT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(sw(*card, init), "9000");
  EXPECT_EQ(sw(*card, kSelect), "9000");
  return card;
}

}  // namespace hsmctl::device::sim::testing
