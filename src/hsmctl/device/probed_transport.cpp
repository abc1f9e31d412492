// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/device/probed_transport.hpp"

#include <algorithm>

namespace hsmctl::device {

Result<Bytes> RecordingTransport::transmit(ByteView command) {
  HSMCTL_TRY_ASSIGN(Bytes response, inner_.transmit(command));
  record_.push_back({Bytes(command.begin(), command.end()), response});
  return response;
}

ProbedTransport::ProbedTransport(std::unique_ptr<Transport> inner, std::vector<Exchange> record)
    : inner_(std::move(inner)), record_(std::move(record)) {}

ProbedTransport::~ProbedTransport() {
  if (held_)
    inner_->end_exclusive();
}

Result<Bytes> ProbedTransport::transmit(ByteView command) {
  if (replaying_ && held_ && next_ < record_.size() &&
      std::equal(command.begin(), command.end(), record_[next_].command.begin(),
                 record_[next_].command.end())) {
    ++replayed_;
    return record_[next_++].response;
  }
  replaying_ = false;
  return inner_->transmit(command);
}

Result<void> ProbedTransport::begin_exclusive() {
  if (held_ && !adopted_) {
    adopted_ = true;
    return {};
  }
  HSMCTL_TRY(inner_->begin_exclusive());
  held_ = true;
  adopted_ = true;
  return {};
}

void ProbedTransport::end_exclusive() {
  // Once the card is let go, anyone may talk to it: what it answered before proves nothing.
  replaying_ = false;
  held_ = false;
  inner_->end_exclusive();
}

}  // namespace hsmctl::device
