// SPDX-License-Identifier: Apache-2.0
// The PC/SC transport. The error mapping mirrors OpenSC's reader-pcsc.c (pcsc_to_opensc_error and
// its reconnect-on-reset path) so users see the same distinctions they know from opensc-tool.

#include "hsmctl/device/pcsc/pcsc_transport.hpp"

#include "hsmctl/util/held_lock.hpp"

#include <fmt/format.h>
#include <winscard.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <utility>

namespace hsmctl::device::pcsc {
namespace {

constexpr const char* kNoService = "pcscd is not running (or PCSCLITE_CSOCK_NAME points elsewhere)";

std::string socket_path() {
  const char* env = std::getenv("PCSCLITE_CSOCK_NAME");
  return env != nullptr && *env != '\0' ? env : "/run/pcscd/pcscd.comm";
}

std::string pcsc_text(LONG rv) {
  return fmt::format("{} (0x{:08X})", pcsc_stringify_error(rv), static_cast<unsigned long>(rv));
}

bool is_service_error(LONG rv) {
  return rv == SCARD_E_NO_SERVICE || rv == SCARD_E_SERVICE_STOPPED || rv == SCARD_F_COMM_ERROR ||
         rv == SCARD_E_INVALID_HANDLE;
}

/// The OpenSC-style table: one message per failure class, always naming the reader.
Error map_error(LONG rv, const std::string& reader, const char* action) {
  std::string msg;
  switch (rv) {
    case SCARD_E_NO_SERVICE:
    case SCARD_E_SERVICE_STOPPED:
    case SCARD_F_COMM_ERROR:
      msg = fmt::format("{}: lost the connection to pcscd ({}) while {} reader '{}'", kNoService,
                        socket_path(), action, reader);
      break;
    case SCARD_W_REMOVED_CARD:
    case SCARD_E_NO_SMARTCARD:
      msg = fmt::format("card removed from reader '{}'", reader);
      break;
    case SCARD_W_RESET_CARD:
      msg = fmt::format(
          "card in reader '{}' was reset by another program or the reader; PIN sessions on it "
          "are lost, start over",
          reader);
      break;
    case SCARD_E_SHARING_VIOLATION:
      msg = fmt::format("reader '{}' is in exclusive use by another program (sharing violation)",
                        reader);
      break;
    case SCARD_E_READER_UNAVAILABLE:
    case SCARD_E_UNKNOWN_READER:
      msg = fmt::format("reader '{}' is no longer available (unplugged?)", reader);
      break;
    case SCARD_W_UNRESPONSIVE_CARD:
    case SCARD_W_UNPOWERED_CARD:
    case SCARD_W_UNSUPPORTED_CARD:
      msg = fmt::format("card in reader '{}' does not respond: {}", reader, pcsc_text(rv));
      break;
    case SCARD_E_NOT_TRANSACTED:
    case SCARD_E_PROTO_MISMATCH:
    case SCARD_E_COMM_DATA_LOST:
      msg = fmt::format(
          "communication with the card in reader '{}' failed: {}; the card may have been "
          "removed or the reader driver stopped",
          reader, pcsc_text(rv));
      break;
    case SCARD_E_TIMEOUT:
      msg = fmt::format("timeout while {} reader '{}'", action, reader);
      break;
    default:
      msg = fmt::format("PC/SC error while {} reader '{}': {}", action, reader, pcsc_text(rv));
      break;
  }
  return Error{Errc::kUnavailable, std::move(msg), std::nullopt, {}};
}

}  // namespace

/// An established PC/SC context, released on destruction.
class Context {
 public:
  static Result<Context> establish() {
    SCARDCONTEXT ctx = 0;
    const LONG rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &ctx);
    if (rv != SCARD_S_SUCCESS) {
      if (is_service_error(rv)) {
        return make_error(Errc::kUnavailable,
                          fmt::format("{}: no service at {}", kNoService, socket_path()));
      }
      return make_error(Errc::kUnavailable, fmt::format("cannot talk to pcscd at {}: {}",
                                                        socket_path(), pcsc_text(rv)));
    }
    return Context(ctx);
  }
  Context(Context&& other) noexcept : ctx_(std::exchange(other.ctx_, 0)) {}
  Context& operator=(Context&&) = delete;
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  ~Context() {
    if (ctx_ != 0) {
      SCardReleaseContext(ctx_);
    }
  }
  SCARDCONTEXT get() const { return ctx_; }

