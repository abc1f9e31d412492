// SPDX-License-Identifier: Apache-2.0
#pragma once
// The seam between the SmartCard-HSM protocol layer and whatever carries APDUs: PC/SC (pcscd),
// the in-process simulator (sim:PATH), or a fault-injecting wrapper in tests.

#include "hsmctl/util/bytes.hpp"
#include "hsmctl/util/error.hpp"

#include <string>

namespace hsmctl::device {

/// Raw APDU exchange with one card.
class Transport {
 public:
  virtual ~Transport() = default;

  /// Sends one command APDU and returns the response including SW1 SW2. Transport failures
  /// (card removed, reset, daemon gone) are errors with Errc::kUnavailable and a message that
  /// names the reader; a status word is never an error at this level.
  virtual Result<Bytes> transmit(ByteView command) = 0;

  /// "pcsc:Virtual PCD 00 00", "sim:/var/tmp/pico.json".
  virtual std::string describe() const = 0;

  /// Starts exclusive use of the card (SCardBeginTransaction; a lock on the simulator file),
  /// so no other client can interleave APDUs between observe and apply. Nested calls are
  /// not allowed.
  virtual Result<void> begin_exclusive() { return {}; }
  virtual void end_exclusive() {}

  /// APDUs this transport put on the wire since it was opened: every GET RESPONSE, every part
  /// of a chained or resent command, and the APDUs spent finding this card (the by-serial reader
  /// probe). What `-v` and the benchmark report; pcscd sees the same number.
  virtual int wire_apdus() const { return wire_apdus_; }
  /// Charges APDUs sent on another connection on this transport's behalf (reader probing).
  void add_wire_apdus(int n) { wire_apdus_ += n; }

 protected:
  /// Implementations call this once per APDU they hand to the card.
  void count_wire_apdu() { ++wire_apdus_; }

 private:
  int wire_apdus_ = 0;
};

}  // namespace hsmctl::device
