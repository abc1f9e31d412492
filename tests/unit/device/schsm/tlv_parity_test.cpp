// SPDX-License-Identifier: Apache-2.0
// The client's TLV writer (schsm::append_tlv) and the simulator's (sim::tlv::put) are separate on
// purpose; they must encode every tag and length the same way, and the client's reader must read
// back what either wrote.

#include "hsmctl/device/schsm/tlv.hpp"
#include "hsmctl/device/sim/sim_tlv.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace hsmctl::device {
namespace {

// One-, two- and three-byte tags as both sides use them (INITIALIZE tags, CV certificates,
// FCP, and the largest tag the simulator writes).
const std::vector<std::uint32_t> kTags = {0x02,   0x42,   0x54,     0x62,    0x80,
                                          0x85,   0x97,   0x5F20,   0x5F37,  0x7F21,
                                          0x7F49, 0x7F4E, 0xBF8101, 0xFFFFFF};

TEST(TlvParity, EveryLengthUpTo65535EncodesTheSame) {
  const Bytes value(65535, 0xA5);
  Bytes client;
  Bytes simulator;
  client.reserve(65535 + 8);
  simulator.reserve(65535 + 8);
  for (std::size_t len = 0; len <= 65535; ++len) {
    const std::uint32_t tag = kTags[len % kTags.size()];
    const ByteView v(value.data(), len);
    client.clear();
    simulator.clear();
    schsm::append_tlv(client, tag, v);
    sim::tlv::put(simulator, tag, v);
    ASSERT_EQ(client, simulator) << "tag " << std::hex << tag << std::dec << " length " << len;
  }
}

TEST(TlvParity, EveryTagAtTheLengthBoundariesEncodesTheSameAndReadsBack) {
  const Bytes value(65535, 0x5A);
  for (std::uint32_t tag : kTags) {
    for (std::size_t len : {0u, 1u, 127u, 128u, 255u, 256u, 4095u, 65535u}) {
      const ByteView v(value.data(), len);
      Bytes client;
      Bytes simulator;
      schsm::append_tlv(client, tag, v);
      sim::tlv::put(simulator, tag, v);
      ASSERT_EQ(client, simulator) << "tag " << std::hex << tag << std::dec << " length " << len;
      // The length form is the shortest BER form: 1, 2 or 3 bytes.
      const std::size_t tag_bytes = tag > 0xFFFF ? 3 : tag > 0xFF ? 2 : 1;
      const std::size_t len_bytes = len < 0x80 ? 1 : len <= 0xFF ? 2 : 3;
      EXPECT_EQ(client.size(), tag_bytes + len_bytes + len)
          << "tag " << std::hex << tag << std::dec << " length " << len;
      // Multi-byte tags read back through the client's reader when they are well-formed BER
      // (first byte xx1F..., continuation bytes with bit 8 set).
      const bool ber_tag =
          tag <= 0xFF ? (tag & 0x1F) != 0x1F : ((tag >> (8 * (tag_bytes - 1))) & 0x1F) == 0x1F;
      if (!ber_tag || tag == 0xFFFFFF)
        continue;
      auto parsed = schsm::parse_tlv(client);
      ASSERT_TRUE(parsed) << "tag " << std::hex << tag << std::dec << " length " << len;
      EXPECT_EQ(parsed->tag, tag);
      EXPECT_EQ(parsed->value.size(), len);
      EXPECT_EQ(parsed->whole.size(), client.size());
      const auto items = sim::tlv::parse(client);
      ASSERT_EQ(items.size(), 1u) << "tag " << std::hex << tag << std::dec << " length " << len;
      EXPECT_EQ(items[0].tag, tag);
      EXPECT_EQ(items[0].value.size(), len);
    }
  }
}

}  // namespace
}  // namespace hsmctl::device
