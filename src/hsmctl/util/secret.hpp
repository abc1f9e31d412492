// SPDX-License-Identifier: Apache-2.0
#pragma once
// A zeroing holder for PINs, SO PINs, passphrases and permanent secrets.
// It has no stream operator and no implicit conversion, so a secret cannot be formatted into a
// message by accident; code that must send it calls bytes() explicitly.

#include "hsmctl/util/bytes.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace hsmctl {

/// Overwrites memory in a way the optimiser may not remove.
void secure_wipe(void* data, std::size_t size);

class Secret {
 public:
  Secret() = default;
  explicit Secret(ByteView value) : value_(value.begin(), value.end()) {}
  explicit Secret(std::string_view value) : value_(value.begin(), value.end()) {}
  Secret(const Secret& other) = default;
  Secret(Secret&& other) noexcept : value_(std::move(other.value_)) { other.value_.clear(); }
  Secret& operator=(const Secret& other) {
    if (this != &other) {
      wipe();
      value_ = other.value_;
    }
    return *this;
  }
  Secret& operator=(Secret&& other) noexcept {
    if (this != &other) {
      wipe();
      value_ = std::move(other.value_);
      other.value_.clear();
    }
    return *this;
  }
  ~Secret() { wipe(); }

  ByteView bytes() const { return value_; }
  std::string_view view() const {
    return {reinterpret_cast<const char*>(value_.data()), value_.size()};
  }
  std::size_t size() const { return value_.size(); }
  bool empty() const { return value_.empty(); }
  /// Constant-time comparison.
  bool equals(const Secret& other) const;

 private:
  void wipe() {
    secure_wipe(value_.data(), value_.size());
    value_.clear();
  }
  std::vector<std::uint8_t> value_;
};

}  // namespace hsmctl
