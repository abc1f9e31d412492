// SPDX-License-Identifier: Apache-2.0
#pragma once
// Choosing a card by asking it (the by-serial probe) costs APDUs the protocol layer then sends
// again: SELECT and READ BINARY of TokenInfo open every observation. When the card that matched
// stays held exclusively from the probe on, nobody can send it anything in between, so it would
// answer the same commands identically: ProbedTransport answers them from the probe's record,
// once and in order, instead of sending them again. Only exact repeats of what the probe sent
// are answered this way (the probe sends only SELECT and READ BINARY, which change no state a
// repeat could disagree with); the first command that differs, or the end of the hold, ends the
// replay for good.

#include "hsmctl/device/transport.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace hsmctl::device {

/// One command and the card's whole answer (data and status word).
struct Exchange {
  Bytes command;
  Bytes response;
};

/// Passes everything to `inner` and keeps a copy of every exchange that succeeded.
class RecordingTransport final : public Transport {
 public:
  explicit RecordingTransport(Transport& inner) : inner_(inner) {}

  Result<Bytes> transmit(ByteView command) override;
  std::string describe() const override { return inner_.describe(); }
  int wire_apdus() const override { return inner_.wire_apdus(); }

  /// Moves the record out (the recorder is then empty).
  std::vector<Exchange> take_record() { return std::move(record_); }

 private:
  Transport& inner_;
  std::vector<Exchange> record_;
};

/// A card that a probe asked while holding it exclusively (Transport::begin_exclusive() was
/// called on `inner` and not ended). The first begin_exclusive() adopts that hold instead of
/// taking a new one; while the hold lasts, commands equal to the record's next command are
/// answered from the record. Destruction ends the hold.
class ProbedTransport final : public Transport {
 public:
  ProbedTransport(std::unique_ptr<Transport> inner, std::vector<Exchange> record);
  ~ProbedTransport() override;
  ProbedTransport(const ProbedTransport&) = delete;
  ProbedTransport& operator=(const ProbedTransport&) = delete;

  Result<Bytes> transmit(ByteView command) override;
  std::string describe() const override { return inner_->describe(); }
  Result<void> begin_exclusive() override;
  void end_exclusive() override;
  /// The inner transport's APDUs (the probe's included) plus those charged with add_wire_apdus().
  int wire_apdus() const override { return inner_->wire_apdus() + Transport::wire_apdus(); }

  /// Commands answered from the record so far (for -v and tests).
  int replayed() const { return replayed_; }

 private:
  std::unique_ptr<Transport> inner_;
  std::vector<Exchange> record_;
  std::size_t next_ = 0;
  bool held_ = true;       ///< the probe's hold on `inner_` is still on
  bool adopted_ = false;   ///< a caller's begin_exclusive() took over the probe's hold
  bool replaying_ = true;  ///< no command has differed from the record yet
  int replayed_ = 0;
};

}  // namespace hsmctl::device
