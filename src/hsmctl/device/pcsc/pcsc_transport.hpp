// SPDX-License-Identifier: Apache-2.0
#pragma once
// PC/SC (pcsc-lite) transport: the only module that includes winscard.h.
//
// Error mapping follows OpenSC's reader-pcsc.c. Every transport failure is Errc::kUnavailable
// with a message that names the reader:
//   pcscd not reachable        "pcscd is not running (or PCSCLITE_CSOCK_NAME points elsewhere)"
//   no readers                 "no smart-card readers found ..."
//   no card / card removed     "no card in reader 'R'" / "card removed from reader 'R'"
//   card reset by someone else "card in reader 'R' was reset ...; sessions are lost"
//                              (the handle is reconnected, the command is NOT retried)
//   sharing violation          "reader 'R' is in exclusive use by another program"

#include "hsmctl/device/transport.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace hsmctl::device::pcsc {

struct ReaderInfo {
  std::string name;
  bool card_present = false;
  Bytes atr;
};

/// Lists readers known to pcscd. Errc::kUnavailable with a clear message when pcscd is not
/// running or there are no readers.
Result<std::vector<ReaderInfo>> list_readers();

class Context;

/// One PC/SC context and the readers it listed, to connect to several of them without a new
/// context (a new pcscd client thread and its round trips) for each: the by-serial probe.
/// Each transport returned keeps the context alive; it is released after the last one.
class Listing {
 public:
  /// Establishes a context and lists the readers (as list_readers, same errors).
  static Result<Listing> open();
  const std::vector<ReaderInfo>& readers() const { return readers_; }
  /// Connects to the card in `reader` (one of readers()) over this context (as connect_reader:
  /// Errc::kUnavailable "no card in reader 'R'" when it had none when listed or has none now).
  Result<std::unique_ptr<Transport>> connect(const ReaderInfo& reader) const;

 private:
  Listing(std::shared_ptr<const Context> context, std::vector<ReaderInfo> readers)
      : context_(std::move(context)), readers_(std::move(readers)) {}
  std::shared_ptr<const Context> context_;
  std::vector<ReaderInfo> readers_;
};

/// Connects to the card in the first reader whose name contains `reader_substring` (empty: any
/// reader with a card). Errc::kUnavailable when no such reader/card.
Result<std::unique_ptr<Transport>> connect(const std::string& reader_substring);

/// Connects to the card in the reader named exactly `reader_name` (SCARD_SHARE_SHARED, T=0 or
/// T=1). Errc::kUnavailable when the reader does not exist or holds no card.
Result<std::unique_ptr<Transport>> connect_reader(const std::string& reader_name);

/// Reads the chip serial of the card behind a transport (16 upper-case hex digits);
/// device/connect passes one that SELECTs the HSM applet and reads EF 2F03 (schsm::SmartCardHsm).
using SerialReader = std::function<Result<std::string>(Transport&)>;

/// Connects to the Pico HSM whose chip serial equals `serial_hex` (case-insensitive): connects
/// to every reader with a card, asks the card for its serial and returns the match. The reader
/// name is never trusted for identity. Errc::kUnavailable naming every reader checked (and what
/// it answered) when none matches; Errc::kRefused when two cards claim the same serial.
/// Note: the probe SELECTs the HSM applet on each card, which ends PIN sessions other programs
/// may hold on those cards. The card returned is still held exclusively from the probe on
/// (device::ProbedTransport): the caller's first begin_exclusive() adopts that hold, and the
/// probe's SELECT and TokenInfo read are answered from its record instead of being sent again.
Result<std::unique_ptr<Transport>> connect_by_serial(const std::string& serial_hex,
                                                     const SerialReader& read_serial);

/// As connect_by_serial, except that when exactly one reader holds a card that card is returned
/// without asking it: for callers that check the serial themselves before sending anything that
/// matters (schsm_engine::prepare through observe's expected_serial).
Result<std::unique_ptr<Transport>> connect_for_serial(const std::string& serial_hex,
                                                      const SerialReader& read_serial);

/// The Error for a PC/SC return code (a SCARD_E_* / SCARD_W_* value) on `reader` while doing
/// `action` ("connecting to", "sending an APDU to", ...): always Errc::kUnavailable, the message
/// names the reader. Exposed for unit tests; the transport uses it for every failure.
Error error_for_pcsc_code(long rv, const std::string& reader, const char* action);

// ---- APDU shaping (pure; exposed for unit tests) ------------------------------------------

/// True when the ATR's historical bytes (compact-TLV, category 0x80) carry a card-capabilities
/// object (tag 7) whose third byte has bit 0x40 "extended Lc and Le fields" set. The Pico HSM
/// ATR (3B FE 18 ... 73 80 21 40 ...) does.
bool atr_supports_extended_apdus(ByteView atr);

/// Sends `command` through `raw`. When `extended_ok` is false and `command` is an extended-length
/// APDU, it is rewritten as short APDUs: command chaining (CLA bit 0x10, 255-byte chunks) for
/// data, Le 00 for the answer; the answer is then collected with GET RESPONSE while the card says
/// 61xx. Independently of that, a 61xx answer is always followed by GET RESPONSE (T=0 cards), and
/// a 6Cxx answer to a short command is resent once with Le = xx. Anything else passes unchanged;
/// a malformed command is passed as is (the card answers it). Transport errors from `raw` are
/// returned unchanged.
Result<Bytes> transmit_shaped(ByteView command, bool extended_ok,
                              const std::function<Result<Bytes>(ByteView)>& raw);

}  // namespace hsmctl::device::pcsc
