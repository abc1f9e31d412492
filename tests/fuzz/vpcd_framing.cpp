// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the vpcd framing of hsmctl-vcard (src/vcard/vpcd_server.cpp). The input is the
// byte stream a reader (pcscd's vpcd driver) sends on a slot connection: length-prefixed
// control codes and C-APDUs, with any truncation. It is written to one end of a socketpair and
// the server serves the other end until the stream ends. The card echoes each APDU with 9000,
// so responses of every size (up to the 16-bit length limit) go back through the framing.
#include "vcard/vpcd_server.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

namespace {

hsmctl::vcard::CardHooks echo_card() {
  hsmctl::vcard::CardHooks card;
  card.atr = hsmctl::Bytes{0x3B, 0x80, 0x80, 0x01, 0x01};
  card.transmit = [](hsmctl::ByteView apdu) {
    hsmctl::Bytes r(apdu.begin(), apdu.end());
    r.push_back(0x90);
    r.push_back(0x00);
    return r;
  };
  card.power_cycle = [] {};
  return card;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Everything written (input) and answered (at most ~3x the input) must fit the socket
  // buffers, since one thread plays both sides; run with -max_len=16384 or less.
  if (size > 16384) {
    return 0;
  }
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    std::abort();
  }
  const int big = 1 << 20;
  ::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  ::setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  std::size_t sent = 0;
  while (sent < size) {
    const ssize_t r = ::send(fds[0], data + sent, size - sent, MSG_NOSIGNAL);
    if (r <= 0) {
      std::abort();
    }
    sent += static_cast<std::size_t>(r);
  }
  ::shutdown(fds[0], SHUT_WR);
  {
    hsmctl::vcard::VpcdServer server(echo_card(), hsmctl::vcard::blank_card(), false);
    server.serve_connection(0, fds[1]);  // closes fds[1]
  }
  ::close(fds[0]);
  return 0;
}
