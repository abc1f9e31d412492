// SPDX-License-Identifier: Apache-2.0
#pragma once
// PC/SC (pcsc-lite) transport: the only module that includes winscard.h.

#include <memory>
#include <string>
#include <vector>

#include "hsmctl/device/transport.hpp"

namespace hsmctl::device::pcsc {

struct ReaderInfo {
  std::string name;
  bool card_present = false;
  Bytes atr;
};

/// Lists readers known to pcscd. Errc::kUnavailable with a clear message when pcscd is not
/// running or there are no readers.
Result<std::vector<ReaderInfo>> list_readers();

/// Connects to the card in the first reader whose name contains `reader_substring` (empty: any
/// reader with a card). Errc::kUnavailable when no such reader/card.
Result<std::unique_ptr<Transport>> connect(const std::string& reader_substring);

/// Connects to the reader whose card reports chip serial `serial` (16 hex digits, read from the
/// card's TokenInfo, never from the reader name). Errc::kUnavailable when no card has it.
Result<std::unique_ptr<Transport>> connect_by_serial(const std::string& serial);

}  // namespace hsmctl::device::pcsc
