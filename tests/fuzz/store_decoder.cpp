// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the store decoder. The input is run as a whole store file through parse_header
// (magic, version, sizes, checksum, ids, work-factor caps) and, for a key-file-mode header with
// the key the seed corpus was written with, through open_file; and, separately, as a decrypted
// payload through parse_payload (the JSON document: entries, secrets, journals).
// The AEAD tag makes a mutated ciphertext fail authentication, so the payload parser is fuzzed
// directly: it is what runs on whatever an attacker with the key could write.
#include "fuzz_input.hpp"

#include "hsmctl/store/format.hpp"
#include "hsmctl/store/payload.hpp"

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hsmctl;
  const ByteView in(data, size);

  auto header = store::parse_header(in);
  if (header) {
    fuzz::consume(std::to_string(header->ciphertext_length));
    // Only the cheap KDF: scrypt would make each run cost seconds and find nothing new here.
    if (header->kdf == store::KdfId::kKeyFile) {
      const Secret key(std::string_view("fuzz-store-key-file-material-32b"));
      if (auto kek = store::derive_kek(*header, key)) {
        if (auto plain = store::open_file(in, *header, *kek)) {
          (void)store::parse_payload(*plain);
        }
      }
    }
  } else {
    fuzz::consume(header.error().message);
  }

  auto payload = store::parse_payload(Secret(in));
  if (payload) {
    for (const auto& e : payload->entries) {
      fuzz::consume(e.id());
      fuzz::consume(e.state());
    }
  } else {
    fuzz::consume(payload.error().message);
  }
  return 0;
}
