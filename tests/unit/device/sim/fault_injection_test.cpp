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

// The firmware answers, then writes flash from its main loop; power lost in between loses the
// write (pico-hsm.md 13.1).
TEST(SimFaultInjection, LoseWriteAfterAnswerAnswers9000ThenLosesPowerAndTheChange) {
  auto card = initialized_card();
  card->state().persistent.faults.lose_write_after_answer = {0x24};
  const std::string new_pin = "313233343536";
  // VERIFY status is not INS 24: unaffected.
  EXPECT_EQ(sw(*card, "00200081"), "63C3");
  EXPECT_EQ(sw(*card, "00240081" + lc(kPinHex + new_pin) + kPinHex + new_pin), "9000");
  // The power is gone: nothing answers until the card is powered again.
  auto dead = card->transmit(*from_hex("00200081"));
  ASSERT_FALSE(dead);
  EXPECT_EQ(dead.error().code, Errc::kUnavailable);
  card->power_cycle();
  ASSERT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(verify_pin(*card, new_pin), "63C2");  // the new PIN never reached flash
  EXPECT_EQ(verify_pin(*card), "9000");           // the old one is still valid
  // The fault fired once.
  EXPECT_TRUE(card->state().persistent.faults.lose_write_after_answer.empty());
  EXPECT_EQ(sw(*card, "00240081" + lc(kPinHex + new_pin) + kPinHex + new_pin), "9000");
  EXPECT_EQ(sw(*card, "00200081"), "9000");
  card->power_cycle();
  ASSERT_EQ(sw(*card, kSelect), "9000");
  EXPECT_EQ(verify_pin(*card, new_pin), "9000");
}

TEST(SimFaultInjection, LoseWriteAfterAnswerIgnoresRefusedCommands) {
  auto card = initialized_card();
  card->state().persistent.faults.lose_write_after_answer = {0x2C};
  // RESET RETRY COUNTER with a wrong SO-PIN is refused (63Cx): nothing to lose, no power loss.
  EXPECT_EQ(sw(*card, "002C0081" + lc("3131313131313131" + kPinHex) + "3131313131313131" + kPinHex),
            "63CE");
  EXPECT_EQ(sw(*card, "00200081"), "63C3");
  EXPECT_EQ(card->state().persistent.faults.lose_write_after_answer.size(), 1u);
}

}  // namespace
}  // namespace hsmctl::device::sim
