// SPDX-License-Identifier: Apache-2.0
#pragma once
// The seam between the SmartCard-HSM protocol layer and whatever carries APDUs: PC/SC (pcscd),
// the in-process simulator (sim:PATH), or a fault-injecting wrapper in tests.

#include <string>

#include "hsmctl/util/bytes.hpp"
#include "hsmctl/util/error.hpp"

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
};

}  // namespace hsmctl::device
