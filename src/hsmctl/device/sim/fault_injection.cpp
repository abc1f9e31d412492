// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/device/sim/fault_injection.hpp"

#include <algorithm>

namespace hsmctl::device::sim {

void FaultInjectingTransport::fail_at(int n, When when) {
  fail_at_ = count_ + std::max(n, 1);
  when_ = when;
}

void FaultInjectingTransport::answer_once(std::uint8_t ins, std::uint16_t sw) {
  overrides_.push_back(Override{ins, sw});
}

void FaultInjectingTransport::clear() {
  fail_at_.reset();
  overrides_.clear();
  removed_ = false;
}

Result<Bytes> FaultInjectingTransport::transmit(ByteView command) {
  ++count_;
  auto removed_error = [this] {
    return make_error(Errc::kUnavailable, "card removed from " + describe());
  };
  if (removed_) {
    return removed_error();
  }
  bool fail_now = fail_at_ && *fail_at_ == count_;
  if (fail_now && when_ == When::kBeforeForwarding) {
    removed_ = true;
    fail_at_.reset();
    return removed_error();
  }
  if (!fail_now && command.size() >= 2) {
    auto it = std::find_if(overrides_.begin(), overrides_.end(),
                           [&](const Override& o) { return o.ins == command[1]; });
    if (it != overrides_.end()) {
      Bytes sw{static_cast<std::uint8_t>(it->sw >> 8), static_cast<std::uint8_t>(it->sw)};
      overrides_.erase(it);
      return sw;
    }
  }
  ++forwarded_;
  auto response = inner_.transmit(command);
  if (fail_now) {  // executed by the card, answer lost
    removed_ = true;
    fail_at_.reset();
    return removed_error();
  }
  return response;
}

std::string FaultInjectingTransport::describe() const {
  return inner_.describe();
}

Result<void> FaultInjectingTransport::begin_exclusive() {
  if (removed_) {
    return make_error(Errc::kUnavailable, "card removed from " + describe());
  }
  return inner_.begin_exclusive();
}

}  // namespace hsmctl::device::sim