 private:
  explicit Context(SCARDCONTEXT ctx) : ctx_(ctx) {}
  SCARDCONTEXT ctx_ = 0;
};

namespace {

Result<std::vector<std::string>> reader_names(const Context& ctx) {
  DWORD len = 0;
  LONG rv = SCardListReaders(ctx.get(), nullptr, nullptr, &len);
  std::string buffer;
  if (rv == SCARD_S_SUCCESS) {
    buffer.resize(len);
    rv = SCardListReaders(ctx.get(), nullptr, buffer.data(), &len);
  }
  if (rv == SCARD_E_NO_READERS_AVAILABLE) {
    return make_error(Errc::kUnavailable,
                      fmt::format("no smart-card readers found (pcscd at {} knows none; is the "
                                  "Pico HSM plugged in?)",
                                  socket_path()));
  }
  if (rv != SCARD_S_SUCCESS) {
    if (is_service_error(rv)) {
      return make_error(Errc::kUnavailable,
                        fmt::format("{}: no service at {}", kNoService, socket_path()));
    }
    return make_error(Errc::kUnavailable, fmt::format("cannot list readers: {}", pcsc_text(rv)));
  }
  std::vector<std::string> names;
  buffer.resize(std::min<std::size_t>(len, buffer.size()));
  std::size_t start = 0;
  while (start < buffer.size()) {
    const std::size_t end = buffer.find('\0', start);
    const std::size_t stop = end == std::string::npos ? buffer.size() : end;
    if (stop > start) {
      names.push_back(buffer.substr(start, stop - start));
    }
    start = stop + 1;
  }
  if (names.empty()) {
    return make_error(Errc::kUnavailable, "no smart-card readers found");
  }
  return names;
}

Result<std::vector<ReaderInfo>> reader_states(const Context& ctx) {
  HSMCTL_TRY_ASSIGN(auto names, reader_names(ctx));
  std::vector<SCARD_READERSTATE> states(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    states[i].szReader = names[i].c_str();
    states[i].dwCurrentState = SCARD_STATE_UNAWARE;
  }
  const LONG rv =
      SCardGetStatusChange(ctx.get(), 0, states.data(), static_cast<DWORD>(states.size()));
  if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT) {
    return tl::unexpected(map_error(rv, names.front(), "reading the state of"));
  }
  std::vector<ReaderInfo> out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    ReaderInfo info;
    info.name = names[i];
    // The upper 16 bits of dwEventState are an event counter; only the flags matter here.
    const DWORD flags = states[i].dwEventState & 0xFFFF;
    info.card_present = (flags & SCARD_STATE_PRESENT) != 0 && (flags & SCARD_STATE_MUTE) == 0;
    if (info.card_present) {
      const DWORD n = std::min<DWORD>(states[i].cbAtr, MAX_ATR_SIZE);
      info.atr.assign(states[i].rgbAtr, states[i].rgbAtr + n);
    }
    out.push_back(std::move(info));
  }
  return out;
}

class PcscTransport final : public Transport {
 public:
  PcscTransport(std::shared_ptr<const Context> ctx, SCARDHANDLE handle, DWORD protocol,
                std::string reader, Bytes atr)
      : ctx_(std::move(ctx)),
        handle_(handle),
        protocol_(protocol),
        reader_(std::move(reader)),
        atr_(std::move(atr)),
        extended_ok_(atr_supports_extended_apdus(atr_)) {}

  PcscTransport(const PcscTransport&) = delete;
  PcscTransport& operator=(const PcscTransport&) = delete;

  ~PcscTransport() override {
    end_exclusive();
    SCardDisconnect(handle_, SCARD_LEAVE_CARD);
  }

  Result<Bytes> transmit(ByteView command) override {
    return transmit_shaped(command, extended_ok_,
                           [this](ByteView raw) { return transmit_raw(raw); });
  }

  std::string describe() const override { return "pcsc:" + reader_; }

