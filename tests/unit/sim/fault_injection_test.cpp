// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/device/sim/fault_injection.hpp"

#include "sim_test_util.hpp"

#include "hsmctl/device/sim/sim_card.hpp"

#include <gtest/gtest.h>

namespace hsmctl::device::sim {
namespace {

using namespace hsmctl::device::sim::testing;  // NOLINT(google-build-using-namespace)

TEST(SimFaultInjection, FailBeforeForwardingNeverReachesTheCard) {
  auto card = initialized_card();
  FaultInjectingTransport faulty(*card);
  faulty.fail_at(2, FaultInjectingTransport::When::kBeforeForwarding);
  EXPECT_EQ(sw(faulty, "00200081"), "63C3");
  auto r =
      faulty.transmit(*from_hex("00200081"
                                "06313131313131"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUnavailable);
  EXPECT_TRUE(faulty.removed());
  EXPECT_EQ(card->state().persistent.user.retries, 3);   // not executed
  EXPECT_FALSE(faulty.transmit(*from_hex("00200081")));  // stays removed
  EXPECT_EQ(faulty.forwarded_count(), 1);
  EXPECT_EQ(faulty.apdu_count(), 3);
  faulty.reinsert();
  EXPECT_EQ(sw(faulty, "00200081"), "63C3");
}

TEST(SimFaultInjection, FailAfterForwardingExecutesButLosesTheAnswer) {
  auto card = initialized_card();
  FaultInjectingTransport faulty(*card);
  faulty.fail_at(1, FaultInjectingTransport::When::kAfterForwarding);
  auto r =
      faulty.transmit(*from_hex("00200081"
                                "06313131313131"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUnavailable);
  EXPECT_EQ(card->state().persistent.user.retries, 2);  // the card did execute it
  EXPECT_FALSE(faulty.begin_exclusive());
  faulty.clear();
  EXPECT_EQ(sw(faulty, "00200081"), "63C2");
}

TEST(SimFaultInjection, AnswerOnceOverridesOneApduOfThatIns) {
  auto card = SimCard::create_in_memory("0102030405060708");
  FaultInjectingTransport faulty(*card);
  ASSERT_EQ(sw(faulty, kSelect), "9000");
  faulty.answer_once(0x50, 0x6400);
  EXPECT_EQ(tx(faulty, kInitScHsmTool), "6400");
  EXPECT_EQ(card->state().persistent.user.length, 0);  // not forwarded
  EXPECT_EQ(sw(faulty, "00200081"), "6A88");           // other INS unaffected
  EXPECT_EQ(sw(faulty, kInitScHsmTool), "9000");       // once only
  EXPECT_EQ(faulty.describe(), card->describe());
}

}  // namespace
}  // namespace hsmctl::device::sim
