// SPDX-License-Identifier: Apache-2.0
#pragma once
// Device URIs: `sim:PATH` (the APDU simulator with its state in PATH), `pcsc:` (the reader
// holding the manifest's serial), `pcsc:<reader substring>`.

#include "hsmctl/device/transport.hpp"
#include "hsmctl/model/pico_hsm.hpp"

#include <memory>
#include <string>

namespace hsmctl::device {

/// Opens the transport for `uri`; with plain `pcsc:` the selector's serial (chip ID read from the
/// card) or reader substring chooses the reader.
/// `caller_checks_serial`: the caller reads the chip serial itself before it sends anything that
/// matters (observe's expected_serial, before any VERIFY). Then, when exactly one reader holds a
/// card, that card is used without a probe (saves a SELECT and a READ BINARY); with several
/// cards the probe still chooses.
Result<std::unique_ptr<Transport>> open_device(const std::string& uri,
                                               const model::DeviceSelector& selector,
                                               bool caller_checks_serial = false);

}  // namespace hsmctl::device
