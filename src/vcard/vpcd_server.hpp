// SPDX-License-Identifier: Apache-2.0
#pragma once
// The card side of the vsmartcard vpcd protocol, REVERSE mode: pcscd's vpcd driver dials out to
// 127.0.0.1:PORT (reader slot 0) and PORT+1 (slot 1). Each message is a 2-byte big-endian length
// and a payload; a 1-byte payload is a control code (0 power off, 1 power on, 2 reset, 4 ATR
// request, answered with the ATR), anything longer is a C-APDU answered with the R-APDU.
// Closing the connection looks like card removal to pcscd.

#include "hsmctl/util/bytes.hpp"
#include "hsmctl/util/error.hpp"

#include <csignal>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

namespace hsmctl::vcard {

/// What the server needs from a card.
struct CardHooks {
  Bytes atr;
  std::function<Bytes(ByteView)> transmit;  ///< returns a full R-APDU (data + SW)
  std::function<void()> power_cycle;        ///< reset / power-on after power-off
};

/// A card that is present but is no SmartCard-HSM: ATR 3B 80 80 01 01 (T=1, no historical
/// bytes), SELECT answers 6A82, everything else 6D00. Used for slot 1 by default.
CardHooks blank_card();

class VpcdServer {
 public:
  /// `slot0` is served at port, `slot1` at port+1. Both slots must hold a card that answers
  /// the ATR request: vpcd 0.8 (Debian 12) crashes pcscd ("bit out of range 0 - FD_SETSIZE on
  /// fd_set") after a slot connection is dropped during its start-up, so an "empty reader" made
  /// by closing the connection is not an option.
  VpcdServer(CardHooks slot0, CardHooks slot1, bool verbose)
      : slots_{Slot{std::move(slot0)}, Slot{std::move(slot1)}}, verbose_(verbose) {}
  ~VpcdServer();
  VpcdServer(const VpcdServer&) = delete;
  VpcdServer& operator=(const VpcdServer&) = delete;

  /// Binds 127.0.0.1:port and 127.0.0.1:port+1 (both must be served, or vpcd hands pcscd a
  /// closed fd and pcscd aborts). port 0: pick a free consecutive pair. Errc::kIo on failure.
  Result<void> listen(std::uint16_t port);
  std::uint16_t port() const { return port_; }

  /// What the main loop watches; the flags are set by signal handlers. The caller blocks those
  /// signals and passes the mask to wait with (`unblocked`), so no signal is missed.
  struct Control {
    sigset_t unblocked;
    const volatile std::sig_atomic_t* stop = nullptr;  ///< non-zero: return
    bool once = false;  ///< return when the first slot-0 connection ends
  };

  /// Serves both slots until told to stop. The server never drops a connection on its own:
  /// with Debian 12's vpcd (3.3) any dropped reverse-mode connection makes pcscd abort on its
  /// next presence poll (the re-dial goes through the server-mode accept path and FD_SETs -1),
  /// so there is no way to signal "card removed" short of ending the process. A new connection
  /// on a slot replaces the old one (vpcd dials again only after a pcscd restart).
  Result<void> run(const Control& control);

  /// Serves one already-connected stream `fd` on `slot` until the peer closes it (or sends a
  /// short message), then closes `fd`. What run() does per connection; the fuzz target
  /// tests/fuzz/vpcd_framing.cpp drives the framing through it over a socketpair.
  void serve_connection(int slot, int fd);

 private:
  struct Slot {
    CardHooks card;
    int listener = -1;
    int conn = -1;
    bool powered = false;
  };
  void close_connection(int slot);
  /// Handles one message on a slot's connection; false when the connection is finished.
  bool serve_one(int slot);
  void log(const std::string& line) const;

  Slot slots_[2];
  bool verbose_ = false;
  std::uint16_t port_ = 0;
};

}  // namespace hsmctl::vcard