  Result<void> begin_exclusive() override {
    if (in_transaction_) {
      return make_error(Errc::kInternal,
                        fmt::format("nested exclusive use of reader '{}'", reader_));
    }
    // pcscd's transaction excludes everyone, but its client waits for it without end; another
    // hsmctl on this host holds this lock file for as long as its transaction and says who it
    // is, so a second apply waits only --lock-timeout (util/held_lock.hpp, docs/locking.md).
    std::optional<FileLock> host_lock;
    if (auto dir = host_lock_dir()) {
      // Reader names are unique per pcscd; a second pcscd on the host (its own socket, e.g. a
      // test sandbox) may reuse them.
      std::string instance = reader_;
      if (const char* socket = std::getenv("PCSCLITE_CSOCK_NAME"); socket != nullptr)
        instance += std::string("@") + socket;
      HSMCTL_TRY_ASSIGN(host_lock,
                        acquire_held_lock(*dir + "/pcsc-" + lock_file_name(instance) + ".lock",
                                          fmt::format("reader '{}'", reader_)));
    }
    const LONG rv = SCardBeginTransaction(handle_);
    if (rv != SCARD_S_SUCCESS) {
      return tl::unexpected(fail(rv, "locking"));
    }
    in_transaction_ = true;
    host_lock_ = std::move(host_lock);
    return {};
  }

  void end_exclusive() override {
    if (in_transaction_) {
      // LEAVE_CARD: no reset, so nothing needs to re-SELECT and sessions survive the unlock.
      SCardEndTransaction(handle_, SCARD_LEAVE_CARD);
      in_transaction_ = false;
    }
    host_lock_.reset();
  }

 private:
  /// Maps `rv`; on a reset, reconnects first (as OpenSC does) so the handle stays usable and the
  /// caller learns about the reset through the distinct error.
  Error fail(LONG rv, const char* action) {
    if (rv == SCARD_W_RESET_CARD) {
      DWORD proto = 0;
      if (SCardReconnect(handle_, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
                         SCARD_LEAVE_CARD, &proto) == SCARD_S_SUCCESS) {
        protocol_ = proto;
      }
      in_transaction_ = false;  // a reset ends any transaction
    }
    if (rv == SCARD_E_NOT_TRANSACTED || rv == SCARD_F_COMM_ERROR) {
      // vpcd and some drivers report a vanished card as a failed exchange; ask which it was.
      if (card_gone()) {
        return map_error(SCARD_W_REMOVED_CARD, reader_, action);
      }
    }
    return map_error(rv, reader_, action);
  }

  bool card_gone() const {
    DWORD state = 0;
    DWORD proto = 0;
    DWORD atr_len = MAX_ATR_SIZE;
    BYTE atr[MAX_ATR_SIZE];
    const LONG rv = SCardStatus(handle_, nullptr, nullptr, &state, &proto, atr, &atr_len);
    return rv == SCARD_W_REMOVED_CARD || rv == SCARD_E_NO_SMARTCARD ||
           (rv == SCARD_S_SUCCESS && (state & SCARD_PRESENT) == 0);
  }

  Result<Bytes> transmit_raw(ByteView command) {
    count_wire_apdu();
    Bytes response(MAX_BUFFER_SIZE_EXTENDED);
    DWORD len = static_cast<DWORD>(response.size());
    const SCARD_IO_REQUEST* pci = protocol_ == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
    const LONG rv = SCardTransmit(handle_, pci, command.data(), static_cast<DWORD>(command.size()),
                                  nullptr, response.data(), &len);
    if (rv != SCARD_S_SUCCESS) {
      return tl::unexpected(fail(rv, "sending an APDU to"));
    }
    if (len < 2) {
      // vpcd answers an empty response when its card connection just closed.
      if (card_gone()) {
        return tl::unexpected(map_error(SCARD_W_REMOVED_CARD, reader_, "sending an APDU to"));
      }
      return make_error(Errc::kUnavailable,
                        fmt::format("card in reader '{}' answered without a status word (card "
                                    "removed?)",
                                    reader_));
    }
    response.resize(len);
    return response;
  }

  std::shared_ptr<const Context> ctx_;  // released after the last card handle on it
  SCARDHANDLE handle_;
  DWORD protocol_;
  std::string reader_;
  Bytes atr_;
  bool extended_ok_;
  bool in_transaction_ = false;
  std::optional<FileLock> host_lock_;  ///< held with the transaction
};

