// SPDX-License-Identifier: Apache-2.0
#include "vcard/vpcd_server.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace hsmctl::vcard {
namespace {

constexpr std::uint8_t kPowerOff = 0;
constexpr std::uint8_t kPowerOn = 1;
constexpr std::uint8_t kReset = 2;
constexpr std::uint8_t kAtrRequest = 4;

void close_fd(int& fd) {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

/// A listening socket on 127.0.0.1:port (never INADDR_ANY: the card holds no secrets worth
/// having, but nothing off this host has any business talking to it). -1 with errno on failure.
int listen_on(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  const int yes = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 4) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

std::uint16_t bound_port(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return 0;
  }
  return ntohs(addr.sin_port);
}

/// Reads exactly n bytes; false on EOF, error or timeout.
bool read_exact(int fd, std::uint8_t* buf, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    // vpcd writes the 2-byte length and the payload separately, so with Nagle on its side the
    // payload waits for our ACK of the length; a delayed ACK would add ~40 ms to every APDU.
    // QUICKACK is not sticky in Linux, hence before every read.
    const int yes = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &yes, sizeof yes);
    const ssize_t r = ::recv(fd, buf + got, n - got, 0);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      return false;
    }
    got += static_cast<std::size_t>(r);
  }
  return true;
}

/// Sends the length prefix and the payload in ONE write: vpcd reads both with MSG_WAITALL, and
/// two small writes would meet Nagle/delayed-ACK (55 ms per APDU instead of 0.1 ms).
bool send_message(int fd, ByteView payload) {
  if (payload.size() > 0xFFFF) {
    return false;
  }
  std::vector<std::uint8_t> buf;
  buf.reserve(payload.size() + 2);
  buf.push_back(static_cast<std::uint8_t>(payload.size() >> 8));
  buf.push_back(static_cast<std::uint8_t>(payload.size() & 0xFF));
  buf.insert(buf.end(), payload.begin(), payload.end());
  std::size_t sent = 0;
  while (sent < buf.size()) {
    const ssize_t r = ::send(fd, buf.data() + sent, buf.size() - sent, MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      return false;
    }
    sent += static_cast<std::size_t>(r);
  }
  return true;
}

int accept_on(int listener) {
  const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) {
    return -1;
  }
  const int yes = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  // A peer that sends a length and then stalls must not freeze the card forever.
  timeval tv{};
  tv.tv_sec = 10;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

}  // namespace

CardHooks blank_card() {
  CardHooks card;
  card.atr = Bytes{0x3B, 0x80, 0x80, 0x01, 0x01};
  card.transmit = [](ByteView apdu) -> Bytes {
    if (apdu.size() >= 2 && apdu[1] == 0xA4) {
      return Bytes{0x6A, 0x82};  // file or application not found
    }
    return Bytes{0x6D, 0x00};  // instruction not supported
  };
  card.power_cycle = [] {};
  return card;
}

VpcdServer::~VpcdServer() {
  for (Slot& slot : slots_) {
    close_fd(slot.conn);
    close_fd(slot.listener);
  }
}

Result<void> VpcdServer::listen(std::uint16_t port) {
  if (port == 0xFFFF) {
    return make_error(Errc::kUsage, "port 65535 leaves no room for the second slot (port+1)");
  }
  int& l0 = slots_[0].listener;
  int& l1 = slots_[1].listener;
  if (port != 0) {
    l0 = listen_on(port);
    if (l0 < 0) {
      return make_error(
          Errc::kIo, fmt::format("cannot listen on 127.0.0.1:{}: {}", port, std::strerror(errno)));
    }
    l1 = listen_on(static_cast<std::uint16_t>(port + 1));
    if (l1 < 0) {
      const int saved = errno;
      close_fd(l0);
      return make_error(Errc::kIo, fmt::format("cannot listen on 127.0.0.1:{} (slot 1): {}",
                                               port + 1, std::strerror(saved)));
    }
    port_ = port;
    return {};
  }
  // Automatic: let the kernel pick slot 0, then try the next port for slot 1.
  for (int attempt = 0; attempt < 64; ++attempt) {
    l0 = listen_on(0);
    if (l0 < 0) {
      return make_error(Errc::kIo,
                        fmt::format("cannot listen on 127.0.0.1: {}", std::strerror(errno)));
    }
    const std::uint16_t p = bound_port(l0);
    if (p != 0 && p != 0xFFFF) {
      l1 = listen_on(static_cast<std::uint16_t>(p + 1));
      if (l1 >= 0) {
        port_ = p;
        return {};
      }
    }
    close_fd(l0);
  }
  return make_error(Errc::kIo, "found no free pair of consecutive ports on 127.0.0.1");
}

