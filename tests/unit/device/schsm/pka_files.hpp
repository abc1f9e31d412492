// SPDX-License-Identifier: Apache-2.0
#pragma once
// Test helper: public-key files in the layout `sc-hsm-tool --export-for-pub-key-auth` writes
// (SEQUENCE 30 { authenticated request 67, device certificate(s) }), with a given CHR. The
// signatures are placeholders: neither hsmctl nor the simulator verifies them.

#include "hsmctl/device/schsm/tlv.hpp"
#include "hsmctl/util/bytes.hpp"

#include <fstream>
#include <string>

namespace hsmctl::testing {

/// 67 { 7F21 { 7F4E { 5F29 00, 42 CAR, 7F49 { 06 OID, 86 point }, 5F20 CHR }, 5F37 sig },
///      42 outer CAR, 5F37 outer sig }
inline Bytes pka_request_tlv(const std::string& chr,
                             const std::string& outer_car = "ESPICOHSMTR00001") {
  using device::schsm::append_tlv;
  auto text = [](const std::string& s) { return Bytes(s.begin(), s.end()); };
  Bytes key;
  append_tlv(key, 0x06, Bytes{0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x02, 0x03});
  append_tlv(key, 0x86, Bytes(65, 0x04));
  Bytes body;
  append_tlv(body, 0x5F29, Bytes{0x00});
  append_tlv(body, 0x42, text("UTCA00001"));
  append_tlv(body, 0x7F49, key);
  append_tlv(body, 0x5F20, text(chr));
  Bytes cert;
  append_tlv(cert, 0x7F4E, body);
  append_tlv(cert, 0x5F37, Bytes(64, 0x5A));
  Bytes req;
  append_tlv(req, 0x7F21, cert);
  append_tlv(req, 0x42, text(outer_car));
  append_tlv(req, 0x5F37, Bytes(64, 0xA5));
  Bytes out;
  append_tlv(out, 0x67, req);
  return out;
}

/// The whole file: 30 { request, a placeholder device certificate 7F21 }.
inline Bytes pka_file(const std::string& chr) {
  Bytes content = pka_request_tlv(chr);
  Bytes dev;
  device::schsm::append_tlv(dev, 0x7F4E, Bytes{0x5F, 0x29, 0x01, 0x00});
  device::schsm::append_tlv(content, 0x7F21, dev);
  Bytes out;
  device::schsm::append_tlv(out, 0x30, content);
  return out;
}

inline void write_bytes(const std::string& path, const Bytes& b) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

}  // namespace hsmctl::testing
