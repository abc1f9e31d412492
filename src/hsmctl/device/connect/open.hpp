// SPDX-License-Identifier: Apache-2.0
#pragma once
// Connecting to a device (the only module that knows every transport and the protocol layer
// used to identify a card). Device URIs: `sim:PATH` (the APDU simulator with its state in PATH),
// `pcsc:` (the reader holding the manifest's serial), `pcsc:<reader substring>`.

#include "hsmctl/device/transport.hpp"
#include "hsmctl/model/pico_hsm.hpp"

#include <memory>
#include <string>

namespace hsmctl::device::connect {

/// Opens the transport for `uri`; with plain `pcsc:` the selector's serial (chip ID read from the
/// card) or reader substring chooses the reader.
/// `caller_checks_serial`: the caller reads the chip serial itself before it sends anything that
/// matters (observe's expected_serial, before any VERIFY). Then, when exactly one reader holds a
/// card, that card is used without a probe (saves a SELECT and a READ BINARY); with several
/// cards the probe still chooses.
Result<std::unique_ptr<Transport>> open_device(const std::string& uri,
                                               const model::DeviceSelector& selector,
                                               bool caller_checks_serial = false);

/// The Pico HSM / SmartCard-HSM whose chip serial is `serial_hex`, found over PC/SC by asking
/// every card (pcsc::connect_by_serial with read_chip_serial).
Result<std::unique_ptr<Transport>> connect_by_serial(const std::string& serial_hex);

/// SELECTs the HSM applet and reads the chip serial (EF 2F03): 16 upper-case hex digits.
Result<std::string> read_chip_serial(Transport& transport);

}  // namespace hsmctl::device::connect
