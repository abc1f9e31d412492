// SPDX-License-Identifier: Apache-2.0
// COMPUTE SIGNATURE, INS 68 (cmd_signature.c), for the EC keys the simulator generates: what a
// custodian's token does when OpenSC signs a PKA challenge with it.
#include "hsmctl/device/sim/sim_impl.hpp"

#include <algorithm>

namespace hsmctl::device::sim {

using namespace detail;  // NOLINT(google-build-using-namespace): private helpers

namespace {
constexpr std::uint8_t kAlgoEcRaw = 0x70;     // data = the hash, signed as is
constexpr std::uint8_t kAlgoEcSha256 = 0x73;  // data = the message, SHA-256 on the card
}  // namespace

// cmd_signature.c: `80 68 <key id> <algorithm> Lc <data> Le`; the answer is the DER signature
// SEQUENCE { r, s } (OpenSC's sc_hsm_decode_ecdsa_signature turns it into r || s). Needs an
// authenticated user (6982) and the key file (6A82); the private key is unwrapped with the MKEK,
// so a PIN or SO-PIN session is needed too (6400). Not emulated: RSA and the ECDSA variants
// with SHA-1/224/384/512 (6A86), key-usage counters and the key's algorithm list (meta tag 91).
Reply SimCard::Impl::cmd_signature(const Apdu& a) {
  if (!state.session.user_authenticated) {
    return status(kSwSecurity);
  }
  const auto key = state.persistent.keys.find(a.p1);
  if (key == state.persistent.keys.end()) {
    return status(kSwFileNotFound);
  }
  if (a.p2 != kAlgoEcRaw && a.p2 != kAlgoEcSha256) {
    return status(kSwIncorrectP1P2);
  }
  if (a.data.empty()) {
    return status(kSwWrongLength);
  }
  Bytes mkek;
  const bool unwrapped = load_mkek(mkek) == MkekResult::kOk;
  std::fill(mkek.begin(), mkek.end(), 0);  // only its availability matters here
  if (!unwrapped) {
    return status(kSwExecError);
  }
  const Bytes digest = a.p2 == kAlgoEcRaw ? a.data : crypto::sha256(a.data);
  auto der = crypto::sign_ec_digest_der(key_pair(key->second), digest);
  if (!der) {
    return status(kSwExecError);
  }
  return ok(*der);
}

}  // namespace hsmctl::device::sim
