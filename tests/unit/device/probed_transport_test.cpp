// SPDX-License-Identifier: Apache-2.0
// The by-serial probe's answers are reused for the card it chose, and only while it is held.
#include "hsmctl/device/probed_transport.hpp"

#include "schsm/pico_vectors.hpp"
#include "scripted_transport.hpp"

#include "hsmctl/device/schsm/observe.hpp"
#include "hsmctl/device/schsm/smartcard_hsm.hpp"
#include "hsmctl/device/sim/sim_card.hpp"

#include <gtest/gtest.h>

namespace hsmctl::device {
namespace {

using namespace hsmctl::device::testing;  // NOLINT(google-build-using-namespace)

/// Counts begin/end of exclusive use around a scripted card.
class HoldCountingTransport final : public ScriptedTransport {
 public:
  Result<void> begin_exclusive() override {
    ++begins;
    return {};
  }
  void end_exclusive() override {
    ++ends;
    if (ends_out != nullptr)
      ++*ends_out;
  }
  int begins = 0;
  int ends = 0;
  int* ends_out = nullptr;  ///< also counted here, to be read after destruction
};

// What the by-serial probe does on the card it picks: SELECT, then TokenInfo, while held.
std::unique_ptr<ProbedTransport> probe(std::unique_ptr<Transport> card) {
  EXPECT_TRUE(card->begin_exclusive().has_value());
  RecordingTransport recorder(*card);
  schsm::SmartCardHsm hsm(recorder);
  EXPECT_TRUE(hsm.select().has_value());
  auto serial = hsm.chip_serial();
  EXPECT_TRUE(serial.has_value());
  return std::make_unique<ProbedTransport>(std::move(card), recorder.take_record());
}

TEST(ProbedTransportTest, RepeatsOfTheProbesCommandsAreAnsweredFromTheRecordOnce) {
  auto owned = std::make_unique<HoldCountingTransport>();
  HoldCountingTransport& card = *owned;
  card.expect(kSelect, kFcpInit).expect(H(kReadTokenInfo), token_info_response());
  // After the replay: the status query goes to the card, and so does a later SELECT.
  card.expect(kUserStatus, "63 C3").expect(kSelect, kFcpInit);
  auto probed = probe(std::move(owned));
  EXPECT_EQ(card.sent().size(), 2u);

  ASSERT_TRUE(probed->begin_exclusive().has_value());
  EXPECT_EQ(card.begins, 1) << "the probe's hold is adopted, not taken twice";
  schsm::SmartCardHsm hsm(*probed);
  ASSERT_TRUE(hsm.select().has_value());
  auto serial = hsm.chip_serial();
  ASSERT_TRUE(serial.has_value());
  EXPECT_EQ(*serial, kSerial);
  EXPECT_EQ(probed->replayed(), 2);
  EXPECT_EQ(card.sent().size(), 2u) << "nothing new on the wire";
  ASSERT_TRUE(hsm.pin_status(schsm::PinRef::kUser).has_value());
  ASSERT_TRUE(hsm.select().has_value());
  EXPECT_EQ(probed->replayed(), 2) << "the replay ended with the first new command";
  EXPECT_EQ(probed->wire_apdus(), 4);
  EXPECT_TRUE(card.done());
  probed->end_exclusive();
  EXPECT_EQ(card.ends, 1);
}

TEST(ProbedTransportTest, ADifferentFirstCommandEndsTheReplay) {
  auto owned = std::make_unique<HoldCountingTransport>();
  HoldCountingTransport& card = *owned;
  card.expect(kSelect, kFcpInit).expect(H(kReadTokenInfo), token_info_response());
  card.expect(kUserStatus, "63 C3").expect(kSelect, kFcpInit);
  auto probed = probe(std::move(owned));
  schsm::SmartCardHsm hsm(*probed);
  ASSERT_TRUE(hsm.pin_status(schsm::PinRef::kUser).has_value());
  ASSERT_TRUE(hsm.select().has_value());  // would have matched the record's first entry
  EXPECT_EQ(probed->replayed(), 0);
  EXPECT_TRUE(card.done());
}

TEST(ProbedTransportTest, NothingIsReplayedOnceTheHoldEnded) {
  auto owned = std::make_unique<HoldCountingTransport>();
  HoldCountingTransport& card = *owned;
  card.expect(kSelect, kFcpInit).expect(H(kReadTokenInfo), token_info_response());
  card.expect(kSelect, kFcpInit);
  auto probed = probe(std::move(owned));
  probed->end_exclusive();  // someone else may talk to the card now
  EXPECT_EQ(card.ends, 1);
  ASSERT_TRUE(probed->begin_exclusive().has_value());
  EXPECT_EQ(card.begins, 2) << "a new hold is taken";
  schsm::SmartCardHsm hsm(*probed);
  ASSERT_TRUE(hsm.select().has_value());
  EXPECT_EQ(probed->replayed(), 0);
  EXPECT_TRUE(card.done());
}

TEST(ProbedTransportTest, DestructionEndsTheProbesHold) {
  int ends = 0;
  auto owned = std::make_unique<HoldCountingTransport>();
  owned->ends_out = &ends;
  owned->expect(kSelect, kFcpInit).expect(H(kReadTokenInfo), token_info_response());
  auto probed = probe(std::move(owned));
  EXPECT_EQ(ends, 0);
  probed.reset();
  EXPECT_EQ(ends, 1) << "a card chosen but never used is let go";
}

// With the simulator: an observation of a card chosen by the probe puts only 8 APDUs on the wire
// after the probe's 2, the 10 of an observation of an unprobed card.
TEST(ProbedTransportTest, ObservationAfterTheProbeCostsNoMoreThanWithoutIt) {
  auto make_initialized = [] {
    auto card = sim::SimCard::create_in_memory(std::string(kSerial));
    schsm::SmartCardHsm hsm(*card);
    EXPECT_TRUE(hsm.select().has_value());
    schsm::InitializeParams p;
    p.options = 0x0001;
    p.user_pin = Secret("648219");
    p.so_pin = Secret("57621880");
    p.pin_retries = 3;
    EXPECT_TRUE(hsm.initialize(p).has_value());
    return card;
  };
  schsm::ObserveRequest req;
  req.user_pin_candidates.emplace_back("648219");
  req.so_pin_candidates.emplace_back("57621880");
  req.expected_serial = std::string(kSerial);
  req.recorded_pin_retries = 3;
  req.read_objects = false;

  auto plain = make_initialized();
  const int plain_before = plain->wire_apdus();
  schsm::SmartCardHsm direct(*plain);
  auto o1 = schsm::observe(direct, req);
  ASSERT_TRUE(o1.has_value()) << o1.error().message;
  const int unprobed = plain->wire_apdus() - plain_before;

  std::unique_ptr<Transport> card = make_initialized();
  const int before = card->wire_apdus();
  auto probed = probe(std::move(card));
  ASSERT_TRUE(probed->begin_exclusive().has_value());
  schsm::SmartCardHsm hsm(*probed);
  auto o2 = schsm::observe(hsm, req);
  ASSERT_TRUE(o2.has_value()) << o2.error().message;
  EXPECT_EQ(probed->wire_apdus() - before, unprobed) << "probe + observation";
  EXPECT_EQ(probed->replayed(), 2);
  EXPECT_EQ(o2->user_pin_check.check, model::CredentialCheck::kMatches);
  EXPECT_EQ(o2->serial, kSerial);
}

}  // namespace
}  // namespace hsmctl::device
