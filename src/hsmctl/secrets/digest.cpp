// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/secrets/digest.hpp"

#include <openssl/evp.h>

#include <array>
#include <cstddef>

namespace hsmctl::secrets {

std::string file_digest(ByteView bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  // EVP_Digest cannot fail for SHA-256 over memory short of an allocation failure; an empty
  // digest then never equals a recorded one.
  if (EVP_Digest(bytes.data(), bytes.size(), md.data(), &len, EVP_sha256(), nullptr) != 1)
    return {};
  static const char* const kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(std::size_t{2} * len);
  for (unsigned int i = 0; i < len; ++i) {
    out += kDigits[md[i] >> 4];
    out += kDigits[md[i] & 0x0F];
  }
  return out;
}

}  // namespace hsmctl::secrets
