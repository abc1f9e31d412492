// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/secrets/digest.hpp"

#include <openssl/evp.h>

#include <array>

namespace hsmctl::secrets {

std::string file_digest(ByteView bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  // EVP_Digest cannot fail for SHA-256 over memory short of an allocation failure; an empty
  // digest then never equals a recorded one.
  if (EVP_Digest(bytes.data(), bytes.size(), md.data(), &len, EVP_sha256(), nullptr) != 1)
    return {};
  return to_hex(ByteView(md.data(), len));
}

}  // namespace hsmctl::secrets
