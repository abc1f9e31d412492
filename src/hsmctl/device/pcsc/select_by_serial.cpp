// SPDX-License-Identifier: Apache-2.0
// Choosing a reader by the chip serial the card reports. Reader names are only hints: libccid
// puts the USB serial into them, but other drivers (and vpcd) do not, and names can collide.
// The caller passes how to read a serial (device/connect: the SmartCard-HSM protocol layer), so
// device/pcsc never depends on a protocol layer.

#include "hsmctl/device/pcsc/pcsc_transport.hpp"
#include "hsmctl/device/probed_transport.hpp"

#include <fmt/format.h>

#include <cctype>
#include <utility>

namespace hsmctl::device::pcsc {
namespace {

std::string upper(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return s;
}

// The probe over one context (`listing`): every card it listed is asked.
Result<std::unique_ptr<Transport>> probe(const Listing& listing, const std::string& serial_hex,
                                         const SerialReader& read_serial) {
  const std::string wanted = upper(serial_hex);
  const SerialReader& reader_fn = read_serial;
  const auto& readers = listing.readers();
  std::unique_ptr<Transport> found;
  int probe_apdus = 0;  // sent to the other readers' cards
  std::string found_reader;
  std::string checked;
  for (const auto& r : readers) {
    if (!r.card_present) {
      continue;
    }
    std::string outcome;
    auto transport = listing.connect(r);
    if (!transport) {
      outcome = transport.error().message;
    } else {
      // Hold the card while asking, so nobody interleaves between SELECT and READ BINARY. The
      // card that matches stays held: its answers are then as good as new (ProbedTransport).
      auto locked = (*transport)->begin_exclusive();
      RecordingTransport recorder(**transport);
      Result<std::string> serial = locked ? reader_fn(recorder) : tl::unexpected(locked.error());
      const bool match = serial && upper(*serial) == wanted;
      if (!match) {
        (*transport)->end_exclusive();
        probe_apdus += (*transport)->wire_apdus();
      }
      if (!serial) {
        outcome = serial.error().message;
      } else if (match) {
        if (found) {
          return make_error(Errc::kRefused,
                            fmt::format("two cards report chip serial {}: in reader '{}' and in "
                                        "reader '{}'; refusing to guess",
                                        wanted, found_reader, r.name));
        }
        found = std::make_unique<ProbedTransport>(std::move(*transport), recorder.take_record());
        found_reader = r.name;
        continue;
      } else {
        outcome = "serial " + upper(*serial);
      }
    }
    checked += fmt::format("{}'{}': {}", checked.empty() ? "" : "; ", r.name, outcome);
  }
  if (found) {
    found->add_wire_apdus(probe_apdus);
    return found;
  }
  if (checked.empty()) {
    return make_error(
        Errc::kUnavailable,
        fmt::format("no Pico HSM with chip serial {}: no reader holds a card", wanted));
  }
  return make_error(Errc::kUnavailable,
                    fmt::format("no Pico HSM with chip serial {} (checked {})", wanted, checked));
}

}  // namespace

Result<std::unique_ptr<Transport>> connect_by_serial(const std::string& serial_hex,
                                                     const SerialReader& read_serial) {
  HSMCTL_TRY_ASSIGN(auto listing, Listing::open());
  return probe(listing, serial_hex, read_serial);
}

// One context for the listing and every card asked (it used to be one per reader plus one per
// listing, each a new pcscd client thread and its round trips).
Result<std::unique_ptr<Transport>> connect_for_serial(const std::string& serial_hex,
                                                      const SerialReader& read_serial) {
  HSMCTL_TRY_ASSIGN(auto listing, Listing::open());
  const ReaderInfo* only = nullptr;
  int with_card = 0;
  for (const auto& r : listing.readers()) {
    if (!r.card_present)
      continue;
    ++with_card;
    only = &r;
  }
  if (with_card == 1)
    return listing.connect(*only);
  return probe(listing, serial_hex, read_serial);
}

}  // namespace hsmctl::device::pcsc