Result<std::unique_ptr<Transport>> connect_to(std::shared_ptr<const Context> ctx,
                                              const ReaderInfo& reader) {
  SCARDHANDLE handle = 0;
  DWORD protocol = 0;
  const LONG rv = SCardConnect(ctx->get(), reader.name.c_str(), SCARD_SHARE_SHARED,
                               SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &handle, &protocol);
  if (rv == SCARD_E_NO_SMARTCARD || rv == SCARD_W_REMOVED_CARD) {
    return make_error(Errc::kUnavailable, fmt::format("no card in reader '{}'", reader.name));
  }
  if (rv != SCARD_S_SUCCESS) {
    return tl::unexpected(map_error(rv, reader.name, "connecting to"));
  }
  // The ATR of the connection itself (the listing may be stale by now).
  Bytes atr = reader.atr;
  DWORD state = 0;
  DWORD proto = 0;
  DWORD atr_len = MAX_ATR_SIZE;
  BYTE atr_buf[MAX_ATR_SIZE];
  if (SCardStatus(handle, nullptr, nullptr, &state, &proto, atr_buf, &atr_len) == SCARD_S_SUCCESS) {
    atr.assign(atr_buf, atr_buf + std::min<DWORD>(atr_len, MAX_ATR_SIZE));
  }
  return std::unique_ptr<Transport>(
      new PcscTransport(std::move(ctx), handle, protocol, reader.name, std::move(atr)));
}

std::string list_names(const std::vector<ReaderInfo>& readers) {
  std::string out;
  for (const auto& r : readers) {
    out += fmt::format("{}'{}' ({})", out.empty() ? "" : ", ", r.name,
                       r.card_present ? "card" : "empty");
  }
  return out;
}

}  // namespace

Error error_for_pcsc_code(long rv, const std::string& reader, const char* action) {
  return map_error(static_cast<LONG>(rv), reader, action);
}

Result<std::vector<ReaderInfo>> list_readers() {
  HSMCTL_TRY_ASSIGN(auto ctx, Context::establish());
  return reader_states(ctx);
}

Result<Listing> Listing::open() {
  HSMCTL_TRY_ASSIGN(auto ctx, Context::establish());
  auto shared = std::make_shared<const Context>(std::move(ctx));
  HSMCTL_TRY_ASSIGN(auto readers, reader_states(*shared));
  return Listing(std::move(shared), std::move(readers));
}

Result<std::unique_ptr<Transport>> Listing::connect(const ReaderInfo& reader) const {
  if (!reader.card_present)
    return make_error(Errc::kUnavailable, fmt::format("no card in reader '{}'", reader.name));
  return connect_to(context_, reader);
}

Result<std::unique_ptr<Transport>> connect(const std::string& reader_substring) {
  HSMCTL_TRY_ASSIGN(auto ctx, Context::establish());
  auto shared = std::make_shared<const Context>(std::move(ctx));
  HSMCTL_TRY_ASSIGN(auto readers, reader_states(*shared));
  const ReaderInfo* empty_match = nullptr;
  for (const auto& r : readers) {
    if (r.name.find(reader_substring) == std::string::npos) {
      continue;
    }
    if (r.card_present) {
      return connect_to(shared, r);
    }
    if (empty_match == nullptr) {
      empty_match = &r;
    }
  }
  if (reader_substring.empty()) {
    return make_error(Errc::kUnavailable,
                      fmt::format("no card in any reader (readers: {})", list_names(readers)));
  }
  if (empty_match != nullptr) {
    return make_error(Errc::kUnavailable, fmt::format("no card in reader '{}'", empty_match->name));
  }
  return make_error(Errc::kUnavailable, fmt::format("no reader matching '{}' (readers: {})",
                                                    reader_substring, list_names(readers)));
}

Result<std::unique_ptr<Transport>> connect_reader(const std::string& reader_name) {
  HSMCTL_TRY_ASSIGN(auto listing, Listing::open());
  const auto& readers = listing.readers();
  for (const auto& r : readers) {
    if (r.name == reader_name)
      return listing.connect(r);
  }
  return make_error(Errc::kUnavailable, fmt::format("no reader named '{}' (readers: {})",
                                                    reader_name, list_names(readers)));
}

}  // namespace hsmctl::device::pcsc
