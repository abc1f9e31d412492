// SPDX-License-Identifier: Apache-2.0
#pragma once
// A Transport wrapper that injects faults into any Transport (the simulator or a real card):
// "the card is removed at the Nth APDU" (before the card sees it, or after it executed it so
// only the answer is lost) and "answer SW xxxx instead of forwarding for INS yy". Used by unit
// tests and by the crash tests of the apply engine.

#include "hsmctl/device/transport.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace hsmctl::device::sim {

class FaultInjectingTransport final : public Transport {
 public:
  /// Wraps `inner`, which must outlive this object.
  explicit FaultInjectingTransport(Transport& inner) : inner_(inner) {}

  enum class When {
    kBeforeForwarding,  ///< the card never sees the APDU
    kAfterForwarding,   ///< the card executed the APDU; the answer is lost
  };

  /// The `n`th APDU from now on (1 = the next one) fails with Errc::kUnavailable ("card
  /// removed"), and so does every APDU after it until clear() or reinsert().
  void fail_at(int n, When when);
  /// The next APDU with this INS is answered with `sw` without being forwarded (once).
  void answer_once(std::uint8_t ins, std::uint16_t sw);
  /// Ends a "card removed" state (the card is back); pending rules stay.
  void reinsert() { removed_ = false; }
  /// Drops every rule and the removed state.
  void clear();

  /// APDUs seen by this wrapper (including failed and overridden ones).
  int apdu_count() const { return count_; }
  /// APDUs actually forwarded to the wrapped transport.
  int forwarded_count() const { return forwarded_; }
  bool removed() const { return removed_; }

  Result<Bytes> transmit(ByteView command) override;
  std::string describe() const override;
  /// What reached the card (the wrapped transport's count) plus what this wrapper answered.
  int wire_apdus() const override { return inner_.wire_apdus() + count_ - forwarded_; }
  Result<void> begin_exclusive() override;
  void end_exclusive() override { inner_.end_exclusive(); }

 private:
  struct Override {
    std::uint8_t ins;
    std::uint16_t sw;
  };
  Transport& inner_;
  std::optional<int> fail_at_;  // absolute APDU number
  When when_ = When::kBeforeForwarding;
  std::vector<Override> overrides_;
  bool removed_ = false;
  int count_ = 0;
  int forwarded_ = 0;
};

}  // namespace hsmctl::device::sim