void VpcdServer::log(const std::string& line) const {
  std::fprintf(stderr, "hsmctl-vcard: %s\n", line.c_str());
}

void VpcdServer::close_connection(int slot) {
  Slot& s = slots_[slot];
  if (s.conn >= 0) {
    close_fd(s.conn);
    s.powered = false;
    if (verbose_) {
      log(fmt::format("slot {}: reader disconnected", slot));
    }
  }
}

bool VpcdServer::serve_one(int slot) {
  Slot& s = slots_[slot];
  std::uint8_t len_bytes[2];
  if (!read_exact(s.conn, len_bytes, 2)) {
    return false;
  }
  const std::size_t len = (static_cast<std::size_t>(len_bytes[0]) << 8) | len_bytes[1];
  std::vector<std::uint8_t> msg(len);
  if (len > 0 && !read_exact(s.conn, msg.data(), len)) {
    return false;
  }
  if (len == 0) {
    return true;  // not part of the protocol; tolerate it
  }
  if (len == 1) {
    switch (msg[0]) {
      case kPowerOff:
        s.powered = false;
        return true;
      case kPowerOn:
        if (!s.powered) {
          s.card.power_cycle();  // power returning after an off is a cold start
          s.powered = true;
        }
        return true;
      case kReset:
        s.card.power_cycle();
        s.powered = true;
        if (verbose_) {
          log(fmt::format("slot {}: reset", slot));
        }
        return true;
      case kAtrRequest:
        return send_message(s.conn, s.card.atr);
      default:
        log(fmt::format("slot {}: ignoring unknown control byte {:02X}", slot, msg[0]));
        return true;
    }
  }
  const Bytes response = s.card.transmit(msg);
  if (verbose_) {
    // Header and status word only: command data may carry PINs.
    log(fmt::format("slot {}: APDU {:02X} {:02X} {:02X} {:02X} ({} bytes) -> {}", slot, msg[0],
                    msg[1], len > 2 ? msg[2] : 0, len > 3 ? msg[3] : 0, msg.size(),
                    response.size() >= 2
                        ? fmt::format("{:02X}{:02X}", response[response.size() - 2],
                                      response[response.size() - 1])
                        : std::string("no SW")));
  }
  return send_message(s.conn, response);
}

void VpcdServer::serve_connection(int slot, int fd) {
  close_connection(slot);
  slots_[slot].conn = fd;
  while (serve_one(slot)) {
  }
  close_connection(slot);
}

Result<void> VpcdServer::run(const Control& control) {
  bool slot0_ended = false;
  while (*control.stop == 0) {
    // Fixed layout: 0,1 = listeners; 2,3 = connections (fd -1 is ignored by poll).
    pollfd fds[4] = {{slots_[0].listener, POLLIN, 0},
                     {slots_[1].listener, POLLIN, 0},
                     {slots_[0].conn, POLLIN, 0},
                     {slots_[1].conn, POLLIN, 0}};
    const int r = ::ppoll(fds, 4, nullptr, &control.unblocked);
    if (r < 0) {
      if (errno == EINTR) {
        continue;  // a signal: the loop condition decides
      }
      return make_error(Errc::kIo, fmt::format("poll failed: {}", std::strerror(errno)));
    }
    for (int slot = 0; slot < 2; ++slot) {
      const pollfd& conn = fds[2 + slot];
      if (conn.fd >= 0 && conn.fd == slots_[slot].conn &&
          (conn.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        if (!serve_one(slot)) {
          close_connection(slot);
          slot0_ended = slot0_ended || slot == 0;
        }
      }
      if ((fds[slot].revents & POLLIN) != 0) {
        const int fd = accept_on(slots_[slot].listener);
        if (fd >= 0) {
          close_connection(slot);
          slots_[slot].conn = fd;
          if (verbose_) {
            log(fmt::format("slot {}: reader connected", slot));
          }
        }
      }
    }
    if (control.once && slot0_ended && slots_[0].conn < 0) {
      break;
    }
  }
  close_connection(0);
  close_connection(1);
  return {};
}

}  // namespace hsmctl::vcard
