// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/util/secret.hpp"

#include <string.h>

namespace hsmctl {

void secure_wipe(void* data, std::size_t size) {
  if (data != nullptr && size != 0) {
    explicit_bzero(data, size);
  }
}

bool Secret::equals(const Secret& other) const {
  if (value_.size() != other.value_.size())
    return false;
  std::uint8_t diff = 0;
  for (std::size_t i = 0; i < value_.size(); ++i)
    diff |= value_[i] ^ other.value_[i];
  return diff == 0;
}

}  // namespace hsmctl
